"""The foreign fixture jobs honour the platform contract, judged without the harness.

No harness CLI runs here: each job is started the platform's way against a
platform-like folder, twice (train, then resume to a higher step target), and
its files are inspected directly. Job 1 gets the im2txt records and the full
Inception v3 stand-in the harness generates; job 2 its own make_inputs.py sample.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from harness import snapshot
from harness.contract import PlatformRoot
from harness.synthetic import generate_dataset, write_inception_checkpoint
from tests.support.foreign_jobs import (
    KERAS_FIT,
    TF1_COMPAT,
    ForeignJob,
    job_env,
    make_inputs,
    run_job,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("standalone")]


@dataclass(frozen=True)
class Facts:
    """What each job's own documentation promises, checked here without the harness."""

    # Keys the pretrained file and the job's checkpoints share (restored, then frozen).
    pretrained_keys: tuple[str, ...]
    # Model weights that training must move (optimizer slots excluded).
    trained_key: re.Pattern[str]
    # One logged loss per match, in the `loss` group.
    loss_line: re.Pattern[str]


FACTS = {
    "tf1_compat": Facts(
        tuple(
            f"InceptionV3/Conv2d_1a_3x3/{name}"
            for name in (
                "weights",
                "BatchNorm/beta",
                "BatchNorm/moving_mean",
                "BatchNorm/moving_variance",
            )
        ),
        re.compile(r"^word_head/.*/(weights|biases)$"),
        # LoggingTensorHook's line; absl and TensorFlow's own handler each print it once.
        re.compile(r"^INFO:tensorflow:loss = (?P<loss>\S+), step = (?P<step>\d+)", re.M),
    ),
    "keras_fit": Facts(
        (
            "model/backbone/_kernel/.ATTRIBUTES/VARIABLE_VALUE",
            "model/backbone/bias/.ATTRIBUTES/VARIABLE_VALUE",
        ),
        re.compile(r"^model/head/"),
        # model.fit(verbose=2) prints one line per epoch: `5/5 - 0s - 9ms/step - ... - loss: 0.43`.
        re.compile(r"^\d+/\d+ - .* - loss: (?P<loss>\S+)", re.M),
    ),
}
JOBS = {job.name: job for job in (TF1_COMPAT, KERAS_FIT)}


def logged_losses(job: ForeignJob, output: str) -> list[float]:
    """Losses in the order the job logged them (stdout and stderr joined)."""
    return [float(match["loss"]) for match in FACTS[job.name].loss_line.finditer(output)]


FIRST_TARGET, SECOND_TARGET = 60, 80
KERAS_STEPS_PER_EPOCH = 5  # keras_fit's --steps_per_epoch default
_STEP_RE = re.compile(r"-(\d+)\.index$")


def checkpoints(output_dir: Path) -> list[Path]:
    """`<name>-<step>` checkpoint prefixes in output_dir, by step."""
    found = [(int(m[1]), p) for p in output_dir.glob("*.index") if (m := _STEP_RE.search(p.name))]
    return [path.with_suffix("") for _, path in sorted(found)]


def values(prefix: Path) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(str(prefix))
    return {
        name: reader.get_tensor(name)
        for name in reader.get_variable_to_shape_map()
        if name != "_CHECKPOINTABLE_OBJECT_GRAPH"
    }


def step_of(prefix: Path) -> int:
    """The training step a checkpoint holds (TF1 global_step or the Keras optimizer's)."""
    stored = values(prefix)
    keras_step = "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"
    key = "global_step" if "global_step" in stored else keras_step
    return int(stored[key])


def trained_keys(job: ForeignJob, stored: dict[str, np.ndarray]) -> list[str]:
    return [key for key in stored if FACTS[job.name].trained_key.search(key)]


def output_of(done) -> str:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """One work_dir of inputs per job (data/ and the pretrained file), made once."""
    made = {}
    for job in JOBS.values():
        work_dir = tmp_path_factory.mktemp(f"{job.name}-inputs")
        if job is TF1_COMPAT:
            pattern = job.params()[0].split("=", 1)[1]
            generate_dataset(work_dir / "data", input_file_pattern=pattern, num_eval_images=0)
            write_inception_checkpoint(work_dir / job.pretrained_file.lstrip("/"))
        else:
            make_inputs(job, work_dir)
        made[job.name] = work_dir
    return made


def platform_root(job_folder: Path, work_inputs: Path, parent: Path) -> PlatformRoot:
    """A fresh root with the code installed and the shared inputs hard-linked into work_dir."""
    root = PlatformRoot.create(parent=parent)
    root.install_code(job_folder)
    for source in work_inputs.rglob("*"):
        if source.is_file():
            target = root.work_dir / source.relative_to(work_inputs)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, target)
    return root


@dataclass
class TwoRuns:
    root: PlatformRoot
    first_output: str
    second_output: str
    first_checkpoints: list[Path]
    before: dict[str, str]
    after: dict[str, str]


@pytest.fixture(scope="module", params=sorted(JOBS))
def job(request) -> ForeignJob:
    return JOBS[request.param]


@pytest.fixture(scope="module")
def two_runs(job, inputs, tmp_path_factory) -> TwoRuns:
    root = platform_root(job.folder, inputs[job.name], tmp_path_factory.mktemp(job.name))
    before = snapshot.hash_tree(root.root)
    first = output_of(run_job(root, job.params(FIRST_TARGET)))
    first_checkpoints = checkpoints(root.output_dir)
    kept = root.root / "first-run"  # the second run may rotate the first run's files away
    for prefix in first_checkpoints:
        for part in prefix.parent.glob(prefix.name + ".*"):
            kept.mkdir(exist_ok=True)
            shutil.copy2(part, kept)
    second = output_of(run_job(root, job.params(SECOND_TARGET)))
    after = snapshot.hash_tree(root.root)
    after = {path: digest for path, digest in after.items() if not path.startswith("first-run/")}
    return TwoRuns(
        root,
        first,
        second,
        [kept / prefix.name for prefix in first_checkpoints],
        before,
        after,
    )


def test_writes_nothing_outside_output_dir(two_runs: TwoRuns) -> None:
    change = snapshot.diff(two_runs.before, two_runs.after)
    assert change.removed == []
    assert [p for p in change.added + change.modified if not p.startswith("data/output/")] == []
    assert not list(two_runs.root.root.rglob("__pycache__"))


def test_checkpoints_are_readable_and_keep_the_frozen_pretrained_values(
    job: ForeignJob, two_runs: TwoRuns
) -> None:
    pretrained = values(Path(f"{two_runs.root.work_dir}{job.pretrained_file}"))
    saved = [*two_runs.first_checkpoints, *checkpoints(two_runs.root.output_dir)]
    assert len(two_runs.first_checkpoints) >= 2
    for prefix in saved:
        stored = values(prefix)
        for key in FACTS[job.name].pretrained_keys:
            assert np.array_equal(stored[key], pretrained[key]), f"{prefix.name}: {key}"
    first, last = values(saved[0]), values(saved[-1])
    trained = trained_keys(job, first)
    unmoved = [key for key in trained if np.array_equal(first[key], last[key])]
    assert trained and unmoved == []


def test_loss_falls(job: ForeignJob, two_runs: TwoRuns) -> None:
    losses = logged_losses(job, two_runs.first_output)
    assert len(losses) >= 10 and all(np.isfinite(losses))
    window = len(losses) // 5
    first, last = np.mean(losses[:window]), np.mean(losses[-window:])
    assert last <= 0.75 * first, (first, last)


def test_rerun_resumes_at_the_saved_step(job: ForeignJob, two_runs: TwoRuns) -> None:
    assert step_of(two_runs.first_checkpoints[-1]) == FIRST_TARGET
    final = checkpoints(two_runs.root.output_dir)[-1]
    assert step_of(final) == SECOND_TARGET
    assert final.name.endswith(f"-{SECOND_TARGET}")
    assert "Fresh start" in two_runs.first_output
    assert "Fresh start" not in two_runs.second_output
    if job is TF1_COMPAT:
        steps = [int(m["step"]) for m in FACTS[job.name].loss_line.finditer(two_runs.second_output)]
        assert steps == list(range(FIRST_TARGET, SECOND_TARGET))
    else:
        epochs = FIRST_TARGET // KERAS_STEPS_PER_EPOCH, SECOND_TARGET // KERAS_STEPS_PER_EPOCH
        assert f"Epoch {epochs[0] + 1}/{epochs[1]}\n" in two_runs.second_output
        assert "Epoch 1/" not in two_runs.second_output


def test_tf1_job_trains_on_its_own_sample_inputs(tmp_path: Path) -> None:
    root = PlatformRoot.create(parent=tmp_path)
    root.install_code(TF1_COMPAT.folder)
    make_inputs(TF1_COMPAT, root.work_dir)
    output = output_of(run_job(root, TF1_COMPAT.params(steps=20)))
    losses = logged_losses(TF1_COMPAT, output)
    assert len(losses) == 20 and np.mean(losses[-5:]) < np.mean(losses[:5])
    final = checkpoints(root.output_dir)[-1]
    assert step_of(final) == 20
    pretrained, stored = values(root.work_dir / "inception_v3.ckpt"), values(final)
    assert all(
        np.array_equal(stored[k], pretrained[k]) for k in FACTS[TF1_COMPAT.name].pretrained_keys
    )


@pytest.mark.parametrize("missing", ["data", "pretrained"])
def test_missing_input_is_refused_with_exit_1(
    job: ForeignJob, inputs, missing: str, tmp_path: Path
) -> None:
    root = platform_root(job.folder, inputs[job.name], tmp_path)
    if missing == "data":
        shutil.rmtree(root.data_dir)
        root.data_dir.mkdir()
        named = str(root.data_dir)
    else:
        for part in root.work_dir.glob(job.pretrained_file.lstrip("/") + "*"):
            part.unlink()
        named = f"{root.work_dir}{job.pretrained_file}"
    done = run_job(root, job.params(steps=5))
    assert done.returncode == 1
    assert "Training failed" in done.stderr and named in done.stderr
    assert checkpoints(root.output_dir) == []


def test_keras_job_trains_without_tensorboard(inputs, tmp_path: Path) -> None:
    """TensorFlow >= 2.20 does not install tensorboard: the job warns once and trains on."""
    hidden = tmp_path / "no-tensorboard"
    hidden.mkdir()
    (hidden / "tensorboard.py").write_text("raise ImportError('hidden for this test')\n")
    root = platform_root(KERAS_FIT.folder, inputs[KERAS_FIT.name], tmp_path)
    env = {**job_env(), "PYTHONPATH": str(hidden)}
    output = output_of(run_job(root, KERAS_FIT.params(steps=10), env=env))
    assert output.count("tensorboard is not installed") == 1
    assert not root.log_dir.exists()
    assert step_of(checkpoints(root.output_dir)[-1]) == 10
