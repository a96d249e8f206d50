"""Bad input refused before anything is written: one `error:` line naming it, exit 2, no run
folder (harness/cli/arguments.py, plan.check_numbers, inputs.py); credentials in a code
path never copied (harness/credentials.py)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from harness.cli import main
from harness.contract import PlatformRoot

PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----\n"
)


@pytest.fixture
def job(tmp_path: Path, monkeypatch) -> list[str]:
    """`validate` arguments for a job that must never run, cwd = tmp_path."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text("raise SystemExit('never runs')\n")
    (tmp_path / "sample").mkdir()
    (tmp_path / "sample" / "rows.csv").write_text("1,0\n")
    (tmp_path / "a-file").write_text("x")
    return ["validate", "--code-path", "code", "--data", "sample", "--train-params=--steps=3"]


def _refused(args: list[str], capsys, *named: str) -> str:
    """Runs the CLI; asserts one `error:` line naming `named`, exit 2, no run folder."""
    before = sorted(Path.cwd().rglob("*"))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert all(word in err for word in named), err
    assert sorted(Path.cwd().rglob("*")) == before
    return err


NUMBERS = "--timeout -5|--timeout nan|--timeout inf|--timeout 0|--loss-tolerance nan|"
NUMBERS += "--loss-tolerance -0.1|--speed-tolerance 1|--required-drop nan|--steps 0|"
NUMBERS += "--resume-steps 0|--num-images 0|--seed -1"


@pytest.mark.parametrize("extra", NUMBERS.split("|"))
def test_numbers_out_of_range_are_refused(job, capsys, extra: str) -> None:
    _refused([*job, *extra.split()], capsys, extra.split()[0])


OUTPUTS = "--out a-file|--out a-file/runs|--run-dir a-file|--run-dir a-file/run|"
OUTPUTS += "--junit-xml a-file/junit.xml|--junit-xml code"


@pytest.mark.parametrize("extra", OUTPUTS.split("|"))
def test_output_paths_that_cannot_be_written_are_refused(job, capsys, extra: str) -> None:
    flag, path = extra.split()
    _refused([*job, flag, path], capsys, flag, path.split("/")[0])


def test_an_unwritable_parent_is_refused(job, capsys) -> None:
    # /proc takes no new files, not even from root (whom permission bits do not stop).
    _refused([*job, "--out", "/proc/uai-harness/runs"], capsys, "--out", "not writable")


def test_a_baseline_out_that_cannot_be_written_is_refused(job, tmp_path: Path, capsys) -> None:
    run = tmp_path / "runs" / "20261130-100000-aaaa"
    run.mkdir(parents=True)
    (run / "run_record.json").write_text("{}")
    _refused(["baseline", str(run), "--out", "a-file/baseline.json"], capsys, "--out", "a-file")
    _refused(["baseline", str(run), "--out", "code"], capsys, "--out", "is a folder")


def test_special_files_in_the_data_sample_are_named(job, tmp_path: Path, capsys) -> None:
    os.mkfifo(tmp_path / "sample" / "pipe")
    _refused(job, capsys, "--data", "pipe is a named pipe")
    os.unlink(tmp_path / "sample" / "pipe")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "sample" / "sock"))
        _refused(job, capsys, "sock is a socket")
    finally:
        server.close()


def test_the_home_folder_as_code_path_is_refused(job, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "code"))
    _refused([*job[:1], "--code-path", "~", *job[3:]], capsys, "--code-path", "home folder")
    _refused([*job[:1], "--code-path", str(tmp_path), *job[3:]], capsys, "above it")


def test_credentials_in_a_code_path_are_never_copied(tmp_path: Path) -> None:
    code = tmp_path / "code"
    for name in (".ssh/id_rsa", ".aws/credentials", ".gnupg/pubring.kbx", ".docker/config.json"):
        (code / name).parent.mkdir(parents=True, exist_ok=True)
        (code / name).write_text("secret")
    for name in (".netrc", ".pypirc", ".git-credentials", "deploy/id_ed25519", "tls/server.pem"):
        (code / name).parent.mkdir(parents=True, exist_ok=True)
        (code / name).write_text(PRIVATE_KEY)
    (code / "tls" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n")
    (code / "keys.key").write_text("not a key, a file the job reads\n")
    (code / "train.py").write_text("print(1)\n")
    root = PlatformRoot.create(parent=tmp_path)
    notes = root.install_code(code)
    copied = {str(p.relative_to(root.work_dir)) for p in root.work_dir.rglob("*") if p.is_file()}
    assert copied == {"train.py", "tls/ca.pem", "keys.key"}
    assert sorted(notes) == sorted(
        f"{name} (credentials: never copied)"
        for name in (
            ".ssh",
            ".aws",
            ".gnupg",
            ".docker/config.json",
            ".netrc",
            ".pypirc",
            ".git-credentials",
            "deploy/id_ed25519",
            "tls/server.pem",
        )
    )


@pytest.mark.parametrize(
    "args",
    [
        ["compare", "a", "b", "--rtol", "nan"],
        ["compare", "a", "b", "--atol", "-1"],
        ["report", "--out", "a-file"],
        ["generate", "a-file"],
        ["pack", "--code-path", "code", "--out", "a-file"],
    ],
)
def test_other_commands_refuse_bad_numbers_and_outputs(job, capsys, args: list[str]) -> None:
    _refused(args, capsys, args[-2] if args[-2].startswith("--") else "a-file")
