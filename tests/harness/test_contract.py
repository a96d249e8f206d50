"""The harness's view of the platform contract (harness/contract.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.contract import (
    CONTAINER_PATHS,
    PlatformRoot,
    container_shell_command,
    job_path_in_container,
)
from harness.params import JobParams


def test_container_command_is_the_platforms() -> None:
    command = container_shell_command(
        "train.py", JobParams(("--input_file_pattern=/train-?????-of-00256",))
    )
    assert command == (
        "cd /data && /usr/bin/python /data/train.py '--input_file_pattern=/train-?????-of-00256' "
        "--work_dir=/data --data_dir=/data/data --output_dir=/data/output "
        "--log_dir=/data/output/log"
    )
    assert container_shell_command("train.py", JobParams(), num_gpus=1).endswith("--num_gpus=1")


def test_root_layout_is_private(tmp_path) -> None:
    root = PlatformRoot.create(parent=tmp_path)
    assert root.data_dir.is_dir() and root.output_dir.is_dir()
    assert (root.root.stat().st_mode & 0o777) == 0o700
    assert root.log_dir == root.output_dir / "log"
    assert CONTAINER_PATHS.flags()[1] == "--data_dir=/data/data"


@pytest.mark.parametrize(
    ("job_path", "base", "expected"),
    [
        ("/train-?????-of-00256", "/data/data", "/data/data/train-?????-of-00256"),
        ("train-?????-of-00256", "/data/data", "/data/data/train-?????-of-00256"),
        ("/data/data/train-?????-of-00256", "/data/data", "/data/data/train-?????-of-00256"),
        ("/data/train-*", "/data/data", "/data/data/data/train-*"),  # concatenation, as upstream
        ("/inception_v3.ckpt", "/data", "/data/inception_v3.ckpt"),
        ("/data/data/inception_v3.ckpt", "/data", "/data/data/inception_v3.ckpt"),
        ("/data_backup/x.ckpt", "/data", "/data/data_backup/x.ckpt"),
    ],
)
def test_job_paths_mean_what_the_platform_means(job_path, base, expected) -> None:
    assert job_path_in_container(job_path, base) == expected


def test_host_path_maps_container_paths_into_the_root(tmp_path) -> None:
    root = PlatformRoot.create(parent=tmp_path)
    assert root.host_path("/data/inception_v3.ckpt") == root.work_dir / "inception_v3.ckpt"
    assert root.host_path("/data/data/x") == root.data_dir / "x"
    with pytest.raises(ValueError, match="not under /data"):
        root.host_path("/etc/passwd")


def test_a_relative_root_is_refused() -> None:
    with pytest.raises(ValueError, match="must be an absolute path"):
        PlatformRoot(Path("runs/x"))
