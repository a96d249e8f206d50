"""The foreign fixture jobs in containers of their own images: the verdict table each gets
locally, plus the image contract (tests/support/foreign_jobs.py holds the tables)."""

from __future__ import annotations

import pytest

from harness.backends.container import DockerBackend
from harness.record import PASSED
from harness.scenario import validate
from tests.support.foreign_jobs import JOBS, expected_verdicts, plan_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.mark.parametrize("name", sorted(JOBS))
def test_each_job_shape_in_its_image_gets_its_verdict_table(
    name, job_image, job_inputs, tmp_path
) -> None:
    job = JOBS[name]
    result = validate(
        DockerBackend(job_image(job.folder)), plan_for(job, job_inputs), tmp_path / "run"
    )
    table = {check.name: check.status for check in result.record.checks}
    assert table == {**expected_verdicts(job), "image_contract": PASSED}, {
        c.name: c.message for c in result.record.checks
    }
    assert result.passed and result.record.code["kind"] == "image"
