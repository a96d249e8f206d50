"""Reproducible: the same job with the same parameters logs the same losses twice."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from harness.checks.phases import TRAIN, TRAIN_REPEAT
from harness.compare import PhaseComparison, compare_losses
from harness.record import CheckResult

if TYPE_CHECKING:
    from harness.checks.registry import Situation
    from harness.scenario.evidence import Evidence

NAME = "reproducible"
PHASES = (TRAIN, TRAIN_REPEAT)


def not_applicable(situation: Situation) -> str | None:
    if not situation.reproducible:
        return "not asked for (--reproducible runs the training twice)"
    if situation.cluster:
        return "--reproducible compares single-node runs only"
    return None


def judge(evidence: Evidence) -> CheckResult:
    return check_reproducible(
        evidence.phase(TRAIN).losses.values, evidence.phase(TRAIN_REPEAT).losses.values
    )


def check_reproducible(
    first: Mapping[int, float],
    second: Mapping[int, float],
    rtol: float = 0.0,
    atol: float = 0.0,
) -> CheckResult:
    """Two training runs from the same inputs agree at every logged step (bit for bit
    unless tolerances are given), with the same steps logged."""
    result = PhaseComparison("train", True, True)
    compare_losses(result, first, second, rtol, atol)
    mode = "bit for bit" if rtol == 0 and atol == 0 else f"within rtol={rtol:g}, atol={atol:g}"
    evidence = {
        "steps_compared": result.steps_compared,
        "divergent_steps": result.divergent_steps,
        "max_abs_diff": result.max_abs_diff,
        "only_in_first": result.only_in_a[:20],
        "only_in_second": result.only_in_b[:20],
    }
    if not result.steps_compared:
        message, passed = "the two runs logged no common step to compare", False
    elif result.first_divergence is not None:
        first_divergence = result.first_divergence
        evidence["first_divergence"] = first_divergence.step
        message, passed = (
            f"losses diverge at step {first_divergence.step}: {first_divergence.loss_a!r} vs "
            f"{first_divergence.loss_b!r}; {result.divergent_steps} of "
            f"{result.steps_compared} steps differ ({mode})",
            False,
        )
    elif result.only_in_a or result.only_in_b:
        message, passed = "the two runs logged different steps", False
    else:
        message, passed = f"{result.steps_compared} logged losses agree {mode}", True
    return CheckResult.judged(NAME, passed, message, evidence=evidence)
