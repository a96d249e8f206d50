"""What every backend promises, so the checks never depend on where a job ran."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from pathlib import Path

from harness.contract import PlatformPaths, PlatformRoot


class BackendError(RuntimeError):
    """The backend itself (not the job) could not run: its message is the user's answer."""


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """One invocation of the user's job: the main file and its own parameters."""

    mainfile: str = "train.py"
    train_params: tuple[str, ...] = ()
    num_gpus: int = 0
    timeout_s: float = 600.0
    env: tuple[tuple[str, str], ...] = ()
    # Tools such as run_inference.py take no platform flags; the harness passes paths itself.
    append_platform_flags: bool = True


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
    environment: dict | None = None
    written_outside_output: list[str] = dataclasses.field(default_factory=list)
    # Why the backend lost the job (daemon gone, process not started), as opposed to the
    # job's own failure; the phase fails with this message instead of an exception.
    error: str | None = None

    @property
    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text.splitlines()[-lines:])

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.error is None


LogSink = Callable[[str], None]


class Backend(abc.ABC):
    """Runs a job against a platform root and reports how it ended."""

    name: str = "abstract"

    @abc.abstractmethod
    def prepare(self, root: PlatformRoot) -> None:
        """Make the job's code available at the root's work_dir (or in the image)."""

    @abc.abstractmethod
    def run(
        self, job: JobSpec, root: PlatformRoot, log_path: Path, on_line: LogSink | None = None
    ) -> RunOutcome:
        """Run `job` with the platform's flags, streaming lines to `on_line`."""

    @abc.abstractmethod
    def paths(self, root: PlatformRoot) -> PlatformPaths:
        """The platform folders as the job sees them (host paths, or /data in a container)."""

    @abc.abstractmethod
    def environment(self) -> dict:
        """Python/TF versions and `pip freeze` of what actually runs the job."""

    def pretrained_checkpoint(self, root: PlatformRoot, relative: str) -> Path | None:
        """Host path of the pretrained checkpoint the job sees at work_dir/relative."""
        candidate = root.work_dir / relative.lstrip("/")
        return candidate if candidate.exists() else None
