"""Reproducibility on the Estimator-shaped fixture job, the cheapest seeded job: the same
seed twice logs identical per-step losses (`reproducible` passes, whole table asserted);
another seed diverges at its first logged step, and `compare` says where.

The other sides are proved elsewhere, once: the job without its seed fails exactly
`reproducible` (the `unseeded` mutant in test_foreign_jobs.py), and our own trainer's
bitwise reproducibility is the README walk's `compare` of two default validations
(test_readme.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends.local import LocalBackend
from harness.compare import compare
from harness.record import PASSED
from harness.scenario import validate
from tests.support.foreign_jobs import (
    ESTIMATOR_LIKE,
    expected_verdicts,
    plan_for,
    verdict_messages,
    verdict_table,
)

pytestmark = pytest.mark.slow


def test_same_seed_is_reproducible_and_another_seed_diverges(tmp_path: Path, job_inputs) -> None:
    job = ESTIMATOR_LIKE
    backend = LocalBackend(job.folder)
    first = validate(backend, plan_for(job, job_inputs, reproducible=True), tmp_path / "a")
    expected = {**expected_verdicts(job), "reproducible": PASSED}
    assert verdict_table(first.record) == expected, verdict_messages(first.record)
    logged = first.record.phase("train").losses
    assert first.record.check("reproducible").evidence["steps_compared"] == len(logged) > 1

    plan = plan_for(job, job_inputs)
    plan.train_params = plan.train_params.with_flag("seed", 2)
    other = validate(backend, plan, tmp_path / "b")
    comparison = compare(first.record, other.record)
    assert not comparison.identical_losses
    train = next(phase for phase in comparison.phases if phase.name == "train")
    assert train.first_divergence is not None and train.first_divergence.step == min(logged)
    assert comparison.job["train_params"][0] != comparison.job["train_params"][1]
