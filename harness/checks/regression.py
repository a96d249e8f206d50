"""Regression: this run is no worse than the committed baseline of the same job.

Judged from two baseline summaries (`harness.baseline`): the run's and the file's.
A different job identity (main file, parameters, profile, step target) is said first:
the baseline is for another job and a new one is due. Otherwise the run fails for
what got worse: its loss curve (the mean of the last fifth of the training losses
more than `loss_tolerance` above the baseline's, or for a reproducible job any loss
that is not the same float), a check that passed in the baseline and now does not,
files under output_dir that appeared or disappeared, and a training speed (steps/s of
its fastest stretch, `harness.speed`) below `speed_tolerance` of the baseline's - per
GFLOP/s of each machine, both shown beside the figures. A slowdown that a pause of
`PAUSE_S` in either run's timed stretch could explain is a warning, not a failure (the
gate cannot judge it: a longer training can). A changed
code version is named but judged like any other run: that is what the gate is for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.checks.levels import fifth_mean
from harness.checks.phases import TRAIN
from harness.defaults import LOSS_TOLERANCE, SPEED_TOLERANCE
from harness.jobshapes import STEPS
from harness.record import PASSED, CheckResult
from harness.speed import STRETCH_MIN_S

# How far off a timed stretch may be through no fault of the job: a scheduler's pause on
# a busy machine, or a burst of log lines the harness read late.
PAUSE_S = 0.3

if TYPE_CHECKING:
    from harness.scenario.evidence import Evidence

NAME = "regression"
PHASES = (TRAIN,)  # judged from the stored record, once every phase has run


def _last_fifth(losses: Mapping[str, float]) -> float | None:
    """A summary's losses (keyed by step as text) at their end; None without any."""
    return fifth_mean({int(k): v for k, v in losses.items()}, last=True) if losses else None


def _identity_changes(base: dict, now: dict) -> list[str]:
    return [
        f"{key}: {base.get(key)!r} -> {now.get(key)!r}"
        for key in sorted(set(base) | set(now))
        if base.get(key) != now.get(key)
    ]


def _loss_problem(base: dict, now: dict, tolerance: float, bitwise: bool) -> tuple[str | None, str]:
    if bitwise:
        same = base["losses"].keys() == now["losses"].keys() and all(
            base["losses"][s] == now["losses"][s]
            or (math.isnan(base["losses"][s]) and math.isnan(now["losses"][s]))
            for s in base["losses"]
        )
        text = (
            f"losses {'identical' if same else 'differ'} bit for bit ({len(now['losses'])} steps)"
        )
        return (None if same else f"the reproducible job's {text} from the baseline's"), text
    was, is_ = _last_fifth(base["losses"]), _last_fifth(now["losses"])
    if was is None or is_ is None:
        return "no training losses to compare with the baseline's", "no losses"
    if not math.isfinite(is_):
        return f"the loss got worse: it is {is_} at the end (baseline {was:.4f})", f"loss {is_}"
    limit = was + abs(was) * tolerance
    text = f"last-fifth loss {is_:.4f} vs baseline {was:.4f} (limit {limit:.4f}, +{tolerance:.0%})"
    return (f"the loss got worse: {text}" if is_ > limit else None), text


def _speed_problem(base: dict, now: dict, tolerance: float) -> tuple[str | None, str | None, str]:
    """(the slowdown, why it could not be judged, the figures)."""
    was, is_ = base.get("speed") or {}, now.get("speed") or {}
    if not was.get("steps_per_s") or not is_.get("steps_per_s"):
        return None, None, "speed not compared (no timed steps in one of the runs)"
    unit, was_unit = is_.get("unit", STEPS), was.get("unit", STEPS)
    if unit != was_unit:
        return None, None, f"speed not compared (timed in {unit}, the baseline in {was_unit})"
    ratio = is_["steps_per_s"] / was["steps_per_s"]
    gflops, was_gflops = is_.get("machine_gflops") or 0, was.get("machine_gflops") or 0
    # Like with like: each speed per GFLOP/s of the machine that ran it (a workstation's
    # baseline must not trip the gate on a CI runner half as fast).
    machines = "no machine figure in one run: raw speeds"
    if gflops > 0 and was_gflops > 0:
        ratio *= was_gflops / gflops
        machines = f"per GFLOP/s of each machine: {gflops:.0f} here, {was_gflops:.0f} baseline's"
    text = (
        f"{is_['steps_per_s']:.1f} {unit}/s vs baseline {was['steps_per_s']:.1f}: {ratio:.0%} "
        f"(at least {1 - tolerance:.0%}; {machines})"
    )
    if ratio >= 1 - tolerance:
        return None, None, text
    # Slower, if neither timing is off by a pause (or a burst of lines read late) of
    # PAUSE_S: each stretch's length moved by that much the way that favours the job.
    seconds, was_seconds = is_.get("seconds"), was.get("seconds")
    if not seconds or not was_seconds:
        unsaid = "a run does not say how long its stretch was timed (a baseline of an older"
        return None, f"speed not judged: {text}, but {unsaid} harness: make it again)", text
    if (
        seconds <= PAUSE_S
        or ratio * seconds / (seconds - PAUSE_S) * (was_seconds + PAUSE_S) / was_seconds
        >= 1 - tolerance
    ):
        return (
            None,
            (
                f"speed not judged: {text}, but timed over {seconds:.2f} s here and "
                f"{was_seconds:.2f} s in the baseline, which a busy machine's pause of "
                f"{PAUSE_S} s can account for; train for at least {STRETCH_MIN_S:.0f} s (more "
                "steps, in the baseline too) to judge it"
            ),
            text,
        )
    return f"it got slower: {text}", None, text


def check_regression(
    baseline: dict[str, Any],
    current: dict[str, Any],
    baseline_name: str,
    loss_tolerance: float = LOSS_TOLERANCE,
    speed_tolerance: float = SPEED_TOLERANCE,
) -> CheckResult:
    """Judge the current run's summary against the baseline's."""
    problems: list[str] = []
    changed = _identity_changes(baseline["identity"], current["identity"])
    if changed:
        problems.append(
            f"the job is not the one {baseline_name} was made from ({'; '.join(changed)}): "
            "a new baseline is due (uai-harness baseline RUN)"
        )
    loss_problem, loss_text = _loss_problem(
        baseline, current, loss_tolerance, bool(current["identity"].get("reproducible"))
    )
    speed_problem, speed_unjudged, speed_text = _speed_problem(baseline, current, speed_tolerance)
    lost = [
        f"{name} ({baseline['verdicts'][name]} -> {current['verdicts'].get(name, 'not planned')})"
        for name in sorted(baseline["verdicts"])
        if baseline["verdicts"][name] == PASSED and current["verdicts"].get(name) != PASSED
    ]
    appeared = sorted(set(current["outputs"]) - set(baseline["outputs"]))
    gone = sorted(set(baseline["outputs"]) - set(current["outputs"]))
    problems += [p for p in (loss_problem,) if p]
    if lost:
        problems.append(f"checks that passed in the baseline no longer do: {', '.join(lost)}")
    if appeared:
        problems.append(f"new files under output_dir: {', '.join(appeared[:5])}")
    if gone:
        problems.append(f"files the baseline wrote are missing: {', '.join(gone[:5])}")
    problems += [p for p in (speed_problem,) if p]
    version_note = (
        "code unchanged"
        if baseline["version"] == current["version"]
        else f"code changed since the baseline ({_version_text(baseline)} -> "
        f"{_version_text(current)})"
    )
    evidence = {
        "baseline": baseline_name,
        "loss": loss_text,
        "speed": speed_text,
        "version": version_note,
        "baseline_losses": baseline["losses"],
        "outputs_appeared": appeared,
        "outputs_gone": gone,
        "checks_lost": lost,
    }
    message = f"as good as {baseline_name}: {loss_text}; {speed_text}; same outputs; {version_note}"
    advice = [speed_unjudged] if speed_unjudged else []
    return CheckResult.from_findings(NAME, problems, advice, message, evidence=evidence)


def judge(evidence: Evidence) -> CheckResult:
    """From the run's stored (redacted) record, summarised as a baseline is."""
    from harness.baseline import summarise

    plan = evidence.plan
    return check_regression(
        evidence.preflight.baseline,
        summarise(evidence.stored_record),
        plan.baseline.name,
        plan.loss_tolerance,
        plan.speed_tolerance,
    )


def _version_text(summary: dict) -> str:
    version = summary["version"]
    value = version.get("id") or version.get("sha256") or "?"
    return f"{version.get('kind')} {str(value).removeprefix('sha256:')[:12]}"
