"""inference (im2txt profile): beam search captions each probed image with one of the
captions it was trained with. Applies only to code with run_inference.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from harness.checks.phases import INFERENCE, TRAIN
from harness.record import CheckResult

if TYPE_CHECKING:
    from harness.checks.registry import Situation
    from harness.scenario.evidence import Evidence

NAME = "inference"
PHASES = (TRAIN, INFERENCE)
_HEADER_RE = re.compile(r"^Captions for image (.+):$")
_CAPTION_RE = re.compile(r"^\s+(\d+)\) (.*) \(p=([0-9.eE+-]+|nan|inf)\)$")


def not_applicable(situation: Situation) -> str | None:
    return situation.model_checks_missing


def judge(evidence: Evidence) -> CheckResult:
    return check_inference(
        evidence.phase(INFERENCE).outcome.log_text, evidence.model_inputs.expected_captions
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


def check_inference(output: str, expected: Mapping[str, Sequence[str]]) -> CheckResult:
    """Each probed image's best beam-search caption is one it was trained with."""
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
        NAME,
        not problems,
        message,
        evidence={"generated": got, "expected": dict(expected)},
    )
