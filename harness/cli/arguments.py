"""Output paths checked before anything is run or written: each bad one is refused with
one `error:` line naming it (a file where a folder is needed, a folder that cannot be made
or written to), never an OS error after the run."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from harness.cli.common import absolute, code_path


def _folder_problem(path: Path) -> str | None:
    """Why the harness could not write in folder `path` (making it), or None."""
    if path.exists() and not path.is_dir():
        return f"{path} is a file, not a folder"
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        return f"{existing} is a file"
    try:  # a real write, not the permission bits: root passes those, not a read-only mount
        handle, probe = tempfile.mkstemp(prefix=".uai-harness-probe-", dir=existing)
    except OSError:
        return f"{existing} is not writable"
    os.close(handle)
    os.unlink(probe)
    return None


def writable_folder(flag: str, path: Path) -> Path:
    """`path` if it is a folder the harness can write in, or can make; ValueError naming
    what stands in the way (a file, a folder it may not write to)."""
    if problem := _folder_problem(path):
        raise ValueError(f"{flag} {path}: {problem}")
    return path


def writable_file(flag: str, path: Path) -> Path:
    """`path` if the harness can write that file (making its folder); ValueError if not."""
    if path.is_dir():
        problem: str | None = f"{path} is a folder, not a file"
    elif path.exists() and not os.access(path, os.W_OK):
        problem = f"{path} is not writable"
    else:
        problem = _folder_problem(path.parent)
    if problem:
        raise ValueError(f"{flag} {path} cannot be written: {problem}")
    return path


def check_validate(args: argparse.Namespace) -> None:
    """`validate`'s paths: the code path, the run folder (or its parent) and the JUnit file."""
    if args.code_path is not None:
        code_path(args.code_path)
    if args.run_dir:
        writable_folder("--run-dir", absolute(args.run_dir))
    else:
        writable_folder("--out", absolute(args.out))
    if args.junit_xml:
        writable_file("--junit-xml", absolute(args.junit_xml))
