"""UAI-Train jobs that share no code with im2txt, the verdicts each gets, and one-edit mutants.

`fixtures/jobs/` holds user jobs of the shapes UCloud's own examples have: a TF1 graph
job through tf.compat.v1 (`tf1_compat`), Keras `fit` with its own checkpoints
(`keras_fit`) and with only Keras model files and no resume (`keras_model`, after the
Keras mnist example), TF1 summaries through FileWriters and one final save
(`tf1_summaries`, after mnist_summary), an Estimator-shaped argparse job
(`estimator_like`, after cifar10_main) and a slim fine-tuning job (`slim_like`, after
train_image_classifier.py). Each has a verdict table the harness must give it, and
mutants - one source edit apiece - each failing exactly the check built for it.

A mutant is kept where it breaks a way of reading that no other mutant breaks: a
checkpoint format for `pretrained_restore`, a resume mechanism for `resume`, a kind of
loss source for `loss_decrease` (TensorBoard events: tf1_summaries; Keras progress lines:
keras_model), a kind of file for `path_contract` (a stray file: tf1_compat, locally and in
its image; a model or checkpoint saved outside: keras_model, tf1_summaries). The same edit
on a second job read the same way proved nothing new and was dropped (docs/testing.md).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from harness.checks import registry
from harness.contract import PlatformRoot, job_command
from harness.params import JobParams, split_params
from harness.record import FAILED, NOT_APPLICABLE, NOT_RUN, PASSED, WARNING

JOBS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "jobs"
NA = NOT_APPLICABLE
# Every check the harness plans for a single-node job outside the im2txt profile, in order.
GENERIC = registry.names(registry.IMAGE) + registry.names(registry.GENERIC)
_OUTPUT_CREATED = "        tf.io.gfile.makedirs(FLAGS.output_dir)\n"


class Mutant(NamedTuple):
    """Replace `anchor` (which occurs exactly once in `file`) with `replacement`; the
    verdicts that change from the job's own table, validated with the Plan `settings`
    that plan the check it breaks (`reproducible` is only judged when asked for)."""

    file: str
    anchor: str
    replacement: str
    verdicts: dict[str, str]
    settings: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True)
class ForeignJob:
    """A job folder, what a harness passes it for a quick validation, and its verdicts."""

    name: str
    train_params: str
    # The flag holding the step target; a rerun with a higher value must resume.
    step_flag: str
    # Job path (joined to work_dir, or absolute under /data) of its pretrained file, and
    # make_inputs.py's flag for where to write it; None: it restores none.
    pretrained_file: str | None
    make_inputs_pretrained_flag: str | None
    # Every planned check's verdict on the unmutated job run locally (in a container
    # `image_contract` passes too).
    verdicts: dict[str, str]
    mutants: dict[str, Mutant] = field(default_factory=dict)
    # True: the harness generates its inputs (im2txt profile); False: its make_inputs.py.
    im2txt_profile: bool = False
    # The fixture folder, when one job folder is validated in several ways (its name else).
    code: str | None = None
    # The job whose make_inputs.py writes this one's inputs (its own else).
    inputs_from: str | None = None

    @property
    def folder(self) -> Path:
        return JOBS_DIR / (self.code or self.name)

    @property
    def inputs_folder(self) -> Path:
        return JOBS_DIR / (self.inputs_from or self.code or self.name)

    def params(self, steps: int | None = None) -> list[str]:
        """The default train params, with the step target replaced when `steps` is given."""
        params = split_params(self.train_params)
        return (
            params if steps is None else list(JobParams.of(params).with_flag(self.step_flag, steps))
        )


def _verdicts(**changed: str) -> dict[str, str]:
    """A table of GENERIC checks: every one passes but those named."""
    table = dict.fromkeys(GENERIC, PASSED)
    table.update(image_contract=NA, reproducible=NA)
    return {**table, **changed}


def _failing(check: str) -> dict[str, str]:
    return {check: FAILED}


# The job crashes at start: every check that needed its training is left unrun.
CRASHED = dict.fromkeys(
    (n for n in registry.names(registry.GENERIC) if n != "reproducible"), NOT_RUN
)


def _stray_write(folder: str) -> Mutant:
    write = f'        tf.io.gfile.GFile(FLAGS.{folder} + "/stray.txt", "w").write("x")\n'
    return Mutant("train.py", _OUTPUT_CREATED, _OUTPUT_CREATED + write, _failing("path_contract"))


def _learning_rate_zero(definition: str, **also: str) -> Mutant:
    """`definition` is the learning rate's flag definition up to and including its default;
    `also` the verdicts besides loss_decrease's failure that a frozen model changes."""
    zero = re.sub(r"[0-9.]+,?$", lambda m: "0.0" + ("," if m[0].endswith(",") else ""), definition)
    return Mutant("train.py", definition, zero, {**_failing("loss_decrease"), **also})


TF1_COMPAT = ForeignJob(
    name="tf1_compat",
    train_params=(
        "--input_file_pattern=/train-?????-of-00002 "
        "--inception_checkpoint_file=/inception_v3.ckpt --number_of_steps=60"
    ),
    step_flag="number_of_steps",
    pretrained_file="/inception_v3.ckpt",
    make_inputs_pretrained_flag="inception_checkpoint",
    # Summaries beside the checkpoints, as TF1 jobs wrote them: log_dir stays empty.
    verdicts={
        **_verdicts(path_contract=WARNING),
        "uses_image": NA,  # no evaluate.py / run_inference.py of ours in its code
        "inference": NA,
    },
    mutants={
        "writes_outside_output": _stray_write("work_dir"),
        "skips_pretrained_restore": Mutant(
            "train.py",
            "        saver.restore(session, path)\n",
            "        del session  # keeps the fresh initial values\n",
            _failing("pretrained_restore"),
        ),
        "never_resumes": Mutant(
            "train.py",
            "    latest = tf1.train.latest_checkpoint(FLAGS.output_dir)\n",
            "    latest = None\n",
            _failing("resume"),
        ),
    },
    im2txt_profile=True,
)

KERAS_FIT = ForeignJob(
    name="keras_fit",
    train_params="--train_file=/train.csv --pretrained_checkpoint=/backbone.ckpt --max_steps=60",
    step_flag="max_steps",
    pretrained_file="/backbone.ckpt",
    make_inputs_pretrained_flag="pretrained_checkpoint",
    verdicts=_verdicts(),
    mutants={
        "skips_pretrained_restore": Mutant(
            "train.py",
            "        restore_backbone(model, pretrained_path)\n",
            "        pass  # keeps the fresh initial values\n",
            _failing("pretrained_restore"),
        ),
        "never_resumes": Mutant(
            "train.py",
            "    latest = manager.latest_checkpoint\n",
            "    latest = None\n",
            _failing("resume"),
        ),
    },
)

KERAS_MODEL = ForeignJob(
    name="keras_model",
    train_params=(
        "--train_file=/digits.npz --pretrained_model=/pretrained.h5 --nofreeze_backbone --epochs=4"
    ),
    step_flag="epochs",
    pretrained_file="/pretrained.h5",
    make_inputs_pretrained_flag="pretrained_model",
    # Fine-tunes the whole model; saves only Keras model files (no checkpoint carrying a
    # step), so it cannot resume.
    verdicts=_verdicts(resume=WARNING),
    mutants={
        "saves_outside_output": Mutant(
            "train.py",
            'model.save(FLAGS.output_dir + "/digits_model.h5")',
            'model.save(FLAGS.work_dir + "/digits_model.h5")',
            _failing("path_contract"),
        ),
        "skips_pretrained_restore": Mutant(
            "train.py",
            "model.load_weights(pretrained_path)",
            "pass  # keeps the fresh initial values",
            _failing("pretrained_restore"),
        ),
        # With nothing moving, the declared fine-tuning (--nofreeze_backbone) did not happen:
        # a warning beside the failure.
        "learning_rate_zero": _learning_rate_zero(
            'flags.DEFINE_float("learning_rate", 0.005,', pretrained_restore=WARNING
        ),
        # UCloud's uflag under TensorFlow 2: absl.logging already defines --log_dir.
        "defines_log_dir_twice": Mutant(
            "train.py",
            '"Default log path", allow_override=True)',
            '"Default log path")',
            CRASHED,
        ),
    },
)

TF1_SUMMARIES = ForeignJob(
    name="tf1_summaries",
    train_params="--train_file=/points.npz --max_step=60",
    step_flag="max_step",
    pretrained_file=None,
    make_inputs_pretrained_flag=None,
    verdicts=_verdicts(pretrained_restore=NA, resume=WARNING),
    mutants={
        "saves_outside_output": Mutant(
            "train.py",
            'saver.save(sess, FLAGS.output_dir + "/model.ckpt")',
            'saver.save(sess, FLAGS.work_dir + "/model.ckpt")',
            _failing("path_contract"),
        ),
        "learning_rate_zero": _learning_rate_zero('flags.DEFINE_float("learning_rate", 0.01,'),
    },
)

ESTIMATOR_LIKE = ForeignJob(
    name="estimator_like",
    train_params="--train-steps=60 --train-batch-size=32",
    step_flag="train-steps",
    pretrained_file=None,
    make_inputs_pretrained_flag=None,
    # model_dir = output_dir, as the Estimator job has it: log_dir stays empty.
    verdicts=_verdicts(path_contract=WARNING, pretrained_restore=NA),
    mutants={
        "never_resumes": Mutant(
            "train.py",
            "    checkpoint_dir = args.output_dir\n",
            "    checkpoint_dir = None\n",
            _failing("resume"),
        ),
        # No graph-level seed: every run draws its own initial weights.
        "unseeded": Mutant(
            "train.py",
            "        tf1.set_random_seed(args.seed)\n",
            "        pass  # the seed flag is parsed but never set\n",
            _failing("reproducible"),
            {"reproducible": True},
        ),
    },
)

SLIM_LIKE = ForeignJob(
    name="slim_like",
    train_params=(
        "--checkpoint_path=/data/mobilenano.ckpt --checkpoint_exclude_scopes=MobileNano/Logits "
        "--trainable_scopes=MobileNano/Logits,MobileNano/Conv2 --max_number_of_steps=60"
    ),
    step_flag="max_number_of_steps",
    pretrained_file="/data/mobilenano.ckpt",
    make_inputs_pretrained_flag="checkpoint_path",
    # Events and checkpoints in train_dir = output_dir, as slim writes them.
    verdicts=_verdicts(path_contract=WARNING),
    mutants={
        "skips_pretrained_restore": Mutant(
            "train.py",
            "        saver.restore(session, path)\n",
            "        del session  # keeps the fresh initial values\n",
            _failing("pretrained_restore"),
        ),
        "trains_its_frozen_scopes": Mutant(
            "train.py",
            "    variables_to_train = variables_to_train_from(FLAGS.trainable_scopes)\n",
            "    variables_to_train = tf1.trainable_variables()\n",
            _failing("pretrained_restore"),
        ),
        "never_resumes": Mutant(
            "train.py",
            "    latest = tf1.train.latest_checkpoint(FLAGS.train_dir)\n",
            "    latest = None\n",
            _failing("resume"),
        ),
    },
)

JOBS = {
    job.name: job
    for job in (TF1_COMPAT, KERAS_FIT, KERAS_MODEL, TF1_SUMMARIES, ESTIMATOR_LIKE, SLIM_LIKE)
}
MUTANTS = [(job.name, mutant) for job in JOBS.values() for mutant in job.mutants]


def verdict_table(record) -> dict[str, str]:
    """A run record's verdicts, check by check (what the tests compare whole)."""
    return {check.name: check.status for check in record.checks}


def verdict_messages(record) -> dict[str, str]:
    """A run record's check messages: what a failed table comparison shows."""
    return {check.name: check.message for check in record.checks}


def expected_verdicts(job: ForeignJob, mutant: str | None = None) -> dict[str, str]:
    """The whole table the harness gives the job (or one of its mutants) locally."""
    return {**job.verdicts, **(job.mutants[mutant].verdicts if mutant else {})}


def job_env() -> dict[str, str]:
    """This environment, quieter, and free to write bytecode (so a stray import would show)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def make_inputs(job: ForeignJob | str, work_dir: Path) -> None:
    """Run the job's make_inputs.py: its data sample into work_dir/data, its pretrained
    file at work_dir/<its name>."""
    job = JOBS[job] if isinstance(job, str) else job
    work_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        str(job.inputs_folder / "make_inputs.py"),
        f"--data_dir={work_dir / 'data'}",
    ]
    if job.pretrained_file:
        name = Path(job.pretrained_file).name
        command.append(f"--{job.make_inputs_pretrained_flag}={work_dir / name}")
    done = subprocess.run(
        command, capture_output=True, text=True, env=job_env(), cwd=work_dir, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")


def pretrained_input(job: ForeignJob, work_dir: Path) -> Path | None:
    """Where make_inputs wrote the job's pretrained file (what `--pretrained` gets)."""
    return work_dir / Path(job.pretrained_file).name if job.pretrained_file else None


def run_job(
    root: PlatformRoot, params: Sequence[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`cd <work_dir> && python <work_dir>/train.py <params> <platform flags>`, as the platform."""
    command = job_command("train.py", list(params), root.host_paths, sys.executable)
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=root.work_dir,
        env=job_env() if env is None else env,
        timeout=600,
    )


def make_mutant(job: ForeignJob | str, name: str | Mutant, destination: Path) -> Path:
    """Copy the job folder to `destination` and apply a mutant (one of the job's, by name,
    or one given whole); returns the copy."""
    job = JOBS[job] if isinstance(job, str) else job
    mutant = job.mutants[name] if isinstance(name, str) else name
    shutil.copytree(job.folder, destination, ignore=shutil.ignore_patterns("__pycache__"))
    target = destination / mutant.file
    source = target.read_text()
    count = source.count(mutant.anchor)
    assert count == 1, f"{job.name}/{name}: anchor occurs {count} times in {mutant.file}"
    target.write_text(source.replace(mutant.anchor, mutant.replacement))
    return destination


class JobInputs:
    """Each job's make_inputs.py sample, made once per session and shared (read only)."""

    def __init__(self, parent: Path) -> None:
        self.parent = parent
        self.made: dict[str, Path] = {}

    def __call__(self, job: ForeignJob) -> Path:
        key = job.inputs_folder.name
        if key not in self.made:
            make_inputs(job, self.parent / key)
            self.made[key] = self.parent / key
        return self.made[key]


def plan_for(job: ForeignJob, inputs: JobInputs, **settings):
    """The validation a user runs for the job: its own sample and pretrained file with
    `--data/--pretrained` (or the im2txt profile's generated inputs)."""
    from harness.scenario import Plan

    if job.im2txt_profile:
        return Plan(train_params=job.params(), **settings)
    work_dir = inputs(job)
    return Plan(
        train_params=job.params(),
        profile="none",
        data=work_dir / "data",
        pretrained=pretrained_input(job, work_dir),
        **settings,
    )
