"""inference (im2txt profile): beam search captions each probed image in its own
training captions' words - one of those captions, or a blend of them (a model still
learning joins two templates it was shown for that image) that no other probed image's
captions could have given. A word from another image's captions (a wrong colour, a
train/inference preprocessing skew) or a caption that fits another probed image as
well (one caption for every image: a model blind to it) is a miss. Misses of a minority
of the images are a warning - a model still learning makes them (the upstream-size job
at 80 steps captions one image of three with another training image's caption) - and of
half or more, or no caption, a failure. Applies only to code with run_inference.py.
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
    """Each probed image's best beam-search caption is one of its training captions, or a
    blend of their words that tells it apart from every other probed image. A minority
    of misses is advice: a model still learning makes them, as a skew would."""
    got = parse_captions(output)
    words = {
        image: {w for c in captions for w in _words(c)} for image, captions in expected.items()
    }
    silent, misses, blends = [], [], []
    for image, captions in expected.items():
        best = got[image][0] if got.get(image) else None
        if best is None:
            silent.append(f"no caption printed for {image}")
            continue
        if best in {" ".join(_words(c)) for c in captions}:
            continue
        said = set(_words(best))
        foreign = sorted(said - words[image])
        alike = [other for other in expected if other != image and said <= words[other]]
        if not foreign and not alike and said:
            blends.append(f"{image} {best!r}")
            continue
        why = (
            f"has words none of them has ({', '.join(foreign)})"
            if foreign
            else f"fits {alike[0]}'s captions as well"
        )
        misses.append(f"{image}: best caption {best!r} is none of its training captions and {why}")
    own = len(expected) - len(silent) - len(misses)
    tally = f"{own} of {len(expected)} probed images got their own captions"
    problems, advice = [*silent], []
    if misses and not silent and 2 * own > len(expected):
        advice.append(
            f"{'; '.join(misses)} ({tally}): a model still learning does that, and so does a "
            "preprocessing skew between training and inference; more --steps tell them apart"
        )
    elif misses:
        problems.append(f"{'; '.join(misses)} ({tally})")
    message = (
        f"beam search captioned all {len(expected)} probed images in their own captions' "
        f"words ({len(blends)} a blend of them: {'; '.join(blends)})"
        if blends
        else f"beam search returned a training caption for all {len(expected)} probed images"
    )
    evidence = {"generated": got, "expected": dict(expected), "blends": blends}
    if advice:
        message = f"beam search: {tally}"
    return CheckResult.from_findings(NAME, problems, advice, message, evidence=evidence)


def _words(caption: str) -> list[str]:
    return caption.lower().split()
