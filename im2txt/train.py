"""Train the Show and Tell model on UAI-Train (or anywhere with the same flags).

The platform runs, from the code folder it packed at /data:
  /usr/bin/python /data/train.py --input_file_pattern=/train-?????-of-00256 \
      --inception_checkpoint_file=/inception_v3.ckpt --train_inception=false \
      --number_of_steps=1000000 --log_every_n_steps=10 \
      --work_dir=/data --data_dir=/data/data --output_dir=/data/output \
      --log_dir=/data/output/log
The input pattern resolves under data_dir, the checkpoint under work_dir;
checkpoints go to output_dir and summaries and metrics to log_dir. Upstream-style
launches work too: absolute paths that already start with their folder
(`--input_file_pattern=/data/data/train-?????-of-00256`,
`--inception_checkpoint_file=/data/data/inception_v3.ckpt`) are re-rooted onto it,
and `--train_dir` (upstream's checkpoint folder) is accepted inside output_dir,
the only folder the platform uploads. How each path was read is printed first.

Distributed jobs: when TF_CONFIG names a cluster of several tasks, the platform
runs this same command on every task. The chief ("master" or "chief") coordinates
asynchronous parameter-server training (tf.distribute ParameterServerStrategy) and
alone writes checkpoints, metrics and events; "ps" and "worker" tasks serve it
until SIGTERM and write nothing. Each worker reads its own share of the input
files. A step is one worker's batch of --batch_size images, applied as soon as
it is computed, so --batch_size, --number_of_steps and the learning-rate schedule
mean per step what they mean single-node; N workers run N steps at a time.

Exit status: 0 when the target step is reached or SIGTERM stopped the job (after
saving the current step, or, before training started, with nothing to save);
1 when training fails (the message names the file, record, variable, folder,
task or step at fault); 2 for a path flag that is empty or escapes its platform
folder, or a TF_CONFIG that is malformed or names a cluster this trainer cannot
run.
Malformed or unknown flags are refused by absl (exit 1) before anything runs.
A SIGTERM in the fraction of a second before main() starts kills the process
with the signal's default action, before it has touched any file.
"""

from __future__ import annotations

import sys

from absl import app, flags, logging

from im2txt import cluster as cluster_config
from im2txt import model_flags, platform_flags
from im2txt.configuration import TrainingConfig
from im2txt.stop_request import StopRequest

FLAGS = flags.FLAGS

platform_flags.define_platform_flags()
model_flags.define_model_flags()
flags.DEFINE_string(
    "input_file_pattern", "", "Comma-separated globs of training TFRecords, relative to data_dir."
)
flags.DEFINE_string(
    "inception_checkpoint_file", "", "Pretrained Inception v3 checkpoint, relative to work_dir."
)
flags.DEFINE_string(
    "train_dir",
    "",
    "Checkpoint folder inside output_dir (upstream's flag; e.g. /data/output/train or train). "
    "Default: output_dir itself.",
)
flags.DEFINE_boolean("train_inception", False, "Whether to fine-tune Inception v3 as well.")
flags.DEFINE_integer("number_of_steps", 1000000, "Global step to train up to.", lower_bound=0)
flags.DEFINE_integer("log_every_n_steps", 1, "Log loss every this many steps.", lower_bound=1)
flags.DEFINE_integer(
    "save_checkpoint_steps",
    0,
    "Save a checkpoint every this many steps (0: only by time).",
    lower_bound=0,
)
flags.DEFINE_float(
    "save_checkpoint_secs",
    600.0,
    "Save a checkpoint every this many seconds (0: only by steps).",
    lower_bound=0.0,
)
flags.DEFINE_integer("seed", None, "Random seed for initialisation, shuffling and dropout.")
flags.DEFINE_boolean(
    "deterministic", False, "Enable TensorFlow op determinism (identical losses run to run)."
)
flags.register_multi_flags_validator(
    ["deterministic", "seed"],
    lambda values: not values["deterministic"] or values["seed"] is not None,
    message="--deterministic needs --seed (determinism needs every random op seeded)",
)
flags.DEFINE_boolean("mixed_precision", False, "Run Inception in float16 on GPUs.")
flags.DEFINE_boolean(
    "skip_bad_images",
    False,
    "Skip records whose image does not decode (counted and reported) instead of stopping.",
)

flags.DEFINE_float(
    "cluster_wait_secs",
    600.0,
    "Cluster chief (TF_CONFIG): seconds to wait at start for every ps and worker task.",
    lower_bound=0.0,
)
flags.DEFINE_float(
    "cluster_stall_secs",
    600.0,
    "Cluster chief (TF_CONFIG): seconds to wait for a training step before failing.",
    lower_bound=1.0,
)


def main(argv: list[str]) -> int:
    del argv
    with StopRequest() as stop:  # Before the TensorFlow import, which takes seconds.
        return _run(stop)


def _run(stop: StopRequest) -> int:
    """Refuse bad paths before any work, then train; exit 1 naming what failed."""
    try:
        cluster = cluster_config.from_environment()
        patterns = platform_flags.resolve_patterns(
            FLAGS.data_dir, FLAGS.input_file_pattern, folder="data_dir"
        )
        inception = (
            platform_flags.resolve_under(
                FLAGS.work_dir,
                FLAGS.inception_checkpoint_file,
                "inception_checkpoint_file",
                folder="work_dir",
            )
            if FLAGS.inception_checkpoint_file
            else None
        )
        train_dir = _resolve_train_dir() if FLAGS.train_dir else None
        output_dir = platform_flags.resolve_under(FLAGS.output_dir, "", "output_dir").path
        log_dir = platform_flags.resolve_under(FLAGS.log_dir, "", "log_dir").path
    except ValueError as err:
        logging.error("%s", err)
        print(f"error: {err}", file=sys.stderr)
        return 2
    target = FLAGS.number_of_steps
    if FLAGS.max_step > 0:
        target = min(target, FLAGS.max_step)
    for job_path in (*patterns, inception, train_dir):
        if job_path is not None:
            print(job_path.reading(), flush=True)
    for name, value in (
        ("output_dir", output_dir),
        ("checkpoints", train_dir.path if train_dir else output_dir),
        ("log_dir", log_dir),
        ("target global step", target),
    ):
        print(f"{name}: {value}", flush=True)

    if cluster is not None:
        print(f"{cluster_config.ENV_VAR}: this task is {cluster.task}", flush=True)
    # TensorFlow loads only after flags parsed cleanly.
    from im2txt import local_training, train_options

    options = train_options.TrainOptions(
        file_patterns=[p.path for p in patterns],
        inception_checkpoint=inception and inception.path,
        output_dir=output_dir,
        train_dir=train_dir and train_dir.path,
        log_dir=log_dir,
        target_step=target,
        train_inception=FLAGS.train_inception,
        log_every_n_steps=FLAGS.log_every_n_steps,
        save_checkpoint_steps=FLAGS.save_checkpoint_steps,
        save_checkpoint_secs=FLAGS.save_checkpoint_secs,
        num_gpus=FLAGS.num_gpus,
        mixed_precision=FLAGS.mixed_precision,
        seed=FLAGS.seed,
        deterministic=FLAGS.deterministic,
        skip_bad_images=FLAGS.skip_bad_images,
    )
    try:
        if cluster is None:
            local_training.train(
                options, model_flags.model_config_from_flags(), TrainingConfig(), stop
            )
        else:
            return _run_in_cluster(cluster, options, stop)
    except train_options.TrainingError as err:
        logging.error("%s", err)
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _resolve_train_dir() -> platform_flags.JobPath:
    """--train_dir inside output_dir, or an error saying why it must be there."""
    try:
        return platform_flags.resolve_under(
            FLAGS.output_dir, FLAGS.train_dir, "train_dir", folder="output_dir"
        )
    except platform_flags.PathEscapeError as err:
        raise ValueError(
            f"{err}. The platform uploads only output_dir ({FLAGS.output_dir}), so checkpoints "
            "must go inside it: e.g. --train_dir=/data/output/train or --train_dir=train"
        ) from err


def _run_in_cluster(cluster, options, stop: StopRequest) -> int:
    """Serve as a ps or worker task, or coordinate the training as the chief."""
    from im2txt import distributed

    if not cluster.is_chief:
        return distributed.serve(cluster, stop)
    distributed.train_chief(
        options,
        model_flags.model_config_from_flags(),
        TrainingConfig(),
        distributed.ClusterOptions(cluster, FLAGS.cluster_wait_secs, FLAGS.cluster_stall_secs),
        stop,
    )
    return 0


if __name__ == "__main__":
    app.run(main)
