"""`uai-harness pack` without a daemon: names, lint, the command file, flags, the terminal."""

from __future__ import annotations

import pytest

from harness.cli import build_parser, main
from harness.cmdfile import read_cmd_file
from harness.pack import (
    PLACEHOLDER_TEST_PATHS,
    PackSpec,
    lint,
    run_in_terminal,
    run_local_test,
)


@pytest.fixture
def code(tmp_path):
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "train.py").write_text("")
    return folder


def test_images_are_named_like_the_pack_tool(code) -> None:
    spec = PackSpec(code, image_name="pytorch-mnist")
    assert (spec.cpu_image, spec.gpu_image) == (
        "pytorch-mnist-cpu:uaitrain",
        "pytorch-mnist:uaitrain",
    )
    tagged = PackSpec(code, image_name="im2txt", image_tag="v2")
    assert (tagged.cpu_image, tagged.gpu_image) == ("im2txt-cpu:v2", "im2txt:v2")


def test_command_file_has_absolute_test_paths_and_gpu_line_only_when_built(
    code, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sample" / "data").mkdir(parents=True)
    spec = PackSpec(
        code,
        train_params="--number_of_steps=10",
        test_data_path=tmp_path.joinpath("sample", "data").relative_to(tmp_path),
        test_output_path=tmp_path.joinpath("sample", "output").relative_to(tmp_path),
    )
    assert lint(spec) == []
    packed = spec.packed_command()
    assert packed.test_data_path == str(tmp_path / "sample" / "data")
    assert packed.test_output_path == str(tmp_path / "sample" / "output")
    assert len(packed.text().splitlines()) == 2
    gpu = PackSpec(code, gpu=True).packed_command()
    assert (gpu.test_data_path, gpu.test_output_path) == PLACEHOLDER_TEST_PATHS
    assert (
        gpu.text()
        .splitlines()[2]
        .startswith(
            "CMD for GPU local test: sudo nvidia-docker run -it -v /path/to/test_data:/data/data"
        )
    )
    path = tmp_path / "uaitrain_cmd.txt"
    path.write_text(packed.text())
    assert read_cmd_file(path) == packed


def test_lint_names_each_problem(tmp_path) -> None:
    spec = PackSpec(
        tmp_path,
        mainfile="python train.py",
        train_params='--data_dir=/x --private_key=abc --caption="a b"',
        image_name="Bad Name",
        image_tag="no:colon",
        test_data_path=tmp_path / "missing",
        test_output_path=tmp_path / "out put",
    )
    problems = " ".join(lint(spec))
    for expected in (
        "--mainfile_path must be a file relative to the code path",
        "must not set --work_dir",
        "must not carry cloud keys",
        'must not contain "',
        "--test_data_path",
        "is not a folder",
        "--test_output_path",
        "must not contain spaces",
        "--uhub_imagename 'Bad Name' is not a Docker image name",
        "--uhub_imagetag 'no:colon' is not a Docker tag",
    ):
        assert expected in problems
    assert "main file train.py is not in code path" in " ".join(lint(PackSpec(tmp_path)))
    assert "cannot be split" in " ".join(lint(PackSpec(tmp_path, train_params="--a='x")))


def test_pack_tool_spellings_parse_like_ours() -> None:
    parser = build_parser()
    theirs = parser.parse_args(
        [
            "pack",
            "--code_path=./c",
            "--mainfile_path=m.py",
            "--train_params=--x=1",
            "--test_data_path=/d",
            "--test_output_path=/o",
            "--uhub_imagename=n",
            "--uhub_imagetag=t",
            "--ai_arch_v=tensorflow-2.21",
        ]
    )
    ours = parser.parse_args(
        [
            "pack",
            "--code-path=./c",
            "--mainfile-path=m.py",
            "--train-params=--x=1",
            "--test-data-path=/d",
            "--test-output-path=/o",
            "--image-name=n",
            "--image-tag=t",
            "--ai-arch-v=tensorflow-2.21",
        ]
    )
    assert vars(theirs) == vars(ours)


def test_credentials_are_ignored_with_a_warning_and_never_shown(tmp_path, capsys) -> None:
    """A pasted pack command: keys are dropped unread; lint fails before any daemon."""
    code = main(
        [
            "pack",
            f"--code_path={tmp_path}",
            "--mainfile_path=missing.py",
            "--public_key=PUBKEY123",
            "--private_key=PRIVKEY456",
            "--uhub_username=someone",
            "--uhub_password=PASSWORD789",
            "--uhub_registry=myregistry",
            "--internal_uhub=true",
            "--uhub_imagename=n",
            "--ai_arch_v=tensorflow-1.1.0",
        ]
    )
    out = capsys.readouterr()
    assert code == 2
    assert "main file missing.py is not in code path" in out.err
    for flag in ("--public_key", "--private_key", "--uhub_password", "--internal_uhub"):
        assert f"warning: ignored {flag}" in out.err
    for secret in ("PUBKEY123", "PRIVKEY456", "PASSWORD789", "someone", "myregistry"):
        assert secret not in out.out + out.err


def test_other_frameworks_are_refused(tmp_path, capsys) -> None:
    assert main(["pack", f"--code_path={tmp_path}", "--ai_arch_v=pytorch-0.2.0"]) == 2
    assert "pack builds TensorFlow jobs only" in capsys.readouterr().err


def test_default_code_path_is_im2txt_of_the_current_folder(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["pack"]) == 2
    assert "pass --code-path" in capsys.readouterr().err


def test_terminal_runs_give_a_tty_and_the_exit_code(tmp_path) -> None:
    lines: list[str] = []
    log = tmp_path / "run.log"
    code = run_in_terminal(
        ["bash", "-c", "test -t 0 && test -t 1 && echo on-a-tty; echo second; exit 3"],
        log,
        lines.append,
    )
    assert code == 3
    assert lines == ["on-a-tty", "second"]
    assert log.read_bytes() == b"on-a-tty\r\nsecond\r\n"


def test_local_test_needs_test_paths(code) -> None:
    with pytest.raises(ValueError, match="needs --test_data_path and --test_output_path"):
        run_local_test(PackSpec(code).packed_command(), code / "log")


def test_no_daemon_is_one_line_saying_how_to_start_one(code, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    assert main(["pack", f"--code_path={code}", "--train_params=--number_of_steps=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: no Docker daemon answers at unix:///nonexistent.sock")
    assert "bash .ci/docker-up.sh" in err and "sudo dockerd" in err
