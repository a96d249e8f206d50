"""The sandbox shows the job the interpreter it runs with, and nothing else of /tmp."""

from __future__ import annotations

import sys

from harness.backends import sandbox


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
