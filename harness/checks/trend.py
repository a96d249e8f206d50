"""Whether a logged series trends, judged against its own noise, not a fixed threshold.

Two questions, both needed: is the order of the values a trend rather than chance
(Mann-Kendall: the pairs that fall against those that rise, one-sided; exact over all
orderings when there are no ties, the normal approximation with the tie correction
otherwise), and is the change from the first fifth's median to the last fifth's larger
than the run's noise (`NOISE_MARGIN` times the spread of step-to-step differences, which
a steady trend does not inflate) and than `MIN_CHANGE` of its level (a float's jitter is
no trend). A slow learner's 10% drop passes; a flat series, however long, does not. A
fall short of the evidence but near it (`undecided`) is worth more steps.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence

import numpy as np

ALPHA = 0.05  # one-sided significance of the Mann-Kendall test
# A fall short of the evidence but not far from it: p below this, or a significant fall
# within the noise band. More steps can decide it; fewer cannot.
UNDECIDED_P = 0.2
NOISE_MARGIN = 2.0  # the change must exceed this many noise standard deviations
MIN_CHANGE = 0.01  # ... and this fraction of the first level
_EXACT_UP_TO = 20  # values; beyond, the normal approximation is close enough
_MOST_PAIRS_OF = 1000  # values; a longer series is tested on medians of equal blocks


@dataclasses.dataclass(frozen=True)
class Trend:
    """A series' Mann-Kendall statistic, one-sided p-values and levels."""

    n: int
    s: int  # rising pairs minus falling pairs
    p_down: float  # chance of a statistic this low or lower with no trend
    p_up: float
    first: float  # median of the first fifth (at least two values)
    last: float  # ... of the last fifth
    noise: float  # the standard deviation of its step-to-step noise
    window: int

    def _margin(self) -> float:
        return max(NOISE_MARGIN * self.noise, MIN_CHANGE * abs(self.first))

    @property
    def falls(self) -> bool:
        return self.p_down < ALPHA and self.first - self.last > self._margin()

    @property
    def undecided(self) -> bool:
        """Falling, but not clearly: p between ALPHA and UNDECIDED_P, or a significant
        order whose drop stays within the noise band."""
        return not self.falls and self.first > self.last and self.p_down < UNDECIDED_P

    @property
    def rises(self) -> bool:
        return self.p_up < ALPHA and self.last - self.first > self._margin()


def median_levels(values: Sequence[float], window: int) -> list[float]:
    """Medians of consecutive runs of `window` values, the first and the last one aligned
    to the series' two ends."""
    starts = list(range(0, len(values) - window + 1, window))
    if starts[-1] != len(values) - window:
        starts.append(len(values) - window)
    return [statistics.median(values[i : i + window]) for i in starts]


def spread(values: Sequence[float]) -> float:
    """Median absolute deviation, scaled to a standard deviation (robust to outliers)."""
    centre = statistics.median(values)
    return 1.4826 * statistics.median(abs(v - centre) for v in values)


def step_noise(values: Sequence[float]) -> float:
    """The noise of a series around its trend: the spread of its differences, over sqrt 2."""
    diffs = [b - a for a, b in zip(values, values[1:], strict=False)]
    return spread(diffs) / math.sqrt(2) if len(diffs) >= 2 else 0.0


def trend(values: Sequence[float]) -> Trend:
    """The Mann-Kendall test and the levels of a series of at least two finite values."""
    window = max(2, len(values) // 5)
    levels = median_levels(values, window)
    tested = _thinned(values)
    n = len(tested)
    x = np.asarray(tested, dtype=float)
    upper = np.triu(np.sign(x[None, :] - x[:, None]), k=1)
    rising, falling = int((upper > 0).sum()), int((upper < 0).sum())
    s = rising - falling
    if rising + falling == n * (n - 1) // 2 and n <= _EXACT_UP_TO:
        p_down, p_up = _exact(n, falling), _exact(n, rising)
    else:
        p_down, p_up = _normal(tested, s), _normal(tested, -s)
    noise = step_noise(values)
    return Trend(len(values), s, p_down, p_up, levels[0], levels[-1], noise, window)


def _thinned(values: Sequence[float]) -> list[float]:
    blocks = math.ceil(len(values) / _MOST_PAIRS_OF)
    if blocks == 1:
        return list(values)
    return [statistics.median(values[i : i + blocks]) for i in range(0, len(values), blocks)]


def _exact(n: int, pairs: int) -> float:
    """P(at least `pairs` of the n(n-1)/2 pairs fall) over all orderings of n distinct
    values: the tail of the inversion-count (Mahonian) distribution."""
    counts = [1]
    for k in range(1, n):
        grown = [0] * (len(counts) + k)
        for inversions, ways in enumerate(counts):
            for extra in range(k + 1):
                grown[inversions + extra] += ways
        counts = grown
    return sum(counts[pairs:]) / math.factorial(n)


def _normal(values: Sequence[float], s: int) -> float:
    """P(statistic <= s) with no trend, ties corrected, continuity corrected."""
    n = len(values)
    groups = [values.count(v) for v in set(values)]
    variance = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in groups)) / 18
    if variance <= 0:
        return 1.0
    z = (s + 1) / math.sqrt(variance)
    return 0.5 * math.erfc(-z / math.sqrt(2))
