"""run_inference.py's output, upstream's format, for the inference check's tests."""

from __future__ import annotations


def beam_output(best: dict[str, str]) -> str:
    """Each image's best caption as run_inference.py prints it."""
    return "".join(
        f"Captions for image {name}:\n  0) {text} (p=0.5)\n" for name, text in best.items()
    )
