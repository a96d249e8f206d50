"""Learning: the job's loss is finite and falls beyond its own noise, stays down, and
what it logs beside it (accuracy) agrees that it learned.

The trend is judged against the run's own noise (`harness.checks.trend`): a
Mann-Kendall test on the order of the logged losses, and the last fifth's median below
the first fifth's by more than twice the step-to-step noise; a borderline fall (`Trend.
undecided`) is judged on a second training from scratch with twice the steps, when it
fits in --timeout (the scenario runs it), and says so. A slow learner passes; a
flat, rising or diverging series fails, and so does one that fell and then gave back
more than a third of its drop. A falling loss is not learning when an accuracy the job
logs stays where it started, or when a cross-entropy goes negative (the outputs are not
probabilities): those fail naming both series. A loss no name identified, chosen by
behaviour (the one series that falls and stays positive), is judged and said to be.
What cannot be judged - no loss found,
too few points - is a warning listing the series seen and the flag that settles it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from harness.checks.phases import TRAIN, TRAIN_LONGER
from harness.checks.trend import Trend, median_levels, spread, trend
from harness.record import CheckResult

if TYPE_CHECKING:
    from harness.job import LossSeries
    from harness.scenario.evidence import Evidence

NAME = "loss_decrease"
PHASES = (TRAIN,)
MIN_LOSSES = 4
# Of the drop from the first fifth to the best fifth, how much the last fifth may lose.
MAX_GIVEN_BACK = 1 / 3
# ... and by how many times the spread of its own losses (a plateau's noise is no climb).
NOISE_MARGIN = 2.0
# An accuracy this high at the end has nowhere left to rise.
SATURATED_ACCURACY = 0.9
CROSS_ENTROPY = re.compile(r"cross_?entropy|crossentropy|xent", re.IGNORECASE)
SETTLE_LOSS = "--loss-tag NAME (a summary tag or a printed name) or --loss-regex"


def check_loss_decrease(
    losses: Mapping[int, float],
    source: str,
    required_drop: float | None = None,
    accuracies: Mapping[str, Mapping[int, float]] | None = None,
    candidates: Mapping[str, int] | None = None,
    chosen_by: str = "name",
) -> CheckResult:
    """Finite; falling beyond its noise and not climbing back (and, when the user asks for
    one, at least `required_drop` below where it started); corroborated by `accuracies`."""
    steps = sorted(losses)
    evidence: dict = {"steps": len(steps), "source": source, "chosen_by": chosen_by}

    def result(status: bool | str, message: str) -> CheckResult:
        if chosen_by == "behaviour":
            message += (
                f"; no series is named as a loss: {source.split(';')[0]} was chosen by "
                f"behaviour (the only one that falls and stays positive; {SETTLE_LOSS} "
                "names another)"
            )
        if isinstance(status, bool):
            return CheckResult.judged(NAME, status, message, evidence=evidence)
        return CheckResult.from_findings(NAME, [], [message], "", evidence=evidence)

    bad = [s for s in steps if not math.isfinite(losses[s])]
    if bad:
        evidence["non_finite_steps"] = bad[:20]
        return result(False, f"loss is not finite at step {bad[0]} ({losses[bad[0]]})")
    if len(steps) < MIN_LOSSES:
        seen = ", ".join(f"{s} ({n})" for s, n in (candidates or {}).items()) or "none"
        return result(
            "warning",
            f"could not judge learning: found {len(steps)} logged losses ({source}), need "
            f"at least {MIN_LOSSES}; series seen: {seen}; name the loss with {SETTLE_LOSS}, "
            "or log it more often",
        )
    values = [losses[s] for s in steps]
    where = f"steps {steps[0]}-{steps[-1]}, {source}"
    if CROSS_ENTROPY.search(source) and min(values) < 0:
        at = next(s for s in steps if losses[s] < 0)
        return result(
            False,
            f"the cross-entropy went negative ({losses[at]:.4f} at step {at}): it is computed "
            f"on outputs that are not probabilities, so its fall is not learning ({where})",
        )
    found = trend(values)
    evidence["trend"] = dataclasses.asdict(found)
    if not found.falls:
        return result(False, f"{_no_trend(found)} ({where})")
    if required_drop is not None:
        limit = found.first - abs(found.first) * required_drop
        evidence.update(required_drop=required_drop, limit=limit)
        if found.last > limit:
            return result(
                False,
                f"median loss went from {found.first:.4f} to {found.last:.4f}; required <= "
                f"{limit:.4f}, a {required_drop:.0%} drop (--required-drop) ({where})",
            )
    if climbed := _climbed_back(steps, values, found.window):
        return result(False, f"{climbed} ({where})")
    if stalled := _accuracy_stalled(found, source, accuracies or {}, evidence):
        return result(False, stalled)
    return result(
        True,
        f"median loss fell from {found.first:.4f} (first {found.window} logged) to "
        f"{found.last:.4f} (last {found.window}), beyond its noise ({found.noise:.4g}; "
        f"Mann-Kendall p = {found.p_down:.3g}) ({where})",
    )


def _no_trend(found: Trend) -> str:
    direction = "rose" if found.last > found.first else "went"
    borderline = (
        " - borderline: more --steps (or a --timeout that fits twice the training) decides it"
        if found.undecided
        else ""
    )
    return (
        f"no learning: median loss {direction} from {found.first:.4f} to {found.last:.4f}, "
        f"not a fall beyond its noise ({found.noise:.4g}; Mann-Kendall p = {found.p_down:.3g}, "
        f"needs < 0.05){borderline}"
    )


def _climbed_back(steps: list[int], values: list[float], window: int) -> str | None:
    levels = median_levels(values, window)
    first, last, best = levels[0], levels[-1], min(levels)
    gained, given_back = first - best, last - best
    noise = spread(values[-window:])
    if gained > 0 and given_back > MAX_GIVEN_BACK * gained and given_back > NOISE_MARGIN * noise:
        at = steps[min(levels.index(best) * window, len(steps) - 1)]
        return (
            f"the loss fell from {first:.4f} to {best:.4f} (around step {at}), then climbed back "
            f"to {last:.4f} over the last {window} logged: it gave back "
            f"{given_back / gained:.0%} of its drop, more than {MAX_GIVEN_BACK:.0%}"
        )
    return None


def _accuracy_stalled(
    loss: Trend, source: str, accuracies: Mapping[str, Mapping[int, float]], evidence: dict
) -> str | None:
    """Why the accuracies say the falling loss is not learning: one that never rose."""
    for name, series in accuracies.items():
        values = [series[s] for s in sorted(series) if math.isfinite(series[s])]
        if len(values) < MIN_LOSSES:
            continue
        found = trend(values)
        evidence.setdefault("accuracies", {})[name] = [found.first, found.last]
        if found.rises or found.last >= SATURATED_ACCURACY:
            continue
        return (
            f"the loss ({source}) fell from {loss.first:.4f} to {loss.last:.4f}, but {name} "
            f"stayed at {found.last:.4f} (from {found.first:.4f}, no rise beyond its noise): "
            "the objective falls without the model learning"
        )
    return None


def longer_target(
    losses: Mapping[int, float], target: int | None, train_seconds: float, timeout_s: float
) -> int | None:
    """The step target of a longer training that can decide a borderline loss (twice the
    first), or None: clear already, nothing to double, or twice the train phase's time
    does not fit in --timeout (a run cut short would decide nothing)."""
    values = [losses[s] for s in sorted(losses)]
    if target is None or target <= 0 or len(values) < MIN_LOSSES:
        return None
    if not all(math.isfinite(v) for v in values) or 2 * train_seconds > timeout_s:
        return None
    return 2 * target if trend(values).undecided else None


def judge(evidence: Evidence) -> CheckResult:
    if evidence.runner.ok(TRAIN_LONGER):
        first, target = evidence.targets[TRAIN_LONGER]
        result = _judge(evidence, TRAIN_LONGER)
        unit = evidence.preflight.step.unit if evidence.preflight.step else "steps"
        said = f"borderline after {first} {unit}: trained {target} {unit} to decide; "
        return dataclasses.replace(
            result,
            message=said + result.message,
            evidence={**result.evidence, "longer_run": {"first": first, "target": target}},
        )
    return _judge(evidence, TRAIN)


def _judge(evidence: Evidence, phase: str) -> CheckResult:
    losses: LossSeries = evidence.phase(phase).losses
    if not losses:
        seen = ", ".join(f"{s} ({n})" for s, n in losses.candidates.items()) or "none"
        advice = (
            f"could not judge learning: no series the job logged is named as a loss, and "
            f"not exactly one falls and stays positive as a loss does; series seen: {seen}; "
            f"name it with {SETTLE_LOSS}"
        )
        return CheckResult.from_findings(NAME, [], [advice], "", evidence={"source": "none"})
    return check_loss_decrease(
        losses.values,
        losses.describe(),
        evidence.plan.required_drop,
        losses.accuracies,
        losses.candidates,
        losses.chosen_by,
    )
