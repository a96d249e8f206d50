"""File hashes and before/after pictures of a folder, to see exactly what a job wrote.

The one place the harness hashes files: run records store these hashes as the
inputs and outputs of a run, and the path check diffs two pictures of the
platform root. `__pycache__` folders are always left out (and listed as ignored
by the path check): Python writes them on import, so identical code would look
different and an interpreter's byte-code cache would read as a job's write.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

IGNORED_DIR_NAMES = frozenset({"__pycache__"})


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (checkpoints can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_tree(
    root: str | os.PathLike[str],
    relative_to: str | os.PathLike[str] | None = None,
    exclude: Callable[[Path], bool] | None = None,
) -> dict[str, str]:
    """SHA-256 of every file under `root` (or of `root` itself when it is a file), keyed by
    POSIX path relative to `relative_to` (default: `root`), sorted.

    `exclude` gets each file and folder path; True leaves it out (a folder with all
    below it). Symbolic links are not followed: a link is hashed as its target text,
    so a job cannot make the picture read files outside the folder.
    """
    root = Path(root)
    base = Path(relative_to) if relative_to is not None else root
    if not root.exists() and not root.is_symlink():
        raise FileNotFoundError(f"cannot hash {root}: no such file or directory")
    if root.is_file():
        files = [root]
    else:
        files = []
        for directory, subdirectories, names in os.walk(root):
            current = Path(directory)
            subdirectories[:] = sorted(
                name
                for name in subdirectories
                if name not in IGNORED_DIR_NAMES and not (exclude and exclude(current / name))
            )
            files.extend(
                current / name for name in names if not (exclude and exclude(current / name))
            )
    hashes = {}
    for path in files:
        key = Path(os.path.relpath(os.path.abspath(path), os.path.abspath(base))).as_posix()
        if path.is_symlink():
            hashes[key] = "symlink:" + os.readlink(path)
        elif path.is_file():
            hashes[key] = sha256_file(path)
    return dict(sorted(hashes.items()))


@dataclasses.dataclass(frozen=True)
class Change:
    """Files added, modified and removed between two pictures of a folder."""

    added: list[str]
    modified: list[str]
    removed: list[str]


def diff(before: dict[str, str], after: dict[str, str]) -> Change:
    """What changed going from picture `before` to picture `after`."""
    return Change(
        added=sorted(set(after) - set(before)),
        modified=sorted(p for p in set(before) & set(after) if before[p] != after[p]),
        removed=sorted(set(before) - set(after)),
    )
