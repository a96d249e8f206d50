"""Pretrained restore: the job really started from the pretrained checkpoint it was given.

Judged from variable values alone, for any job: every variable of the pretrained
file that the job's checkpoint also holds (same name and shape) must equal it bit
for bit when the job keeps it frozen, and must have moved - but stayed recognisably
the pretrained values, not a fresh initialisation - when the job fine-tunes it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from harness.record import CheckResult

NAME = "pretrained_restore"
# Fine-tuned values keep a clear linear relation to the pretrained ones; a fresh
# random initialisation has none (correlation ~0).
MIN_CORRELATION = 0.5
_MIN_SIZE_FOR_CORRELATION = 16


def correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation of two same-shaped arrays; None when either is constant or tiny."""
    x, y = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if x.size < _MIN_SIZE_FOR_CORRELATION or x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def shared_variables(
    pretrained: Mapping[str, np.ndarray], checkpoint: Mapping[str, np.ndarray]
) -> list[str]:
    """Names the two hold with the same shape."""
    return sorted(
        name
        for name, value in pretrained.items()
        if name in checkpoint and np.shape(checkpoint[name]) == np.shape(value)
    )


def check_pretrained_restore(
    pretrained: Mapping[str, np.ndarray],
    pretrained_name: str,
    checkpoint: Mapping[str, np.ndarray] | None,
    checkpoint_name: str,
    fine_tune: bool,
    mode_source: str,
    seconds: float = 0.0,
) -> CheckResult:
    """Compare the pretrained file's variables with the job's last checkpoint of the run."""
    started = time.monotonic()
    mode = "fine-tuned" if fine_tune else "frozen"
    evidence: dict = {
        "pretrained": pretrained_name,
        "checkpoint": checkpoint_name,
        "mode": mode,
        "mode_from": mode_source,
    }

    def result(passed: bool, message: str) -> CheckResult:
        return CheckResult.judged(
            NAME, passed, message, evidence=evidence, seconds=seconds + time.monotonic() - started
        )

    if checkpoint is None:
        return result(False, "the job left no checkpoint to compare with the pretrained file")
    shared = shared_variables(pretrained, checkpoint)
    evidence["shared_variables"] = len(shared)
    evidence["pretrained_variables"] = len(pretrained)
    if not shared:
        evidence["only_in_pretrained"] = sorted(pretrained)[:10]
        evidence["only_in_checkpoint"] = sorted(checkpoint)[:10]
        return result(
            False,
            f"no variable of {pretrained_name} is in {checkpoint_name} with the same name and "
            f"shape: the file has e.g. {', '.join(sorted(pretrained)[:3])}; the checkpoint "
            f"has e.g. {', '.join(sorted(checkpoint)[:3])}",
        )
    differing = [name for name in shared if not np.array_equal(pretrained[name], checkpoint[name])]
    evidence["differing"] = differing[:20]
    if not fine_tune:
        if differing:
            return result(
                False,
                f"{len(differing)} of {len(shared)} variables of {pretrained_name} differ in "
                f"{checkpoint_name}, e.g. {differing[0]} (restore skipped, or the job trains "
                f"them: {mode} per {mode_source}; pass --trainable if it fine-tunes)",
            )
        return result(
            True,
            f"all {len(shared)} variables of {pretrained_name} that {checkpoint_name} holds "
            f"equal it bit for bit ({mode}: {mode_source})",
        )
    if not differing:
        return result(
            False,
            f"fine-tuning ({mode_source}), yet all {len(shared)} shared variables still equal "
            f"{pretrained_name}: they did not train",
        )
    scores = [
        r
        for name in differing
        if (r := correlation(pretrained[name], checkpoint[name])) is not None
    ]
    median = float(np.median(scores)) if scores else None
    evidence["median_correlation"] = median
    evidence["required_correlation"] = MIN_CORRELATION
    if median is not None and median < MIN_CORRELATION:
        return result(
            False,
            f"the {len(differing)} changed variables look unrelated to {pretrained_name} "
            f"(median correlation {median:.2f} < {MIN_CORRELATION}): restore skipped?",
        )
    related = "" if median is None else f", still correlated with it (median r={median:.2f})"
    return result(
        True,
        f"{len(differing)} of {len(shared)} variables of {pretrained_name} fine-tuned in "
        f"{checkpoint_name}{related} ({mode}: {mode_source})",
    )
