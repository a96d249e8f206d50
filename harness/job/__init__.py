"""The job protocol: the one place where the harness learns what a job did.

Any UAI-Train TensorFlow job - TF1 code in compat mode, Keras `fit`, Estimator- and
slim-shaped jobs, our im2txt trainer - is judged only from what it leaves behind,
never from its private flags or log lines (what is recognised is listed, with its
proof, in `harness.jobshapes`):

- losses per step (`harness.job.losses`, `harness.job.discovery`): every series it
  logs (summaries under output_dir, `name = number` lines on its output,
  `metrics.jsonl`) is a candidate; names choose the loss and the accuracies beside it;
- model files (`harness.job.models`): TensorFlow checkpoints, Keras HDF5 and `.keras`
  files and SavedModels under output_dir, read as arrays; which of them carry a step.

A phase's losses are those the job logged while that phase ran: event records and
metrics lines added to the files after the phase started, and that phase's stdout.
Files the harness itself placed under output_dir are never taken as the job's.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from harness.job.csvlog import csv_files, read_csv_series
from harness.job.discovery import accuracy_series
from harness.job.losses import (
    EVENTS_GLOB,
    METRICS_FILE,
    NO_LOSSES,
    LossSeries,
    LossSettings,
    StdoutParser,
    choose,
    csv_candidates,
    event_accuracies,
    event_candidates,
    events,
    metrics_candidate,
    parse_stdout_losses,
    read_metrics,
    read_scalars,
    read_timed_scalars,
    stdout_accuracies,
    stdout_candidates,
)
from harness.job.models import ModelFile, ModelReadError, find_models, is_checkpoint, read_model
from harness.untrusted import read_head, walk

__all__ = [
    "NO_LOSSES",
    "JobOutput",
    "LossSeries",
    "LossSettings",
    "ModelFile",
    "ModelReadError",
    "PhaseMark",
    "StdoutParser",
    "is_checkpoint",
    "parse_stdout_losses",
    "read_metrics",
    "read_model",
]


@dataclasses.dataclass(frozen=True)
class PhaseMark:
    """What the output folder looked like when a phase started."""

    event_records: dict[str, int]  # records already in each event file
    metrics_sizes: dict[str, int]  # bytes already in each metrics.jsonl and CSV log
    metrics_heads: dict[str, bytes] = dataclasses.field(default_factory=dict)  # their first bytes


class JobOutput:
    """Reads what a job wrote under its output folder (host path); `placed` are files the
    harness put there itself (a pretrained file the job's parameters point into it)."""

    def __init__(
        self,
        output_dir: Path,
        settings: LossSettings | None = None,
        placed: Iterable[Path] = (),
    ) -> None:
        self.output_dir = Path(output_dir)
        self.settings = settings or LossSettings()
        self.placed = tuple(placed)
        self.notes: list[str] = []  # what was read only in part (a metrics file past the cap)

    # ----------------------------------------------------------------------- phases

    def mark(self) -> PhaseMark:
        """Call just before a phase starts, to tell its losses from earlier phases'."""
        metrics = self._metrics_files() + csv_files(self.output_dir)
        return PhaseMark(
            {str(path): sum(1 for _ in events(path)) for path in self.event_files()},
            {str(path): os.lstat(path).st_size for path in metrics},
            {str(path): read_head(path, _HEAD_BYTES) for path in metrics},
        )

    def losses(self, log_text: str, mark: PhaseMark | None = None) -> LossSeries:
        """The phase's losses from the best source; the others are listed as candidates.
        A metrics file that cannot be read is left out, named among the candidates."""
        scalars = self.scalars(mark)
        candidates = event_candidates(scalars, self.settings)
        candidates += stdout_candidates(log_text, self.settings)
        csv_series = self.csv_series(mark)
        candidates += csv_candidates(csv_series, self.settings)
        unreadable = {}
        if not self.settings.forced:
            try:
                candidates.append(metrics_candidate(self.metrics_losses(mark)))
            except ValueError as err:
                unreadable[f"{METRICS_FILE} (unreadable: {err})"] = 0
            unreadable.update({f"{METRICS_FILE} (in part: {note})": 0 for note in self.notes})
        chosen = choose(candidates, by_behaviour=not self.settings.forced)
        accuracies = {**event_accuracies(scalars), **stdout_accuracies(log_text)}
        for name, columns in csv_series.items():
            accuracies.update(accuracy_series(columns, f"csv:{name}"))
        return dataclasses.replace(
            chosen, candidates={**chosen.candidates, **unreadable}, accuracies=accuracies
        )

    # ----------------------------------------------------------------------- events

    def _named(self, pattern: str, regular: bool) -> list[Path]:
        """Files under output_dir named like `pattern`, walked untrusted (no recursion, no
        links followed); with `regular`, only regular files (never a pipe or device)."""
        return sorted(
            path
            for path, info in walk(self.output_dir)
            if fnmatch.fnmatchcase(path.name, pattern)
            and (not regular or stat.S_ISREG(info.st_mode))
        )

    def event_files(self) -> list[Path]:
        return self._named(EVENTS_GLOB, regular=True)

    def scalars(self, mark: PhaseMark | None = None) -> dict[tuple[str, ...], dict]:
        """Scalars written after `mark`: folder (parts below output_dir) -> tag -> step -> value."""
        found: dict[tuple[str, ...], dict[str, dict[int, float]]] = {}
        for path in self.event_files():
            skip = mark.event_records.get(str(path), 0) if mark else 0
            folder = path.parent.relative_to(self.output_dir).parts
            for step, tag, value in read_scalars(path, skip):
                found.setdefault(folder, {}).setdefault(tag, {})[step] = value
        return found

    def event_times(self, tag: str, mark: PhaseMark | None = None) -> dict[int, float]:
        """When the job wrote each step of summary `tag` (its own wall clock), after `mark`."""
        times: dict[int, float] = {}
        for path in self.event_files():
            skip = mark.event_records.get(str(path), 0) if mark else 0
            for step, name, _, wall_time in read_timed_scalars(path, skip):
                if name == tag:
                    times[step] = wall_time
        return times

    # ----------------------------------------------------------------------- metrics.jsonl

    def _metrics_files(self) -> list[Path]:
        """Every file named metrics.jsonl, a link or pipe too: those are named unreadable."""
        return self._named(METRICS_FILE, regular=False)

    def metrics_losses(self, mark: PhaseMark | None = None) -> dict[int, float]:
        values: dict[int, float] = {}
        self.notes = []
        for path in self._metrics_files():
            offset = mark.metrics_sizes.get(str(path), 0) if mark else 0
            head = read_head(path, _HEAD_BYTES)
            if mark and head[:offset] != mark.metrics_heads.get(str(path), b"")[:offset]:
                offset = 0  # rewritten from the start during the phase (opened with "w")
            values.update(read_metrics(path, offset, self.notes))
        return values

    # ----------------------------------------------------------------------- CSVLogger

    def csv_series(self, mark: PhaseMark | None = None) -> dict[str, dict[str, dict[int, float]]]:
        """file (relative to output_dir) -> column -> epoch -> value, rows after `mark`."""
        found = {}
        for path in csv_files(self.output_dir):
            offset = mark.metrics_sizes.get(str(path), 0) if mark else 0
            head = read_head(path, _HEAD_BYTES)
            if mark and head[:offset] != mark.metrics_heads.get(str(path), b"")[:offset]:
                offset = 0  # rewritten from the start during the phase (CSVLogger's default)
            if columns := read_csv_series(path, offset):
                found[str(path.relative_to(self.output_dir))] = columns
        return found

    # ----------------------------------------------------------------------- models

    def models(self) -> list[ModelFile]:
        """Every model file the job saved under output_dir, oldest step first."""
        return find_models(self.output_dir, self.placed)

    def checkpoints(self) -> list[ModelFile]:
        """The TensorFlow checkpoints among them (the files restore and resume read)."""
        return [m for m in self.models() if m.kind == "TF checkpoint"]

    def latest_checkpoint(self) -> ModelFile | None:
        checkpoints = self.checkpoints()
        return checkpoints[-1] if checkpoints else None


_HEAD_BYTES = 512
