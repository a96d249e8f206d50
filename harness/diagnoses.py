"""One-line explanations of known failures, shown above a failed phase's log tail.

The signatures (`harness.jobshapes.DIAGNOSES`) are what jobs meet on their way to
UAI-Train: UCloud's uflag under TensorFlow 2, TF1 APIs gone in TF 2, writes into the
read-only data mount, network access from a node that has none, an image without
/usr/bin/python, CUDA libraries that do not load.
"""

from __future__ import annotations

import re

from harness.job.losses import clean_lines
from harness.jobshapes import DIAGNOSES, Diagnosis

_DEFAULTS = {"api": "an API", "library": "its CUDA libraries", "python": "/usr/bin/python"}


def diagnose(log_text: str) -> str | None:
    """`diagnosis: <meaning>; fix: <fix>` for the first known signature in the log."""
    text = "\n".join(clean_lines(log_text))
    for known in DIAGNOSES:
        if match := re.search(known.pattern, text):
            return render(known, match)
    return None


def render(known: Diagnosis, match: re.Match[str]) -> str:
    groups = {**_DEFAULTS, **{k: v for k, v in match.groupdict().items() if v}}
    return f"{known.meaning.format(**groups)}; fix: {known.fix.format(**groups)}"
