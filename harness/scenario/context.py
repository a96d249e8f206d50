"""What one validation runs with, fixed before its first phase: the run context."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Protocol

from harness.backends.base import Backend
from harness.contract import PlatformPaths, PlatformRoot
from harness.plan import Plan, Preflight
from harness.record import CheckResult
from harness.redaction import Redactor


class Reporter(Protocol):
    """Progress hooks; the CLI shows them, tests ignore them. Texts are raw: a reporter
    that prints redacts them."""

    def note(self, text: str) -> None: ...
    def phase(self, name: str, detail: str, target_step: int | None) -> None: ...
    def line(self, text: str) -> None: ...
    def phase_done(self, name: str, seconds: float, failure: str | None, log_tail: str) -> None: ...
    def check(self, result: CheckResult) -> None: ...


class SilentReporter:
    def note(self, text: str) -> None:
        pass

    def phase(self, name: str, detail: str, target_step: int | None) -> None:
        pass

    def line(self, text: str) -> None:
        pass

    def phase_done(self, name: str, seconds: float, failure: str | None, log_tail: str) -> None:
        pass

    def check(self, result: CheckResult) -> None:
        pass


@dataclasses.dataclass(frozen=True)
class RunContext:
    """The backend, the plan and what preflight found, the run's folders, and where its
    progress and secrets go. Nothing here changes while the phases run."""

    backend: Backend
    plan: Plan
    preflight: Preflight
    run_dir: Path
    root: PlatformRoot  # the (chief's) platform root: /data as the job sees it
    reporter: Reporter
    redactor: Redactor

    @property
    def paths(self) -> PlatformPaths:
        """The platform's folders as the job sees them on this backend."""
        return self.backend.paths(self.root)

    @property
    def logs(self) -> Path:
        return self.run_dir / "logs"
