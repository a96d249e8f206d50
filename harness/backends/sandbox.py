"""A local job run the way the platform runs it: in a sandbox (bubblewrap) where /data is
the platform root.

Inside, the host is read-only, `/data` is the root's code folder (writable, as the
image's layer is), `/data/data` the data read-only, `/data/output` the output; `/tmp`
and `$HOME` are private to the phase and empty at its start (the platform gives every
run a fresh container), and there is no network but loopback. The job sees exactly the
paths the platform passes (`--data_dir=/data/data`, ...), so jobs that use absolute
`/data/...` paths run as they will there. What it writes to `/tmp` or `$HOME` lands in
the phase's scratch folder, where the path check finds it (the platform would neither
keep nor upload it). The interpreter's own folders stay visible, read-only, wherever
they are.

The job cannot undo any of it: it runs as uid 0 of its own user namespace (the user who
ran the harness outside, so what it writes stays theirs), with every capability
dropped, in a new session (no `TIOCSTI` into a terminal), under a seccomp filter
(`harness.backends.seccomp`), and with bubblewrap ending it if the harness dies.

Where bubblewrap is missing or cannot make this sandbox (no user namespaces, an
unprivileged container), the harness says so once, with what is then not enforced, and
runs the job directly on the host with a private `TMPDIR` and `HOME` per phase
(`harness.backends.local`).
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from harness.backends import seccomp
from harness.contract import (
    CONTAINER_DATA_DIR,
    CONTAINER_OUTPUT_DIR,
    CONTAINER_WORK_DIR,
    PlatformRoot,
)
from harness.untrusted import remove_tree, walk

HOME = "/root"
TMP = "/tmp"
# What the job is denied, whatever the layout: privilege (an unprivileged user of its own
# user namespace, which cannot make another, and no capabilities), the terminal, the
# other namespaces, and a life beyond the harness's.
_CONFINED = [
    "--die-with-parent",
    "--unshare-user",
    "--uid",
    "0",
    "--gid",
    "0",
    "--cap-drop",
    "ALL",
    "--new-session",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
]
# Said when no sandbox can be made: what the job is then free to do.
NOT_ENFORCED = (
    "the host is writable to the job as it is to you, it has the network, runs with your "
    "privileges and no seccomp filter"
)
# Top-level host folders the sandbox does not show: its own /tmp, /data, a private
# home, and the kernel's file systems (mounted fresh).
_HIDDEN = {"tmp", "data", "proc", "dev", "sys", "run", "root", "home", "lost+found"}


@functools.cache
def unavailable() -> str | None:
    """None when bubblewrap can run a sandboxed command here, else why not."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed (Debian: apt-get install bubblewrap)"
    if not seccomp.supported():
        return f"no seccomp filter is written for {platform.machine()}"
    probe = Path(os.environ.get("TMPDIR", "/tmp"))
    fd = filter_fd()
    try:
        done = subprocess.run(
            [
                *_confined(fd),
                "--unshare-net",
                *_system_binds(),
                "--dev",
                "/dev",
                "--proc",
                "/proc",
                "--tmpfs",
                TMP,
                "--ro-bind",
                str(probe),
                "/mnt",
                "true",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            pass_fds=(fd,),
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bubblewrap could not be started: {err}"
    finally:
        os.close(fd)
    if done.returncode != 0:
        return f"bubblewrap cannot make a sandbox here: {' '.join(done.stderr.split())[:200]}"
    return None


def filter_fd() -> int:
    """A pipe's read end holding the seccomp program, for `--seccomp` (the caller passes
    it to bubblewrap and closes it; the program fits in the pipe's buffer)."""
    read, write = os.pipe()
    try:
        os.write(write, seccomp.program())
    finally:
        os.close(write)
    return read


def _confined(seccomp_fd: int) -> list[str]:
    # No nested user namespace: the filter denies the calls that make one; bubblewrap 0.8
    # and later also set the limit to none (older ones lack the flag, not the sandbox).
    nested = ["--disable-userns"] if _bwrap_knows("--disable-userns") else []
    return ["bwrap", *_CONFINED, *nested, "--seccomp", str(seccomp_fd)]


@functools.cache
def _bwrap_knows(option: str) -> bool:
    try:
        usage = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option in usage.stdout.split()


def _system_binds() -> list[str]:
    """The host's top-level folders, read-only (links as links), but the hidden ones."""
    binds = []
    for entry in sorted(Path("/").iterdir()):
        if entry.name in _HIDDEN:
            continue
        if entry.is_symlink():
            binds += ["--symlink", os.readlink(entry), str(entry)]
        elif entry.exists():
            binds += ["--ro-bind", str(entry), str(entry)]
    return binds


def _interpreter_binds(python: str) -> list[str]:
    """The interpreter's folders when they lie in a hidden folder (a venv under /tmp, a
    pyenv under /root), read-only at the same path; with them the package folders on the
    harness's own path, which a venv's `.pth` line may add from elsewhere."""
    executable = Path(python)
    folders = {Path(sys.prefix), Path(sys.base_prefix), executable.parent.parent}
    folders.add(executable.resolve().parent.parent)
    folders.update(Path(p) for p in sys.path if Path(p).name in ("site-packages", "dist-packages"))
    binds = []
    for folder in sorted(folders):
        top = folder.parts[1] if len(folder.parts) > 1 else ""
        if top in _HIDDEN and folder.exists():
            binds += ["--ro-bind", str(folder), str(folder)]
    return binds


def scratch_folders(scratch: Path) -> tuple[Path, Path]:
    """The phase's private /tmp and $HOME on the host, created empty."""
    tmp, home = scratch / "tmp", scratch / "home"
    for folder in (tmp, home):
        remove_tree(folder)
        folder.mkdir(parents=True)
    return tmp, home


def wrap(
    command: list[str],
    root: PlatformRoot,
    scratch: Path,
    python: str,
    seccomp_fd: int,
    network: bool = False,
) -> list[str]:
    """`command` (container paths) inside a sandbox laid out like the platform's container,
    filtered by the program at `seccomp_fd` (`filter_fd`), which the caller passes on."""
    tmp, home = scratch_folders(scratch)
    args = _confined(seccomp_fd)
    if not network:
        args.append("--unshare-net")
    args += _system_binds()
    args += ["--dev", "/dev", "--proc", "/proc", "--bind", str(tmp), TMP, "--bind", str(home), HOME]
    args += _interpreter_binds(python)
    args += ["--bind", str(root.work_dir), CONTAINER_WORK_DIR]
    args += ["--ro-bind", str(root.data_dir), CONTAINER_DATA_DIR]
    args += ["--bind", str(root.output_dir), CONTAINER_OUTPUT_DIR]
    args += ["--setenv", "HOME", HOME, "--setenv", "TMPDIR", TMP, "--chdir", CONTAINER_WORK_DIR]
    return [*args, "--", *command]


def written(scratch: Path) -> list[str]:
    """Container paths of the files the phase wrote to its /tmp and $HOME (folders, such
    as the ones bubblewrap made to mount the interpreter on, are no writes)."""
    found = []
    for name, inside in (("tmp", TMP), ("home", HOME)):
        base = scratch / name
        for path, _ in walk(base):  # no recursion: the job chose how deep they nest
            found.append(f"{inside}/{path.relative_to(base).as_posix()}")
    return found
