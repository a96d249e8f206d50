"""What `uai-harness validate` shows while it works: phases, live progress, verdicts.

On a terminal each phase gets a rich status line updated from the job's own output
(step N/target, loss, steps/s and images/s); elsewhere (CI logs, pipes) the same
facts come as a plain line every few seconds. Each verdict is printed once. Every
text passes through the run's redactor first: job output echoes its flags.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape

from harness.job import StdoutParser
from harness.record import FAILED, NOT_RUN, PASSED, WARNING, CheckResult
from harness.redaction import Redactor
from harness.untrusted import printable

PLAIN_PROGRESS_EVERY_S = 10.0


def make_console(stderr: bool = False, quiet: bool = False) -> Console:
    """The CLI's console. Off a terminal (CI logs, pipes) lines are not wrapped, so
    each verdict and progress line stays one line that grep finds."""
    console = Console(stderr=stderr, quiet=quiet, highlight=False)
    console.soft_wrap = not console.is_terminal
    return console


_MARKS = {
    PASSED: "[green]PASS[/]",
    WARNING: "[yellow]WARN[/]",
    FAILED: "[red]FAIL[/]",
    NOT_RUN: "[yellow]NOT RUN[/]",
}


class ConsoleReporter:
    """Implements the scenario's Reporter protocol on a rich Console."""

    def __init__(
        self,
        console: Console,
        redactor: Redactor,
        batch_size: int | None = None,
        loss_regex: str | None = None,
        follow: bool = False,
    ) -> None:
        self.console, self.redactor = console, redactor
        self.follow = follow  # show the job's own log lines as they come (--follow)
        self.batch_size, self.loss_regex = batch_size, loss_regex
        self._status = None
        self._phase = ""
        self._target: int | None = None
        self._parser = StdoutParser.for_regex(loss_regex)
        self._started = self._last_plain = time.monotonic()
        self._first_step: tuple[int, float] | None = None

    def _print(self, markup: str, text: str = "", limit: int | None = None) -> None:
        """Print `text` redacted, stripped of terminal controls (a job's log tail can retitle
        a terminal), then cut to `limit`: a secret cut in half first would no longer be
        recognised."""
        shown = printable(self.redactor.text(text))[:limit]
        self.console.print(markup + escape(shown), highlight=False)

    def note(self, text: str) -> None:
        self._print("  [dim]·[/] ", text)

    def phase(self, name: str, detail: str, target_step: int | None) -> None:
        self.close()
        self._phase, self._target = name, target_step
        self._parser = StdoutParser.for_regex(self.loss_regex)
        self._started = self._last_plain = time.monotonic()
        self._first_step = None
        self._print(f"[bold cyan]▶ {escape(name)}[/] ", detail, limit=160)
        if self.console.is_terminal:
            self._status = self.console.status(f"{name}…")
            self._status.start()

    def line(self, text: str) -> None:
        if self.follow:
            self._print("    [dim]│[/] ", text)
        found = self._parser.feed(text)
        if found is None:
            return
        now = time.monotonic()
        if self._first_step is None:
            self._first_step = (found[0], now)
        progress = self._progress(*found, now)
        if self._status is not None:
            self._status.update(f"{self._phase}: {escape(progress)}")
        elif now - self._last_plain >= PLAIN_PROGRESS_EVERY_S:
            self._last_plain = now
            self._print("    ", progress)

    def _progress(self, step: int, loss: float, now: float) -> str:
        target = f"/{self._target}" if self._target else ""
        parts = [f"step {step}{target}", f"loss {loss:.4f}"]
        first_step, first_time = self._first_step or (step, now)
        if step > first_step and now > first_time:
            rate = (step - first_step) / (now - first_time)
            parts.append(f"{rate:.2f} steps/s")
            if self.batch_size:
                parts.append(f"{rate * self.batch_size:.1f} images/s")
        return " · ".join(parts)

    def phase_done(self, name: str, seconds: float, failure: str | None, log_tail: str) -> None:
        self.close()
        if failure is None:
            self._print(f"  [green]✓[/] {escape(name)} ", f"({seconds:.0f}s)")
            return
        self._print(f"  [red]✗ {escape(name)} failed[/] ", f"({seconds:.0f}s): {failure}")
        for line in log_tail.splitlines():
            self._print("    [dim]│[/] ", line)

    def check(self, result: CheckResult) -> None:
        self.close()
        mark = _MARKS.get(result.status, "[dim]N/A[/]")
        self._print(f"  {mark} {escape(result.name)}: ", result.message)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
