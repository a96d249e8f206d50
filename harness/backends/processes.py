"""The processes a local job starts, as this machine sees them: found through /proc,
ended with their whole tree (a daemon that left the job's group or session too), waited
for until they are gone, and reaped by the harness as the subreaper of their orphans."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import time
from pathlib import Path

_PR_SET_CHILD_SUBREAPER = 36
# How long to wait for SIGKILLed processes to be gone: at once, unless the machine is so
# busy that they do not run to die.
KILLED_WAIT_S = 5.0


def kill_group(process: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM the job's processes, then SIGKILL its group and every process it started
    (those that left the group too) when it has not ended after `grace_s`.

    The launchers (bwrap, the platform line's bash) are spared the SIGTERM: they would die
    of it at once, and the exit status seen would be theirs, not that of the job, which
    may handle SIGTERM and exit 0 as the platform's stop expects."""
    launchers = _launchers(process.pid)
    # The process itself is the job when no launcher runs it (bash execs a lone command).
    job = [pid for pid in (process.pid, *descendants(process.pid)) if pid not in launchers]
    try:
        if not job:
            os.killpg(process.pid, signal.SIGTERM)
        for pid in job:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        kill_tree(process.pid)
        process.wait(timeout=10)


def _process_children() -> dict[int, list[int]]:
    """Each living process's children, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _children(pid: int) -> list[int]:
    return _process_children().get(pid, [])


def descendants(pid: int) -> list[int]:
    """Every living process below `pid`, read from /proc (children first found first)."""
    children = _process_children()
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue += children.get(child, [])
    return found


_LAUNCHERS = ("bwrap", "bash")


def _launchers(pid: int) -> set[int]:
    """The chain of launcher processes from `pid` down to the job: each a bwrap or bash
    with one child."""
    chain: set[int] = set()
    while True:
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return chain
        if name not in _LAUNCHERS:
            return chain
        chain.add(pid)
        if len(children) != 1:
            return chain
        pid = int(children[0])


def kill_tree(pid: int) -> None:
    """SIGKILL `pid`'s group and every descendant, wherever its group or session."""
    victims = descendants(pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for victim in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(victim, signal.SIGKILL)


def await_gone(pids: list[int], timeout_s: float) -> None:
    """Wait until each killed process has exited (gone, or a zombie left to its parent):
    SIGKILL is delivered at once, but a process on a busy machine dies when it next runs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(map(_alive, pids)):
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@functools.cache
def become_subreaper() -> bool:
    """Make this process the one the jobs' orphans are reparented to (a daemon that forked
    twice and called setsid included), instead of init, so `end_orphans` finds them;
    False where the kernel refuses (orphans then escape the harness's sight)."""
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def end_orphans(session: int, live: set[int], rounds: int = 5) -> None:
    """SIGKILL and reap the children this process adopted from a job: those still in the
    job's session, and, once no other job runs, every child in a session of its own (the
    harness starts none but the jobs). Several rounds: each kill may orphan more."""
    me, own_session = os.getpid(), os.getsid(0)
    for _ in range(rounds):
        found = []
        for pid in _children(me):
            with contextlib.suppress(ProcessLookupError):
                sid = os.getsid(pid)
                if (
                    pid not in live
                    and pid != session
                    and (sid == session or (sid != own_session and not live))
                ):
                    found.append(pid)
        if not found:
            return
        for pid in found:
            kill_tree(pid)
            with contextlib.suppress(ProcessLookupError):  # no group leader: in no group killed
                os.kill(pid, signal.SIGKILL)
        for pid in found:
            _reap(pid)


def _reap(pid: int, timeout_s: float = 5.0) -> None:
    """Collect a killed child's exit status, so no zombie is left in its place."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            return
        time.sleep(0.01)
