"""Jobs this repository did not write, in the shapes of UCloud's own examples, judged by the
same checks as our trainer: each gets its whole verdict table, and each one-edit mutant
fails exactly the check built for it (tests/support/foreign_jobs.py holds the tables)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.backends.local import LocalBackend
from harness.scenario import validate
from tests.support.foreign_jobs import (
    JOBS,
    MUTANTS,
    expected_verdicts,
    make_mutant,
    plan_for,
    verdict_messages,
    verdict_table,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def passing(job_inputs, tmp_path_factory):
    """Each unmutated job validated once, for the tests that read its run."""
    runs = {}

    def run(name: str):
        if name not in runs:
            folder = tmp_path_factory.mktemp(name)
            runs[name] = validate(
                LocalBackend(JOBS[name].folder), plan_for(JOBS[name], job_inputs), folder
            )
        return runs[name]

    return run


QUICK = ("keras_fit", "keras_model", "slim_like")


@pytest.mark.xdist_group("foreign-passing")
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=[pytest.mark.quick] if n in QUICK else []) for n in sorted(JOBS)]
)
def test_each_job_shape_gets_its_verdict_table(name: str, passing) -> None:
    result = passing(name)
    expected = expected_verdicts(JOBS[name])
    assert verdict_table(result.record) == expected, verdict_messages(result.record)
    assert result.passed


@pytest.mark.parametrize(
    ("name", "mutant"),
    [
        pytest.param(
            *m, marks=[pytest.mark.quick] if m == ("estimator_like", "never_resumes") else []
        )
        for m in MUTANTS
    ],
)
def test_each_mutant_fails_exactly_its_check(
    name: str, mutant: str, tmp_path: Path, job_inputs
) -> None:
    job = JOBS[name]
    code = make_mutant(job, mutant, tmp_path / "code")
    plan = plan_for(job, job_inputs, **job.mutants[mutant].settings)
    result = validate(LocalBackend(code), plan, tmp_path / "run")
    expected = expected_verdicts(job, mutant)
    assert verdict_table(result.record) == expected, verdict_messages(result.record)
    assert not result.passed


@pytest.mark.xdist_group("foreign-passing")
def test_what_each_shape_is_read_from(passing) -> None:
    """The loss source and the saved models the verdicts came from, per shape."""
    sources = {name: passing(name).record.phase("train").loss_source for name in JOBS}
    assert sources == {
        "tf1_compat": "events:total_loss",
        "keras_fit": "stdout:keras",
        "keras_model": "stdout:keras",
        "tf1_summaries": "events:cross_entropy_1",
        "estimator_like": "events:loss",
        "slim_like": "events:total_loss_1",
    }
    keras = passing("keras_model").record
    # Judged on a Keras model file: the job saves .h5 and .keras in the same second, so
    # either may be the earliest.
    judged_on = keras.check("pretrained_restore").evidence["checkpoint"]
    assert judged_on.endswith(("digits_model.h5", "digits_model.keras")), judged_on
    assert "no resume logic" in keras.check("resume").message
    assert keras.phase("train").loss_candidates["stdout:keras"] == 4
    slim = passing("slim_like").record.check("pretrained_restore")
    assert slim.evidence["excluded"] == {
        "MobileNano/Logits/biases": "under --checkpoint_exclude_scopes MobileNano/Logits",
        "MobileNano/Logits/weights": "under --checkpoint_exclude_scopes MobileNano/Logits",
        "global_step": "training bookkeeping (step, optimizer state), not a model weight",
    }
    assert set(slim.evidence["judged"]) == {"restored, frozen", "restored, fine-tuned"}
    estimator = passing("estimator_like").record
    assert estimator.job["step_flag"] == "train-steps"
    assert estimator.phase("resume").command[-1].count("--train-steps=70") == 1


@pytest.mark.parametrize("mutant", [None, "never_resumes"])
def test_a_silent_keras_fit_is_judged_by_its_summaries(
    mutant: str | None, tmp_path: Path, job_inputs
) -> None:
    """keras_fit with verbose=0: only TensorBoard's batch_loss (restarting at 0 in every fit)
    and epoch_loss say what it trained, so a rerun's first step number cannot show a
    restart; the resumed job keeps its table and the one that starts over still fails."""
    job = JOBS["keras_fit"]
    code = make_mutant(job, mutant, tmp_path / "code") if mutant else job.folder
    plan = plan_for(job, job_inputs)
    plan = dataclasses.replace(plan, train_params=plan.train_params.with_flag("verbose", 0))
    result = validate(LocalBackend(code), plan, tmp_path / "run")
    expected = expected_verdicts(job, mutant)
    assert verdict_table(result.record) == expected, verdict_messages(result.record)
    assert result.record.phase("train").loss_source == "events:batch_loss"
    assert result.record.phase("resume").speed["unit"] == "steps"
