"""`validate --cluster` with the docker backend: one container per task from the same image
and command, on an internal network, each with its own output mount; nothing left behind,
even when the run fails."""

from __future__ import annotations

import dataclasses

import pytest

from harness.backends import daemon
from harness.backends.container import DockerBackend
from harness.record import FAILED, NOT_APPLICABLE, NOT_RUN, PASSED
from harness.scenario import validate
from tests.support.cluster_plans import EXPECTED, cluster_plan
from tests.support.foreign_jobs import verdict_messages, verdict_table

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _left(docker_client) -> list[str]:
    selector = {"label": f"{daemon.SESSION_LABEL}={daemon.session_id()}"}
    return [c.name for c in docker_client.containers.list(all=True, filters=selector)] + [
        n.name for n in docker_client.networks.list(filters=selector)
    ]


def test_a_cluster_in_containers_passes(cpu_image, docker_client, tmp_path, im2txt_sample):
    result = validate(DockerBackend(cpu_image), cluster_plan(im2txt_sample), tmp_path)
    table = {check.name: check.status for check in result.record.checks}
    assert table == {**EXPECTED, "image_contract": PASSED}, {
        c.name: c.message for c in result.record.checks
    }
    assert _left(docker_client) == []


def test_a_failing_cluster_leaves_no_container_or_network(
    cpu_image, docker_client, tmp_path, im2txt_sample
):
    plan = cluster_plan(im2txt_sample)
    # Only the chief reads the input files: it fails, the servers wait to be stopped.
    params = plan.train_params.with_flag("input_file_pattern", "/nothing-?????-of-00002")
    result = validate(
        DockerBackend(cpu_image), dataclasses.replace(plan, train_params=params), tmp_path
    )
    # The whole table: the image passes, the cluster fails, nothing trained to judge.
    assert verdict_table(result.record) == {
        **dict.fromkeys(EXPECTED, NOT_RUN),
        "image_contract": PASSED,
        "cluster_tasks": FAILED,
        "reproducible": NOT_APPLICABLE,
    }, verdict_messages(result.record)
    assert "the chief master-0 exited with status" in result.record.check("cluster_tasks").message
    assert result.record.phase("train:worker-0").task["stopped"]
    assert _left(docker_client) == []
