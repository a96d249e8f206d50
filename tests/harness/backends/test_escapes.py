"""The escape suite: each way out of the local sandbox that the security review found,
as a probe job (tests/support/escapes.py) run natively, where it must work (so the probe
is known to try for real), and through the local backend, where it must be contained -
in the style of gVisor's tests, which run each case natively and sandboxed.

Native runs need root (CI is); sandboxed ones are marked `sandbox`. The last test runs
probes under the seccomp filter alone, as root with every capability, so what it denies
is known to be denied by the filter and not only by the dropped capabilities. Each probe
is a tenth of a second of plain Python: the suite costs seconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import pty
import shutil
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import pytest

from harness.backends import sandbox
from harness.backends.base import PhaseCommand
from harness.backends.local import LocalBackend
from harness.contract import PlatformRoot
from tests.support.escapes import write_probe

SANDBOXED = pytest.param("sandbox", marks=pytest.mark.sandbox, id="sandbox")
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the native escapes need root")
SECRET = "the user's keystrokes"


def _run(tmp_path: Path, name: str, mode: str, *params: str) -> tuple[dict, PlatformRoot]:
    """Run probe `name` natively ("native": this Python, no harness) or through the local
    backend ("sandbox", or "no-sandbox"); its report and its platform root."""
    code = write_probe(tmp_path / f"{name}-{mode}", name)
    root = PlatformRoot.create(tmp_path)
    if mode == "native":
        command = [sys.executable, str(code / "train.py"), *params]
        command.append(f"--output_dir={root.output_dir}")
        subprocess.run(command, check=True, timeout=30, stdout=subprocess.DEVNULL)
    else:
        backend = LocalBackend(code, sandbox_mode=mode == "sandbox")
        backend.prepare(root)
        outcome = backend.run(
            PhaseCommand(train_params=params, timeout_s=30), root, tmp_path / "logs" / f"{name}.log"
        )
        assert outcome.succeeded, outcome.log_text
    return json.loads((root.output_dir / "escape.json").read_text()), root


@pytest.fixture
def shown(tmp_path: Path):
    """A host folder the sandbox shows, read-only (host /tmp it hides)."""
    folder = Path(tempfile.mkdtemp(prefix="uai-escape-", dir="/var/tmp"))
    assert folder.parts[1] not in sandbox._HIDDEN
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@as_root
def test_natively_the_job_is_root_with_capabilities(tmp_path) -> None:
    report, _ = _run(tmp_path, "identity", "native")
    assert int(report["cap_eff"], 16) != 0 and report["seccomp"] == "0"


@pytest.mark.sandbox
def test_sandboxed_the_job_has_no_capability_and_its_files_are_yours(tmp_path) -> None:
    report, root = _run(tmp_path, "identity", "sandbox")
    assert report["cap_eff"] == "0000000000000000"
    assert report["seccomp"] == "2"  # a filter
    assert report["uid"] == 0  # root inside, as on the platform, but only inside
    assert report["fds"] == ["0", "1", "2", "3"]  # the seccomp program's pipe is closed
    written = root.output_dir / "escape.json"
    assert (written.stat().st_uid, written.stat().st_gid) == (os.getuid(), os.getgid())
    shutil.rmtree(root.root)  # and removable by whoever ran the harness
    assert not root.root.exists()


@pytest.mark.parametrize("mode", [pytest.param("native", marks=as_root), SANDBOXED])
@pytest.mark.parametrize("target", ["new file", "data sample"])
def test_a_host_file_shown_read_only_stays_unwritten(tmp_path, shown, mode, target) -> None:
    # "data sample": the user's --data folder, where it is shown (not under /tmp or /root).
    path = shown / ("escaped.txt" if target == "new file" else "train.csv")
    if target == "data sample":
        path.write_text("x,label\n1,0\n")
    report, _ = _run(tmp_path, "host_write", mode, f"--target={path}")
    if mode == "native":
        assert report["written"] and "escaped" in path.read_text()
        return
    assert report == {
        "direct": "EROFS",
        "remount": "EPERM",
        "after_remount": "EROFS",
        "written": False,
    }
    assert not path.exists() if target == "new file" else path.read_text() == "x,label\n1,0\n"


def _file_handle(path: Path) -> tuple[str, int]:
    """name_to_handle_at(path): the handle's bytes (hex) and type, as taken outside."""
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(8 + 128)
    ctypes.memmove(buffer, (128).to_bytes(4, sys.byteorder), 4)
    mount_id = ctypes.c_int()
    if libc.name_to_handle_at(-100, bytes(path), buffer, ctypes.byref(mount_id), 0) != 0:
        pytest.skip(f"this file system gives no file handles: {os.strerror(ctypes.get_errno())}")
    size = int.from_bytes(buffer.raw[:4], sys.byteorder)
    kind = int.from_bytes(buffer.raw[4:8], sys.byteorder, signed=True)
    return buffer.raw[8 : 8 + size].hex(), kind


@pytest.mark.parametrize("mode", [pytest.param("native", marks=as_root), SANDBOXED])
def test_a_hidden_host_file_cannot_be_opened_by_handle(tmp_path, shown, mode) -> None:
    hidden = tmp_path / "hidden.txt"  # under host /tmp: not in the sandbox
    hidden.write_text("host secret")
    handle, kind = _file_handle(hidden)
    # Any folder on the same file system names it for open_by_handle_at.
    mount = shown if shown.stat().st_dev == hidden.stat().st_dev else Path("/usr")
    params = (f"--handle={handle}", f"--handle_type={kind}", f"--mount={mount}")
    report, _ = _run(tmp_path, "open_by_handle", mode, *params)
    if mode == "native":
        if mount == shown:
            assert report == {"opened": "ok", "content": "host secret"}
        return
    assert report == {"opened": "EPERM", "content": None}


@pytest.mark.parametrize("mode", [pytest.param("native", marks=as_root), SANDBOXED])
def test_seccomp_denies_namespaces_ptrace_mount_and_the_keyring(tmp_path, mode) -> None:
    target = tmp_path / "mnt"
    target.mkdir()
    report, _ = _run(
        tmp_path, "syscalls", mode, f"--target={'/mnt' if mode != 'native' else target}"
    )
    expected = "ok" if mode == "native" else "EPERM"
    assert report == dict.fromkeys(("unshare", "ptrace", "mount", "keyctl"), expected)


def _with_terminal(command: list[str]) -> None:
    """Run `command` with a fresh terminal as its controlling one and standard input."""
    primary, secondary = pty.openpty()

    def take_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        subprocess.run(command, stdin=secondary, preexec_fn=take_terminal, check=True, timeout=30)
    finally:
        os.close(primary)
        os.close(secondary)


@pytest.mark.parametrize("mode", [pytest.param("native", marks=as_root), SANDBOXED])
def test_no_keystroke_can_be_pushed_into_a_terminal(tmp_path, mode) -> None:
    if mode == "native":  # a terminal of its own, never the tester's
        code = write_probe(tmp_path / "code", "tiocsti")
        _with_terminal([sys.executable, str(code / "train.py"), f"--output_dir={tmp_path}"])
        report = json.loads((tmp_path / "escape.json").read_text())
        assert "stdin" in report["injected"]
        return
    report, _ = _run(tmp_path, "tiocsti", mode)
    assert report["injected"] == []


@pytest.fixture
def piped_stdin():
    """The harness's own standard input is a pipe holding a secret, as in `... | validate`."""
    read, write = os.pipe()
    os.write(write, SECRET.encode())
    os.close(write)
    saved = os.dup(0)
    os.dup2(read, 0)
    os.close(read)
    yield
    os.dup2(saved, 0)
    os.close(saved)


@pytest.mark.parametrize("mode", ["native", SANDBOXED, "no-sandbox"])
def test_the_job_reads_nothing_of_the_harnesss_standard_input(tmp_path, piped_stdin, mode):
    report, _ = _run(tmp_path, "stdin", mode)
    if mode == "native":  # inherited: what the harness was given
        assert report["data"] == SECRET
    else:
        assert report == {"eof": True, "data": ""}


def _growing(path: Path) -> bool:
    before = path.stat().st_size
    time.sleep(0.3)
    return path.stat().st_size > before


@pytest.mark.parametrize("mode", ["native", SANDBOXED, "no-sandbox"])
def test_a_double_forked_daemon_is_dead_when_the_job_ends(tmp_path, mode) -> None:
    root_heartbeat = "/data/output/heartbeat" if mode == "sandbox" else None
    heartbeat = tmp_path / "heartbeat"
    report, root = _run(tmp_path, "daemon", mode, f"--target={root_heartbeat or heartbeat}")
    if root_heartbeat:
        heartbeat = root.output_dir / "heartbeat"
    if mode == "native":  # nothing ends it: the probe's daemon really outlives its job
        try:
            assert _growing(heartbeat)
        finally:
            os.kill(report["daemon"], 9)
            with contextlib.suppress(ChildProcessError):  # adopted by this (subreaper) process
                os.waitpid(report["daemon"], 0)
        return
    assert heartbeat.exists() and not _growing(heartbeat)
    if mode == "no-sandbox":
        with pytest.raises(ProcessLookupError):  # dead and reaped, not a zombie
            os.kill(report["daemon"], 0)


@as_root
@pytest.mark.sandbox
@pytest.mark.parametrize("probe", ["identity", "syscalls", "open_by_handle"])
def test_the_filter_alone_denies_them_to_root_with_every_capability(tmp_path, shown, probe) -> None:
    # bwrap as root without a user namespace keeps every capability: only the filter
    # stands between the probe and mount or open_by_handle_at (in bwrap's own mount
    # namespace, so nothing it might mount shows on the host).
    code = write_probe(tmp_path / "code", probe)
    hidden = tmp_path / "hidden.txt"
    hidden.write_text("host secret")
    handle, kind = _file_handle(hidden)
    params = [f"--target={tmp_path}", f"--handle={handle}", f"--handle_type={kind}"]
    params += [f"--mount={tmp_path}", f"--output_dir={tmp_path}"]
    fd = sandbox.filter_fd()
    try:
        bwrap = ["bwrap", "--bind", "/", "/", "--dev", "/dev", "--seccomp", str(fd)]
        command = [*bwrap, sys.executable, str(code / "train.py"), *params]
        subprocess.run(command, check=True, timeout=30, pass_fds=(fd,), stdin=subprocess.DEVNULL)
    finally:
        os.close(fd)
    report = json.loads((tmp_path / "escape.json").read_text())
    if probe == "identity":  # the capabilities are there, the filter too
        assert int(report["cap_eff"], 16) != 0 and report["seccomp"] == "2"
    elif probe == "syscalls":
        assert report == dict.fromkeys(("unshare", "ptrace", "mount", "keyctl"), "EPERM")
    else:
        assert report == {"opened": "EPERM", "content": None}
