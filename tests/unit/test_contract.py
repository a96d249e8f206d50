"""The harness's view of the platform contract (harness/contract.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cmdfile import read_cmd_file
from harness.contract import (
    CONTAINER_PATHS,
    PlatformRoot,
    container_shell_command,
    job_path_in_container,
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


def test_cmd_file_written_by_pack_reads_back(tmp_path) -> None:
    from harness.pack import PackSpec, cmd_file_text, lint

    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("")
    spec = PackSpec(
        code, "train.py", ["--input_file_pattern=/train-?????-of-00256", "--number_of_steps=10"]
    )
    assert lint(spec) == []
    path = tmp_path / "uaitrain_cmd.txt"
    path.write_text(cmd_file_text(spec))
    lines = path.read_text().splitlines()
    assert [line.split(":", 1)[0] for line in lines] == [
        "CMD Used for deploying",
        "CMD for CPU local test",
        "CMD for GPU local test",
    ]
    assert "--num_gpus=1" in lines[2] and "--num_gpus" not in lines[1]
    packed = read_cmd_file(path)
    assert (packed.image, packed.mainfile) == ("im2txt-cpu:uaitrain", "train.py")
    assert packed.train_params == spec.train_params


def test_pack_lint_names_each_problem(tmp_path) -> None:
    from harness.pack import PackSpec, lint

    spec = PackSpec(tmp_path, "python train.py", ["--data_dir=/x", "--private_key=abc"])
    problems = " ".join(lint(spec))
    assert "is not in code path" in problems
    assert "must be a file relative to the code path" in problems
    assert "must not set --work_dir" in problems
    assert "must not carry cloud keys" in problems


def test_cmd_file_is_parsed(tmp_path) -> None:
    packed = read_cmd_file(
        _cmd_file(
            tmp_path,
            "/usr/bin/python /data/train.py --input_file_pattern=/train-?????-of-00256 "
            "--number_of_steps=1000000 --work_dir=/data --data_dir=/data/data",
        )
    )
    assert packed.image == "im2txt-cpu:uaitrain"
    assert packed.mainfile == "train.py"
    assert packed.train_params == [
        "--input_file_pattern=/train-?????-of-00256",
        "--number_of_steps=1000000",
    ]


@pytest.mark.parametrize(
    ("deploy", "message"),
    [
        ("python /data/train.py", "must run a file under /data with /usr/bin/python"),
        ("/usr/bin/python train.py", "must run a file under /data"),
    ],
)
def test_bad_cmd_files_are_refused(tmp_path, deploy: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_cmd_file(_cmd_file(tmp_path, deploy))


def test_cmd_file_without_deploy_line(tmp_path) -> None:
    path = tmp_path / "uaitrain_cmd.txt"
    path.write_text("nothing useful\n")
    with pytest.raises(ValueError, match="no line starting with 'CMD Used for deploying:'"):
        read_cmd_file(path)
