"""The im2txt profile's model checks: the captioner looks at the image, and can caption.

They need the job's own evaluation and inference entry points (evaluate.py with
`--run_once`, run_inference.py), so they apply only to code that provides them.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence

from harness.record import CheckResult

USES_IMAGE = "uses_image"
INFERENCE = "inference"
DEFAULT_MARGIN = 0.1
_HEADER_RE = re.compile(r"^Captions for image (.+):$")
_CAPTION_RE = re.compile(r"^\s+(\d+)\) (.*) \(p=([0-9.eE+-]+|nan|inf)\)$")
_PERPLEXITY_RE = re.compile(r"Perplexity = ([0-9.eE+-]+|nan|inf)")


def parse_perplexity(output: str) -> float | None:
    """The last `Perplexity = X` an evaluation printed."""
    found = _PERPLEXITY_RE.findall(output)
    return float(found[-1]) if found else None


def check_image_dependence(
    perplexity_true: float | None,
    perplexity_shuffled: float | None,
    margin: float = DEFAULT_MARGIN,
    seconds: float = 0.0,
) -> CheckResult:
    """Perplexity on true (image, caption) pairs beats the same captions with the images
    shuffled across them: a model that ignores its image scores the same on both."""
    started = time.monotonic()
    evidence = {
        "perplexity_true": perplexity_true,
        "perplexity_shuffled": perplexity_shuffled,
        "margin": margin,
    }

    def result(passed: bool, message: str) -> CheckResult:
        return CheckResult.judged(
            USES_IMAGE,
            passed,
            message,
            evidence=evidence,
            seconds=seconds + time.monotonic() - started,
        )

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
    return result(
        passed,
        f"model {verdict} the image: perplexity {perplexity_true:.3f} with true images vs "
        f"{perplexity_shuffled:.3f} with images shuffled across captions "
        f"(log gap {gap:.3f}, required >= {margin})",
    )


def parse_captions(output: str) -> dict[str, list[str]]:
    """run_inference.py's output (upstream's format) -> image name -> captions, best first."""
    captions: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if header := _HEADER_RE.match(line):
            current = header.group(1)
            captions[current] = []
        elif (caption := _CAPTION_RE.match(line)) and current is not None:
            captions[current].append(caption.group(2).strip())
    return captions


def check_inference(
    output: str, expected: Mapping[str, Sequence[str]], seconds: float = 0.0
) -> CheckResult:
    """Each probed image's best beam-search caption is one it was trained with."""
    started = time.monotonic()
    got = parse_captions(output)
    problems = []
    for image, captions in expected.items():
        wanted = {" ".join(c.lower().split()) for c in captions}
        best = got[image][0] if got.get(image) else None
        if best is None:
            problems.append(f"no caption printed for {image}")
        elif best not in wanted:
            problems.append(f"{image}: best caption {best!r} is none of its training captions")
    message = "; ".join(problems) or (
        f"beam search returned a training caption for all {len(expected)} probed images"
    )
    return CheckResult.judged(
        INFERENCE,
        not problems,
        message,
        evidence={"generated": got, "expected": dict(expected)},
        seconds=seconds + time.monotonic() - started,
    )
