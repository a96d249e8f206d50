"""How fast a job trains, and how fast the machine it ran on is, so speeds compare.

A phase's speed is the steps per second of its fastest stretch of logged steps (a fifth
of them, at least three intervals, and at least `STRETCH_MIN_S` long where the phase
lasted that long): what the job does when nothing else slows it, so a neighbour's burst
on a shared machine, a checkpoint save or the first step's graph building do not count,
while a step that is slower by itself slows every stretch. A stretch shorter than that
is still reported, with its length: over a few milliseconds a pause of the scheduler
weighs as much as the job, and the regression gate does not fail a slowdown that such a
pause could explain. It
is timed by the job's own clock where it writes one (the wall time of each summary
event), else by when each loss line reached the harness; with the job's batch size
(`--batch_size` and the like) it is also examples per second. The machine's speed -
small float32 matrix products driven from Python, the best of a few tries on each CPU
- is measured in the same run, and the regression gate compares speeds per GFLOP/s of it.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable, Sequence

import numpy as np

from harness.job import LossSeries, StdoutParser
from harness.jobshapes import BATCH_FLAGS, EPOCH_INDEX, EPOCHS, STEPS
from harness.params import flag_value

_MATRIX = 48
_REPEATS = 3000
# Seconds a timed stretch needs before its speed says something about the job: a
# scheduler's time slice on a busy 2-core machine is tens of milliseconds.
STRETCH_MIN_S = 2.0


@dataclasses.dataclass(frozen=True)
class Speed:
    """`steps_per_s` counts what the loss's step numbers count: `unit` says which (a
    Keras `epoch_loss` numbers epochs, and then no examples/s can be told)."""

    steps_per_s: float
    examples_per_s: float | None
    clock: str  # "job events" or "harness"
    unit: str = STEPS
    seconds: float | None = None  # how long the timed stretch lasted


def machine_gflops(rounds: int = 3) -> float:
    """GFLOP/s of a fixed loop of small float32 matrix products, best of `rounds` on each
    CPU this process may use, averaged over them (virtual CPUs of one machine can differ
    by half: a job's threads run on all of them)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not cpus:
        return _gflops_here(rounds)
    speeds = []
    try:
        for cpu in cpus[:8]:
            os.sched_setaffinity(0, {cpu})
            speeds.append(_gflops_here(rounds))
    finally:
        os.sched_setaffinity(0, set(cpus))
    return sum(speeds) / len(speeds)


def _gflops_here(rounds: int) -> float:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, _MATRIX, _MATRIX)).astype(np.float32)
    product = np.empty_like(a)  # the same finite inputs every time: no denormals, no zeros
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(_REPEATS):
            np.matmul(a, b, out=product)
        best = min(best, time.perf_counter() - started)
    return 2 * _MATRIX**3 * _REPEATS / best / 1e9


def line_times(stamped: Iterable[tuple[float, str]], regex: str | None) -> dict[int, float]:
    """Step -> when its loss line arrived, from (time, line) pairs."""
    parser = StdoutParser.for_regex(regex)
    times: dict[int, float] = {}
    for when, line in stamped:
        if found := parser.feed(line):
            times.setdefault(found[0], when)
    return times


def measure(
    losses: LossSeries,
    event_times: dict[int, float],
    arrival_times: dict[int, float],
    params: Sequence[str],
) -> Speed | None:
    """The phase's fastest stretch of timed steps; None when fewer than two were timed."""
    times, clock = (
        (event_times, "job events") if len(event_times) >= 2 else (arrival_times, "harness")
    )
    steps = sorted(s for s in times if s in losses.values) or sorted(times)
    if len(steps) < 2:
        return None
    stretches = list(_stretches(steps, times))
    long_enough = [stretch for stretch in stretches if stretch[1] >= STRETCH_MIN_S]
    if not stretches:
        return None
    rate, seconds = max(long_enough or stretches)
    if losses.steps == EPOCH_INDEX:
        return Speed(rate, None, clock, EPOCHS, seconds)
    given = (flag_value(params, known.name) for known in BATCH_FLAGS)
    batch = next((value for value in given if value), None)
    examples = rate * int(batch) if batch and batch.isdigit() else None
    return Speed(rate, examples, clock, STEPS, seconds)


def _stretches(steps: list[int], times: dict[int, float]) -> Iterable[tuple[float, float]]:
    """(steps/s, seconds) of each stretch from each timed step: at least a fifth of the
    steps and `STRETCH_MIN_S` long, or as long as the steps that follow it reach."""
    width = min(len(steps) - 1, max(3, len(steps) // 5))
    end = 0
    for i in range(len(steps) - width):
        end = max(end, i + width)  # a later start needs no earlier end: one pass
        while end < len(steps) - 1 and times[steps[end]] - times[steps[i]] < STRETCH_MIN_S:
            end += 1
        seconds = times[steps[end]] - times[steps[i]]
        if seconds > 0:
            yield (steps[end] - steps[i]) / seconds, seconds
