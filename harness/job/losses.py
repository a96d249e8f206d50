"""A job's training loss per step: every series it logs is discovered, then one is chosen.

Sources (`harness.jobshapes`): every scalar summary in event files anywhere under
output_dir (evaluation folders such as `eval/` or `validation/` are never read), the
job's output - its known shapes (`STDOUT_SHAPES`, Keras progress lines; ANSI styling
stripped first) and every recurring `name = number` (`harness.job.discovery`) -
`metrics.jsonl` lines and the columns of Keras CSVLogger files (`harness.job.csvlog`).
Every series is a listed candidate; those a name says are a loss
(`LOSS_TAGS`, case aside) compete: the winner names the job's total loss (tier 1
before a part of it such as a cross-entropy), then counts global steps (Keras numbers
its `epoch_loss` by epoch and its `batch_loss` anew in every run: a rerun's steps could
not be told from a restart), then has the most points in the phase, then is the most
precise (events, then metrics.jsonl, then CSV, then stdout). Accuracy-named series ride along as
corroboration. When no name says which is the loss, the one series that behaves like
one (falls, mostly positive; `behaves_like_a_loss`) is chosen and said to be chosen by
behaviour. A user's `--loss-tag` (a tag or a printed name) or `--loss-regex`
replaces the automatic choice.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from harness.job.discovery import accuracy_series, behaves_like_a_loss, named_stdout_series
from harness.jobshapes import (
    ANSI_ESCAPE,
    EPOCH_INDEX,
    GLOBAL_STEPS,
    KERAS_EPOCH,
    KERAS_PROGRESS,
    LOSS_TAGS,
    STDOUT_SHAPES,
    is_eval_folder,
    loss_tag,
)
from harness.untrusted import read_bounded

METRICS_FILE = "metrics.jsonl"
EVENTS_GLOB = "events.out.tfevents.*"
_KIND_ORDER = {"events": 0, "metrics.jsonl": 1, "csv": 2, "stdout": 3}


@dataclasses.dataclass(frozen=True)
class LossSeries:
    """Loss per step and where it was read (`events:<tag>`, `stdout:<shape>`, ...), with
    every candidate source seen and its number of points."""

    values: dict[int, float]
    source: str
    candidates: dict[str, int] = dataclasses.field(default_factory=dict)
    steps: str = GLOBAL_STEPS  # what the step numbers count (`harness.jobshapes.LossTag`)
    # Accuracy-like series the job logged beside it (`events:<tag>`, `stdout:<name>`):
    # what corroborates that a falling loss is learning.
    accuracies: dict[str, dict[int, float]] = dataclasses.field(default_factory=dict)
    # "name" (a name says it is a loss) or "behaviour" (no name did: the one series that
    # falls and stays positive, `harness.job.discovery.behaves_like_a_loss`)
    chosen_by: str = "name"

    def __bool__(self) -> bool:
        return bool(self.values)

    def describe(self) -> str:
        others = {s: n for s, n in self.candidates.items() if s != self.source}
        seen = ", ".join(f"{s} ({n})" for s, n in others.items())
        return self.source + (f"; also seen: {seen}" if seen else "")


NO_LOSSES = LossSeries({}, "none")


@dataclasses.dataclass(frozen=True)
class LossSettings:
    """A user's own loss sources, replacing the automatic ones: summary tags, a regex."""

    tags: tuple[str, ...] = ()
    regex: str | None = None

    def __post_init__(self) -> None:
        if self.regex is not None:
            try:
                pattern = re.compile(self.regex)
            except re.error as err:
                raise ValueError(f"--loss-regex {self.regex!r} is not a regex: {err}") from err
            if not {"step", "loss"} <= set(pattern.groupindex):
                raise ValueError(
                    f"--loss-regex {self.regex!r} needs the named groups (?P<step>...) "
                    "and (?P<loss>...)"
                )

    @property
    def forced(self) -> bool:
        return bool(self.tags) or self.regex is not None


@dataclasses.dataclass(frozen=True)
class _Candidate:
    series: LossSeries
    tier: int | None  # None: listed, never chosen (no name says it is a loss)
    kind: str
    preference: int = 0  # among equals, the earlier known tag (a total before a clone's loss)

    def rank(self) -> tuple:
        counted = self.series.steps != GLOBAL_STEPS
        points = -len(self.series.values)
        return (self.tier, counted, points, _KIND_ORDER[self.kind], self.preference)


def choose(candidates: list[_Candidate], by_behaviour: bool = False) -> LossSeries:
    """The winning loss-named candidate, carrying the list of every candidate seen (those
    no name says are a loss too, so a user can name one with --loss-tag). With
    `by_behaviour`, when no name says which is the loss, the one series (by name, in any
    source) that behaves like a loss; several or none: no choice."""
    seen = {c.series.source: len(c.series.values) for c in candidates if c.series}
    present = [c for c in candidates if c.series and c.tier is not None]
    chosen_by = "name"
    if not present and by_behaviour:
        present = [
            c
            for c in candidates
            if c.series and behaves_like_a_loss(c.series.source, c.series.values)
        ]
        chosen_by = "behaviour"
        if len({c.series.source.rsplit(":", 1)[-1] for c in present}) != 1:
            present = []
    if not present:
        return LossSeries({}, "none", seen)
    best = min(present, key=lambda c: c.rank()[1:] if chosen_by == "behaviour" else c.rank())
    return dataclasses.replace(best.series, candidates=seen, chosen_by=chosen_by)


def _tier(name: str, settings: LossSettings) -> int | None:
    """A series' tier as a loss: 1 when the user named it, else its name's (None: none)."""
    if name in settings.tags:
        return 1
    known = None if settings.forced else loss_tag(name)
    return known.tier if known else None


def event_candidates(
    scalars: dict[tuple[str, ...], dict[str, dict[int, float]]], settings: LossSettings
) -> list[_Candidate]:
    """One candidate per loss tag, merged over the non-evaluation folders holding it."""
    merged: dict[str, dict[int, float]] = {}
    for folder, tags in scalars.items():
        if is_eval_folder(folder):
            continue
        for tag, values in tags.items():
            merged.setdefault(tag, {}).update(values)
    found = []
    for tag, values in merged.items():
        known = loss_tag(tag)
        steps = known.steps if known else GLOBAL_STEPS
        tier = _tier(tag, settings)
        series = LossSeries(dict(sorted(values.items())), f"events:{tag}", steps=steps)
        preference = LOSS_TAGS.index(known) if known else 0
        found.append(_Candidate(series, tier, "events", preference))
    return found


def event_accuracies(
    scalars: dict[tuple[str, ...], dict[str, dict[int, float]]],
) -> dict[str, dict[int, float]]:
    """The accuracy-like training series among the event files' scalars."""
    merged: dict[str, dict[int, float]] = {}
    for folder, tags in scalars.items():
        if not is_eval_folder(folder):
            for tag, values in tags.items():
                merged.setdefault(tag, {}).update(values)
    return accuracy_series(merged, "events")


def stdout_candidates(log_text: str, settings: LossSettings) -> list[_Candidate]:
    """One candidate per known shape (a --loss-regex replaces them all, Keras progress
    lines included) and one per name the job prints (a --loss-tag names it)."""
    lines = clean_lines(log_text)
    shapes = [StdoutParser({s.name: re.compile(s.pattern)}, keras=False) for s in STDOUT_SHAPES]
    parsers = (
        [StdoutParser.for_regex(settings.regex)]
        if settings.regex is not None
        else []
        if settings.forced
        else [*shapes, StdoutParser({}, keras=True)]
    )
    found = []
    for parser in parsers:
        values = {}
        for line in lines:
            if hit := parser.feed(line):
                values[hit[0]] = hit[1]
        if values:
            source = f"stdout:{parser.shape}"
            found.append(_Candidate(LossSeries(dict(sorted(values.items())), source), 1, "stdout"))
    if settings.regex is None:
        for name, (values, steps) in named_stdout_series(lines).items():
            known = loss_tag(name)
            tier = (
                1 if name in settings.tags else None if settings.forced or not known else known.tier
            )
            series = LossSeries(values, f"stdout:{name}", steps=steps)
            found.append(_Candidate(series, tier, "stdout"))
    return found


def csv_candidates(
    files: dict[str, dict[str, dict[int, float]]], settings: LossSettings
) -> list[_Candidate]:
    """One candidate per column of each CSVLogger file (`csv:<file>:<column>`), by epoch."""
    found = []
    for name, columns in files.items():
        for column, values in columns.items():
            series = LossSeries(
                dict(sorted(values.items())), f"csv:{name}:{column}", steps=EPOCH_INDEX
            )
            found.append(_Candidate(series, _tier(column, settings), "csv"))
    return found


def stdout_accuracies(log_text: str) -> dict[str, dict[int, float]]:
    """The accuracy-like series the job prints."""
    named = named_stdout_series(clean_lines(log_text))
    return accuracy_series({name: values for name, (values, _) in named.items()}, "stdout")


def clean_lines(log_text: str) -> list[str]:
    """A log's lines without ANSI styling; Keras's carriage-return rewrites count as lines."""
    return ANSI_ESCAPE.sub("", log_text).replace("\r", "\n").splitlines()


class StdoutParser:
    """Reads loss lines one at a time in the given shapes (Keras's with `keras`), keeping
    the Keras epoch counter between lines; the console shows live progress with it."""

    def __init__(self, patterns: dict[str, re.Pattern[str]] | None = None, keras: bool = True):
        self._patterns = (
            patterns
            if patterns is not None
            else {shape.name: re.compile(shape.pattern) for shape in STDOUT_SHAPES}
        )
        self._keras = keras
        self._epoch: int | None = None
        self.shape: str | None = None  # the shape of the first line that matched

    @classmethod
    def for_regex(cls, regex: str | None) -> StdoutParser:
        """The parser of a user's --loss-regex, else of every common shape."""
        if regex is None:
            return cls()
        return cls({"--loss-regex": re.compile(regex)}, keras=False)

    def feed(self, line: str) -> tuple[int, float] | None:
        """(step, loss) when the line reports one."""
        line = ANSI_ESCAPE.sub("", line)
        for shape, pattern in self._patterns.items():
            if (match := pattern.search(line)) and (loss := _float(match["loss"])) is not None:
                return self._found(shape, int(match["step"]), loss)
        if not self._keras:
            return None
        if header := KERAS_EPOCH.match(line):
            self._epoch = int(header["epoch"])
        elif self._epoch is not None and (progress := KERAS_PROGRESS.match(line)):
            loss = _float(progress["loss"])
            if loss is not None:
                step = (self._epoch - 1) * int(progress["batches"]) + int(progress["batch"])
                return self._found("keras", step, loss)
        return None

    def _found(self, shape: str, step: int, loss: float) -> tuple[int, float]:
        self.shape = self.shape or shape
        return step, loss


def parse_stdout_losses(log_text: str, regex: str | None = None) -> LossSeries:
    """The best stdout series of a log (a user's regex, else the common shapes)."""
    return choose(stdout_candidates(log_text, LossSettings(regex=regex)))


def _float(text: str) -> float | None:
    try:
        return float(text.rstrip(".,;"))
    except ValueError:
        return None


def read_metrics(
    path: str | os.PathLike[str], offset: int = 0, notes: list[str] | None = None
) -> dict[int, float]:
    """Loss per step from a `metrics.jsonl`, from byte `offset` on.

    A last line without its newline is a write cut short by a kill and is ignored;
    a bad line anywhere else is a ValueError naming file and line. The file is read
    untrusted (`harness.untrusted`): a link, pipe or device is a ValueError, and only
    its first `TEXT_LIMIT` bytes are read, said in `notes`.
    """
    try:
        data, size = read_bounded(Path(path), offset)
    except OSError as err:
        raise ValueError(f"{path}: {err.strerror or err}") from err
    if size - offset > len(data) and notes is not None:
        notes.append(f"{path}: read {len(data)} of its {size - offset} new bytes")
    lines = data.decode("utf-8", errors="replace").split("\n")
    losses: dict[int, float] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            losses[int(row["step"])] = float(row["loss"])
        except (ValueError, KeyError, TypeError) as error:
            if number == len(lines):
                break
            raise ValueError(
                f"{path}: line {number} after byte {offset} is not a metrics line"
            ) from error
    return losses


def metrics_candidate(values: dict[int, float]) -> _Candidate:
    return _Candidate(LossSeries(dict(sorted(values.items())), METRICS_FILE), 1, "metrics.jsonl")


def events(path: Path) -> Iterator:
    """The events of one file; a file cut short by a kill yields what was complete."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    try:
        for raw in tf.data.TFRecordDataset(str(path)):
            yield event_pb2.Event.FromString(raw.numpy())
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError):
        return


def read_scalars(path: Path, skip: int = 0) -> Iterator[tuple[int, str, float]]:
    """(step, tag, value) of every scalar in one event file after its first `skip` records."""
    for step, tag, value, _ in read_timed_scalars(path, skip):
        yield step, tag, value


def read_timed_scalars(path: Path, skip: int = 0) -> Iterator[tuple[int, str, float, float]]:
    """(step, tag, value, wall time) of every scalar after the file's first `skip` records."""
    for index, event in enumerate(events(path)):
        if index < skip:
            continue
        for value in event.summary.value:
            scalar = _scalar(value)
            if scalar is not None:
                yield int(event.step), value.tag, scalar, float(event.wall_time)


def _scalar(value) -> float | None:
    """A summary value's number: TF1 `simple_value`, or a TF2 scalar tensor."""
    if value.HasField("simple_value"):
        return float(value.simple_value)
    if value.HasField("tensor"):
        import tensorflow as tf

        array = tf.make_ndarray(value.tensor)
        if array.size == 1 and array.dtype.kind in "fiu":
            return float(array.reshape(()))
    return None
