"""Whether the model was still learning when its training stopped.

The model checks ask what a trained model does; a model stopped while its loss still
falls has not finished learning, and doing poorly then is no evidence of a fault. Their
shortfalls on such a model are said as not judged (more steps settle them), unless the
model's behaviour is a fault at any length (a caption model blind to its image).
"""

from __future__ import annotations

from harness.checks.trend import trend
from harness.job import LossSeries

MIN_TAIL = 6  # logged values: fewer cannot show a trend


def still_learning(losses: LossSeries) -> str | None:
    """What shows the loss still falling over the last third of the training, or None."""
    values = [losses.values[step] for step in sorted(losses.values)]
    tail = values[-max(MIN_TAIL, len(values) // 3) :]
    if len(tail) < MIN_TAIL or len(values) < MIN_TAIL:
        return None
    found = trend(tail)
    if not (found.falls or found.undecided):
        return None
    return (
        f"the training loss was still falling over its last {len(tail)} logged values "
        f"({found.first:.4g} to {found.last:.4g}, Mann-Kendall p = {found.p_down:.2g})"
    )
