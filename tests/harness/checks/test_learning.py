"""loss_decrease at and around its thresholds (harness/checks/learning.py).

Expected verdicts are worked out by hand from the stated rule: medians of a fifth of
the logged losses, a required drop, and no more than half of the drop given back.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from harness.checks import loss_decrease as learning
from harness.record import FAILED, PASSED


def _curve(first: float, last: float, n: int = 10) -> dict[int, float]:
    """n losses: the first fifth at `first`, the last fifth at `last`, linear between."""
    values = np.linspace(first, last, n)
    window = max(2, n // 5)
    values[:window], values[-window:] = first, last
    return {step + 1: float(v) for step, v in enumerate(values)}


def test_loss_exactly_at_the_required_drop_passes_and_just_above_fails() -> None:
    assert learning.check_loss_decrease(_curve(4.0, 3.0), "s", 0.25).status == PASSED
    assert learning.check_loss_decrease(_curve(4.0, 3.001), "s", 0.25).status == FAILED


def test_the_verdict_states_medians_threshold_and_source() -> None:
    result = learning.check_loss_decrease(_curve(2.0, 1.0), "events:loss", 0.25)
    assert "from 2.0000" in result.message and "to 1.0000" in result.message
    assert "required <= 1.5000, a 25% drop" in result.message
    assert "events:loss" in result.message


@settings(max_examples=50, deadline=None)
@given(first=st.floats(0.1, 100), ratio=st.floats(0.0, 2.0), scale=st.floats(0.01, 100))
def test_the_verdict_follows_the_ratio_whatever_the_loss_scale(first, ratio, scale) -> None:
    assume(abs(ratio - 0.75) > 1e-6)  # exactly at the threshold, rounding decides
    expected = PASSED if ratio < 0.75 else FAILED
    for factor in (1.0, scale):
        curve = _curve(first * factor, first * ratio * factor)
        assert learning.check_loss_decrease(curve, "s").status == expected


def test_non_finite_and_too_few_losses_fail_with_the_reason() -> None:
    nan = learning.check_loss_decrease({1: 1.0, 2: float("nan"), 3: 0.5, 4: 0.1}, "s")
    assert nan.status == FAILED and "not finite at step 2" in nan.message
    few = learning.check_loss_decrease({1: 1.0, 2: 0.5, 3: 0.1}, "stdout:slim")
    assert few.status == FAILED and "found 3 logged losses" in few.message


def test_a_negative_loss_that_falls_passes() -> None:
    assert learning.check_loss_decrease(_curve(-1.0, -2.0), "s").status == PASSED


def test_a_loss_that_climbs_over_the_last_steps_has_not_learned() -> None:
    # 20 steps: falls 10 -> 2 over 12 steps, then climbs to 6 over the last 8. The last
    # fifth (median 5.5) is still 39% under the first (9.3), yet it gave back over half.
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
