"""Progress of the long image steps (debootstrap, wheel downloads, docker builds).

A terminal gets one live rich line for the running step - spinner, elapsed time, its
latest output; a log (CI, a pipe) gets a line when a step starts and ends and a
heartbeat line every `heartbeat_s`, so a ten-minute download never looks hung.
Outcomes worth keeping (which base image, where the packages came from) are notes.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress as RichProgress
from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

from harness.images.errors import ImageBuildError

_LATEST_CHARS = 90
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # colours and cursor moves of build output


class Progress(Protocol):
    """What image building reports; `ensure_job_image` and `pack` take one."""

    def step(self, title: str) -> None:
        """A long step begins (and the previous one ends)."""

    def line(self, text: str) -> None:
        """The running step's latest output line."""

    def note(self, text: str) -> None:
        """An outcome the user should still see when everything is done."""


class SilentProgress:
    def step(self, title: str) -> None:
        pass

    def line(self, text: str) -> None:
        pass

    def note(self, text: str) -> None:
        pass


class ConsoleProgress:
    """Progress on a rich console: live on a terminal, periodic plain lines elsewhere."""

    def __init__(self, console: Console, heartbeat_s: float = 30.0) -> None:
        self.console = console
        self.heartbeat_s = heartbeat_s
        self._lock = threading.Lock()
        self._title: str | None = None
        self._started = 0.0
        self._latest = ""
        self._live: RichProgress | None = None
        self._task = None
        self._heartbeat: threading.Event | None = None  # set: the heartbeat thread stops

    def step(self, title: str) -> None:
        self._end_step()
        with self._lock:
            self._title, self._started, self._latest = title, time.monotonic(), ""
        if self.console.is_terminal:
            if self._live is None:
                self._live = RichProgress(
                    SpinnerColumn(),
                    TextColumn("{task.description}"),
                    TimeElapsedColumn(),
                    TextColumn("[dim]{task.fields[latest]}"),
                    console=self.console,
                    transient=True,
                )
                self._live.start()
            self._task = self._live.add_task(escape(title), latest="", total=None)
            return
        self.console.print(f"{title} ...", markup=False, highlight=False, soft_wrap=True)
        if self._heartbeat is None:
            self._heartbeat = threading.Event()
            threading.Thread(target=self._beat, args=(self._heartbeat,), daemon=True).start()

    def line(self, text: str) -> None:
        text = " ".join(_ANSI.sub("", text).split())
        if not text:
            return
        with self._lock:
            self._latest = text
        if self._live is not None and self._task is not None:
            self._live.update(self._task, latest=escape(text[:_LATEST_CHARS]))

    def note(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        """End the running step and the live display."""
        self._end_step()
        if self._heartbeat is not None:
            self._heartbeat.set()
            self._heartbeat = None
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _end_step(self) -> None:
        with self._lock:
            title, self._title = self._title, None
            seconds = time.monotonic() - self._started
        if title is None:
            return
        if self._live is not None and self._task is not None:
            self._live.remove_task(self._task)
            self._task = None
        self.console.print(
            f"  done: {title} ({seconds:.0f}s)", markup=False, highlight=False, soft_wrap=True
        )

    def _beat(self, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_s):
            with self._lock:
                if self._title is None:
                    continue
                text = f"  ... {self._title}: {time.monotonic() - self._started:.0f}s"
                if self._latest:
                    text += f"; latest: {self._latest[:_LATEST_CHARS]}"
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)


def run_streamed(
    command: Sequence[str | Path], progress: Progress, what: str, cwd: Path | None = None
) -> None:
    """Run a command, passing each output line to `progress`; a failure raises
    ImageBuildError naming `what`, with the command's last lines."""
    tail: deque[str] = deque(maxlen=25)
    try:
        process = subprocess.Popen(
            [str(part) for part in command],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
    except OSError as err:
        raise ImageBuildError(f"{what}: cannot run {command[0]}: {err}") from err
    assert process.stdout is not None
    for raw in process.stdout:
        line = raw.rstrip("\n")
        tail.append(line)
        progress.line(line)
    code = process.wait()
    if code != 0:
        last = "\n".join(tail)
        raise ImageBuildError(f"{what} failed (exit {code}); last output:\n{last}")
