"""Learning: the job's loss is finite, falls clearly over its training, and stays down.

Levels are medians of each fifth of the logged losses (at least two per fifth), so
one outlying first loss cannot pass a flat run. The run must end at least
`required_drop` below where it started, and must not give back more than a third of
what it gained - by more than twice the noise of its last fifth: a loss that fell and
then climbed through the last part of the run has not learned.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import TYPE_CHECKING

from harness.checks.phases import TRAIN
from harness.defaults import REQUIRED_DROP
from harness.record import CheckResult

if TYPE_CHECKING:
    from harness.scenario.evidence import Evidence

NAME = "loss_decrease"
PHASES = (TRAIN,)
MIN_LOSSES = 4
# Of the drop from the first fifth to the best fifth, how much the last fifth may lose.
MAX_GIVEN_BACK = 1 / 3
# ... and by how many times the spread of its own losses (a plateau's noise is no climb).
NOISE_MARGIN = 2.0


def _levels(values: list[float], window: int) -> list[float]:
    """Medians of consecutive runs of `window` losses, the first and the last one aligned
    to the series' two ends."""
    starts = list(range(0, len(values) - window + 1, window))
    if starts[-1] != len(values) - window:
        starts.append(len(values) - window)
    return [statistics.median(values[i : i + window]) for i in starts]


def _spread(values: list[float]) -> float:
    """The noise of a run of losses: their median absolute deviation, scaled to a std."""
    centre = statistics.median(values)
    return 1.4826 * statistics.median(abs(v - centre) for v in values)


def check_loss_decrease(
    losses: Mapping[int, float],
    source: str,
    required_drop: float = REQUIRED_DROP,
) -> CheckResult:
    """Finite at every logged step; the median of the last fifth of the logged losses is at
    least `required_drop` (a fraction) below the median of the first fifth, and not clearly
    climbing back from the lowest fifth."""
    steps = sorted(losses)
    evidence: dict = {"steps": len(steps), "source": source, "required_drop": required_drop}

    def result(passed: bool, message: str) -> CheckResult:
        return CheckResult.judged(NAME, passed, message, evidence=evidence)

    bad = [s for s in steps if not math.isfinite(losses[s])]
    if bad:
        evidence["non_finite_steps"] = bad[:20]
        return result(False, f"loss is not finite at step {bad[0]} ({losses[bad[0]]})")
    if len(steps) < MIN_LOSSES:
        return result(
            False,
            f"found {len(steps)} logged losses ({source}); need at least {MIN_LOSSES} to judge "
            "(log more often, or give --loss-tag/--loss-regex)",
        )
    values = [losses[s] for s in steps]
    window = max(2, len(steps) // 5)
    levels = _levels(values, window)
    first, last, best = levels[0], levels[-1], min(levels)
    limit = first - abs(first) * required_drop
    evidence.update(
        window=window, first_median=first, last_median=last, best_median=best, limit=limit
    )
    where = f"steps {steps[0]}-{steps[-1]}, {source}"
    if last > limit:
        return result(
            False,
            f"median loss went from {first:.4f} to {last:.4f}; required <= {limit:.4f}, a "
            f"{required_drop:.0%} drop ({where})",
        )
    gained, given_back = first - best, last - best
    noise = _spread(values[-window:])
    if gained > 0 and given_back > MAX_GIVEN_BACK * gained and given_back > NOISE_MARGIN * noise:
        at = steps[min(levels.index(best) * window, len(steps) - 1)]
        return result(
            False,
            f"the loss fell from {first:.4f} to {best:.4f} (around step {at}), then climbed back "
            f"to {last:.4f} over the last {window} logged: it gave back "
            f"{given_back / gained:.0%} of its drop, more than {MAX_GIVEN_BACK:.0%} ({where})",
        )
    return result(
        True,
        f"median loss fell from {first:.4f} (first {window} logged) to {last:.4f} (last "
        f"{window}); required <= {limit:.4f}, a {required_drop:.0%} drop ({where})",
    )


def judge(evidence: Evidence) -> CheckResult:
    plan, losses = evidence.plan, evidence.phase(TRAIN).losses
    drop = plan.required_drop if plan.required_drop is not None else evidence.profile.required_drop
    return check_loss_decrease(losses.values, losses.describe(), drop)
