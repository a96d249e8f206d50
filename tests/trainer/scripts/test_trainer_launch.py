"""train.py launched the ways users really launch it.

UCloud's own later im2txt example passes absolute paths and upstream's
--train_dir; a plain `pip install tensorflow` (2.20+) has no TensorBoard. Each
run goes through the platform's command line against a local PlatformRoot, so
`/data/data/...` in a job flag must land in the local data_dir, not /data/data.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.contract import PlatformRoot
from harness.synthetic import generate_dataset, write_inception_checkpoint
from tests.support.job_runs import (
    SMALL_MODEL,
    output,
    run_job,
    with_output_dir,
    without_tensorboard,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_trainer_launch")]

# UCloud's later example, as its documentation launches it (number_of_steps aside).
UCLOUD_STYLE = [
    "--input_file_pattern=/data/data/train-?????-of-00256",
    "--inception_checkpoint_file=/data/data/inception_v3.ckpt",
]
# The platform's documented example (a resume does not read the Inception file).
PLATFORM_STYLE = [
    "--input_file_pattern=/train-?????-of-00256",
    "--inception_checkpoint_file=/inception_v3.ckpt",
]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> PlatformRoot:
    """The pretrained checkpoint in data_dir, where UCloud's example keeps it."""
    root = PlatformRoot.create(parent=tmp_path_factory.mktemp("launch"))
    generate_dataset(root.data_dir, num_images=2, captions_per_image=2, num_eval_images=0)
    write_inception_checkpoint(root.data_dir / "inception_v3.ckpt")
    return root


@pytest.fixture(scope="module")
def ucloud_run(root: PlatformRoot) -> subprocess.CompletedProcess[str]:
    """UCloud's example launch, checkpoints in output_dir/train, one step."""
    params = [*UCLOUD_STYLE, "--train_dir=/data/output/train", "--number_of_steps=1"]
    return run_job("train.py", [*params, *SMALL_MODEL], root.host_paths)


def test_ucloud_example_launch_reads_its_paths_under_the_platform_folders(
    root: PlatformRoot, ucloud_run: subprocess.CompletedProcess[str]
) -> None:
    assert ucloud_run.returncode == 0, output(ucloud_run)
    for flag, folder in [
        ("input_file_pattern", "data_dir"),
        ("inception_checkpoint_file", "work_dir"),
        ("train_dir", "output_dir"),
    ]:
        reading = re.search(rf"^{flag}: '/data/\S*' -> (\S+) \((.*)\)$", ucloud_run.stdout, re.M)
        assert reading, ucloud_run.stdout
        assert reading[1].startswith(str(root.work_dir))
        assert reading[2].startswith(f"already under {folder}, as /data")
    pretrained = root.data_dir / "inception_v3.ckpt"
    assert f"Restored 376 Inception variables from {pretrained}" in ucloud_run.stdout
    assert (root.output_dir / "train" / "model.ckpt-1.index").exists()
    assert not list(root.output_dir.glob("model.ckpt-*")), "checkpoints outside train_dir"


def test_platform_style_resume_from_train_dir_without_tensorboard(
    root: PlatformRoot, ucloud_run: subprocess.CompletedProcess[str], tmp_path: Path
) -> None:
    """Relaunched platform style (--train_dir relative to output_dir) where tensorboard
    cannot be imported, as a plain `pip install tensorflow` (2.20+) leaves it."""
    assert ucloud_run.returncode == 0, output(ucloud_run)
    env = without_tensorboard(tmp_path / "no-tensorboard")
    hidden = subprocess.run(
        [sys.executable, "-c", "import tensorboard"], env=env, capture_output=True, text=True
    )
    assert "No module named 'tensorboard'" in hidden.stderr  # the shim works

    params = [*PLATFORM_STYLE, "--train_dir=train", "--number_of_steps=2", *SMALL_MODEL]
    result = run_job("train.py", params, root.host_paths, env)
    assert result.returncode == 0, output(result)
    train_dir = root.output_dir / "train"
    assert (
        f"input_file_pattern: '/train-?????-of-00256' -> {root.data_dir}/train-?????-of-00256 "
        "(joined onto data_dir)"
    ) in result.stdout
    assert f"train_dir: 'train' -> {train_dir} (joined onto output_dir)" in result.stdout
    assert f"Resuming from {train_dir}/model.ckpt-1 at global step 1" in result.stdout
    assert (train_dir / "model.ckpt-2.index").exists()

    warnings = [line for line in result.stderr.splitlines() if "TensorBoard" in line]
    assert warnings == [
        "warning: TensorBoard is not installed (No module named 'tensorboard'), so no "
        f"TensorBoard events are written to {root.log_dir}; metrics.jsonl and checkpoints "
        "still are. `pip install tensorboard` to get them"
    ], result.stderr
    metrics = (root.log_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in metrics] == [1, 2]  # the first run's, then ours
    events = sorted(root.log_dir.glob("events.out.tfevents.*"))
    assert len(events) == 1, "only the first run (with TensorBoard) writes events"


@pytest.mark.parametrize("train_dir", ["../models", "/data/output/../models"])
def test_train_dir_outside_output_dir_is_refused_before_writing(
    root: PlatformRoot, tmp_path: Path, train_dir: str
) -> None:
    output_dir = tmp_path / "output"
    paths = with_output_dir(root.host_paths, output_dir)
    result = run_job("train.py", [*UCLOUD_STYLE, f"--train_dir={train_dir}"], paths)
    assert result.returncode == 2, output(result)
    assert f"train_dir {train_dir!r} escapes its base folder" in result.stderr
    assert "The platform uploads only output_dir" in result.stderr
    assert not output_dir.exists() and not (tmp_path / "models").exists()
