"""The speed gate compares like with like (finding 4): a baseline made on a workstation
does not trip the gate on a CI runner half as fast, because each speed is taken per
GFLOP/s of the machine that measured it; a real slowdown still does."""

from __future__ import annotations

import copy

from harness.checks import regression
from harness.record import FAILED, PASSED, WARNING

BASE = {
    "identity": {"train_params": ["--x=1"]},
    "version": {"kind": "code path", "sha256": "a" * 64},
    "losses": {str(s): 2.0 - s / 10 for s in range(1, 11)},
    "verdicts": {"loss_decrease": PASSED},
    "outputs": ["model.ckpt-10.index"],
    "speed": {"steps_per_s": 20.0, "machine_gflops": 60.0, "seconds": 10.0},  # a workstation
}


def _on(steps_per_s: float, gflops: float | None) -> dict:
    run = copy.deepcopy(BASE)
    run["speed"] = {"steps_per_s": steps_per_s, "machine_gflops": gflops, "seconds": 10.0}
    return run


def test_a_slower_machine_is_not_a_slower_job() -> None:
    result = regression.check_regression(BASE, _on(8.5, 25.0), "b.json", speed_tolerance=0.2)
    assert result.status == PASSED, result.message
    assert "102%" in result.evidence["speed"]
    assert "per GFLOP/s of each machine: 25 here, 60 baseline's" in result.evidence["speed"]


def test_a_slower_job_on_the_same_kind_of_machine_fails() -> None:
    result = regression.check_regression(BASE, _on(12.0, 60.0), "b.json", speed_tolerance=0.2)
    assert result.status == FAILED and "it got slower" in result.message


def test_without_a_machine_figure_the_raw_speeds_are_said_to_be_raw() -> None:
    result = regression.check_regression(BASE, _on(19.0, None), "b.json")
    assert "no machine figure in one run: raw speeds" in result.evidence["speed"]


def _timed(steps_per_s: float, seconds: float) -> dict:
    run = _on(steps_per_s, 60.0)
    run["speed"]["seconds"] = seconds
    return run


def test_a_slowdown_a_pause_could_explain_is_a_warning_not_a_failure() -> None:
    # Twelve steps in 50 ms on a busy CI machine: a scheduler's pause, not the job.
    result = regression.check_regression(BASE, _timed(5.0, 0.05), "b.json")
    assert result.status == WARNING, result.message
    assert result.warnings[0].startswith("speed not judged: 5.0 steps/s")
    assert "timed over 0.05 s here and 10.00 s in the baseline" in result.message


def test_a_slowdown_beyond_any_pause_fails_even_over_a_short_stretch() -> None:
    # 1.9 s for what the baseline did in 0.05 s: no pause of PAUSE_S accounts for that.
    base = copy.deepcopy(BASE)
    base["speed"] |= {"steps_per_s": 1200.0, "seconds": 0.05}
    result = regression.check_regression(base, _timed(31.0, 1.9), "b.json")
    assert result.status == FAILED and "it got slower" in result.message


def test_a_short_baseline_stretch_read_in_a_burst_does_not_fail_a_steady_job() -> None:
    # The harness's clock: lines held back, then read in a 50 ms burst, time the baseline
    # at 1000 steps/s; the same job, timed evenly 1.4 times slower, is not failed for it.
    base = copy.deepcopy(BASE)
    base["speed"] |= {"steps_per_s": 1000.0, "seconds": 0.048}
    result = regression.check_regression(base, _timed(71.4, 2.0), "b.json", speed_tolerance=0.5)
    assert result.status == WARNING, result.message


def test_a_baseline_that_does_not_say_how_long_it_timed_is_not_judged_on_speed() -> None:
    base = copy.deepcopy(BASE)
    del base["speed"]["seconds"]
    result = regression.check_regression(base, _timed(5.0, 10.0), "b.json")
    assert result.status == WARNING and "make it again" in result.message
