"""`validate --cluster`: our trainer as the platform's distributed job, one process per task
on loopback ports, judged by the same checks plus the cluster's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends.local import LocalBackend
from harness.scenario import validate
from tests.support.cluster_plans import EXPECTED, cluster_plan

pytestmark = pytest.mark.slow


def test_a_cluster_of_our_trainer_passes_and_its_checkpoint_resumes_on_one_node(
    repo_root: Path, tmp_path: Path, im2txt_sample
) -> None:
    result = validate(LocalBackend(repo_root / "im2txt"), cluster_plan(im2txt_sample), tmp_path)
    table = {check.name: check.status for check in result.record.checks}
    assert table == EXPECTED, {c.name: c.message for c in result.record.checks}
    phases = [phase.name for phase in result.record.phases]
    assert phases == [
        "train",
        "train:ps-0",
        "train:worker-0",
        "train:worker-1",
        "resume",
        "resume:ps-0",
        "resume:worker-0",
        "resume:worker-1",
        "resume_single_node",
    ]
    worker = result.record.phase("train:worker-1")
    assert worker.task["tf_config"]["cluster"] == {
        "master": ["master-0"],
        "ps": ["ps-0"],
        "worker": ["worker-0", "worker-1"],
    }
    assert worker.task["stopped"] and worker.exit_code == 0
    # Only the chief wrote checkpoints: each other task's output folder holds none.
    for task in ("ps-0", "worker-0", "worker-1"):
        (root,) = tmp_path.glob(f"task-{task}-*")
        assert not list((root / "data" / "output").rglob("*.index"))
