"""Training speed from a phase's timed steps (harness/speed.py)."""

from __future__ import annotations

import pytest

from harness.job import LossSeries
from harness.jobshapes import EPOCH_INDEX, EPOCHS, STEPS
from harness.speed import STRETCH_MIN_S, measure


def _series(steps, counted=None) -> LossSeries:
    kind = {} if counted is None else {"steps": counted}
    return LossSeries({s: 1.0 for s in steps}, "events:loss", **kind)


def test_the_fastest_stretch_counts_and_a_slow_burst_does_not() -> None:
    steps = range(0, 101, 10)
    times = {s: s / 10 for s in steps}  # 10 steps/s ...
    times |= {s: times[s] + 5 for s in steps if s >= 50}  # ... with a 5 s stall at step 50
    speed = measure(_series(steps), times, {}, ["--batch_size=8"])
    assert speed.steps_per_s == pytest.approx(10.0)
    assert speed.examples_per_s == pytest.approx(80.0)
    assert (speed.clock, speed.unit) == ("job events", STEPS)


def test_without_job_events_the_harness_clock_is_used() -> None:
    steps = range(0, 41, 10)
    speed = measure(_series(steps), {}, {s: s / 20 for s in steps}, [])
    assert speed.clock == "harness" and speed.examples_per_s is None
    assert speed.steps_per_s == pytest.approx(20.0)


def test_a_loss_numbered_by_epoch_is_a_speed_in_epochs() -> None:
    # Keras's epoch_loss: steps/s would be epochs/s under the wrong name, and a batch
    # size times it would be no number of examples at all.
    epochs = range(4)
    speed = measure(
        _series(epochs, EPOCH_INDEX), {e: 30.0 * e for e in epochs}, {}, ["--batch_size=32"]
    )
    assert speed.unit == EPOCHS and speed.examples_per_s is None
    assert speed.steps_per_s == pytest.approx(1 / 30)


def test_fewer_than_two_timed_steps_is_no_speed() -> None:
    assert measure(_series([5]), {5: 1.0}, {}, []) is None
    assert measure(_series([1, 2]), {1: 1.0, 2: 1.0}, {}, []) is None


@pytest.mark.parametrize(
    "flag", ["batch_size", "train-batch-size", "train_batch_size", "batch-size"]
)
def test_every_batch_flag_spelling_counts(flag) -> None:
    steps = range(0, 41, 10)
    speed = measure(_series(steps), {s: s / 10 for s in steps}, {}, [f"--{flag}=4"])
    assert speed.examples_per_s == pytest.approx(40.0)


def test_a_stretch_lasts_at_least_the_minimum_when_the_phase_does() -> None:
    # 100 steps/s for 5 s with one 30 ms burst of 3x speed: a fifth of the steps (0.1 s)
    # would time the burst; a stretch of STRETCH_MIN_S times the job.
    steps = range(0, 501, 5)
    times = {s: s / 100 for s in steps}
    times |= {s: times[s] - 0.03 for s in steps if s >= 15}
    speed = measure(_series(steps), times, {}, [])
    assert speed.seconds >= STRETCH_MIN_S
    assert speed.steps_per_s == pytest.approx(100.0, rel=0.02)


def test_a_phase_shorter_than_the_minimum_reports_its_short_stretch() -> None:
    steps = range(0, 61)
    speed = measure(_series(steps), {s: s / 1000 for s in steps}, {}, [])
    assert speed.steps_per_s == pytest.approx(1000.0)
    assert 0.012 <= speed.seconds <= 0.06  # no longer than the phase, no shorter than a fifth
