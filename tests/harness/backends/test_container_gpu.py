"""The GPU image run the platform's GPU way (`--gpus`, `--num_gpus=1`): every check passes.

Skipped, with the reason, unless this machine has an NVIDIA GPU and Docker's NVIDIA
runtime; on such a machine it builds Dockerfile.gpu (the session's `gpu_image`, which
tests/harness/images/test_gpu_image.py checks without a GPU in CI) and runs the same scenario.
"""

from __future__ import annotations

import pytest

from harness.backends.container import DockerBackend
from harness.scenario import Plan, validate

pytestmark = [pytest.mark.gpu, pytest.mark.docker, pytest.mark.slow]


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
