"""The job protocol: the one place where the harness learns what a job did.

Any UAI-Train TensorFlow job - TF1 code in compat mode, Keras `fit`, our im2txt
trainer - is judged only from what it leaves behind, never from its private
flags or log lines:

- losses per global step, from the first source that has them: TensorBoard event
  files anywhere under output_dir (scalar tags in `loss_tags`), then its stdout in
  the common shapes (slim `global step N: loss = X`, Estimator `loss = X, step = N`,
  Keras `N/M ... loss: X` under `Epoch E/F`, or a user `loss_regex` with named
  groups `step` and `loss`), then a `metrics.jsonl` of `{"step", "loss"}` lines;
- checkpoints anywhere under output_dir: TF `checkpoint` index files and V2
  `*.index` prefixes, plus V1 single files they list, read with
  `tf.train.load_checkpoint`; a checkpoint's global step is its `-N` suffix, else
  its `global_step` variable;
- which scalar tags its summaries hold, and where its event files are.

A phase's losses are those the job logged while that phase ran: event records and
metrics lines added to the files after the phase started, and that phase's stdout.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

DEFAULT_LOSS_TAGS = ("loss", "total_loss", "TotalLoss", "losses/total_loss", "OptimizeLoss/loss")
METRICS_FILE = "metrics.jsonl"
EVENTS_GLOB = "events.out.tfevents.*"
_STEP_SUFFIX = re.compile(r"-(\d+)$")
_GLOBAL_STEP_NAMES = ("global_step", "global_step/.ATTRIBUTES/VARIABLE_VALUE")
# Entries of object-based checkpoints that are bookkeeping, not model state.
_BOOKKEEPING = re.compile(r"^_CHECKPOINTABLE_OBJECT_GRAPH$|^save_counter/")
# Leftovers of interrupted saves (ours, tf.train.Saver's, CheckpointManager's).
_PARTIAL = re.compile(r"\.tmp-save-|_temp[/_]|\.tempstate|-tmp\d*$")

STDOUT_SHAPES: dict[str, re.Pattern[str]] = {
    "slim": re.compile(r"global step\s+(?P<step>\d+)\s*:\s*loss\s*=\s*(?P<loss>[^\s(,]+)"),
    "estimator": re.compile(r"\bloss\s*=\s*(?P<loss>[^\s,]+),\s*step\s*=\s*(?P<step>\d+)"),
}
_KERAS_EPOCH = re.compile(r"^\s*Epoch (?P<epoch>\d+)/(?P<epochs>\d+)\s*$")
_KERAS_PROGRESS = re.compile(r"^\s*(?P<batch>\d+)/(?P<batches>\d+)\b.*?\bloss: (?P<loss>[^\s]+)")


@dataclasses.dataclass(frozen=True)
class LossSeries:
    """Loss per global step and where it was read (`events:<tag>`, `stdout:<shape>`, ...)."""

    values: dict[int, float]
    source: str

    def __bool__(self) -> bool:
        return bool(self.values)


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """One saved checkpoint: its path prefix (V2) or file (V1) and its global step."""

    path: Path
    step: int | None

    def reader(self):
        import tensorflow as tf

        return tf.train.load_checkpoint(str(self.path))

    def shapes(self) -> dict[str, list[int]]:
        """Variable name -> shape, bookkeeping entries left out."""
        shapes = self.reader().get_variable_to_shape_map()
        return {n: list(s) for n, s in shapes.items() if not _BOOKKEEPING.search(n)}

    def values(self, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Numeric variable values by name (all of them, or `names`)."""
        reader = self.reader()
        wanted = names if names is not None else list(self.shapes())
        out = {}
        for name in wanted:
            value = np.asarray(reader.get_tensor(name))
            if value.dtype.kind in "biuf":
                out[name] = value
        return out


@dataclasses.dataclass(frozen=True)
class PhaseMark:
    """What the output folder looked like when a phase started."""

    event_records: dict[str, int]  # records already in each event file
    metrics_sizes: dict[str, int]  # bytes already in each metrics.jsonl


@dataclasses.dataclass(frozen=True)
class LossSettings:
    """How to find a job's loss: summary tags to read and an optional stdout regex."""

    tags: tuple[str, ...] = DEFAULT_LOSS_TAGS
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


class JobOutput:
    """Reads what a job wrote under its output folder (host path)."""

    def __init__(self, output_dir: Path, settings: LossSettings = LossSettings()) -> None:
        self.output_dir = Path(output_dir)
        self.settings = settings

    # ----------------------------------------------------------------------- phases

    def mark(self) -> PhaseMark:
        """Call just before a phase starts, to tell its losses from earlier phases'."""
        return PhaseMark(
            {str(path): sum(1 for _ in _events(path)) for path in self.event_files()},
            {str(path): path.stat().st_size for path in self._metrics_files()},
        )

    def losses(self, log_text: str, mark: PhaseMark | None = None) -> LossSeries:
        """The phase's losses from the first source that has any."""
        for series in (
            self.event_losses(mark),
            parse_stdout_losses(log_text, self.settings.regex),
            self.metrics_losses(mark),
        ):
            if series:
                return series
        return LossSeries({}, "none")

    # ----------------------------------------------------------------------- events

    def event_files(self) -> list[Path]:
        return sorted(self.output_dir.rglob(EVENTS_GLOB)) if self.output_dir.is_dir() else []

    def scalars(self, mark: PhaseMark | None = None) -> dict[str, dict[int, float]]:
        """Scalar summaries under output_dir (those written after `mark`): tag -> step -> value."""
        found: dict[str, dict[int, float]] = {}
        for path in self.event_files():
            skip = mark.event_records.get(str(path), 0) if mark else 0
            for step, tag, value in _read_scalars(path, skip):
                found.setdefault(tag, {})[step] = value
        return found

    def event_losses(self, mark: PhaseMark | None = None) -> LossSeries:
        scalars = self.scalars(mark)
        for tag in self.settings.tags:
            if scalars.get(tag):
                return LossSeries(dict(sorted(scalars[tag].items())), f"events:{tag}")
        return LossSeries({}, "events")

    # ----------------------------------------------------------------------- metrics.jsonl

    def _metrics_files(self) -> list[Path]:
        return sorted(self.output_dir.rglob(METRICS_FILE)) if self.output_dir.is_dir() else []

    def metrics_losses(self, mark: PhaseMark | None = None) -> LossSeries:
        values: dict[int, float] = {}
        for path in self._metrics_files():
            offset = mark.metrics_sizes.get(str(path), 0) if mark else 0
            values.update(read_metrics(path, offset))
        return LossSeries(dict(sorted(values.items())), METRICS_FILE)

    # ----------------------------------------------------------------------- checkpoints

    def checkpoints(self) -> list[Checkpoint]:
        """Complete checkpoints under output_dir, oldest step first (unknown steps first)."""
        prefixes: set[Path] = set()
        if not self.output_dir.is_dir():
            return []
        for index in self.output_dir.rglob("*.index"):
            prefixes.add(index.with_suffix(""))
        for state in self.output_dir.rglob("checkpoint"):
            if state.is_file():
                prefixes.update(_listed_v1_files(state))
        found = [
            Checkpoint(path, _step_of(path))
            for path in prefixes
            if not _PARTIAL.search(path.name) and is_checkpoint(path)
        ]
        return sorted(found, key=lambda c: (c.step is not None, c.step or 0, str(c.path)))

    def latest_checkpoint(self) -> Checkpoint | None:
        checkpoints = self.checkpoints()
        return checkpoints[-1] if checkpoints else None


# --------------------------------------------------------------------------- readers


class StdoutParser:
    """Reads loss lines one at a time, in any of the common shapes (or `regex`), keeping
    the Keras epoch counter between lines; the console shows live progress with it."""

    def __init__(self, regex: str | None = None) -> None:
        self._patterns = {"--loss-regex": re.compile(regex)} if regex is not None else STDOUT_SHAPES
        self._epoch: int | None = None
        self.shape: str | None = None  # the shape of the first line that matched

    def feed(self, line: str) -> tuple[int, float] | None:
        """(global step, loss) when the line reports one."""
        for shape, pattern in self._patterns.items():
            if (match := pattern.search(line)) and (loss := _float(match["loss"])) is not None:
                return self._found(shape, int(match["step"]), loss)
        if header := _KERAS_EPOCH.match(line):
            self._epoch = int(header["epoch"])
        elif self._epoch is not None and (progress := _KERAS_PROGRESS.match(line)):
            loss = _float(progress["loss"])
            if loss is not None:
                step = (self._epoch - 1) * int(progress["batches"]) + int(progress["batch"])
                return self._found("keras", step, loss)
        return None

    def _found(self, shape: str, step: int, loss: float) -> tuple[int, float]:
        self.shape = self.shape or shape
        return step, loss


def parse_stdout_losses(log_text: str, regex: str | None = None) -> LossSeries:
    """Losses from a job's output: `regex` when given, else the common shapes. Keras
    rewrites its progress line with carriage returns; each rewrite counts as a line."""
    parser = StdoutParser(regex)
    values: dict[int, float] = {}
    for line in log_text.replace("\r", "\n").splitlines():
        if found := parser.feed(line):
            values[found[0]] = found[1]
    return LossSeries(dict(sorted(values.items())), f"stdout:{parser.shape or 'none'}")


def _float(text: str) -> float | None:
    try:
        return float(text.rstrip(".,;"))
    except ValueError:
        return None


def read_metrics(path: str | os.PathLike[str], offset: int = 0) -> dict[int, float]:
    """Loss per step from a `metrics.jsonl`, from byte `offset` on.

    A last line without its newline is a write cut short by a kill and is ignored;
    a bad line anywhere else is a ValueError naming file and line.
    """
    with open(path, "rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode("utf-8", errors="replace").split("\n")
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


def _events(path: Path) -> Iterator:
    """The events of one file; a file cut short by a kill yields what was complete."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    try:
        for raw in tf.data.TFRecordDataset(str(path)):
            yield event_pb2.Event.FromString(raw.numpy())
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError):
        return


def _read_scalars(path: Path, skip: int = 0) -> Iterator[tuple[int, str, float]]:
    """(step, tag, value) of every scalar in one event file after its first `skip` records."""
    for index, event in enumerate(_events(path)):
        if index < skip:
            continue
        for value in event.summary.value:
            scalar = _scalar(value)
            if scalar is not None:
                yield int(event.step), value.tag, scalar


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


def _listed_v1_files(state: Path) -> set[Path]:
    """Files a TF1 `checkpoint` index lists that are single V1 checkpoint files."""
    listed = set()
    for line in state.read_text(errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip() not in ("model_checkpoint_path", "all_model_checkpoint_paths"):
            continue
        path = Path(value.strip().strip('"'))
        path = path if path.is_absolute() else state.parent / path
        if not path.exists():  # an absolute path from another machine: same name, this folder
            path = state.parent / path.name
        if path.is_file() and not path.with_name(path.name + ".index").exists():
            listed.add(path)
    return listed


def is_checkpoint(path: Path) -> bool:
    """Whether `tf.train.load_checkpoint` opens `path` (a V1 file or a V2 prefix)."""
    import tensorflow as tf

    try:
        tf.train.load_checkpoint(str(path))
    except (tf.errors.OpError, ValueError):
        return False
    return True


def _step_of(path: Path) -> int | None:
    if match := _STEP_SUFFIX.search(path.name):
        return int(match.group(1))
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(path))
    names = reader.get_variable_to_shape_map()
    for name in _GLOBAL_STEP_NAMES:
        if name in names:
            value = reader.get_tensor(name)
            if np.asarray(value).size == 1 and math.isfinite(float(value)):
                return int(value)
    return None
