"""Run the job as a subprocess on this machine, the way the platform runs it.

`bash -c "cd /data && python /data/train.py <params> --work_dir=/data ..."` inside a
bubblewrap sandbox where /data is the platform root (`harness.backends.sandbox`): the
host read-only, data read-only, a private /tmp and $HOME per phase, no network. Where
no sandbox can be made, the same line runs on the host against the root's host paths,
with a private TMPDIR and HOME per phase. Either way, what the phase wrote to its
/tmp and $HOME is reported like `docker diff`, its standard input is /dev/null, a
timeout ends the job's whole process tree, and when it exits whatever it left running
is ended - a daemon that forked twice into a session of its own too, since the harness
is the subreaper its orphans are reparented to.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness import snapshot
from harness.backends import processes, sandbox
from harness.backends.base import (
    MAX_LINE_CHARS,
    Backend,
    FinishedJob,
    LogSink,
    PhaseCommand,
    PhaseLog,
    RunningJob,
    RunOutcome,
    TaskSpec,
)
from harness.contract import CONTAINER_PATHS, HARNESS_ENV, PlatformPaths, PlatformRoot
from harness.environment import git_info, local_environment

# What a local job inherits from the harness's environment (nothing that may hold secrets).
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES")
_TERM_GRACE_S = 20.0
# Pids of this process's local jobs still running (a cluster runs several at once).
_live_jobs: set[int] = set()
# On Ctrl-C the job gets this long to end after SIGTERM; the user is waiting.
INTERRUPT_GRACE_S = 1.0


class LocalBackend(Backend):
    """The job's code is copied into `<root>/data` and run with this Python, sandboxed
    when `sandbox` allows (None: wherever bubblewrap works; False: never; True: or fail)."""

    name = "local"

    def __init__(
        self, code_path: Path, python: str = sys.executable, sandbox_mode: bool | None = None
    ) -> None:
        if not Path(code_path).is_absolute():
            raise ValueError(f"code path {code_path} must be absolute (resolve it at the edge)")
        if not Path(code_path).is_dir():
            raise ValueError(f"code path {code_path} is not a folder")
        self.code_path = Path(code_path)
        if problem := link_problem(self.code_path):
            raise ValueError(f"code path {code_path}: {problem}")
        self.python = python
        reason = "turned off (--no-sandbox)" if sandbox_mode is False else sandbox.unavailable()
        if sandbox_mode and reason:
            raise ValueError(f"--sandbox: {reason}")
        self.sandboxed = reason is None
        # Said once, by whoever shows progress: how the job is isolated, and what is not.
        self.isolation = (
            "sandbox: bubblewrap (host read-only, /data as the platform mounts it, private "
            "/tmp and $HOME per phase, no network, an unprivileged user namespace without "
            "capabilities, a seccomp filter)"
            if self.sandboxed
            else f"no sandbox ({reason}): the job runs on the host with a private TMPDIR and "
            f"HOME per phase; not enforced: {sandbox.NOT_ENFORCED}, and writes elsewhere "
            "outside the platform root go unseen"
        )

    def prepare(self, root: PlatformRoot) -> list[str]:
        return root.install_code(self.code_path)

    def paths(self, root: PlatformRoot) -> PlatformPaths:
        return CONTAINER_PATHS if self.sandboxed else root.host_paths

    def environment(self) -> dict:
        return local_environment()

    def describe_code(self) -> dict:
        return {
            "kind": "code path",
            "path": str(self.code_path),
            "sha256": code_digest(self.code_path),
            "git": git_info(self.code_path),
        }

    def expose(self, root: PlatformRoot, container_path: str) -> None:
        """Nothing to do: the job runs on the root itself, where the files were written."""

    def read_code(self, relative: str) -> str | None:
        path = self.code_path / relative
        return path.read_text(errors="replace") if path.is_file() else None

    def start(
        self,
        job: PhaseCommand,
        root: PlatformRoot,
        log_path: Path,
        on_line: LogSink | None = None,
        task: TaskSpec | None = None,
    ) -> RunningJob:
        scratch = log_path.with_name(log_path.name.removesuffix(".log") + ".scratch")
        env = {key: value for key, value in os.environ.items() if key in _PASSED_ENV}
        env.update(HARNESS_ENV)
        if task is not None:
            env["TF_CONFIG"] = task.tf_config
        line = job.shell(self.paths(root), self.python)
        passed: tuple[int, ...] = ()  # the seccomp program's pipe, closed once bwrap has it
        if self.sandboxed:  # cluster tasks reach each other on the host's loopback
            passed = (seccomp_fd := sandbox.filter_fd(),)
            shell = ["/bin/bash", "-c", line]
            command = sandbox.wrap(shell, root, scratch, self.python, seccomp_fd, task is not None)
        else:
            tmp, home = sandbox.scratch_folders(scratch)
            env.update(TMPDIR=str(tmp), HOME=str(home))
            command = ["/bin/bash", "-c", line]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = PhaseLog(log_path, job.redact)  # closed by _LocalJob.finish
        processes.become_subreaper()
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                command,
                cwd=root.work_dir,
                env=env,
                stdin=subprocess.DEVNULL,  # never the user's terminal or what was piped in
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,
                pass_fds=passed,
            )
        except OSError as err:  # no such interpreter, work_dir gone, too many processes
            error = f"cannot start {command[0]}: {err}"
            log.write(f"[uai-harness] {error}\n")
            log.close()
            return FinishedJob(
                RunOutcome(command, -1, 0.0, log_path, backend=self.name, error=error)
            )
        finally:
            for fd in passed:
                os.close(fd)
        _live_jobs.add(process.pid)
        pump = threading.Thread(target=_pump, args=(process.stdout, log, on_line), daemon=True)
        pump.start()
        shown = ["/bin/bash", "-c", line]  # the record shows the platform's line, not bwrap's
        return _LocalJob(process, shown, log, log_path, pump, started, self.name, scratch)

    def interrupt(self) -> None:
        trees = [[pid, *processes.descendants(pid)] for pid in list(_live_jobs)]
        for tree in trees:  # each job leads its own session and process group
            processes.kill_tree(tree[0])
        processes.await_gone([pid for tree in trees for pid in tree], processes.KILLED_WAIT_S)

    def cluster_addresses(self, names: list[str]) -> dict[str, str]:
        """Free loopback ports, one per task: the tasks listen on 127.0.0.1 only."""
        sockets = []
        try:
            for _ in names:
                handle = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                handle.bind(("127.0.0.1", 0))
                sockets.append(handle)
            return {
                name: f"127.0.0.1:{s.getsockname()[1]}"
                for name, s in zip(names, sockets, strict=True)
            }
        finally:
            for handle in sockets:
                handle.close()


class _LocalJob(RunningJob):
    """A job's process group on this machine."""

    def __init__(self, process, command, log, log_path, pump, started, backend, scratch) -> None:
        self.process, self.command, self.log, self.log_path = process, command, log, log_path
        self.pump, self.started, self.backend, self.scratch = pump, started, backend, scratch
        self.timed_out = False

    def poll(self) -> int | None:
        return self.process.poll()

    def stop(self, grace_s: float) -> None:
        processes.kill_group(self.process, grace_s)

    def finish(self, timeout_s: float) -> RunOutcome:
        drain_s = 10.0
        try:
            self.process.wait(timeout=max(0.0, timeout_s - (time.monotonic() - self.started)))
        except subprocess.TimeoutExpired:
            self.timed_out = True
            processes.kill_group(self.process, _TERM_GRACE_S)
        except KeyboardInterrupt:  # Ctrl-C: the whole tree goes, at once
            tree = [self.process.pid, *processes.descendants(self.process.pid)]
            processes.kill_group(self.process, INTERRUPT_GRACE_S)
            processes.kill_tree(self.process.pid)
            processes.await_gone(tree, processes.KILLED_WAIT_S)  # "its processes ended": true
            drain_s = 1.0
            raise
        finally:
            self.pump.join(timeout=drain_s)
            self.log.close()
        _live_jobs.discard(self.process.pid)
        processes.kill_tree(self.process.pid)  # what it left running in the background
        processes.end_orphans(self.process.pid, _live_jobs)
        return RunOutcome(
            command=self.command,
            # None only if even SIGKILL left it running (uninterruptible sleep).
            exit_code=-1 if self.process.returncode is None else self.process.returncode,
            seconds=time.monotonic() - self.started,
            log_path=self.log_path,
            timed_out=self.timed_out,
            backend=self.backend,
            container_changes=sandbox.written(self.scratch),
        )


def _pump(stream, log, on_line: LogSink | None) -> None:
    # Bounded reads: a job printing without newlines must not grow one line in memory.
    for line in iter(lambda: stream.readline(MAX_LINE_CHARS), ""):
        log.write(line)
        log.flush()
        if on_line is not None:
            on_line(line.rstrip("\n"))


def code_digest(folder: Path) -> str:
    """One SHA-256 over a code folder's file names and contents (byte caches left out)."""
    tree = snapshot.hash_tree(folder)
    return hashlib.sha256("".join(f"{k} {v}\n" for k, v in tree.items()).encode()).hexdigest()


def link_problem(folder: Path) -> str | None:
    """A symbolic link in a code folder that the image could not hold: one pointing
    outside the folder (its target is not packed) or into a folder above it (a loop)."""
    root = folder.resolve()
    for directory, subdirectories, names in os.walk(folder):
        for name in [*subdirectories, *names]:
            link = Path(directory, name)
            if not link.is_symlink():
                continue
            target = (link.parent / os.readlink(link)).resolve()
            where = link.relative_to(folder)
            if target != root and root not in target.parents:
                return f"{where} links to {target}, outside it (the image would not hold that)"
            parent = link.parent.resolve()
            if target.is_dir() and (target == parent or target in parent.parents):
                return f"{where} links to {target}, a folder above it: a copy would never end"
    return None
