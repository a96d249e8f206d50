"""Jobs this repository did not write, judged by the same checks as our trainer.

`fixtures/jobs/tf1_compat` (tf.compat.v1 graph mode, MonitoredSession, Estimator-style
loss lines, summaries in output_dir) runs on the im2txt profile's generated records;
`fixtures/jobs/keras_fit` (Keras 3 `model.fit`, its own CSV and backbone) brings its
own data with `--data/--pretrained` and the generic checks only. Each passes, and each
of its four one-edit mutants fails exactly the check built for it: the whole verdict
table is asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends.local import LocalBackend
from harness.record import FAILED
from harness.validate import Plan, validate
from tests.foreign_jobs import JOBS, KERAS_FIT, MUTANT_NAMES, PASSING, make_inputs, make_mutant

pytestmark = pytest.mark.slow

CAUGHT_BY = {
    "writes_outside_output": "path_contract",
    "skips_pretrained_restore": "pretrained_restore",
    "learning_rate_zero": "loss_decrease",
    "never_resumes": "resume",
}


@pytest.fixture(scope="module")
def keras_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keras-inputs")
    make_inputs(KERAS_FIT, folder)
    return folder


def plan_for(name: str, keras_inputs: Path) -> Plan:
    job = JOBS[name]
    if name == "keras_fit":
        return Plan(
            train_params=job.params(),
            profile="none",
            data=keras_inputs / "data",
            pretrained=keras_inputs / job.pretrained_file.lstrip("/"),
        )
    return Plan(train_params=job.params())


@pytest.mark.parametrize("name", sorted(JOBS))
def test_foreign_job_passes_every_applicable_check(name: str, tmp_path: Path, keras_inputs) -> None:
    result = validate(LocalBackend(JOBS[name].folder), plan_for(name, keras_inputs), tmp_path)
    table = {check.name: check.status for check in result.record.checks}
    assert table == PASSING[name], {c.name: c.message for c in result.record.checks}
    assert result.passed
    if name == "tf1_compat":  # it writes its summaries beside its checkpoints, as upstream did
        assert result.record.check("path_contract").warnings
        assert result.record.phase("train").loss_source == "events:total_loss"


@pytest.mark.parametrize(("name", "mutant"), [(j, m) for j in sorted(JOBS) for m in MUTANT_NAMES])
def test_foreign_mutant_fails_exactly_its_check(
    name: str, mutant: str, tmp_path: Path, keras_inputs
) -> None:
    code = make_mutant(name, mutant, tmp_path / "code")
    result = validate(LocalBackend(code), plan_for(name, keras_inputs), tmp_path / "run")
    table = {check.name: check.status for check in result.record.checks}
    expected = {**PASSING[name], CAUGHT_BY[mutant]: FAILED}
    assert table == expected, {c.name: c.message for c in result.record.checks}
