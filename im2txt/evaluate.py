"""Evaluate Show and Tell checkpoints: perplexity over held-out records.

Perplexity = exp(sum(loss * weight) / sum(weight)) over `num_eval_examples`
captions, per checkpoint. With --run_once it evaluates the newest checkpoint
and exits; otherwise it waits for new checkpoints in checkpoint_dir, as
upstream's evaluator did beside a running trainer. Results are logged, written
as TensorBoard scalars (when TensorBoard is installed), and appended as JSON
lines to `<eval_dir>/eval_metrics.jsonl`.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

from absl import app, flags, logging

from im2txt import model_flags, platform_flags

FLAGS = flags.FLAGS

platform_flags.define_platform_flags()
model_flags.define_model_flags()
flags.DEFINE_string(
    "input_file_pattern", "", "Comma-separated globs of evaluation TFRecords, relative to data_dir."
)
flags.DEFINE_string(
    "checkpoint_dir", "", "Folder of the checkpoints to evaluate (default: output_dir)."
)
flags.DEFINE_string("eval_dir", "", "Where results go (default: <log_dir>/eval).")
flags.DEFINE_integer(
    "eval_interval_secs", 600, "Seconds between checks for new checkpoints.", lower_bound=1
)
flags.DEFINE_integer(
    "num_eval_examples", 10132, "Captions to evaluate per checkpoint.", lower_bound=1
)
flags.DEFINE_integer(
    "min_global_step", 5000, "Skip checkpoints before this global step.", lower_bound=0
)
flags.DEFINE_boolean("run_once", False, "Evaluate the newest checkpoint once and exit.")

RESULTS_FILE = "eval_metrics.jsonl"


def evaluate_checkpoint(model, checkpoint: str, dataset_iter, num_batches: int) -> dict:
    """Restore `checkpoint` into `model` and compute its perplexity."""
    import tensorflow as tf

    from im2txt import checkpointing

    checkpointing.restore_variables(checkpoint, model.checkpoint_variables())

    @tf.function
    def weighted_loss(batch):
        token_losses, weights = model.losses(batch, training=False)
        return tf.reduce_sum(token_losses * weights), tf.reduce_sum(weights)

    started = time.perf_counter()
    total_loss, total_weight = 0.0, 0.0
    for _ in range(num_batches):
        loss, weight = weighted_loss(next(dataset_iter))
        total_loss += float(loss)
        total_weight += float(weight)
    if total_weight == 0:
        raise ValueError("evaluation batches held no caption tokens")
    return {
        "global_step": int(model.global_step.numpy()),
        "perplexity": math.exp(total_loss / total_weight),
        "num_examples": num_batches * model.config.batch_size,
        "checkpoint": checkpoint,
        "seconds": time.perf_counter() - started,
    }


def main(argv: list[str]) -> int:
    del argv
    import tensorflow as tf

    from im2txt import checkpointing
    from im2txt.ops import inputs
    from im2txt.show_and_tell_model import ShowAndTellModel
    from im2txt.summaries import ScalarWriter

    try:
        resolved = platform_flags.resolve_patterns(
            FLAGS.data_dir, FLAGS.input_file_pattern, folder="data_dir"
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for job_path in resolved:
        print(job_path.reading(), flush=True)
    patterns = [job_path.path for job_path in resolved]
    checkpoint_dir = FLAGS.checkpoint_dir or FLAGS.output_dir
    eval_dir = FLAGS.eval_dir or os.path.join(FLAGS.log_dir, "eval")
    config = model_flags.model_config_from_flags()
    try:
        dataset = inputs.build_dataset(patterns, config, is_training=False, repeat=True)
    except (FileNotFoundError, inputs.InputDataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    os.makedirs(eval_dir, exist_ok=True)
    model = ShowAndTellModel(config)
    manager = checkpointing.CheckpointManager(checkpoint_dir)
    scalars = ScalarWriter(eval_dir, still_written=RESULTS_FILE)
    num_batches = math.ceil(FLAGS.num_eval_examples / config.batch_size)
    evaluated = None
    while True:
        latest = manager.latest()
        if latest is None and FLAGS.run_once:
            print(f"error: no checkpoint found in {checkpoint_dir}", file=sys.stderr)
            return 1
        if latest is not None and latest != evaluated:
            if checkpointing.step_of(latest) < FLAGS.min_global_step:
                logging.info(
                    "Skipping %s: before --min_global_step=%d", latest, FLAGS.min_global_step
                )
            else:
                try:
                    result = evaluate_checkpoint(model, latest, iter(dataset), num_batches)
                except checkpointing.CheckpointError as err:
                    print(f"error: {err}", file=sys.stderr)
                    return 1
                except tf.errors.OpError as err:
                    bad = inputs.find_undecodable_image(patterns, config)
                    reason = bad.message if bad else inputs.tf_error_message(err)
                    print(f"error: evaluating {latest}: {reason}", file=sys.stderr)
                    return 1
                print(
                    f"Perplexity = {result['perplexity']:f} at global step "
                    f"{result['global_step']} ({result['seconds']:.1f} sec)",
                    flush=True,
                )
                scalars.write(result["global_step"], {"Perplexity": result["perplexity"]})
                with open(os.path.join(eval_dir, RESULTS_FILE), "a") as handle:
                    handle.write(json.dumps(result) + "\n")
            evaluated = latest
        if FLAGS.run_once:
            return 0
        time.sleep(FLAGS.eval_interval_secs)


if __name__ == "__main__":
    app.run(main)
