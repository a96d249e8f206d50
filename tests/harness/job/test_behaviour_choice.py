"""Choosing the loss by behaviour when no name says which series it is
(harness/job/discovery.py behaves_like_a_loss, losses.choose): the one series that
falls and stays positive, said to be chosen so; several, or none: no choice."""

from __future__ import annotations

from pathlib import Path

from harness.checks.loss_decrease import check_loss_decrease, judge
from harness.job import JobOutput, LossSettings
from harness.record import PASSED, WARNING


def _log(**series) -> str:
    """`step N, name = value, ...` lines of each named series (lists of equal length)."""
    steps = len(next(iter(series.values())))
    return "".join(
        f"step {i + 1}, " + ", ".join(f"{n} = {v[i]}" for n, v in series.items()) + "\n"
        for i in range(steps)
    )


FALLING = [2.3 * 0.9**i for i in range(20)]
RISING = [0.1 + 0.03 * i for i in range(20)]


def test_the_one_falling_positive_series_is_chosen_by_behaviour(tmp_path: Path) -> None:
    losses = JobOutput(tmp_path).losses(_log(energy=FALLING, score=RISING))
    assert losses.source == "stdout:energy" and losses.chosen_by == "behaviour"
    result = check_loss_decrease(losses.values, losses.describe(), chosen_by=losses.chosen_by)
    assert result.status == PASSED
    assert "chosen by behaviour" in result.message and "--loss-tag" in result.message
    assert result.evidence["chosen_by"] == "behaviour"


def test_a_decaying_learning_rate_is_no_loss(tmp_path: Path) -> None:
    losses = JobOutput(tmp_path).losses(_log(lr=FALLING, score=RISING))
    assert not losses and set(losses.candidates) == {"stdout:lr", "stdout:score"}


def test_two_falling_series_leave_the_choice_to_the_user(tmp_path: Path) -> None:
    halves = [v / 2 for v in FALLING]
    losses = JobOutput(tmp_path).losses(_log(energy=FALLING, penalty=halves))
    assert not losses


def test_a_named_loss_wins_and_a_loss_tag_turns_behaviour_off(tmp_path: Path) -> None:
    named = JobOutput(tmp_path).losses(_log(loss=RISING, energy=FALLING))
    assert named.source == "stdout:loss" and named.chosen_by == "name"
    forced = JobOutput(tmp_path, LossSettings(tags=("missing",))).losses(_log(energy=FALLING))
    assert not forced


def test_no_choice_is_a_warning_naming_the_candidates_and_the_flag(tmp_path: Path) -> None:
    class _Phase:
        losses = JobOutput(tmp_path).losses(_log(a=FALLING, b=FALLING))

    class _Evidence:
        plan = type("Plan", (), {"required_drop": None})()
        runner = type("Runner", (), {"ok": lambda _, name: False})()

        def phase(self, name):
            return _Phase()

    result = judge(_Evidence())
    assert result.status == WARNING
    assert "stdout:a (20)" in result.message and "--loss-tag" in result.message
