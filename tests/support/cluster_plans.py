"""`validate --cluster` of our trainer: its plan and the verdicts it should get, shared by
the local run (tests/harness/test_validate_cluster.py) and the containers' one."""

from __future__ import annotations

from pathlib import Path

from harness.distributed_mode import ClusterSpec
from harness.record import NOT_APPLICABLE, PASSED
from harness.scenario import QUICK_PARAMS, Plan

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
