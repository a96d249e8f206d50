"""One container of a job's image as it runs: its log copied as it comes, its wait bounded
by the phase's time limit, and its removal (and the hand-back of what it wrote) on every
path. `harness.backends.container` starts it."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import IO

import docker
import requests

from harness.backends import daemon
from harness.backends.base import LogSink, PhaseLog, RunningJob, RunOutcome
from harness.backends.daemon import DAEMON_ERRORS, one_line

KILLED_WAIT_S = 60  # how long a killed container may take to exit
_LOG_DRAIN_S = 10


class ContainerJob(RunningJob):
    """One container of the job's image, from start to removal."""

    def __init__(self, backend, root, command, log_path, on_line, started, redact) -> None:
        self.backend, self.root, self.command = backend, root, command
        self.log_path, self.started = log_path, started
        self.log = PhaseLog(log_path, redact)  # closed by finish()
        self.stack = contextlib.ExitStack()  # owns the container's removal
        self.problems: list[str] = []
        self.container = None
        self.error: str | None = None
        self.pump = threading.Thread(target=self._pump, args=(on_line,), daemon=True)

    def _pump(self, on_line: LogSink | None) -> None:
        _pump(self.container, self.log, on_line)

    def poll(self) -> int | None:
        try:
            self.container.reload()
        except DAEMON_ERRORS:
            return None
        state = self.container.attrs.get("State", {})
        return None if state.get("Running", True) else int(state.get("ExitCode", -1))

    def stop(self, grace_s: float) -> None:
        with contextlib.suppress(*DAEMON_ERRORS):
            self.container.stop(timeout=int(grace_s))

    def finish(self, timeout_s: float) -> RunOutcome:
        exit_code, timed_out, changes = -1, False, []
        try:
            if self.error is None:
                remaining = max(1.0, timeout_s - (time.monotonic() - self.started))
                exit_code, timed_out = _wait(self.container, remaining)
                changes = [change["Path"] for change in self.container.diff() or []]
        except DAEMON_ERRORS as err:
            self.error = f"the Docker daemon failed: {one_line(err)}"
        except KeyboardInterrupt:  # Ctrl-C: killed now, removed below
            with contextlib.suppress(*DAEMON_ERRORS):
                self.container.kill()
            raise
        finally:
            if self.pump.is_alive():
                self.pump.join(timeout=_LOG_DRAIN_S)
            self.stack.close()
            self.problems.extend(self.backend._hand_back(self.root))
            for problem in self.problems:
                self.log.write(f"\n[uai-harness] {problem}\n")
            self.log.close()
        error = self.error
        if error and self.problems:
            error += "; then " + "; ".join(self.problems)
        return RunOutcome(
            command=self.command,
            exit_code=exit_code,
            seconds=time.monotonic() - self.started,
            log_path=self.log_path,
            timed_out=timed_out,
            backend=self.backend.name,
            image=self.backend.image_info(),
            container_changes=changes,
            error=error,
        )


def _wait(container, timeout_s: float) -> tuple[int, bool]:
    """(exit code, timed out): a container still running after `timeout_s` is killed."""
    try:
        return int(container.wait(timeout=timeout_s)["StatusCode"]), False
    except requests.exceptions.RequestException as err:
        if not daemon.is_read_timeout(err):
            raise
    try:
        container.kill()
    except docker.errors.APIError as err:
        if err.status_code != 409:  # 409: it exited by itself in the meantime
            raise
    return int(container.wait(timeout=KILLED_WAIT_S)["StatusCode"]), True


def _pump(container, log: IO[str], on_line: LogSink | None) -> None:
    """Copy the container's output to the log as it comes.

    A broken stream is noted in the log, not raised: run() reports the daemon's
    failure from its wait. A write after run() closed the log (the stream outlived
    the drain timeout) ends the copy.
    """
    buffer = ""
    try:
        for chunk in container.logs(stream=True, follow=True):
            text = chunk.decode(errors="replace")
            log.write(text)
            log.flush()
            buffer += text
            *lines, buffer = buffer.split("\n")
            for line in lines:
                if on_line is not None:
                    on_line(line)
    except DAEMON_ERRORS as err:
        log.write(f"\n[uai-harness] the log stream broke: {one_line(err)}\n")
    except ValueError:  # I/O operation on closed file
        return
