"""File hashes and before/after pictures of a folder, to see exactly what a job wrote.

The one place the harness hashes files: run records store these hashes as the
inputs and outputs of a run, and the path check diffs two pictures of the
platform root. `__pycache__` folders are always left out (and listed as ignored
by the path check): Python writes them on import, so identical code would look
different and an interpreter's byte-code cache would read as a job's write.

A picture is taken after the job ended, outside its --timeout, of a tree the job
controls (`harness.untrusted`), so it is bounded: links are hashed as their target
text, pipes, sockets and devices by their kind, a sparse file by its data extents
(`sparse:`), and a file past `HASH_FILE_LIMIT`, or any file once `HASH_SECONDS` have
gone by, by its size and modification time (`stat:`) - the value says which.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from harness.untrusted import kind, open_regular, walk

IGNORED_DIR_NAMES = frozenset({"__pycache__"})
# Hashing runs at roughly 2.7 s per GB: a file past this size is hashed by size and time,
# and so is every file once a picture has taken this long.
HASH_FILE_LIMIT = 2 << 30
HASH_SECONDS = 60.0
_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (checkpoints can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _by_stat(info: os.stat_result) -> str:
    return f"stat:{info.st_size}:{info.st_mtime_ns}"


def _data_extents(handle: int, size: int) -> list[tuple[int, int]]:
    """(start, end) of the parts of a file that hold data: one extent, the whole file, if
    it has no holes or the filesystem cannot tell; none if it is all hole."""
    if size == 0:
        return [(0, 0)]
    extents, position = [], 0
    while position < size:
        try:
            start = os.lseek(handle, position, os.SEEK_DATA)
        except OSError as err:
            if err.errno == errno.ENXIO:  # no data past `position`
                break
            return [(0, size)]
        end = os.lseek(handle, start, os.SEEK_HOLE)
        extents.append((start, end))
        position = end
    return extents


def hash_file(path: Path, info: os.stat_result) -> str:
    """A regular file's hash: its SHA-256; `sparse:` and the SHA-256 of its data extents
    (offset and bytes) when it has holes; `stat:` when its data is past the limit."""
    handle = open_regular(path)
    try:
        extents = _data_extents(handle, info.st_size)
        if sum(end - start for start, end in extents) > HASH_FILE_LIMIT:
            return _by_stat(info)
        sparse = extents != [(0, info.st_size)]
        digest = hashlib.sha256(f"size {info.st_size}\n".encode() if sparse else b"")
        for start, end in extents:
            os.lseek(handle, start, os.SEEK_SET)
            if sparse:
                digest.update(f"{start}:{end}:".encode())
            while chunk := os.read(handle, min(_CHUNK, end - os.lseek(handle, 0, os.SEEK_CUR))):
                digest.update(chunk)
    finally:
        os.close(handle)
    return ("sparse:" if sparse else "") + digest.hexdigest()


def hash_tree(
    root: str | os.PathLike[str],
    relative_to: str | os.PathLike[str] | None = None,
    exclude: Callable[[Path], bool] | None = None,
    seconds: float = HASH_SECONDS,
) -> dict[str, str]:
    """The hash of every file under `root` (or of `root` itself when it is a file), keyed by
    POSIX path relative to `relative_to` (default: `root`), sorted.

    `exclude` gets each file and folder path; True leaves it out (a folder with all
    below it). Symbolic links are not followed: a link is hashed as its target text,
    so a job cannot make the picture read files outside the folder; a pipe, socket or
    device as its kind. Past `seconds`, files are hashed by size and time.
    """
    root = Path(root)
    base = Path(relative_to) if relative_to is not None else root
    try:
        info = os.stat(root)  # the caller's own folder (a --data link is followed)
    except FileNotFoundError:
        raise FileNotFoundError(f"cannot hash {root}: no such file or directory") from None
    if stat.S_ISDIR(info.st_mode):

        def prune(path: Path) -> bool:
            return path.name in IGNORED_DIR_NAMES or bool(exclude and exclude(path))

        entries = walk(root, prune)
    else:
        entries = iter([(root, info)])
    deadline = time.monotonic() + seconds
    hashes = {}
    for path, entry in entries:
        key = Path(os.path.relpath(os.path.abspath(path), os.path.abspath(base))).as_posix()
        what = kind(entry.st_mode)
        if what == "link":
            hashes[key] = "symlink:" + os.readlink(path)
        elif what != "file":
            hashes[key] = what
        elif time.monotonic() > deadline:
            hashes[key] = _by_stat(entry)
        else:
            try:
                hashes[key] = hash_file(path, entry)
            except OSError as err:  # a job may chmod its files or swap them for a pipe
                hashes[key] = f"unreadable: {err.strerror or err}"
    return dict(sorted(hashes.items()))


def tree_size(root: str | os.PathLike[str]) -> dict[str, int]:
    """Apparent size of every regular file under `root` (what an upload would send),
    keyed by POSIX path relative to `root`; links are not followed."""
    root = Path(root)
    if not root.is_dir():
        return {}
    return {
        path.relative_to(root).as_posix(): info.st_size
        for path, info in walk(root)
        if stat.S_ISREG(info.st_mode)
    }


def describe_size(size: float) -> str:
    """`1.2 GB`-style (decimal units, as --max-output-gb counts)."""
    units, power = ("bytes", "kB", "MB", "GB"), 0
    while size >= 1000 and power < len(units) - 1:
        size, power = size / 1000, power + 1
    return f"{size:.0f} bytes" if power == 0 else f"{size:.1f} {units[power]}"


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
