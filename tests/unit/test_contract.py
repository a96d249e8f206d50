"""The harness's view of the platform contract (harness/contract.py)."""

from __future__ import annotations

from harness.contract import (
    CONTAINER_PATHS,
    PlatformRoot,
    container_shell_command,
    flag_value,
    strip_platform_flags,
    with_flag,
)


def test_container_command_is_the_platforms() -> None:
    command = container_shell_command("train.py", ["--input_file_pattern=/train-?????-of-00256"])
    assert command == (
        "cd /data && /usr/bin/python /data/train.py '--input_file_pattern=/train-?????-of-00256' "
        "--work_dir=/data --data_dir=/data/data --output_dir=/data/output "
        "--log_dir=/data/output/log"
    )
    assert container_shell_command("train.py", [], num_gpus=1).endswith("--num_gpus=1")


def test_root_layout_is_private(tmp_path) -> None:
    root = PlatformRoot.create(parent=tmp_path)
    assert root.data_dir.is_dir() and root.output_dir.is_dir()
    assert (root.root.stat().st_mode & 0o777) == 0o700
    assert root.log_dir == root.output_dir / "log"
    assert CONTAINER_PATHS.flags()[1] == "--data_dir=/data/data"


def test_flag_helpers() -> None:
    params = ["--number_of_steps=10", "--seed", "3", "--x=1"]
    assert flag_value(params, "number_of_steps") == "10"
    assert flag_value(params, "seed") == "3"
    assert with_flag(params, "seed", 5) == ["--number_of_steps=10", "--x=1", "--seed=5"]
    assert strip_platform_flags(["--data_dir=/x", "--a=1", "--num_gpus=1"]) == ["--a=1"]
