"""Inference: after overfitting the tiny set, beam search recalls a training caption."""

from __future__ import annotations

import re
import time

from harness.record import CheckResult

NAME = "inference"
_HEADER_RE = re.compile(r"^Captions for image (.+):$")
_CAPTION_RE = re.compile(r"^\s+(\d+)\) (.*) \(p=([0-9.eE+-]+|nan|inf)\)$")


def parse_captions(output: str) -> dict[str, list[str]]:
    """run_inference.py's output -> image name -> captions, best first."""
    captions: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if header := _HEADER_RE.match(line):
            current = header.group(1)
            captions[current] = []
        elif (caption := _CAPTION_RE.match(line)) and current is not None:
            captions[current].append(caption.group(2).strip())
    return captions


def check_inference(output: str, expected: dict[str, list[str]]) -> CheckResult:
    """Each probed image's best caption is one of the captions it was trained with."""
    started = time.monotonic()
    got = parse_captions(output)
    evidence = {"generated": got, "expected": expected}
    problems = []
    for image, captions in expected.items():
        wanted = {" ".join(c.lower().split()) for c in captions}
        best = got.get(image, [None])[0] if got.get(image) else None
        if best is None:
            problems.append(f"no caption printed for {image}")
        elif best not in wanted:
            problems.append(f"{image}: best caption {best!r} is none of its training captions")
    message = (
        "; ".join(problems)
        if problems
        else (f"beam search returned a training caption for all {len(expected)} probed images")
    )
    return CheckResult(NAME, not problems, message, evidence, time.monotonic() - started)
