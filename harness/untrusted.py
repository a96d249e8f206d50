"""Reading what a job wrote: untrusted input, read after the job ended and outside its
--timeout, so every read here is bounded.

A job controls its output tree completely: a file may be a link to `/dev/zero` or to a
host file the job itself cannot see, a named pipe that blocks whoever opens it, a
sparse file of terabytes, a tree deeper than Python's recursion limit, or text full of
terminal control sequences. So trees are walked with an explicit stack and `lstat`
(links are never followed, pipes, sockets and devices never opened), files are opened
no-follow and non-blocking and read up to a cap, and job text is made printable before
it reaches a terminal or a report.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

# A text file of the job's (metrics.jsonl, a checkpoint index) is read up to this many
# bytes; an ordinary metrics.jsonl is a few MB even for 100k steps.
TEXT_LIMIT = 64 << 20


class NotRegularFile(OSError):
    """A path that is a link, pipe, socket or device where a file was expected."""


def kind(mode: int) -> str:
    """What an lstat mode is, in a word: file, link, dir, fifo, socket or device."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISFIFO(mode):
        return "fifo"
    return "socket" if stat.S_ISSOCK(mode) else "device"


def walk(
    root: Path, prune: Callable[[Path], bool] | None = None, folders: bool = False
) -> Iterator[tuple[Path, os.stat_result]]:
    """Every entry under `root` but folders (with `folders`, those too, each before what
    it holds), with its `lstat`, in sorted order.

    An explicit stack, not recursion (a job can nest folders past any recursion limit);
    links to folders are entries, never entered. `prune` gets each path; True leaves it
    out, a folder with all below it. A folder that vanishes or cannot be listed is skipped.
    """
    stack = [Path(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            continue
        below = []
        for entry in entries:
            path = Path(entry.path)
            if prune is not None and prune(path):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                below.append(path)
                if folders:
                    yield path, info
            else:
                yield path, info
        stack.extend(reversed(below))


def remove_tree(root: Path) -> None:
    """Remove `root` and everything below it without recursion (shutil.rmtree recurses, and
    a job can nest folders past the limit); what cannot be removed is left."""
    entries = list(walk(root, folders=True))
    for path, info in reversed(entries):  # each folder after what it holds
        with contextlib.suppress(OSError):
            path.rmdir() if stat.S_ISDIR(info.st_mode) else path.unlink()
    with contextlib.suppress(OSError):
        root.rmdir()


def folder_bytes(folder: Path) -> int:
    """What a run folder alone takes on disk - what removing it frees: each file once, and
    only where all its hard links are inside the folder (a file linked from the harness's
    cache costs the folder nothing); symbolic links not followed."""
    links: dict[tuple[int, int], list[os.stat_result]] = {}
    for _, info in walk(folder):  # no recursion, no link followed
        if stat.S_ISREG(info.st_mode):
            links.setdefault((info.st_dev, info.st_ino), []).append(info)
    return sum(
        seen[0].st_blocks * 512  # on disk: a sparse file takes only its blocks
        for seen in links.values()
        if len(seen) >= seen[0].st_nlink
    )


def regular_files(root: Path) -> Iterator[Path]:
    """The regular files under `root` (no links, pipes, sockets or devices), sorted."""
    return (path for path, info in walk(root) if stat.S_ISREG(info.st_mode))


def open_regular(path: Path) -> int:
    """A read-only descriptor of `path` if it is a regular file: opened without following
    a last link and without blocking (a named pipe), then checked by `fstat`."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        handle = os.open(path, flags)
    except OSError as err:
        if os.path.islink(path):
            raise NotRegularFile(err.errno, "a link (not followed)", str(path)) from err
        raise
    mode = os.fstat(handle).st_mode
    if not stat.S_ISREG(mode):
        os.close(handle)
        raise NotRegularFile(errno.EINVAL, f"a {kind(mode)}, not a regular file", str(path))
    return handle


def read_bounded(path: Path, offset: int = 0, limit: int | None = None) -> tuple[bytes, int]:
    """At most `limit` (default `TEXT_LIMIT`) bytes of a regular file from `offset`, and the
    file's size, so a caller can say it read only part; NotRegularFile for anything else."""
    limit = TEXT_LIMIT if limit is None else limit
    handle = open_regular(path)
    try:
        size = os.fstat(handle).st_size
        os.lseek(handle, offset, os.SEEK_SET)
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(handle, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks), size
    finally:
        os.close(handle)


def read_head(path: Path, limit: int) -> bytes:
    """The first `limit` bytes of a regular file; b"" for anything else or an unreadable one."""
    try:
        return read_bounded(path, 0, limit)[0]
    except OSError:
        return b""


def is_regular(path: Path) -> bool:
    """Whether `path` itself (not a link's target) is a regular file."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


# Terminal control sequences: CSI (colours, cursor moves), OSC (window titles, links),
# other two-character escapes, then any C0 control but newline and tab, DEL and C1.
_CONTROLS = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def printable(text: str) -> str:
    """Job text with its terminal control sequences removed (a log tail can retitle a
    terminal, move its cursor or hide lines), keeping newlines and tabs."""
    return _CONTROLS.sub("", text)
