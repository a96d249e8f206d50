"""Pretrained restore: the job really started from the pretrained Inception weights."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

from harness.record import CheckResult

NAME = "pretrained_restore"
INCEPTION_PREFIX = "InceptionV3/"
IGNORED_SCOPES = ("InceptionV3/AuxLogits/", "InceptionV3/Logits/")
CAPTION_SCOPES = ("image_embedding/", "seq_embedding/", "lstm/", "logits/")
_STEP_RE = re.compile(r"model\.ckpt-(\d+)\.index$")


def saved_checkpoints(output_dir: Path) -> list[Path]:
    """`model.ckpt-<step>` prefixes in output_dir, by step."""
    found = [
        (int(m.group(1)), p)
        for p in output_dir.glob("model.ckpt-*.index")
        if (m := _STEP_RE.search(p.name))
    ]
    return [p.with_suffix("") for _, p in sorted(found)]


def _load(path: Path) -> dict[str, np.ndarray]:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(path))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def check_pretrained_restore(
    pretrained: Path, checkpoints: list[Path], inception_frozen: bool
) -> CheckResult:
    """Compare Inception in the first and last saved checkpoints with the pretrained file.

    Frozen Inception must match bit for bit in both, while the caption variables
    (embeddings, LSTM, logits) moved between them. When Inception is fine-tuned,
    the first checkpoint must still be close to the pretrained values.
    """
    started = time.monotonic()

    def result(passed: bool, message: str, **evidence) -> CheckResult:
        return CheckResult(NAME, passed, message, evidence, time.monotonic() - started)

    if len(checkpoints) < 2:
        return result(
            False, f"need at least 2 saved checkpoints to compare, found {len(checkpoints)}"
        )
    reference = {
        n: v
        for n, v in _load(pretrained).items()
        if n.startswith(INCEPTION_PREFIX) and not n.startswith(IGNORED_SCOPES)
    }
    first, last = _load(checkpoints[0]), _load(checkpoints[-1])
    missing = sorted(set(reference) - set(first))
    if missing:
        return result(
            False,
            f"{checkpoints[0].name} lacks {len(missing)} Inception variables, e.g. {missing[0]}",
            missing=missing[:20],
        )
    evidence = {
        "pretrained": str(pretrained),
        "first": checkpoints[0].name,
        "last": checkpoints[-1].name,
        "inception_variables": len(reference),
    }
    if inception_frozen:
        differing = {
            name: [n for n, v in reference.items() if not np.array_equal(v, ckpt[n])]
            for name, ckpt in (("first", first), ("last", last))
        }
        evidence["differing_first"] = differing["first"][:20]
        evidence["differing_last"] = differing["last"][:20]
        if differing["first"]:
            return result(
                False,
                f"{len(differing['first'])} of {len(reference)} Inception "
                f"variables in {checkpoints[0].name} differ from {pretrained.name}"
                f" (restore skipped?), e.g. {differing['first'][0]}",
                **evidence,
            )
        if differing["last"]:
            return result(
                False,
                f"frozen Inception changed during training: "
                f"{len(differing['last'])} variables differ in "
                f"{checkpoints[-1].name}, e.g. {differing['last'][0]}",
                **evidence,
            )
        return _with_caption_verdict(
            result,
            first,
            last,
            checkpoints,
            evidence,
            f"all {len(reference)} Inception variables equal {pretrained.name} in "
            f"{checkpoints[0].name} and {checkpoints[-1].name}",
        )
    drift = max(
        float(np.linalg.norm(first[n] - v) / (np.linalg.norm(v) + 1e-12))
        for n, v in reference.items()
    )
    evidence["max_relative_drift_first"] = drift
    summary = (
        f"Inception fine-tunes; largest relative drift from {pretrained.name} "
        f"at {checkpoints[0].name} is {drift:.4f} (limit 0.05)"
    )
    if drift >= 0.05:
        return result(False, summary, **evidence)
    return _with_caption_verdict(result, first, last, checkpoints, evidence, summary)


def _with_caption_verdict(result, first, last, checkpoints, evidence, inception_summary: str):
    """Inception is right; training must also have moved every caption variable."""
    caption_names = [n for n in first if n.startswith(CAPTION_SCOPES)]
    unchanged = [n for n in caption_names if n in last and np.array_equal(first[n], last[n])]
    evidence["caption_variables_unchanged"] = unchanged
    if not caption_names:
        return result(
            False,
            f"{inception_summary}, but the checkpoints hold no caption-model variables "
            f"({', '.join(CAPTION_SCOPES)})",
            **evidence,
        )
    if unchanged:
        return result(
            False,
            f"{inception_summary}, but caption variables did not change between "
            f"{checkpoints[0].name} and {checkpoints[-1].name}: {', '.join(unchanged)}",
            **evidence,
        )
    return result(
        True, f"{inception_summary}; {len(caption_names)} caption variables changed", **evidence
    )
