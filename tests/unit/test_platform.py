"""The harness's view of the platform contract (harness/platform.py)."""

from __future__ import annotations

import pytest

from harness.platform import (
    CONTAINER_PATHS,
    PlatformRoot,
    container_shell_command,
    flag_value,
    read_cmd_file,
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


def _cmd_file(tmp_path, deploy: str):
    path = tmp_path / "uaitrain_cmd.txt"
    path.write_text(
        f"CMD Used for deploying: {deploy}\n"
        "CMD for CPU local test: sudo docker run -it -v /d:/data/data -v /o:/data/output "
        'im2txt-cpu:uaitrain /bin/bash -c "cd /data && /usr/bin/python /data/train.py '
        '--work_dir=/data --data_dir=/data/data --output_dir=/data/output --log_dir=/data/output"\n'
        "CMD for GPU local test: sudo nvidia-docker run -it im2txt-gpu:uaitrain /bin/bash -c x\n"
    )
    return path


def test_cmd_file_is_parsed(tmp_path) -> None:
    packed = read_cmd_file(_cmd_file(
        tmp_path, "/usr/bin/python /data/train.py --input_file_pattern=/train-?????-of-00256 "
        "--number_of_steps=1000000 --work_dir=/data --data_dir=/data/data"))
    assert packed.image == "im2txt-cpu:uaitrain"
    assert packed.mainfile == "train.py"
    assert packed.train_params == ["--input_file_pattern=/train-?????-of-00256",
                                   "--number_of_steps=1000000"]


@pytest.mark.parametrize(("deploy", "message"), [
    ("python /data/train.py", "must start with /usr/bin/python"),
    ("/usr/bin/python train.py", "must run a file under /data"),
])
def test_bad_cmd_files_are_refused(tmp_path, deploy: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_cmd_file(_cmd_file(tmp_path, deploy))


def test_cmd_file_without_deploy_line(tmp_path) -> None:
    path = tmp_path / "uaitrain_cmd.txt"
    path.write_text("nothing useful\n")
    with pytest.raises(ValueError, match="no line starting with 'CMD Used for deploying:'"):
        read_cmd_file(path)
