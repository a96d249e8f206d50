"""Two UAI-Train jobs that share no code with im2txt, and one-edit mutants of each.

`fixtures/jobs/` holds user jobs of two generations - a TF1-style graph job run
through tf.compat.v1 and a Keras 3 `model.fit` job - so tests can show that the
harness judges a job from what it writes (event files, loss lines, checkpoints in
output_dir), not from anything particular to this repository's trainer. Each job
has four mutants, one source edit apiece, for the failures a harness must catch.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from harness.contract import PlatformRoot, job_command
from harness.params import split_params, with_flag
from harness.record import NOT_APPLICABLE, PASSED

JOBS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "jobs"
MUTANT_NAMES = (
    "writes_outside_output",
    "skips_pretrained_restore",
    "learning_rate_zero",
    "never_resumes",
)
_OUTPUT_CREATED = "        tf.io.gfile.makedirs(FLAGS.output_dir)\n"


class Mutant(NamedTuple):
    """Replace `anchor` (which occurs exactly once in `file`) with `replacement`."""

    file: str
    anchor: str
    replacement: str


@dataclass(frozen=True)
class ForeignJob:
    """A job folder and what a harness passes it for a quick validation."""

    name: str
    train_params: str
    # The flag holding the step target; a rerun with a higher value must resume.
    step_flag: str
    # Job path (joined to work_dir) of the pretrained checkpoint in train_params.
    pretrained_file: str
    # make_inputs.py's flag for where to write the pretrained checkpoint.
    make_inputs_pretrained_flag: str
    # Keys the pretrained file and the job's checkpoints share (restored, then frozen).
    pretrained_keys: tuple[str, ...]
    # Model weights that training must move (optimizer slots excluded).
    trained_key: re.Pattern[str]
    # One logged loss per match, in the `loss` group.
    loss_line: re.Pattern[str]
    # The file the writes_outside_output mutant adds, relative to the platform root.
    stray_file: str
    mutants: dict[str, Mutant]

    @property
    def folder(self) -> Path:
        return JOBS_DIR / self.name

    def params(self, steps: int | None = None) -> list[str]:
        """The default train params, with the step target replaced when `steps` is given."""
        params = split_params(self.train_params)
        return params if steps is None else with_flag(params, self.step_flag, steps)

    def losses(self, output: str) -> list[float]:
        """Losses in the order the job logged them (stdout and stderr joined)."""
        return [float(match["loss"]) for match in self.loss_line.finditer(output)]


def _train_py_mutants(
    *,
    stray: tuple[str, str],
    restore: str,
    restore_skipped: str,
    learning_rate: str,
    latest: str,
) -> dict[str, Mutant]:
    """The four mutants as edits of a job's train.py.

    `stray` is (platform folder flag, file name) for the extra write; `restore` the
    line loading the pretrained file and `restore_skipped` its stand-in;
    `learning_rate` the flag's default; `latest` the line finding the checkpoint to
    resume from.
    """
    folder, name = stray
    write = f'        tf.io.gfile.GFile(FLAGS.{folder} + "/{name}", "w").write("x")\n'
    return {
        "writes_outside_output": Mutant("train.py", _OUTPUT_CREATED, _OUTPUT_CREATED + write),
        "skips_pretrained_restore": Mutant("train.py", restore, restore_skipped),
        "learning_rate_zero": Mutant(
            "train.py",
            f'flags.DEFINE_float("learning_rate", {learning_rate},',
            'flags.DEFINE_float("learning_rate", 0.0,',
        ),
        "never_resumes": Mutant("train.py", latest, "    latest = None\n"),
    }


TF1_COMPAT = ForeignJob(
    name="tf1_compat",
    train_params=(
        "--input_file_pattern=/train-?????-of-00002 "
        "--inception_checkpoint_file=/inception_v3.ckpt --number_of_steps=60"
    ),
    step_flag="number_of_steps",
    pretrained_file="/inception_v3.ckpt",
    make_inputs_pretrained_flag="inception_checkpoint",
    pretrained_keys=tuple(
        "InceptionV3/Conv2d_1a_3x3/" + name
        for name in (
            "weights",
            "BatchNorm/beta",
            "BatchNorm/moving_mean",
            "BatchNorm/moving_variance",
        )
    ),
    trained_key=re.compile(r"^word_head/.*/(weights|biases)$"),
    # LoggingTensorHook's line; absl and TensorFlow's own handler each print it once.
    loss_line=re.compile(r"^INFO:tensorflow:loss = (?P<loss>\S+), step = (?P<step>\d+)", re.M),
    stray_file="data/run_started.txt",
    mutants=_train_py_mutants(
        stray=("work_dir", "run_started.txt"),
        restore="        saver.restore(session, path)\n",
        restore_skipped="        del session  # keeps the fresh initial values\n",
        learning_rate="0.02",
        latest="    latest = tf1.train.latest_checkpoint(FLAGS.output_dir)\n",
    ),
)

KERAS_FIT = ForeignJob(
    name="keras_fit",
    train_params="--train_file=/train.csv --pretrained_checkpoint=/backbone.ckpt --max_steps=60",
    step_flag="max_steps",
    pretrained_file="/backbone.ckpt",
    make_inputs_pretrained_flag="pretrained_checkpoint",
    pretrained_keys=(
        "model/backbone/_kernel/.ATTRIBUTES/VARIABLE_VALUE",
        "model/backbone/bias/.ATTRIBUTES/VARIABLE_VALUE",
    ),
    trained_key=re.compile(r"^model/head/"),
    # model.fit(verbose=2) prints one line per epoch: `5/5 - 0s - 9ms/step - ... - loss: 0.43`.
    loss_line=re.compile(r"^\d+/\d+ - .* - loss: (?P<loss>\S+)", re.M),
    stray_file="data/data/seen.txt",
    mutants=_train_py_mutants(
        stray=("data_dir", "seen.txt"),
        restore="        restore_backbone(model, pretrained_path)\n",
        restore_skipped="        pass  # keeps the fresh initial values\n",
        learning_rate="0.01",
        latest="    latest = manager.latest_checkpoint\n",
    ),
)

JOBS = {job.name: job for job in (TF1_COMPAT, KERAS_FIT)}

# Every check the harness plans for each job, and its verdict on the unmutated job run
# locally (in a container `image_contract` passes too).
NA = NOT_APPLICABLE
PASSING = {
    "tf1_compat": {
        "image_contract": NA,
        "path_contract": PASSED,
        "pretrained_restore": PASSED,
        "loss_decrease": PASSED,
        "uses_image": NA,  # no evaluate.py / run_inference.py of ours in its code
        "resume": PASSED,
        "inference": NA,
        "reproducible": NA,
    },
    "keras_fit": {
        "image_contract": NA,
        "path_contract": PASSED,
        "pretrained_restore": PASSED,
        "loss_decrease": PASSED,
        "resume": PASSED,
        "reproducible": NA,
    },
}

MUTANTS = {job.name: job.mutants for job in JOBS.values()}


def job_env() -> dict[str, str]:
    """This environment, quieter, and free to write bytecode (so a stray import would show)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def make_inputs(job: ForeignJob | str, work_dir: Path) -> None:
    """Run the job's make_inputs.py: its data sample into work_dir/data, its pretrained file."""
    job = JOBS[job] if isinstance(job, str) else job
    work_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        str(job.folder / "make_inputs.py"),
        f"--data_dir={work_dir / 'data'}",
        f"--{job.make_inputs_pretrained_flag}={work_dir}{job.pretrained_file}",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, env=job_env(), cwd=work_dir, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")


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


def make_mutant(job: ForeignJob | str, name: str, destination: Path) -> Path:
    """Copy the job folder to `destination` and apply mutant `name`; returns the copy."""
    job = JOBS[job] if isinstance(job, str) else job
    mutant = job.mutants[name]
    shutil.copytree(job.folder, destination, ignore=shutil.ignore_patterns("__pycache__"))
    target = destination / mutant.file
    source = target.read_text()
    count = source.count(mutant.anchor)
    assert count == 1, f"{job.name}/{name}: anchor occurs {count} times in {mutant.file}"
    target.write_text(source.replace(mutant.anchor, mutant.replacement))
    return destination
