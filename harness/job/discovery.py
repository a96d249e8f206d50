"""Every scalar series a job prints, found without knowing its names first.

A job that logs `step 10, loss = 0.52` or `Epoch: 0003 cost= 12.3` names its own
series; each recurring `name = number` / `name: number` on its output is a candidate
(`harness.jobshapes.STDOUT_PAIR`), numbered by the line's own step or epoch counter
(`STDOUT_COUNTER`), or by its place among the lines naming it when there is none.
Which of them is the loss, and which corroborate it (accuracy), is decided by name
evidence elsewhere (`loss_tag`, `is_accuracy`); lines about an evaluation are skipped.
When no name says, behaviour does (`behaves_like_a_loss`): the loss is the series the
optimiser minimises - mostly positive, falling - where an accuracy rises.
"""

from __future__ import annotations

import math
import re

from harness.checks.trend import trend
from harness.jobshapes import (
    EPOCH_INDEX,
    EVAL_LINE,
    GLOBAL_STEPS,
    KERAS_PROGRESS,
    NOT_A_TRAINING_LOSS,
    PER_RUN,
    STDOUT_COUNTER,
    STDOUT_PAIR,
    STDOUT_SHAPES,
    is_accuracy,
    loss_tag,
)

_KNOWN_LINES = [re.compile(s.pattern) for s in STDOUT_SHAPES] + [KERAS_PROGRESS]
# Pairs that are bookkeeping, never a series: counters, rates, a log prefix's source
# file (`hooks.py:627]`), an environment variable (`TF_ENABLE_ONEDNN_OPTS=0`).
_NOT_A_SERIES = re.compile(
    r"\.[A-Za-z]+$|(^|_)(step|epoch|iter|iteration)$|/sec$|^sec$", re.IGNORECASE
)
_ENVIRONMENT_NAME = re.compile(r"^[A-Z][A-Z0-9]*_[A-Z0-9_]+$")


def named_stdout_series(lines: list[str]) -> dict[str, tuple[dict[int, float], str]]:
    """name -> (value per step, what the steps count) for every name logged on >= 2 lines.
    A loss-named pair on a line a known shape reads (slim, Estimator, Keras) is left to
    that shape's own candidate."""
    found: dict[str, dict[int, float]] = {}
    units: dict[str, str] = {}
    for line in lines:
        if EVAL_LINE.search(line):
            continue
        counter = STDOUT_COUNTER.search(line)
        known_line = any(p.search(line) for p in _KNOWN_LINES)
        in_line: set[str] = set()  # a name repeated within one line is no series
        for pair in STDOUT_PAIR.finditer(line):
            name = pair["name"].rstrip(".-/")
            if name in in_line:
                continue
            in_line.add(name)
            if _NOT_A_SERIES.search(name) or _ENVIRONMENT_NAME.match(name):
                continue
            if known_line and loss_tag(name):
                continue
            value = float(pair["value"])
            series = found.setdefault(name, {})
            if counter is not None:
                unit = EPOCH_INDEX if counter["unit"].lower() == "epoch" else GLOBAL_STEPS
                units.setdefault(name, unit)
                series[int(counter["count"])] = value
            else:
                units.setdefault(name, PER_RUN)
                series[len(series)] = value
    return {
        name: (dict(sorted(values.items())), units[name])
        for name, values in found.items()
        if len(values) >= 2
    }


# Series that fall without being minimised: a decaying learning rate, timings.
_SCHEDULE_OR_TIMING = re.compile(
    r"(^|[_/])(lr|learning_?rate|rate|epsilon|temperature|time|duration|seconds|sec)$",
    re.IGNORECASE,
)
MOSTLY_POSITIVE = 0.9  # of a loss's logged values


def behaves_like_a_loss(source: str, values: dict[int, float]) -> bool:
    """Whether a series no name calls a loss behaves like the one the optimiser
    minimises: not accuracy- or schedule-named, mostly positive, falling beyond its noise
    (an accuracy rises; a flat series says nothing)."""
    name = source.rsplit(":", 1)[-1]
    finite = [values[s] for s in sorted(values) if math.isfinite(values[s])]
    named_otherwise = is_accuracy(name) or NOT_A_TRAINING_LOSS.search(name)
    if named_otherwise or _SCHEDULE_OR_TIMING.search(name) or len(finite) < 4:
        return False
    if sum(v > 0 for v in finite) < MOSTLY_POSITIVE * len(finite):
        return False
    return trend(finite).falls


def accuracy_series(series: dict[str, dict[int, float]], kind: str) -> dict[str, dict[int, float]]:
    """The accuracy-like ones among named series, keyed `<kind>:<name>`."""
    return {f"{kind}:{name}": values for name, values in series.items() if is_accuracy(name)}
