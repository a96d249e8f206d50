"""A loss curve's level at its start or end: the mean of its first or last fifth of logged
steps (at least one), shared by the checks that compare one run's level with another's."""

from __future__ import annotations

from collections.abc import Mapping


def fifth_mean(losses: Mapping[int, float], last: bool) -> float:
    """The mean loss of the first (or, with `last`, the last) fifth of the logged steps."""
    steps = sorted(losses)
    window = max(1, len(steps) // 5)
    chosen = steps[-window:] if last else steps[:window]
    return sum(float(losses[s]) for s in chosen) / len(chosen)
