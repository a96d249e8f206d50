"""A phase against its time limit (finding 2): the README's 299x299 example trained at
0.14 steps/s, reached step 80 of 80, was stopped at 600 s while saving, and was told it
might not honour its step flag. Now: finishing the target is judged from what it wrote
with a warning, a slow job is told what --timeout or --steps would fit, a job logging
past its target is asked about its flag, and the forecast at the first logged steps says
at once that 80 steps will not fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends.local import LocalBackend
from harness.scenario import Plan, validate
from harness.scenario.time_limit import FitForecast, limit_verdict
from tests.support.plain_jobs import write_plain_job


def test_reaching_the_target_then_stopped_while_saving_is_judged_with_a_warning() -> None:
    failure, warning = limit_verdict(600, 80, 80, 0.14, 600.0, "--number_of_steps=80")
    assert failure is None
    assert warning.startswith("it reached its target step 80 but was stopped at the 600 s")
    assert "judged from what it wrote" in warning


def test_a_slow_job_is_told_what_would_fit_not_asked_about_its_flag() -> None:
    failure, warning = limit_verdict(600, 80, 60, 0.1, 600.0, "--number_of_steps=80")
    assert warning is None and "honour" not in failure
    assert failure == (
        "was stopped at the 600 s time limit at step 60 of 80: it is slow, not stuck "
        "(0.10 steps/s); give --timeout 1000, or --steps 48"
    )


def test_a_job_logging_past_its_target_is_asked_about_its_flag() -> None:
    failure, _ = limit_verdict(600, 80, 950, 2.0, 600.0, "--number_of_steps=80")
    assert "logged step 950 past its target 80: does the job honour --number_of_steps=80?" in (
        failure
    )


def test_the_forecast_says_at_the_first_logged_steps_that_80_will_not_fit() -> None:
    said: list[str] = []
    forecast = FitForecast(80, 600, started=0.0, say=said.append)
    for step, now in ((1, 60.0), (5, 88.6), (10, 124.3)):
        forecast.feed(step, now)
    forecast.feed(20, 196.0)  # said once
    assert said == [
        "warning: at 0.14 steps/s (steps 1-10), step 80 comes at about 624 s, past the 600 s "
        "limit: give --timeout 781, or --steps 59"
    ]


def test_the_forecast_stays_quiet_when_the_target_fits() -> None:
    said: list[str] = []
    forecast = FitForecast(80, 600, started=0.0, say=said.append)
    for step, now in ((1, 5.0), (2, 6.0), (3, 7.0)):
        forecast.feed(step, now)
    assert said == []


SAVES_PAST_THE_LIMIT = """\
for step in range(1, args.number_of_steps + 1):
    print(f"global step {step}: loss = {4.0 / step:.4f}", flush=True)
print("saving...", flush=True)
time.sleep(1000)  # a save that outlasts the time limit
"""


@pytest.mark.slow
def test_a_job_stopped_while_saving_after_its_target_is_judged(tmp_path: Path, capsys) -> None:
    """End to end with a plain-Python job (no TensorFlow): train and resume both reach
    their targets, are stopped by a 4 s limit while 'saving', and are judged."""
    code, sample = write_plain_job(tmp_path, SAVES_PAST_THE_LIMIT)
    plan = Plan(
        train_params=["--number_of_steps=30"],
        profile="none",
        data=sample,
        timeout_s=4,
        resume_steps=10,
    )
    backend = LocalBackend(code, sandbox_mode=False)
    result = validate(backend, plan, tmp_path / "run")
    table = {c.name: c.status for c in result.record.checks}
    assert table["loss_decrease"] == "passed", table
    assert table["resume"] != "not run", table
    train = result.record.phase("train")
    assert train.timed_out and train.diagnosis.startswith("time limit: it reached its target")


def test_a_job_that_logged_no_step_is_not_called_slow() -> None:
    failure, _ = limit_verdict(2, 3, None, None, 2.0, "--number_of_steps=3")
    assert failure == (
        "was stopped at the 2 s time limit, no step logged toward --number_of_steps=3: is it "
        "stuck before training, or does it log its steps where the harness cannot read them "
        "(--loss-regex)?"
    )
