"""A phase against its time limit: the forecast made at the first logged steps (will the
target fit?), and the judgement of a phase the limit stopped - finished (judged from what
it wrote, with a warning), slow (what --timeout or --steps would fit), or not stopping
at its target (does it honour the step flag?)."""

from __future__ import annotations

import math
from collections.abc import Callable

# The forecast is made once, when this many steps have been logged.
FORECAST_AFTER_POINTS = 3
# Headroom for start-up, saving and the rerun's restore in the suggested figures.
MARGIN = 1.25


class FitForecast:
    """Fed the phase's logged steps as they come; says once, at the first ones, when the
    measured speed will not reach `target` within `timeout_s`."""

    def __init__(
        self, target: int | None, timeout_s: float, started: float, say: Callable[[str], None]
    ) -> None:
        self.target, self.timeout_s, self.started, self.say = target, timeout_s, started, say
        self.points: list[tuple[int, float]] = []
        self.done = target is None

    def feed(self, step: int, now: float) -> None:
        if self.done:
            return
        self.points.append((step, now))
        if len(self.points) < FORECAST_AFTER_POINTS:
            return
        self.done = True
        (first, t0), (last, t1) = self.points[0], self.points[-1]
        if last <= first or t1 <= t0 or last >= self.target:
            return
        rate = (last - first) / (t1 - t0)
        finish = (t1 - self.started) + (self.target - last) / rate
        if finish <= self.timeout_s:
            return
        self.say(
            f"warning: at {rate:.2f} steps/s (steps {first}-{last}), step {self.target} comes "
            f"at about {finish:.0f} s, past the {self.timeout_s:g} s limit: "
            + fits(rate, t1 - self.started, last, self.target, self.timeout_s)
        )


def fits(rate: float, elapsed: float, step: int, target: int, timeout_s: float) -> str:
    """What would fit: a --timeout for the target, or a --steps for the limit."""
    needed = math.ceil(MARGIN * (elapsed + (target - step) / rate))
    steps = max(1, int(step + rate * (timeout_s / MARGIN - elapsed)))
    return f"give --timeout {needed}, or --steps {steps}"


def limit_verdict(
    timeout_s: float,
    target: int | None,
    reached: int | None,
    rate: float | None,
    seconds: float,
    flag: str | None,
) -> tuple[str | None, str | None]:
    """(failure, warning) of a phase the time limit stopped, from the highest step it
    logged or saved (`reached`) and its measured speed (steps/s)."""
    stopped = f"was stopped at the {timeout_s:g} s time limit"
    if target is None:
        return stopped, None
    if reached is None:
        return (
            f"{stopped}, no step logged toward {flag}: is it stuck before training, or does "
            "it log its steps where the harness cannot read them (--loss-regex)?",
            None,
        )
    if reached > target:
        return (
            f"{stopped}, having logged step {reached} past its target {target}: does "
            f"the job honour {flag}?",
            None,
        )
    if reached == target:
        return None, (
            f"it reached its target step {target} but {stopped} before it ended (saving, "
            "most likely): judged from what it wrote; raise --timeout to let it end by itself"
        )
    if not rate:
        return f"{stopped} at step {reached} of {target}", None
    return (
        f"{stopped} at step {reached} of {target}: it is slow, not stuck ({rate:.2f} "
        "steps/s); " + fits(rate, seconds, reached, target, timeout_s),
        None,
    )
