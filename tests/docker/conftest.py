"""Session fixtures for container tests: this repository's CPU image, built offline.

The base image comes from `.ci/base-image.sh` (debootstrap + docker import when no
registry answers) and Python packages from `.ci/wheelhouse.sh` (a wheelhouse the
host fills with `pip download`), so the build works on machines without a registry.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

BASE_IMAGE = "uai-harness/base:bookworm-py311"
TEST_IMAGE = "uai-harness/im2txt:cpu-test"


def _run(command: list[str], cwd: Path) -> None:
    started = time.monotonic()
    print(f"$ {' '.join(command)}", flush=True)
    subprocess.run(command, cwd=cwd, check=True)
    print(f"  ({time.monotonic() - started:.0f}s)", flush=True)


@pytest.fixture(scope="session")
def cpu_image(repo_root: Path) -> str:
    """Build Dockerfile.cpu offline from the local base image and the wheelhouse."""
    from harness.pytest_plugin import docker_unavailable_reason

    if reason := docker_unavailable_reason():
        pytest.fail(f"docker fixture used without a daemon: {reason}")
    _run(["bash", ".ci/base-image.sh"], repo_root)
    _run(["bash", ".ci/wheelhouse.sh", "cpu", "--stage", ".wheelhouse"], repo_root)
    _run(
        [
            "docker",
            "build",
            "--network",
            "none",
            "-f",
            "Dockerfile.cpu",
            "--build-arg",
            f"BASE_IMAGE={BASE_IMAGE}",
            "-t",
            TEST_IMAGE,
            ".",
        ],
        repo_root,
    )
    return TEST_IMAGE


@pytest.fixture
def derived_image(cpu_image: str, tmp_path: Path):
    """Build a one-off image FROM the test image with extra Dockerfile lines.

    The tag gets a random suffix, so concurrent test runs never build over each
    other's images; use the returned tag.
    """
    import docker

    from harness.backends.container import build_image

    client = docker.from_env()
    built = []

    def build(tag: str, *lines: str) -> str:
        tag = f"{tag}-{uuid.uuid4().hex[:8]}"
        (tmp_path / "Dockerfile").write_text("\n".join([f"FROM {cpu_image}", *lines]) + "\n")
        build_image(tmp_path, tag, client=client)
        built.append(tag)
        return tag

    yield build
    for tag in built:
        client.images.remove(tag, force=True)
