"""The six kinds of wrong verdict found on jobs nobody on this project wrote, each
reproduced by a fixture job (tests/support/behaviour_jobs.py) and judged with its whole
verdict table: discovery of the loss by its own name and by the most points, learning
judged against its own noise, a checkpoint's saved step over its file name, resume
judged from the rerun's behaviour, and an accuracy or a negative cross-entropy that
says a falling loss is not learning."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends.local import LocalBackend
from harness.scenario import validate
from tests.support import foreign_jobs as shapes
from tests.support.behaviour_jobs import BEHAVIOUR_JOBS, BEHAVIOUR_MUTANTS

pytestmark = pytest.mark.slow

SOURCES = {
    "named_cost": "events:Cost",
    "sparse_summaries": "stdout:loss",
    "slow_keras": "stdout:keras",
    "checkpoint_manager": "events:train/loss",
    "logits_xent": "stdout:cross_entropy",
}


@pytest.mark.parametrize("name", sorted(BEHAVIOUR_JOBS))
def test_each_job_gets_its_verdict_table(name: str, tmp_path: Path, job_inputs) -> None:
    job = BEHAVIOUR_JOBS[name]
    result = validate(LocalBackend(job.folder), shapes.plan_for(job, job_inputs), tmp_path)
    record = result.record
    assert shapes.verdict_table(record) == shapes.expected_verdicts(job), shapes.verdict_messages(
        record
    )
    if name in SOURCES:
        assert record.phase("train").loss_source == SOURCES[name]
    if name == "checkpoint_manager":  # ckpt-3 holds step 60, ckpt-4 step 70
        evidence = record.check("resume").evidence
        assert evidence["first_run_last_checkpoint_step"] == 60
        assert evidence["rerun_last_checkpoint_step"] == 70


@pytest.mark.parametrize(("name", "mutant"), BEHAVIOUR_MUTANTS)
def test_each_mutant_fails_exactly_its_check(
    name: str, mutant: str, tmp_path: Path, job_inputs
) -> None:
    job = BEHAVIOUR_JOBS[name]
    code = shapes.make_mutant(job, mutant, tmp_path / "code")
    result = validate(LocalBackend(code), shapes.plan_for(job, job_inputs), tmp_path / "run")
    expected = shapes.expected_verdicts(job, mutant)
    assert shapes.verdict_table(result.record) == expected, shapes.verdict_messages(result.record)
    assert not result.passed
