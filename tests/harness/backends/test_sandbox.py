"""The sandbox shows the job the interpreter it runs with, and nothing else of /tmp; where
none can be made the run says what is not enforced, and `--sandbox` refuses to run.
(What the job cannot do inside it: test_escapes.py.)"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from harness.backends import sandbox, seccomp
from harness.backends.local import LocalBackend
from harness.cli import main


def test_package_folders_a_pth_line_adds_are_visible_read_only(tmp_path, monkeypatch) -> None:
    # A fresh venv whose .pth line points at another environment's site-packages (as the
    # README walk's venv does): the job's imports resolve there, so it must be bound.
    elsewhere = tmp_path / "env" / "lib" / "python3.11" / "site-packages"
    elsewhere.mkdir(parents=True)
    unrelated = tmp_path / "checkout"
    unrelated.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(elsewhere), str(unrelated)])
    binds = sandbox._interpreter_binds(sys.executable)
    pairs = list(zip(binds[::3], binds[1::3], binds[2::3], strict=True))
    assert ("--ro-bind", str(elsewhere), str(elsewhere)) in pairs
    assert not any(str(unrelated) in arg for arg in binds)


def test_the_filter_is_built_for_both_architectures_with_every_denied_call() -> None:
    for machine in seccomp._MACHINES:
        program = seccomp.program(machine)
        assert len(program) % 8 == 0  # struct sock_filter: 8 bytes each
        # The arch check, a load of the number, one jump per denied call, and the rest.
        assert len(program) // 8 > len(seccomp.DENIED) + 10


def test_where_no_sandbox_can_be_made_the_note_says_what_is_not_enforced(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(sandbox, "unavailable", lambda: "no user namespaces here")
    backend = LocalBackend(tmp_path)
    assert not backend.sandboxed
    assert "no user namespaces here" in backend.isolation
    assert sandbox.NOT_ENFORCED in backend.isolation


def test_dash_dash_sandbox_refuses_to_run_without_one(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sandbox, "unavailable", lambda: "no user namespaces here")
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('trained')\n")
    out = tmp_path / "runs"
    assert main(["validate", "--code-path", str(code), "--sandbox", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == ["error: --sandbox: no user namespaces here"]
    assert not out.exists()


HEADERS = {
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "aarch64": Path("/usr/include/asm-generic/unistd.h"),
}


@pytest.mark.parametrize("machine", list(HEADERS))
def test_the_filters_call_numbers_are_the_kernels(machine: str) -> None:
    header = HEADERS[machine]
    if not header.exists():
        pytest.skip(f"no kernel headers here ({header}: Debian linux-libc-dev)")
    kernel = dict(re.findall(r"#define __NR(?:3264)?_(\w+)\s+(\d+)", header.read_text()))
    column = seccomp._MACHINES.index(machine)
    for name, numbers in seccomp._NUMBERS.items():
        if numbers[column] is not None:
            assert kernel[name] == str(numbers[column]), name
