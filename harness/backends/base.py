"""What every backend promises, so the checks never depend on where a job ran."""

from __future__ import annotations

import abc
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from harness.contract import (
    CONTAINER_PATHS,
    PLATFORM_PYTHON,
    PlatformPaths,
    PlatformRoot,
    container_shell_command,
    job_command,
)
from harness.defaults import PHASE_TIMEOUT_S
from harness.params import JobParams


class BackendError(RuntimeError):
    """The backend itself (not the job) could not run: its message is the user's answer."""


@dataclasses.dataclass(frozen=True)
class PhaseCommand:
    """One invocation of a job entry point: the file and its own parameters (words or
    typed text, run through the shell line as the platform runs them)."""

    mainfile: str = "train.py"
    train_params: JobParams = JobParams()
    num_gpus: int = 0
    timeout_s: float = PHASE_TIMEOUT_S
    # Tools such as run_inference.py take no platform flags; the harness passes paths itself.
    append_platform_flags: bool = True
    # Applied to every line of the phase's log before it is written (the run's redactor).
    redact: Callable[[str], str] = dataclasses.field(default=str, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "train_params", JobParams.of(self.train_params))

    def argv(self, paths: PlatformPaths, python: str) -> list[str]:
        """`python <work_dir>/<mainfile> <params> <platform flags>` for these folders."""
        return job_command(
            self.mainfile,
            list(self.train_params),
            paths,
            python,
            self.num_gpus,
            append_platform_flags=self.append_platform_flags,
        )

    def shell(self, paths: PlatformPaths = CONTAINER_PATHS, python: str = PLATFORM_PYTHON) -> str:
        """The `/bin/bash -c` string the platform runs inside the image (or the same line
        for other folders and another interpreter)."""
        return container_shell_command(
            self.mainfile,
            self.train_params,
            self.num_gpus,
            append_platform_flags=self.append_platform_flags,
            paths=paths,
            python=python,
        )


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One task of a distributed job: its name (`worker-0`) and its TF_CONFIG."""

    name: str
    tf_config: str


@dataclasses.dataclass
class RunOutcome:
    """How a run ended, with enough of its log to say why."""

    command: list[str]
    exit_code: int
    seconds: float
    log_path: Path
    timed_out: bool = False
    backend: str = ""
    image: dict | None = None
    # Container paths `docker diff` reports as changed (raw; the path check classifies them).
    container_changes: list[str] = dataclasses.field(default_factory=list)
    # Why the backend lost the job (daemon gone, process not started), as opposed to the
    # job's own failure.
    error: str | None = None

    @property
    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text.splitlines()[-lines:])

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.error is None


LogSink = Callable[[str], None]
# What a phase's log keeps of what the job printed, and the longest line it holds whole.
MAX_LOG_BYTES = 64 * 2**20
MAX_LINE_CHARS = 2**20


class PhaseLog:
    """A phase's log file: private to the user (0600), each line redacted before it is
    written - jobs echo their flags, secrets among them."""

    def __init__(self, path: Path, redact: Callable[[str], str] = str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        self._file = os.fdopen(descriptor, "w", encoding="utf-8", errors="replace")
        self._redact, self._pending, self._written = redact, "", 0

    def write(self, text: str) -> None:
        *lines, self._pending = (self._pending + text).split("\n")
        if len(self._pending) > MAX_LINE_CHARS:  # a job printing without newlines
            lines.append(self._pending)
            self._pending = ""
        for line in lines:
            self._write_line(self._redact(line) + "\n")

    def _write_line(self, line: str) -> None:
        """Keep the log within MAX_LOG_BYTES: what a job prints is untrusted, and the log is
        read whole after the phase."""
        if self._written > MAX_LOG_BYTES:
            return
        self._written += len(line)
        if self._written > MAX_LOG_BYTES:
            line = f"[uai-harness] the log was cut here, at {MAX_LOG_BYTES // 2**20} MiB\n"
        self._file.write(line)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if self._pending:
            self._write_line(self._redact(self._pending))
            self._pending = ""
        self._file.close()


class RunningJob(abc.ABC):
    """A job started by a backend and not yet finished (one task of a cluster, say)."""

    @abc.abstractmethod
    def poll(self) -> int | None:
        """The exit code once the job has exited, else None."""

    @abc.abstractmethod
    def stop(self, grace_s: float) -> None:
        """Ask the job to stop (SIGTERM), and kill it if it has not after `grace_s`."""

    @abc.abstractmethod
    def finish(self, timeout_s: float) -> RunOutcome:
        """Wait for the job (killing it after `timeout_s`), clean up, and say how it ended."""


class FinishedJob(RunningJob):
    """A job that ended before it could start (no interpreter, no container)."""

    def __init__(self, outcome: RunOutcome) -> None:
        self.outcome = outcome

    def poll(self) -> int | None:
        return self.outcome.exit_code

    def stop(self, grace_s: float) -> None:
        pass

    def finish(self, timeout_s: float) -> RunOutcome:
        return self.outcome


class Backend(abc.ABC):
    """Runs a job against a platform root and reports how it ended."""

    name: str = "abstract"
    runs_image: bool = False
    # How the job is kept apart from the host, said once at the start of a run.
    isolation: str = ""

    @abc.abstractmethod
    def prepare(self, root: PlatformRoot) -> list[str]:
        """Make the job's code available at the root's work_dir (or in the image); returns
        notes on what of the code was left out and why."""

    @abc.abstractmethod
    def start(
        self,
        job: PhaseCommand,
        root: PlatformRoot,
        log_path: Path,
        on_line: LogSink | None = None,
        task: TaskSpec | None = None,
    ) -> RunningJob:
        """Start `job` with the platform's flags, streaming lines to `on_line`; as one task
        of a cluster when `task` is given."""

    def run(
        self, job: PhaseCommand, root: PlatformRoot, log_path: Path, on_line: LogSink | None = None
    ) -> RunOutcome:
        """Run `job` to its end (or its time limit)."""
        return self.start(job, root, log_path, on_line).finish(job.timeout_s)

    def cluster_addresses(self, names: list[str]) -> dict[str, str]:
        """`host:port` each named task is reached at by the others."""
        raise BackendError(f"the {self.name} backend cannot run a cluster")

    def close_cluster(self) -> list[str]:
        """Release what `cluster_addresses` set up; problems are returned, never raised."""
        return []

    def interrupt(self) -> None:  # noqa: B027 - a backend without side-by-side phases has none
        """Ctrl-C reached the harness outside the thread waiting for a job (phases run side
        by side): end every job this backend is running, at once."""

    @abc.abstractmethod
    def paths(self, root: PlatformRoot) -> PlatformPaths:
        """The platform folders as the job sees them (host paths, or /data in a container)."""

    @abc.abstractmethod
    def environment(self) -> dict:
        """Python/TF versions and `pip freeze` of what actually runs the job."""

    @abc.abstractmethod
    def describe_code(self) -> dict:
        """What identifies the job's code: a folder's digest, or an image's id."""

    @abc.abstractmethod
    def read_code(self, relative: str) -> str | None:
        """A text file of the job's code (`evaluate.py`), or None when it has none."""

    def shipped_file(self, root: PlatformRoot, container_path: str) -> Path | None:
        """Host path of a file the job's code brings at `container_path` (after `prepare`)."""
        candidate = root.host_path(container_path)
        return candidate if candidate.exists() else None

    @abc.abstractmethod
    def expose(self, root: PlatformRoot, container_path: str) -> None:
        """Make the files written at `root.host_path(container_path)*` visible to the job."""

    def mount_points(self, root: PlatformRoot) -> list[str]:
        """Container paths the backend mounts for `root` (they show up in `docker diff`)."""
        return []
