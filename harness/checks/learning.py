"""Learning: the loss falls, and it falls because the model looks at the image."""

from __future__ import annotations

import math
import time

from harness.record import CheckResult

LOSS_NAME = "loss_decrease"
IMAGE_NAME = "uses_image"


def check_loss_decrease(losses: dict[int, float], required_drop: float = 0.25) -> CheckResult:
    """Finite at every step; the last fifth's mean is `required_drop` below the first's."""
    started = time.monotonic()
    steps = sorted(losses)
    evidence: dict = {"steps": len(steps), "required_drop": required_drop}

    def result(passed: bool, message: str) -> CheckResult:
        return CheckResult(LOSS_NAME, passed, message, evidence, time.monotonic() - started)

    bad = [s for s in steps if not math.isfinite(losses[s])]
    if bad:
        evidence["non_finite_steps"] = bad[:20]
        return result(False, f"loss is not finite at step {bad[0]} ({losses[bad[0]]})")
    if len(steps) < 4:
        return result(False, f"only {len(steps)} logged losses; need at least 4 to judge")
    window = max(2, len(steps) // 5)
    first = sum(losses[s] for s in steps[:window]) / window
    last = sum(losses[s] for s in steps[-window:]) / window
    evidence.update(
        window=window,
        first_mean=first,
        last_mean=last,
        relative_drop=(first - last) / first if first else 0.0,
    )
    limit = first * (1.0 - required_drop)
    if last <= limit:
        return result(
            True,
            f"mean loss fell from {first:.4f} (first {window} steps) to "
            f"{last:.4f} (last {window}); required <= {limit:.4f}",
        )
    return result(
        False,
        f"mean loss went from {first:.4f} to {last:.4f} over "
        f"{len(steps)} steps; required <= {limit:.4f} "
        f"(a {required_drop:.0%} drop)",
    )


def check_image_dependence(
    perplexity_true: float | None, perplexity_shuffled: float | None, margin: float = 0.1
) -> CheckResult:
    """Perplexity with the true images beats images shuffled across captions.

    A model that ignores its input image scores the same on both; one that uses it
    is clearly better on true pairs: log-perplexities must differ by `margin`.
    """
    started = time.monotonic()
    evidence = {
        "perplexity_true": perplexity_true,
        "perplexity_shuffled": perplexity_shuffled,
        "margin": margin,
    }
    if perplexity_true is None or perplexity_shuffled is None:
        return CheckResult(
            IMAGE_NAME,
            False,
            "evaluation produced no perplexity to compare",
            evidence,
            time.monotonic() - started,
        )
    gap = math.log(perplexity_shuffled) - math.log(perplexity_true)
    evidence["log_perplexity_gap"] = gap
    passed = gap >= margin
    verdict = "uses" if passed else "does not clearly use"
    message = (
        f"model {verdict} the image: perplexity {perplexity_true:.3f} with true images vs "
        f"{perplexity_shuffled:.3f} with images shuffled across captions "
        f"(log gap {gap:.3f}, required >= {margin})"
    )
    return CheckResult(IMAGE_NAME, passed, message, evidence, time.monotonic() - started)
