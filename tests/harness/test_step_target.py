"""How validate chooses the job's step target: the job's own flag, capped by the profile,
or --steps; the built-in quick job keeps its own budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.distributed_mode import ClusterSpec
from harness.jobshapes import PLATFORM_EXAMPLE_PARAMS
from harness.params import JobParams
from harness.scenario import QUICK_PARAMS, QUICK_STEPS, Plan, inspect

UPSTREAM = list(PLATFORM_EXAMPLE_PARAMS)  # --number_of_steps=1000000 at 299x299, batch 32


def _target(plan: Plan) -> tuple[str, int] | None:
    step = inspect(plan).step
    return None if step is None else (step.flag, step.value)


def test_the_im2txt_profile_caps_an_upstream_size_job_at_80_steps() -> None:
    assert _target(Plan(train_params=UPSTREAM)) == ("number_of_steps", 80)


def test_a_smaller_target_than_the_cap_is_kept() -> None:
    params = JobParams.of(UPSTREAM).with_flag("number_of_steps", 30)
    assert _target(Plan(train_params=params)) == ("number_of_steps", 30)


def test_the_none_profile_keeps_the_jobs_own_target(tmp_path: Path) -> None:
    (tmp_path / "part-0.csv").write_text("1,2\n")
    params = JobParams.of(UPSTREAM).with_flag("number_of_steps", 5000)
    plan = Plan(train_params=params, profile="none", data=tmp_path)
    assert _target(plan) == ("number_of_steps", 5000)


def test_steps_overrides_the_cap_and_the_quick_job_keeps_its_budget() -> None:
    assert _target(Plan(train_params=UPSTREAM, steps=500)) == ("number_of_steps", 500)
    assert _target(Plan()) == ("number_of_steps", QUICK_STEPS)
    # Changed in any way, the quick job is the user's own: the profile's cap applies.
    changed = JobParams.of(QUICK_PARAMS).with_flag("seed", 1)
    assert _target(Plan(train_params=changed)) == ("number_of_steps", 80)


@pytest.mark.parametrize("steps", [0, -3])
def test_a_target_below_one_is_named(steps: int) -> None:
    with pytest.raises(ValueError, match="step target must be at least 1"):
        inspect(Plan(train_params=UPSTREAM, steps=steps))


def test_a_hyphenated_flag_is_found_and_steps_replace_it(tmp_path: Path) -> None:
    (tmp_path / "train.tfrecords").write_text("x")
    params = ["--train-steps=80000", "--train-batch-size=16"]
    plan = Plan(train_params=params, profile="none", data=tmp_path, steps=40)
    assert _target(plan) == ("train-steps", 40)
    named = Plan(
        train_params=params, profile="none", data=tmp_path, steps=40, step_flag="train_steps"
    )
    assert _target(named) == ("train-steps", 40)


def test_epochs_are_never_capped_by_a_step_budget() -> None:
    params = [*UPSTREAM[:3], "--epochs=3"]
    step = inspect(Plan(train_params=params)).step
    assert (step.flag, step.value, step.unit) == ("epochs", 3, "epochs")


def test_steps_without_a_known_flag_names_the_ones_looked_for(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    with pytest.raises(ValueError, match="--max_number_of_steps, --max_steps") as err:
        inspect(Plan(train_params=["--lr=1"], profile="none", data=tmp_path, steps=5))
    assert "--step-flag" in str(err.value)


def test_the_built_in_job_in_a_cluster_drops_its_single_node_promise() -> None:
    plan = Plan(cluster=ClusterSpec(ps=1, worker=2))
    assert "--deterministic" not in plan.train_params and plan.steps == QUICK_STEPS
    assert "--deterministic" in Plan().train_params
