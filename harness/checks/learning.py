"""Learning: the job's loss is finite and falls clearly over its training steps."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from harness.record import CheckResult

NAME = "loss_decrease"
DEFAULT_REQUIRED_DROP = 0.25
MIN_LOSSES = 4


def check_loss_decrease(
    losses: Mapping[int, float],
    source: str,
    required_drop: float = DEFAULT_REQUIRED_DROP,
    seconds: float = 0.0,
) -> CheckResult:
    """Finite at every logged step; the mean of the last fifth of the logged losses is at
    least `required_drop` (a fraction) below the mean of the first fifth."""
    started = time.monotonic()
    steps = sorted(losses)
    evidence: dict = {"steps": len(steps), "source": source, "required_drop": required_drop}

    def result(passed: bool, message: str) -> CheckResult:
        return CheckResult.judged(
            NAME, passed, message, evidence=evidence, seconds=seconds + time.monotonic() - started
        )

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
    window = max(2, len(steps) // 5)
    first = sum(losses[s] for s in steps[:window]) / window
    last = sum(losses[s] for s in steps[-window:]) / window
    limit = first - abs(first) * required_drop
    evidence.update(window=window, first_mean=first, last_mean=last, limit=limit)
    where = f"steps {steps[0]}-{steps[-1]}, {source}"
    if last <= limit:
        return result(
            True,
            f"mean loss fell from {first:.4f} (first {window} logged) to {last:.4f} (last "
            f"{window}); required <= {limit:.4f}, a {required_drop:.0%} drop ({where})",
        )
    return result(
        False,
        f"mean loss went from {first:.4f} to {last:.4f}; required <= {limit:.4f}, a "
        f"{required_drop:.0%} drop ({where})",
    )
