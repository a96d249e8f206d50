"""A borderline loss: the trend test's 'undecided' outcome and the decision to train
longer before judging (harness/checks/trend.py, loss_decrease.longer_target and judge),
without TensorFlow."""

from __future__ import annotations

import random

from harness.checks import loss_decrease
from harness.checks.phases import TRAIN, TRAIN_LONGER
from harness.checks.trend import trend
from harness.job import LossSeries
from harness.params import StepTarget
from harness.record import FAILED, PASSED

CLEAR = [2.0 * 0.95**i for i in range(40)]
FLAT = [1.0 + 0.01 * ((-1) ** i) for i in range(40)]
# A fall inside the noise: the order leans down, the drop is within twice the noise.
_rng = random.Random(7)
WEAK = [1.0 - 0.0015 * i + _rng.gauss(0, 0.05) for i in range(40)]


def _series(values: list[float]) -> dict[int, float]:
    return {10 * (i + 1): v for i, v in enumerate(values)}


def test_undecided_is_a_fall_short_of_the_evidence_but_near_it() -> None:
    weak = trend(WEAK)
    assert weak.undecided and not weak.falls, weak
    assert not trend(CLEAR).undecided and trend(CLEAR).falls
    assert not trend(FLAT).undecided
    assert not trend(list(reversed(CLEAR))).undecided  # rising is no borderline fall


def test_a_borderline_loss_trains_twice_the_steps_when_that_fits() -> None:
    assert loss_decrease.longer_target(_series(WEAK), 400, 30.0, 600) == 800
    assert loss_decrease.longer_target(_series(WEAK), 400, 301.0, 600) is None  # no fit
    assert loss_decrease.longer_target(_series(WEAK), None, 30.0, 600) is None  # no flag
    assert loss_decrease.longer_target(_series(CLEAR), 400, 30.0, 600) is None  # clear
    assert loss_decrease.longer_target(_series(FLAT), 400, 30.0, 600) is None  # flat: fails
    nan = _series([*WEAK[:-1], float("nan")])
    assert loss_decrease.longer_target(nan, 400, 30.0, 600) is None  # not finite: fails


class _Phase:
    def __init__(self, values: list[float]) -> None:
        self.losses = LossSeries(_series(values), "stdout:loss")


class _Evidence:
    """What loss_decrease.judge reads: the phases, the longer run's targets, the plan."""

    def __init__(self, phases: dict[str, _Phase]) -> None:
        self.phases = phases
        self.targets = {TRAIN_LONGER: (400, 800)} if TRAIN_LONGER in phases else {}
        self.plan = type("Plan", (), {"required_drop": None})()
        self.preflight = type("Preflight", (), {"step": StepTarget("max_steps", 400)})()
        self.runner = type("Runner", (), {"ok": lambda _, name: name in phases})()

    def phase(self, name: str) -> _Phase:
        return self.phases[name]


def test_the_longer_run_is_judged_and_said_to_be() -> None:
    result = loss_decrease.judge(_Evidence({TRAIN: _Phase(WEAK), TRAIN_LONGER: _Phase(CLEAR)}))
    assert result.status == PASSED
    assert result.message.startswith("borderline after 400 steps: trained 800 steps to decide")
    assert result.evidence["longer_run"] == {"first": 400, "target": 800}


def test_without_a_longer_run_the_train_phase_is_judged() -> None:
    result = loss_decrease.judge(_Evidence({TRAIN: _Phase(CLEAR)}))
    assert result.status == PASSED and "borderline" not in result.message


def test_a_borderline_fall_left_undecided_says_how_to_decide_it() -> None:
    result = loss_decrease.check_loss_decrease(_series(WEAK), "stdout:loss")
    assert result.status == FAILED and "borderline: more --steps" in result.message
