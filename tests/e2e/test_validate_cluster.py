"""`validate --cluster`: our trainer as the platform's distributed job, one process per task
on loopback ports, judged by the same checks plus the cluster's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends.local import LocalBackend
from harness.cluster import ClusterSpec
from harness.record import NOT_APPLICABLE, PASSED
from harness.scenario import QUICK_PARAMS, Plan, validate

pytestmark = pytest.mark.slow

# The quick job, less --deterministic (asynchronous training cannot promise it), with a short
# bounded wait for the other tasks, as a user validating a cluster would pass.
CLUSTER_PARAMS = [p for p in QUICK_PARAMS if p != "--deterministic"] + ["--cluster_wait_secs=120"]
EXPECTED = {
    "image_contract": NOT_APPLICABLE,
    "cluster_tasks": PASSED,
    "path_contract": PASSED,
    "pretrained_restore": PASSED,
    "loss_decrease": PASSED,
    "resume": PASSED,
    "single_node_resume": PASSED,
    "reproducible": NOT_APPLICABLE,
}


def cluster_plan(sample: tuple[Path, Path]) -> Plan:
    data, pretrained = sample
    return Plan(
        train_params=list(CLUSTER_PARAMS),
        profile="none",
        data=data,
        pretrained=pretrained,
        steps=60,
        resume_steps=10,
        cluster=ClusterSpec(ps=1, worker=2),
    )


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
