"""Run the job as a subprocess on this machine, pointed at a platform root."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness.backends.base import Backend, JobSpec, LogSink, RunOutcome
from harness.contract import PlatformPaths, PlatformRoot, job_command
from harness.record import local_environment


class LocalBackend(Backend):
    """The job's code is copied into `<root>/data` and run with this Python."""

    name = "local"

    def __init__(self, code_path: Path, python: str = sys.executable) -> None:
        self.code_path = Path(code_path)
        self.python = python

    def prepare(self, root: PlatformRoot) -> None:
        root.install_code(self.code_path)

    def paths(self, root: PlatformRoot) -> PlatformPaths:
        return root.host_paths

    def environment(self) -> dict:
        return local_environment()

    def run(
        self, job: JobSpec, root: PlatformRoot, log_path: Path, on_line: LogSink | None = None
    ) -> RunOutcome:
        command = job_command(
            job.mainfile,
            list(job.train_params),
            root.host_paths,
            self.python,
            job.num_gpus,
            append_platform_flags=job.append_platform_flags,
        )
        env = {
            key: value
            for key, value in os.environ.items()
            if key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "CUDA_VISIBLE_DEVICES")
        }
        env.update(
            {
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUNBUFFERED": "1",
                "TF_CPP_MIN_LOG_LEVEL": "1",
                **dict(job.env),
            }
        )
        started = time.monotonic()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w") as log:
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
                return RunOutcome(
                    command,
                    -1,
                    time.monotonic() - started,
                    log_path,
                    backend=self.name,
                    error=error,
                )
            pump = threading.Thread(target=_pump, args=(process.stdout, log, on_line), daemon=True)
            pump.start()
            timed_out = False
            try:
                process.wait(timeout=job.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(process)
            pump.join(timeout=10)
        return RunOutcome(
            command=command,
            # None only if even SIGKILL left it running (uninterruptible sleep).
            exit_code=-1 if process.returncode is None else process.returncode,
            seconds=time.monotonic() - started,
            log_path=log_path,
            timed_out=timed_out,
            backend=self.name,
        )


def _pump(stream, log, on_line: LogSink | None) -> None:
    for line in stream:
        log.write(line)
        log.flush()
        if on_line is not None:
            on_line(line.rstrip("\n"))


def _kill_group(process: subprocess.Popen) -> None:
    """SIGTERM the job's process group, then SIGKILL what is left after a grace period."""
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
