"""uses_image (im2txt profile): the captioner looks at the image.

The job's own evaluation (evaluate.py with `--run_once`) scores true (image, caption)
pairs and the same captions with the images shuffled across them; a model that
ignores its image scores the same on both. A gap short of the margin, from a model whose
training loss was still falling, is not judged (a warning: more steps settle it) unless
it is no gap at all (`BLIND_GAP`). Applies only to code with that entry point.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from harness.checks.learning import still_learning
from harness.checks.phases import EVALUATE_SHUFFLED, EVALUATE_TRUE, TRAIN
from harness.record import CheckResult

if TYPE_CHECKING:
    from harness.checks.registry import Situation
    from harness.scenario.evidence import Evidence

NAME = "uses_image"
PHASES = (TRAIN, EVALUATE_TRUE, EVALUATE_SHUFFLED)
DEFAULT_MARGIN = 0.1
# A log gap this small is no use of the image at all: a model that ignores its image
# scores true and shuffled pairs alike, at any length of training.
BLIND_GAP = 0.01
_PERPLEXITY_RE = re.compile(r"Perplexity = ([0-9.eE+-]+|nan|inf)")


def not_applicable(situation: Situation) -> str | None:
    return situation.model_checks_missing


def judge(evidence: Evidence) -> CheckResult:
    true, shuffled = perplexities(evidence)
    return check_image_dependence(
        true, shuffled, learning=still_learning(evidence.phase(TRAIN).losses)
    )


def perplexities(evidence: Evidence) -> tuple[float | None, float | None]:
    """The job's evaluation of true pairs and of pairs with the images shuffled."""
    true, shuffled = (
        parse_perplexity(evidence.phase(name).outcome.log_text)
        for name in (EVALUATE_TRUE, EVALUATE_SHUFFLED)
    )
    return true, shuffled


def blind(true: float | None, shuffled: float | None) -> bool | None:
    """Whether the image changes the model's scores not at all (None: not evaluated)."""
    if not (true and shuffled and math.isfinite(true) and math.isfinite(shuffled)):
        return None
    return abs(math.log(shuffled) - math.log(true)) < BLIND_GAP


def parse_perplexity(output: str) -> float | None:
    """The last `Perplexity = X` an evaluation printed."""
    found = _PERPLEXITY_RE.findall(output)
    return float(found[-1]) if found else None


def check_image_dependence(
    perplexity_true: float | None,
    perplexity_shuffled: float | None,
    margin: float = DEFAULT_MARGIN,
    learning: str | None = None,
) -> CheckResult:
    """Perplexity on true (image, caption) pairs beats the same captions with the images
    shuffled across them: a model that ignores its image scores the same on both. Short
    of the margin but above blindness, a model still `learning` is not judged (a
    warning)."""
    evidence = {
        "perplexity_true": perplexity_true,
        "perplexity_shuffled": perplexity_shuffled,
        "margin": margin,
    }

    def result(passed: bool, message: str) -> CheckResult:
        return CheckResult.judged(NAME, passed, message, evidence=evidence)

    if perplexity_true is None or perplexity_shuffled is None:
        return result(False, "evaluation printed no 'Perplexity = X' to compare")
    if not all(math.isfinite(p) and p > 0 for p in (perplexity_true, perplexity_shuffled)):
        return result(
            False, f"perplexities {perplexity_true} and {perplexity_shuffled} are not finite"
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
    if not passed and gap >= BLIND_GAP and learning:
        advice = f"not judged: {learning}; a model still learning tells images apart only "
        advice += "a little (more --steps settle it)"
        return CheckResult.from_findings(NAME, [], [advice], message, evidence=evidence)
    return result(passed, message)
