"""The two foreign fixture jobs in containers: same verdicts as locally, plus the image
contract - the Keras job brings its own data and backbone with --data/--pretrained."""

from __future__ import annotations

import pytest

from harness.backends.container import DockerBackend
from harness.record import PASSED
from harness.validate import Plan, validate
from tests.foreign_jobs import JOBS, KERAS_FIT, PASSING, make_inputs

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.mark.parametrize("name", sorted(JOBS))
def test_foreign_job_in_its_image_passes(name, job_image, tmp_path) -> None:
    job = JOBS[name]
    image = job_image(job.folder)
    plan = Plan(train_params=job.params())
    if job is KERAS_FIT:
        make_inputs(KERAS_FIT, tmp_path / "inputs")
        plan = Plan(
            train_params=job.params(),
            profile="none",
            data=tmp_path / "inputs" / "data",
            pretrained=tmp_path / "inputs" / job.pretrained_file.lstrip("/"),
        )
    result = validate(DockerBackend(image), plan, tmp_path / "run")
    table = {check.name: check.status for check in result.record.checks}
    assert table == {**PASSING[name], "image_contract": PASSED}, {
        c.name: c.message for c in result.record.checks
    }
    assert result.record.code["kind"] == "image"
