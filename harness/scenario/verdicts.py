"""The verdict store: every planned check's result, or why it did not apply or run.

Each check is judged once, timed here (the phases it needed plus its own judging), and
shown as it is judged; what the job wrote that cannot be read (a corrupt checkpoint, a
truncated file) fails the checks it affects with the reason instead of ending the run,
so the record, verdict and report are always written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator

from harness.checks.registry import GATE, CheckSpec
from harness.record import FAILED, NOT_APPLICABLE, NOT_RUN, CheckResult
from harness.scenario.context import Reporter
from harness.scenario.runner import PhaseRunner


def _unreadable() -> tuple[type[BaseException], ...]:
    import tensorflow as tf

    return (ValueError, OSError, KeyError, EOFError, tf.errors.OpError)


class VerdictStore:
    def __init__(self, planned: list[CheckSpec], reporter: Reporter) -> None:
        self.planned = planned
        self.reporter = reporter
        self.results: dict[str, CheckResult] = {}
        self.not_applicable: dict[str, str] = {}

    def skip(self, name: str, reason: str) -> None:
        self.not_applicable[name] = reason

    def applies(self, spec: CheckSpec) -> bool:
        return spec.name not in self.not_applicable

    def add(self, result: CheckResult) -> None:
        self.results[result.name] = result
        self.reporter.check(result)

    def judge(
        self, spec: CheckSpec, judge: Callable[[], CheckResult], phase_seconds: float
    ) -> None:
        """Judge `spec` now; its seconds are its phases' and its own."""
        started = time.monotonic()
        with self.judging(spec.name):
            result = judge()
            seconds = phase_seconds + time.monotonic() - started
            self.add(dataclasses.replace(result, seconds=seconds))

    @contextlib.contextmanager
    def judging(self, *names: str) -> Iterator[None]:
        """Fail checks `names` with the reason when what the job wrote cannot be read."""
        try:
            yield
        except _unreadable() as err:
            reason = " ".join(f"{type(err).__name__}: {err}".split())[:400]
            for name in names:
                if name not in self.results:
                    self.add(
                        CheckResult(name, FAILED, f"could not read what the job wrote: {reason}")
                    )

    def final(self, runner: PhaseRunner) -> list[CheckResult]:
        """Every planned check but the gate's, in report order: its result, or why it did
        not apply or run (each of those shown now). The gate is judged from the record."""
        checks = []
        for spec in (s for s in self.planned if s.scope != GATE):
            if spec.name in self.results:
                checks.append(self.results[spec.name])
                continue
            if spec.name in self.not_applicable:
                result = CheckResult(spec.name, NOT_APPLICABLE, self.not_applicable[spec.name])
            else:
                result = CheckResult(spec.name, NOT_RUN, _why_not_run(runner, spec.phases))
            checks.append(result)
            self.reporter.check(result)
        return checks


def _why_not_run(runner: PhaseRunner, needed: tuple[str, ...]) -> str:
    """The failed phase that kept a check from running: one it needed, else the one that
    stopped the run before its phases; with the failure's diagnosis when one is known."""
    phases = runner.phases
    failed = next((p for p in needed if p in phases and phases[p].failure), None)
    failed = failed or next((n for n, p in phases.items() if p.failure is not None), None)
    if failed:
        phase = phases[failed]
        known = f" ({phase.diagnosis})" if phase.diagnosis else ""
        return f"phase {failed} failed: {phase.failure}{known}"
    missing = next((p for p in needed if p not in phases), needed[-1])
    return f"phase {missing} did not run"
