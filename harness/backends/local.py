"""Run the job as a subprocess on this machine, pointed at a platform root."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness import snapshot
from harness.backends.base import (
    HARNESS_ENV,
    Backend,
    FinishedJob,
    JobSpec,
    LogSink,
    RunningJob,
    RunOutcome,
    TaskSpec,
)
from harness.contract import PlatformPaths, PlatformRoot
from harness.environment import git_info, local_environment

# What a local job inherits from the harness's environment (nothing that may hold secrets).
_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "CUDA_VISIBLE_DEVICES")
_TERM_GRACE_S = 20.0


class LocalBackend(Backend):
    """The job's code is copied into `<root>/data` and run with this Python."""

    name = "local"

    def __init__(self, code_path: Path, python: str = sys.executable) -> None:
        if not Path(code_path).is_absolute():
            raise ValueError(f"code path {code_path} must be absolute (resolve it at the edge)")
        if not Path(code_path).is_dir():
            raise ValueError(f"code path {code_path} is not a folder")
        self.code_path = Path(code_path)
        self.python = python

    def prepare(self, root: PlatformRoot) -> None:
        root.install_code(self.code_path)

    def paths(self, root: PlatformRoot) -> PlatformPaths:
        return root.host_paths

    def environment(self) -> dict:
        return local_environment()

    def describe_code(self) -> dict:
        tree = snapshot.hash_tree(self.code_path)
        digest = hashlib.sha256("".join(f"{k} {v}\n" for k, v in tree.items()).encode())
        return {
            "kind": "code path",
            "path": str(self.code_path),
            "sha256": digest.hexdigest(),
            "git": git_info(self.code_path),
        }

    def expose(self, root: PlatformRoot, container_path: str) -> None:
        """Nothing to do: the job runs on the root itself, where the files were written."""

    def read_code(self, relative: str) -> str | None:
        path = self.code_path / relative
        return path.read_text(errors="replace") if path.is_file() else None

    def start(
        self,
        job: JobSpec,
        root: PlatformRoot,
        log_path: Path,
        on_line: LogSink | None = None,
        task: TaskSpec | None = None,
    ) -> RunningJob:
        command = job.argv(root.host_paths, self.python)
        env = {key: value for key, value in os.environ.items() if key in _PASSED_ENV}
        env.update(HARNESS_ENV)
        if task is not None:
            env["TF_CONFIG"] = task.tf_config
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "w")  # closed by _LocalJob.finish
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                command,
                cwd=root.work_dir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,
            )
        except OSError as err:  # no such interpreter, work_dir gone, too many processes
            error = f"cannot start {command[0]}: {err}"
            log.write(f"[uai-harness] {error}\n")
            log.close()
            return FinishedJob(
                RunOutcome(command, -1, 0.0, log_path, backend=self.name, error=error)
            )
        pump = threading.Thread(target=_pump, args=(process.stdout, log, on_line), daemon=True)
        pump.start()
        return _LocalJob(process, command, log, log_path, pump, started, self.name)

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

    def __init__(self, process, command, log, log_path, pump, started, backend) -> None:
        self.process, self.command, self.log, self.log_path = process, command, log, log_path
        self.pump, self.started, self.backend = pump, started, backend
        self.timed_out = False

    def poll(self) -> int | None:
        return self.process.poll()

    def stop(self, grace_s: float) -> None:
        _kill_group(self.process, grace_s)

    def finish(self, timeout_s: float) -> RunOutcome:
        try:
            self.process.wait(timeout=max(0.0, timeout_s - (time.monotonic() - self.started)))
        except subprocess.TimeoutExpired:
            self.timed_out = True
            _kill_group(self.process, _TERM_GRACE_S)
        finally:
            self.pump.join(timeout=10)
            self.log.close()
        return RunOutcome(
            command=self.command,
            # None only if even SIGKILL left it running (uninterruptible sleep).
            exit_code=-1 if self.process.returncode is None else self.process.returncode,
            seconds=time.monotonic() - self.started,
            log_path=self.log_path,
            timed_out=self.timed_out,
            backend=self.backend,
        )


def _pump(stream, log, on_line: LogSink | None) -> None:
    for line in stream:
        log.write(line)
        log.flush()
        if on_line is not None:
            on_line(line.rstrip("\n"))


def _kill_group(process: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM the job's process group, then SIGKILL what is left after `grace_s`."""
    for sig, grace in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
