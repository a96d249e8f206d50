"""inference (im2txt profile): beam search captions each probed image in its own
training captions - one of them, or a blend (a model still learning runs two templates
it was shown for that image together: each word followed by one that follows it in one
of them) that no other probed image's captions could have given. A word from another
image's captions (a wrong colour, a train/inference preprocessing skew), words in an
order none of its captions has, or a caption that fits another probed image as well
(one caption for every image: a model blind to it) is a miss. Misses of a minority
of the images are a warning - a model still learning makes them (the upstream-size job
at 80 steps captions one image of three with another training image's caption) - and of
half or more, or no caption, a failure - unless the training loss was still falling
and the model is not blind to its image (`uses_image`): then they are not judged, a
warning that more steps settle. Applies only to code with run_inference.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from harness.checks import uses_image
from harness.checks.learning import still_learning
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
        evidence.phase(INFERENCE).outcome.log_text,
        evidence.model_inputs.expected_captions,
        learning=still_learning(evidence.phase(TRAIN).losses),
        blind=uses_image.blind(*uses_image.perplexities(evidence)),
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
    output: str,
    expected: Mapping[str, Sequence[str]],
    learning: str | None = None,
    blind: bool | None = None,
) -> CheckResult:
    """Each probed image's best beam-search caption is one of its training captions, or a
    blend of them that tells it apart from every other probed image. A minority of
    misses is advice: a model still learning makes them, as a skew would; so are more,
    from a model still `learning` that is not `blind` to its image (None: not evaluated,
    judged by whether every probe got the same caption)."""
    got = parse_captions(output)
    silent, misses, blends = [], [], []
    for image, captions in expected.items():
        best = got[image][0] if got.get(image) else None
        if best is None:
            silent.append(f"no caption printed for {image}")
            continue
        said = _words(best)
        if said in [_words(c) for c in captions]:
            continue
        alike = [other for other in expected if other != image and _blend_of(said, expected[other])]
        if _blend_of(said, captions) and not alike:
            blends.append(f"{image} {best!r}")
            continue
        misses.append(f"{image}: best caption {best!r} is none of its training captions and "
                      f"{_why_not_its_own(said, captions, alike)}")  # fmt: skip
    own = len(expected) - len(silent) - len(misses)
    tally = f"{own} of {len(expected)} probed images got their own captions"
    problems, advice = [*silent], []
    if blind is None:
        bests = {got[image][0] for image in expected if got.get(image)}
        blind = len(expected) > 1 and len(bests) == 1
    if misses and not silent and 2 * own > len(expected):
        advice.append(
            f"{'; '.join(misses)}: a model still learning does that, and so does a "
            "preprocessing skew between training and inference; more --steps tell them apart"
        )
    elif misses and not silent and learning and not blind:
        advice.append(
            f"not judged: {'; '.join(misses)}; but {learning}, and a model still learning "
            "misses its images (more --steps settle it)"
        )
    elif misses:
        problems.append(f"{'; '.join(misses)} ({tally})")
    message = (
        f"beam search: {tally}"
        if advice
        else f"beam search captioned all {len(expected)} probed images with their own "
        f"captions ({len(blends)} a blend of them: {'; '.join(blends)})"
        if blends
        else f"beam search returned a training caption for all {len(expected)} probed images"
    )
    evidence = {"generated": got, "expected": dict(expected), "blends": blends}
    return CheckResult.from_findings(NAME, problems, advice, message, evidence=evidence)


def _words(caption: str) -> list[str]:
    return caption.lower().split()


def _pairs(words: Sequence[str]) -> set[tuple[str, str]]:
    """Each word with the next, the caption's start and end marked."""
    marked = ["<S>", *words, "</S>"]
    return set(zip(marked, marked[1:], strict=False))


def _blend_of(said: list[str], captions: Sequence[str]) -> bool:
    """Whether `said` reads as the captions joined: each word followed by one that follows
    it in one of them, from a caption's first word to a caption's last (a model still
    learning runs two templates together; reversed, repeated or cut words do not)."""
    known = set().union(*(_pairs(_words(c)) for c in captions))
    return bool(said) and _pairs(said) <= known


def _why_not_its_own(said: list[str], captions: Sequence[str], alike: list[str]) -> str:
    if not said:
        return "is empty"
    foreign = sorted(set(said) - {w for c in captions for w in _words(c)})
    if foreign:
        return f"has words none of them has ({', '.join(foreign)})"
    if alike:
        return f"fits {alike[0]}'s captions as well"
    return "does not read as them joined"
