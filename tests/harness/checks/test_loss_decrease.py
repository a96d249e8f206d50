"""loss_decrease at and around its rule (harness/checks/loss_decrease.py, trend.py).

A trend against the run's own noise: a Mann-Kendall test on the order of the losses and
a fall of the last fifth's median below the first's by more than twice the step noise;
a series that gives back over a third of its drop fails; an accuracy that stays where
it started, or a negative cross-entropy, fail a falling loss; too few points warn.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checks import loss_decrease as learning
from harness.checks.trend import trend
from harness.record import FAILED, PASSED, WARNING


def _curve(first: float, last: float, n: int = 10) -> dict[int, float]:
    """n losses: the first fifth at `first`, the last fifth at `last`, linear between."""
    values = np.linspace(first, last, n)
    window = max(2, n // 5)
    values[:window], values[-window:] = first, last
    return {step + 1: float(v) for step, v in enumerate(values)}


def _noisy(start: float, end: float, noise: float, n: int, seed: int = 0) -> dict[int, float]:
    rng = np.random.default_rng(seed)
    values = np.linspace(start, end, n) + noise * rng.standard_normal(n)
    return {step + 1: float(v) for step, v in enumerate(values)}


def test_a_slow_keras_learner_passes() -> None:
    """Kind 3 of the foreign-job corpus: 2.28 -> 1.71 in 16 logged steps (24.8%) failed
    the old fixed 25% drop; it was learning."""
    losses = dict(enumerate(np.geomspace(2.28, 1.71, 16).tolist(), start=1))
    result = learning.check_loss_decrease(losses, "stdout:keras")
    assert result.status == PASSED, result.message
    assert "Mann-Kendall" in result.message and "stdout:keras" in result.message


@settings(max_examples=30, deadline=None)
@given(level=st.floats(0.01, 100), seed=st.integers(0, 10_000))
def test_a_flat_noisy_series_fails_whatever_its_scale(level: float, seed: int) -> None:
    """Learning rate 0: the loss wanders around one level; no fixed threshold involved."""
    result = learning.check_loss_decrease(_noisy(level, level, 0.05 * level, 60, seed), "s")
    assert result.status == FAILED and "no learning" in result.message


@settings(max_examples=30, deadline=None)
@given(level=st.floats(0.01, 100), drop=st.floats(0.05, 0.9), seed=st.integers(0, 10_000))
def test_a_fall_well_beyond_the_noise_passes_however_small(level, drop, seed) -> None:
    noise = 0.05 * drop * level  # the fall is 20 noise deviations
    losses = _noisy(level, level * (1 - drop), noise, 50, seed)
    assert learning.check_loss_decrease(losses, "s").status == PASSED


def test_rising_and_jitter_only_series_fail() -> None:
    assert learning.check_loss_decrease(_curve(1.0, 2.0), "s").status == FAILED
    jitter = {s: 1.0 - 1e-6 * s for s in range(1, 30)}  # falls, but by a float's jitter
    assert learning.check_loss_decrease(jitter, "s").status == FAILED


def test_a_user_required_drop_is_held_as_well() -> None:
    assert learning.check_loss_decrease(_curve(4.0, 3.0), "s", 0.25).status == PASSED
    short = learning.check_loss_decrease(_curve(4.0, 3.001), "s", 0.25)
    assert short.status == FAILED and "required <= 3.0000, a 25% drop" in short.message


def test_non_finite_fails_and_too_few_losses_only_warn_naming_the_candidates() -> None:
    nan = learning.check_loss_decrease({1: 1.0, 2: float("nan"), 3: 0.5, 4: 0.1}, "s")
    assert nan.status == FAILED and "not finite at step 2" in nan.message
    few = learning.check_loss_decrease(
        {100: 1.0, 200: 0.5}, "events:loss", candidates={"events:loss": 2, "stdout:acc": 20}
    )
    assert few.status == WARNING
    assert "could not judge" in few.message and "stdout:acc (20)" in few.message
    assert "--loss-tag" in few.message


def test_a_negative_loss_that_falls_passes_but_a_negative_cross_entropy_fails() -> None:
    assert learning.check_loss_decrease(_curve(-1.0, -2.0), "s").status == PASSED
    xent = learning.check_loss_decrease(_curve(1.0, -2.0), "events:cross_entropy")
    assert xent.status == FAILED and "cross-entropy went negative" in xent.message


def test_a_falling_loss_with_accuracy_at_chance_fails_naming_both() -> None:
    """Kind 6: a cross-entropy on logits falls while accuracy stays at chance."""
    accuracy = {"stdout:accuracy": _noisy(0.25, 0.25, 0.02, 20, seed=1)}
    result = learning.check_loss_decrease(_curve(2.0, 0.5, 20), "stdout:loss", None, accuracy)
    assert result.status == FAILED
    assert "stdout:accuracy stayed at" in result.message and "stdout:loss" in result.message
    rising = {"stdout:accuracy": _curve(0.25, 0.8, 20)}
    assert learning.check_loss_decrease(_curve(2.0, 0.5, 20), "s", None, rising).passed
    saturated = {"stdout:accuracy": {s: 1.0 for s in range(1, 21)}}
    assert learning.check_loss_decrease(_curve(2.0, 0.5, 20), "s", None, saturated).passed


def test_a_loss_that_climbs_over_the_last_steps_has_not_learned() -> None:
    # 20 steps: falls 10 -> 2 over 12 steps, then climbs to 6 over the last 8.
    falling = np.linspace(10.0, 2.0, 12)
    climbing = np.linspace(2.5, 6.0, 8)
    losses = {s + 1: float(v) for s, v in enumerate([*falling, *climbing])}
    result = learning.check_loss_decrease(losses, "stdout:slim")
    assert result.status == FAILED
    assert "climbed back" in result.message and "gave back" in result.message


def test_one_huge_first_loss_then_a_flat_line_has_not_learned() -> None:
    losses = {1: 100.0, **{s: 2.0 for s in range(2, 21)}}
    result = learning.check_loss_decrease(losses, "events:loss")
    assert result.status == FAILED and "from 2.0000 to 2.0000" in result.message


def test_a_noisy_plateau_after_a_clear_drop_passes() -> None:
    rng = np.random.default_rng(3)
    curve = np.concatenate([np.linspace(3.0, 0.5, 30), 0.5 + 0.05 * rng.standard_normal(70)])
    result = learning.check_loss_decrease({s + 1: float(v) for s, v in enumerate(curve)}, "s")
    assert result.status == PASSED, result.message


def test_the_mann_kendall_p_values_are_exact_for_short_series_and_long_ones_are_thinned() -> None:
    assert trend([4.0, 3.0, 2.0, 1.0]).p_down == 1 / 24  # one ordering of 24 is this low
    assert trend([1.0, 2.0, 3.0, 4.0]).p_up == 1 / 24
    long = trend(list(np.linspace(10, 1, 5000)))
    assert long.n == 5000 and long.p_down < 1e-6
