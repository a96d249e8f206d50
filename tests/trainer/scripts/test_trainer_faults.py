"""The trainer's failure matrix, end to end: provoke each fault, check what the user sees.

Each test runs im2txt/train.py (or evaluate.py / run_inference.py) as a subprocess
the way the platform does and asserts (a) the exit status, (b) that the message
names the file, record, variable, flag or step at fault, and (c) that checkpoints
already in output_dir still load and the `checkpoint` index is unchanged.
"""

from __future__ import annotations

import dataclasses
import io
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from harness.contract import PlatformRoot
from harness.synthetic import (
    SyntheticDataset,
    generate_dataset,
    serialize_example,
    write_inception_checkpoint,
    write_records,
)

pytestmark = pytest.mark.slow

CODE = Path(__file__).resolve().parents[3] / "im2txt"
VOCAB_SIZE = 64
TRAINED_STEPS = 2  # The shared run saves model.ckpt-1 and model.ckpt-2.
EXTRA_SHARD = "train-00002-of-00256"
# Three kills in each moment (startup, a training step, a save), in a seeded order.
KILLS = 9
STEP_LINE = re.compile(r"global step \d+: loss")
TIMEOUT = 300


@dataclasses.dataclass(frozen=True)
class Job:
    """The four platform folders one trainer invocation gets."""

    work_dir: Path
    data_dir: Path
    output_dir: Path
    log_dir: Path

    def flags(self) -> list[str]:
        return [
            f"--work_dir={self.work_dir}",
            f"--data_dir={self.data_dir}",
            f"--output_dir={self.output_dir}",
            f"--log_dir={self.log_dir}",
        ]


@dataclasses.dataclass(frozen=True)
class Base:
    """The shared inputs: a platform root with data and a synthetic Inception checkpoint."""

    root: PlatformRoot
    dataset: SyntheticDataset

    def job(self, output_dir: Path, data_dir: Path | None = None, log_dir: Path | None = None):
        return Job(
            self.root.work_dir,
            data_dir or self.root.data_dir,
            output_dir,
            log_dir or output_dir / "log",
        )


def _command(script: str, job: Job, params: dict[str, object]) -> list[str]:
    return [
        sys.executable,
        str(CODE / script),
        *(f"--{name}={value}" for name, value in params.items()),
        *job.flags(),
    ]


def _train_command(job: Job, **overrides: object) -> list[str]:
    params: dict[str, object] = {
        "input_file_pattern": "/train-?????-of-00256",
        "inception_checkpoint_file": "/inception_v3.ckpt",
        "batch_size": 4,
        "image_size": 75,
        "vocab_size": VOCAB_SIZE,
        "number_of_steps": TRAINED_STEPS + 4,
        "log_every_n_steps": 1,
    }
    params.update(overrides)
    return _command("train.py", job, params)


def _env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONDONTWRITEBYTECODE": "1"}


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT, env=_env(), check=False
    )


def _train(job: Job, **overrides: object) -> subprocess.CompletedProcess[str]:
    return _run(_train_command(job, **overrides))


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The `checkpoint` index bytes and the global step stored in each checkpoint."""

    index: bytes | None
    steps: dict[str, int]


def _snapshot(output_dir: Path) -> Snapshot:
    index = output_dir / "checkpoint"
    steps = {}
    for path in sorted(output_dir.glob("model.ckpt-*.index")):
        prefix = str(path.with_suffix(""))
        steps[prefix] = int(tf.train.load_checkpoint(prefix).get_tensor("global_step"))
    return Snapshot(index.read_bytes() if index.exists() else None, steps)


def _assert_intact(before: Snapshot, output_dir: Path, index_unchanged: bool = True) -> None:
    """Every earlier checkpoint still loads with its step; the index is as it was."""
    after = _snapshot(output_dir)
    for prefix, step in before.steps.items():
        assert after.steps.get(prefix) == step, f"{prefix} lost or changed"
    if index_unchanged:
        assert after == before, "output_dir changed"
    assert not list(output_dir.glob("*.tmp-save-*")), "partial save left behind"


def _hardlink_tree(source: Path, target: Path) -> None:
    """Copy a checkpoint folder cheaply; the trainer replaces files, never edits them."""
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.name.startswith("model.ckpt-"):
            os.link(path, target / path.name)
        elif path.name == "checkpoint":
            shutil.copy(path, target / path.name)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = PlatformRoot.create(parent=tmp_path_factory.mktemp("faults"))
    dataset = generate_dataset(root.data_dir, num_images=4, captions_per_image=2, num_eval_images=0)
    write_inception_checkpoint(root.work_dir / "inception_v3.ckpt")
    return Base(root, dataset)


@pytest.fixture(scope="module")
def trained(base: Base) -> Path:
    """output_dir of a 2-step run that saved model.ckpt-1 and model.ckpt-2."""
    result = _train(
        base.job(base.root.output_dir), number_of_steps=TRAINED_STEPS, save_checkpoint_steps=1
    )
    assert result.returncode == 0, _output(result)
    assert len(_snapshot(base.root.output_dir).steps) == TRAINED_STEPS
    return base.root.output_dir


@pytest.fixture
def resumable(trained: Path, tmp_path: Path) -> Path:
    """A fresh output_dir holding the trained checkpoints and their index."""
    _hardlink_tree(trained, tmp_path / "output")
    return tmp_path / "output"


def _jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG")
    return buffer.getvalue()


def _record(image: bytes | int | None, caption_ids: list[int]) -> bytes:
    """A SequenceExample: int `image` is a mistyped image/data, None leaves it out."""
    example = tf.train.SequenceExample()
    example.context.feature["image/image_id"].int64_list.value.append(99)
    if isinstance(image, int):
        example.context.feature["image/data"].int64_list.value.append(image)
    elif image is not None:
        example.context.feature["image/data"].bytes_list.value.append(image)
    ids = example.feature_lists.feature_list["image/caption_ids"]
    for token in caption_ids:
        ids.feature.add().int64_list.value.append(token)
    return example.SerializeToString()


def _data_dir(base: Base, tmp_path: Path, extra: Callable[[Path], None]) -> tuple[Path, Path]:
    """A copy of the good data plus a third shard written by `extra`; returns (dir, shard)."""
    data_dir = tmp_path / "data"
    shutil.copytree(base.root.data_dir, data_dir)
    shard = data_dir / EXTRA_SHARD
    extra(shard)
    return data_dir, shard


def _good_record(base: Base) -> bytes:
    scene = base.dataset.train_scenes[0]
    return serialize_example(1, scene.jpeg, scene.captions[0], base.dataset.vocab)


# --- 1. inputs -------------------------------------------------------------------


def test_pattern_matching_no_file_names_the_resolved_pattern(base: Base, resumable: Path) -> None:
    before = _snapshot(resumable)
    result = _train(base.job(resumable), input_file_pattern="/val-?????-of-00004")
    assert result.returncode == 1
    assert f"Found no input files matching {base.root.data_dir}/val-?????-of-00004" in (
        result.stderr
    )
    _assert_intact(before, resumable)


def _truncated_copy(source: Path) -> Callable[[Path], None]:
    return lambda shard: shard.write_bytes(source.read_bytes()[:-40])


SHARD_FAULTS = {
    "empty": (lambda shard: shard.write_bytes(b""), "input file {shard} is empty"),
    "truncated": (None, "{shard}: cannot read record 3 (file truncated"),
    "not-a-tfrecord": (
        lambda shard: shard.write_bytes(b"PK\x03\x04 a zip, not records " * 20),
        "{shard}: cannot read record 0",
    ),
}


@pytest.mark.parametrize("fault", list(SHARD_FAULTS))
def test_bad_shard_is_named(base: Base, resumable: Path, tmp_path: Path, fault: str) -> None:
    write, expected = SHARD_FAULTS[fault]
    write = write or _truncated_copy(base.dataset.train_files[0])
    data_dir, shard = _data_dir(base, tmp_path, write)
    before = _snapshot(resumable)
    result = _train(base.job(resumable, data_dir))
    assert result.returncode == 1, _output(result)
    assert expected.format(shard=shard) in result.stderr
    _assert_intact(before, resumable)


RECORD_FAULTS = {
    "no-image-data": (None, [1, 4, 2], "{shard} record 1 is not a SequenceExample"),
    "image-data-int64": (7, [1, 4, 2], "Data types don't match"),
    "undecodable-jpeg": (
        b"\xff\xd8 not really a jpeg",
        [1, 4, 2],
        "Cannot decode jpeg image in {shard} record 1",
    ),
    "caption-id-outside-vocabulary": (
        "jpeg",
        [1, VOCAB_SIZE, 2],
        f"{{shard}} record 1: caption id {VOCAB_SIZE} is outside the vocabulary of "
        f"--vocab_size={VOCAB_SIZE}",
    ),
}


@pytest.mark.parametrize("fault", list(RECORD_FAULTS))
def test_bad_record_is_named_with_file_and_index(
    base: Base, resumable: Path, tmp_path: Path, fault: str
) -> None:
    image, caption, expected = RECORD_FAULTS[fault]
    image = _jpeg(1) if image == "jpeg" else image
    records = [_good_record(base), _record(image, caption)]
    data_dir, shard = _data_dir(base, tmp_path, lambda path: write_records(path, records))
    before = _snapshot(resumable)
    result = _train(base.job(resumable, data_dir), number_of_steps=TRAINED_STEPS + 10)
    assert result.returncode == 1, _output(result)
    assert "input data error before global step" in result.stderr
    assert expected.format(shard=shard) in result.stderr
    assert f"{shard} record 1" in result.stderr
    if fault == "undecodable-jpeg":
        assert "pass --skip_bad_images" in result.stderr
    _assert_intact(before, resumable)


def test_skip_bad_images_skips_counts_and_finishes(
    base: Base, resumable: Path, tmp_path: Path
) -> None:
    records = [_good_record(base), _record(b"\xff\xd8 broken", [1, 4, 2]), _good_record(base)]
    data_dir, shard = _data_dir(base, tmp_path, lambda path: write_records(path, records))
    before = _snapshot(resumable)
    target = TRAINED_STEPS + 6
    result = _train(base.job(resumable, data_dir), number_of_steps=target, skip_bad_images=True)
    assert result.returncode == 0, _output(result)
    assert (
        "Skipping 1 undecodable image(s) (--skip_bad_images), first: "
        f"Cannot decode jpeg image in {shard} record 1"
    ) in result.stdout
    assert "Skipped 1 undecodable image(s) (--skip_bad_images)" in result.stdout
    assert f"Saved checkpoint {resumable}/model.ckpt-{target} at global step {target}" in (
        result.stdout
    )
    _assert_intact(before, resumable, index_unchanged=False)


def test_short_captions_are_dropped_and_counted(
    base: Base, resumable: Path, tmp_path: Path
) -> None:
    records = [_record(_jpeg(1), [1]), _record(_jpeg(2), []), _good_record(base)]
    data_dir, _ = _data_dir(base, tmp_path, lambda path: write_records(path, records))
    before = _snapshot(resumable)
    result = _train(base.job(resumable, data_dir))
    assert result.returncode == 0, _output(result)
    dropped = re.search(
        r"Dropped (\d+) records with a caption shorter than 2 tokens", result.stdout
    )
    assert dropped and int(dropped[1]) >= 2, result.stdout
    _assert_intact(before, resumable, index_unchanged=False)


# --- 2. checkpoints --------------------------------------------------------------


def _inception_values(base: Base) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(str(base.root.work_dir / "inception_v3.ckpt"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def _write_v1(path: Path, values: dict[str, np.ndarray]) -> None:
    names = sorted(values)
    tf.raw_ops.Save(
        filename=str(path), tensor_names=names, data=[tf.constant(values[n]) for n in names]
    )


INCEPTION_VARIABLE = "InceptionV3/Conv2d_1a_3x3/weights"


def _missing_variable(values: dict[str, np.ndarray]) -> None:
    del values[INCEPTION_VARIABLE]


def _wrong_shape(values: dict[str, np.ndarray]) -> None:
    values[INCEPTION_VARIABLE] = values[INCEPTION_VARIABLE][:, :, :, :16]


INCEPTION_FAULTS = {
    "missing": (None, "checkpoint not found: {path}"),
    "unreadable": ("garbage", "checkpoint {path} is unreadable"),
    "missing-variable": (
        _missing_variable,
        f"checkpoint {{path}} has no variable '{INCEPTION_VARIABLE}'",
    ),
    "wrong-shape": (
        _wrong_shape,
        f"variable '{INCEPTION_VARIABLE}' has shape [3, 3, 3, 16] in checkpoint {{path}}, "
        "but the model expects [3, 3, 3, 32]",
    ),
}


@pytest.mark.parametrize("fault", list(INCEPTION_FAULTS))
def test_bad_inception_checkpoint_is_named(base: Base, tmp_path: Path, fault: str) -> None:
    change, expected = INCEPTION_FAULTS[fault]
    path = base.root.work_dir / f"inception-{fault}.ckpt"
    if change == "garbage":
        path.write_bytes(b"this is not a checkpoint" * 100)
    elif change is not None:
        values = _inception_values(base)
        change(values)
        _write_v1(path, values)
    output_dir = tmp_path / "output"
    result = _train(base.job(output_dir), inception_checkpoint_file=f"/{path.name}")
    assert result.returncode == 1, _output(result)
    assert "cannot restore Inception v3 (--inception_checkpoint_file)" in result.stderr
    assert expected.format(path=path) in result.stderr
    assert not list(output_dir.glob("model.ckpt-*")) and not (output_dir / "checkpoint").exists()


def test_checkpoint_of_another_configuration_is_refused_untouched(
    base: Base, resumable: Path
) -> None:
    before = _snapshot(resumable)
    result = _train(base.job(resumable), vocab_size=32)
    assert result.returncode == 1, _output(result)
    assert f"cannot resume from {resumable}/model.ckpt-{TRAINED_STEPS} in output_dir" in (
        result.stderr
    )
    mismatch = re.search(
        r"variable '(seq_embedding/map|logits/\w+)' has shape (\[[\d, ]+\]) in checkpoint "
        r"\S+, but the model expects (\[[\d, ]+\])",
        result.stderr,
    )
    assert mismatch, result.stderr
    assert "64" in mismatch[2] and "32" in mismatch[3]
    _assert_intact(before, resumable)


@pytest.mark.parametrize("which", ["output_dir", "log_dir"])
def test_unwritable_folder_is_named(base: Base, resumable: Path, tmp_path: Path, which: str):
    blocker = tmp_path / "afile"  # Root ignores permission bits; a file in the path does not.
    blocker.write_text("a regular file where a folder should be")
    if which == "output_dir":
        output_dir, log_dir, before = blocker / "out", tmp_path / "log", None
    else:
        output_dir, log_dir, before = resumable, blocker / "log", _snapshot(resumable)
    result = _train(base.job(output_dir, log_dir=log_dir))
    assert result.returncode == 1, _output(result)
    assert f"{which} {blocker}/" in result.stderr and "is not writable" in result.stderr
    if before is not None:
        _assert_intact(before, resumable)


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 150 MB tmpfs: room for one 100 MB checkpoint, not two."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=150m", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as err:
        pytest.skip(f"cannot run mount to make a small disk: {err}")
    if mounted.returncode != 0:
        pytest.skip(
            "mounting a small tmpfs needs root with CAP_SYS_ADMIN; the unit test "
            f"tests/trainer/test_checkpointing.py covers a failing save instead: {mounted.stderr}"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_disk_full_while_saving_keeps_the_previous_checkpoint(base: Base, small_disk: Path):
    output_dir = small_disk / "output"
    result = _train(base.job(output_dir), number_of_steps=3, save_checkpoint_steps=1)
    assert result.returncode == 1, _output(result)
    assert f"cannot save the checkpoint of global step 2 in output_dir {output_dir}" in (
        result.stderr
    )
    assert "No space left on device" in result.stderr
    assert f"The last complete checkpoint, {output_dir}/model.ckpt-1, is intact" in result.stderr
    assert _snapshot(output_dir).steps == {f"{output_dir}/model.ckpt-1": 1}
    assert tf.train.latest_checkpoint(str(output_dir)) == f"{output_dir}/model.ckpt-1"
    assert not list(output_dir.glob("*.tmp-save-*"))


# --- 3. non-finite loss ----------------------------------------------------------


def test_non_finite_loss_stops_naming_the_step_without_saving(
    base: Base, trained: Path, tmp_path: Path
) -> None:
    """Resume from a checkpoint whose logits biases are inf: the next loss is NaN."""
    reader = tf.train.load_checkpoint(str(trained / f"model.ckpt-{TRAINED_STEPS}"))
    names = sorted(reader.get_variable_to_shape_map())
    values = {name: reader.get_tensor(name) for name in names}
    values["logits/biases"] = np.full_like(values["logits/biases"], np.inf)
    output_dir = tmp_path / "output"
    output_dir.mkdir()
    prefix = f"{output_dir}/model.ckpt-{TRAINED_STEPS}"
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(values[n]) for n in names],
    )
    (output_dir / "checkpoint").write_text(
        f'model_checkpoint_path: "model.ckpt-{TRAINED_STEPS}"\n'
        f'all_model_checkpoint_paths: "model.ckpt-{TRAINED_STEPS}"\n'
    )
    before = _snapshot(output_dir)
    result = _train(base.job(output_dir))
    assert result.returncode == 1, _output(result)
    assert re.search(
        rf"loss became (nan|inf|-inf) at global step {TRAINED_STEPS + 1}; stopping without "
        rf"saving it\. Last good checkpoint: {re.escape(prefix)}",
        result.stderr,
    ), result.stderr
    _assert_intact(before, output_dir)


# --- 4. kills and SIGTERM --------------------------------------------------------


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"trainer exited with {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting:\n{log.read_text()}")
        time.sleep(0.01)


def _start(command: list[str], log: Path) -> subprocess.Popen:
    with open(log, "w") as handle:
        return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=_env())


def _index_step(output_dir: Path) -> int | None:
    """The step the `checkpoint` index names, after proving every listed checkpoint loads."""
    state = tf.train.get_checkpoint_state(str(output_dir))
    if state is None:
        return None
    for listed in state.all_model_checkpoint_paths:
        tf.train.load_checkpoint(os.path.join(output_dir, listed)).get_tensor("global_step")
    latest = tf.train.latest_checkpoint(str(output_dir))
    assert latest is not None, (output_dir / "checkpoint").read_text()
    step = int(tf.train.load_checkpoint(latest).get_tensor("global_step"))
    assert latest.endswith(f"model.ckpt-{step}")
    return step


def test_sigkill_at_random_moments_never_breaks_resume(base: Base, tmp_path: Path) -> None:
    """SIGKILLs during startup, steps and saves; every rerun resumes from a good one."""
    rng = random.Random(20240613)
    modes = ["startup", "training", "save"] * (KILLS // 3)
    rng.shuffle(modes)
    output_dir = tmp_path / "output"
    job = base.job(output_dir)
    command = _train_command(job, number_of_steps=10**6, save_checkpoint_steps=1)
    index_step = None
    interrupted_saves = 0
    for kill, mode in enumerate(modes):
        log = tmp_path / f"run-{kill}.log"
        process = _start(command, log)
        try:
            # This run's own step lines and staging files (older runs may have left some).
            staging = f"*.tmp-save-{process.pid}*"
            if mode == "training":
                _wait_for(lambda log=log: bool(STEP_LINE.search(log.read_text())), process, log)
            elif mode == "save":
                _wait_for(lambda s=staging: bool(list(output_dir.glob(s))), process, log)
            time.sleep(rng.uniform(0, {"startup": 6.0, "training": 1.5, "save": 0.3}[mode]))
            assert process.poll() is None, log.read_text()
        finally:
            process.kill()
            process.wait()
        text = log.read_text()
        resumed = re.search(r"Resuming from \S+ at global step (\d+)", text)
        if index_step is not None:
            assert "Inception variables from" not in text, text
            assert resumed is None or int(resumed[1]) >= index_step, text
        interrupted_saves += bool(list(output_dir.glob(staging)))
        index_step = _index_step(output_dir) or index_step
    assert index_step is not None, "no run got as far as saving a checkpoint"
    assert interrupted_saves >= 1, "no kill landed during a save"

    saved = [re.fullmatch(r"model\.ckpt-(\d+)\.index", p.name) for p in output_dir.iterdir()]
    target = max(int(match[1]) for match in saved if match) + 2
    result = _train(job, number_of_steps=target, save_checkpoint_steps=1)
    assert result.returncode == 0, _output(result)
    resumed = re.search(r"Resuming from \S+ at global step (\d+)", result.stdout)
    assert resumed and int(resumed[1]) >= index_step, result.stdout
    assert f"Saved checkpoint {output_dir}/model.ckpt-{target} at global step {target}" in (
        result.stdout
    )
    assert _index_step(output_dir) == target
    assert not list(output_dir.glob("*.tmp-save-*"))
    assert len(list(output_dir.glob("*.data-*"))) == len(list(output_dir.glob("*.index")))


def test_sigterm_while_training_saves_the_step_and_exits_zero(base: Base, tmp_path: Path) -> None:
    output_dir = tmp_path / "output"
    log = tmp_path / "run.log"
    process = _start(_train_command(base.job(output_dir), number_of_steps=10**6), log)
    try:
        _wait_for(lambda: "global step 2:" in log.read_text(), process, log)
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT) == 0, log.read_text()
    finally:
        process.kill()
    stopped = re.search(
        r"SIGTERM received at global step (\d+): saved (\S+); exiting", log.read_text()
    )
    assert stopped, log.read_text()
    step = int(stopped[1])
    assert step >= 2 and stopped[2] == f"{output_dir}/model.ckpt-{step}"
    assert _index_step(output_dir) == step


def test_sigterm_during_startup_exits_zero_without_saving(base: Base, tmp_path: Path) -> None:
    """The handler is installed before TensorFlow loads; there is nothing to save yet."""
    output_dir = tmp_path / "output"
    output_dir.mkdir()
    log = tmp_path / "run.log"
    process = _start(_train_command(base.job(output_dir)), log)
    try:
        _wait_for(lambda: "target global step" in log.read_text(), process, log)
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT) == 0, log.read_text()
    finally:
        process.kill()
    assert re.search(
        r"SIGTERM received before training started( \(global step 0\))?: nothing to save; "
        "exiting",
        log.read_text(),
    ), log.read_text()
    assert not list(output_dir.glob("model.ckpt-*")) and not (output_dir / "checkpoint").exists()


# --- 5. flags --------------------------------------------------------------------

FLAG_FAULTS = {
    "unknown": ({"no_such_flag": 1}, "Unknown command line flag 'no_such_flag'"),
    "negative-steps": ({"number_of_steps": -1}, "--number_of_steps=-1"),
    "zero-batch": ({"batch_size": 0}, "--batch_size=0"),
    "zero-log-interval": ({"log_every_n_steps": 0}, "--log_every_n_steps=0"),
    "deterministic-without-seed": ({"deterministic": True}, "--deterministic needs --seed"),
    "pattern-escapes": ({"input_file_pattern": "../x"}, "input_file_pattern '../x' escapes"),
    "checkpoint-escapes": (
        {"inception_checkpoint_file": "../../etc/x"},
        "inception_checkpoint_file '../../etc/x' escapes",
    ),
}


@pytest.mark.parametrize("fault", list(FLAG_FAULTS))
def test_bad_flag_is_refused_before_any_work(base: Base, tmp_path: Path, fault: str) -> None:
    overrides, expected = FLAG_FAULTS[fault]
    output_dir = tmp_path / "output"
    output_dir.mkdir()
    job = base.job(output_dir)
    result = _train(job, **overrides)
    assert result.returncode != 0
    assert expected in result.stderr
    assert list(output_dir.iterdir()) == [] and not job.log_dir.exists()


# --- evaluate.py and run_inference.py -------------------------------------------


def _evaluate(job: Job, **overrides: object) -> subprocess.CompletedProcess[str]:
    params: dict[str, object] = {
        "input_file_pattern": "/train-?????-of-00256",
        "batch_size": 4,
        "image_size": 75,
        "vocab_size": VOCAB_SIZE,
        "num_eval_examples": 4,
        "min_global_step": 0,
        "run_once": True,
    }
    params.update(overrides)
    return _run(_command("evaluate.py", job, params))


def test_evaluate_names_a_missing_checkpoint_dir(base: Base, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    result = _evaluate(base.job(tmp_path / "output"), checkpoint_dir=missing)
    assert result.returncode == 1, _output(result)
    assert f"no checkpoint found in {missing}" in result.stderr


def test_evaluate_names_a_pattern_matching_nothing(base: Base, trained: Path) -> None:
    result = _evaluate(base.job(trained), input_file_pattern="/val-?????-of-00004")
    assert result.returncode == 1, _output(result)
    assert f"Found no input files matching {base.root.data_dir}/val-?????-of-00004" in (
        result.stderr
    )


def _run_inference(
    base: Base, checkpoint_path: Path, input_files: str
) -> subprocess.CompletedProcess[str]:
    params = {
        "checkpoint_path": checkpoint_path,
        "vocab_file": base.dataset.vocab_file,
        "input_files": input_files,
        "image_size": 75,
        "vocab_size": VOCAB_SIZE,
    }
    return _run(
        [sys.executable, str(CODE / "run_inference.py")]
        + [f"--{name}={value}" for name, value in params.items()]
    )


def test_run_inference_names_a_missing_checkpoint(base: Base, tmp_path: Path) -> None:
    image = tmp_path / "image.jpg"
    image.write_bytes(_jpeg(0))
    missing = tmp_path / "no-such-checkpoint"
    result = _run_inference(base, missing, str(image))
    assert result.returncode == 1, _output(result)
    assert f"checkpoint not found: {missing}" in result.stderr


def test_run_inference_names_input_files_matching_nothing(base: Base, trained: Path) -> None:
    pattern = str(trained / "no-such-*.jpg")
    result = _run_inference(base, trained, pattern)
    assert result.returncode == 2, _output(result)
    assert f"--input_files pattern {pattern!r} matches no file" in result.stderr
