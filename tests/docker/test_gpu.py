"""The GPU image run the platform's GPU way (`--gpus`, `--num_gpus=1`): every check passes.

Skipped, with the reason, unless this machine has an NVIDIA GPU and Docker's NVIDIA
runtime; on such a machine it builds Dockerfile.gpu and runs the same scenario.
"""

from __future__ import annotations

import subprocess

import pytest

from harness.backends.container import DockerBackend
from harness.validate import Plan, validate

pytestmark = [pytest.mark.gpu, pytest.mark.docker, pytest.mark.slow]

GPU_IMAGE = "uai-harness/im2txt:gpu-test"


@pytest.fixture(scope="module")
def gpu_image(repo_root) -> str:
    subprocess.run(["bash", ".ci/base-image.sh"], cwd=repo_root, check=True)
    subprocess.run(
        ["bash", ".ci/wheelhouse.sh", "gpu", "--stage", ".wheelhouse"], cwd=repo_root, check=True
    )
    subprocess.run(
        [
            "docker",
            "build",
            "-f",
            "Dockerfile.gpu",
            "--build-arg",
            "BASE_IMAGE=uai-harness/base:bookworm-py311",
            "-t",
            GPU_IMAGE,
            ".",
        ],
        cwd=repo_root,
        check=True,
    )
    return GPU_IMAGE


def test_gpu_image_sees_the_gpu(gpu_image) -> None:
    backend = DockerBackend(gpu_image, gpu=True)
    code, output = backend.probe(
        [
            "/usr/bin/python",
            "-c",
            "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))",
        ]
    )
    assert code == 0 and int(output.strip().splitlines()[-1]) >= 1, output


def test_validate_on_gpu_passes_every_check(gpu_image, tmp_path) -> None:
    result = validate(DockerBackend(gpu_image, gpu=True), Plan.quick(num_gpus=1), tmp_path / "run")
    failed = {c.name: c.message for c in result.record.checks if not c.passed}
    assert not failed, failed
    assert "--num_gpus=1" in " ".join(result.record.phases[0].command)
