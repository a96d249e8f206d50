"""Session fixtures for container tests: the job images, built once through harness.images.
A pytest plugin, registered by tests/conftest.py (`pytest_plugins`), so the `docker`-marked
tests get these fixtures wherever they live; nothing here keys on a folder.

`ensure_job_image` picks the inputs this machine allows - a pulled base and the index
with a registry, else the local debootstrap base and the cached wheelhouse - so the
same fixtures work in CI without a registry and on a developer's machine with one.
Each session tags its images uniquely (parallel sessions share one daemon) and untags
them at the end without pruning their layers, which the next session's build reuses.
Throw-away images and containers go through testcontainers; its Ryuk reaper is off,
since there is no registry to pull it from.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


def _progress():
    from rich.console import Console

    from harness.images.progress import ConsoleProgress

    # Past pytest's capture: a ten-minute build must show it is alive in CI logs.
    return ConsoleProgress(Console(file=sys.__stderr__), heartbeat_s=60)


@pytest.fixture(scope="session")
def docker_client():
    from harness.backends import daemon
    from harness.pytest_plugin import docker_unavailable_reason

    if reason := docker_unavailable_reason():
        pytest.fail(f"docker fixture used without a daemon: {reason}")
    return daemon.client()


@pytest.fixture(scope="session")
def base_image(docker_client) -> str:
    """The base the job images build on (pulled, or the offline one)."""
    from harness.images.base import ensure_base_image

    progress = _progress()
    try:
        return ensure_base_image(docker_client, progress).name
    finally:
        progress.close()


# Free space on the daemon's disk below which the GPU image's layers are not kept.
KEEP_GPU_LAYERS_FREE_BYTES = 24 * 2**30


def _room_to_keep_layers(client) -> bool:
    """Whether the daemon's data root (on this machine) has room to keep the GPU layers."""
    try:
        return shutil.disk_usage(client.info()["DockerRootDir"]).free >= KEEP_GPU_LAYERS_FREE_BYTES
    except (OSError, KeyError):  # a remote daemon, or an answer without it: make room
        return False


def _job_image(client, code_path: Path, variant: str):
    from harness.images import ensure_job_image

    tag = f"uai-harness/im2txt:{variant}-test-{uuid.uuid4().hex[:10]}"
    progress = _progress()
    try:
        ensure_job_image(code_path, tag, gpu=variant == "gpu", progress=progress, client=client)
    finally:
        progress.close()
    yield tag
    keep_layers = variant == "cpu" or _room_to_keep_layers(client)
    client.images.remove(tag, force=True, noprune=keep_layers)


@pytest.fixture(scope="session")
def cpu_image(repo_root: Path, docker_client) -> str:
    """This repository's CPU job image, built once per session and shared by every test."""
    yield from _job_image(docker_client, repo_root / "im2txt", "cpu")


@pytest.fixture(scope="module")
def gpu_image(repo_root: Path, docker_client) -> str:
    """The GPU job image (6.4 GB; its build needs the 3.5 GB wheelhouse and twice the
    image at its peak), built only by the modules that ask for it - first, while the
    disk is emptiest (see below). Its tag goes when the module is done; its layers stay
    for the next session's build (a warm CI run rebuilds it in seconds, not minutes)
    unless the daemon's disk has less than KEEP_GPU_LAYERS_FREE_BYTES free."""
    yield from _job_image(docker_client, repo_root / "im2txt", "gpu")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of the GPU image run first: its build is the session's largest use of
    disk, and a small CI disk has the most room before the CPU images and their runs."""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("docker") is None
            or "gpu_image" not in getattr(item, "fixturenames", ())
        )
    )


@pytest.fixture
def image_builder(tmp_path: Path):
    """Builds throw-away images from a context folder through testcontainers, labelled with
    this session (so a leftover fails the session), and removes them after the test."""
    from testcontainers.core.image import DockerImage

    from harness.backends import daemon

    built: list[DockerImage] = []

    def build(context: Path, tag: str) -> str:
        image = DockerImage(
            path=context,
            tag=f"{tag}-{uuid.uuid4().hex[:8]}",
            clean_up=True,
            network_mode="none",
            labels={daemon.LABEL: "1", daemon.SESSION_LABEL: daemon.session_id()},
        )
        built.append(image.build())
        return str(image)

    yield build
    for image in built:
        image.remove()


@pytest.fixture
def derived_image(cpu_image: str, image_builder, tmp_path: Path):
    """Build one-off images FROM the CPU image with extra Dockerfile lines.

    The tag gets a random suffix, so concurrent test runs never build over each
    other's images; use the returned tag.
    """

    def build(tag: str, *lines: str) -> str:
        context = Path(tempfile.mkdtemp(prefix="derived-", dir=tmp_path))
        (context / "Dockerfile").write_text("\n".join([f"FROM {cpu_image}", *lines]) + "\n")
        return image_builder(context, tag)

    return build


@pytest.fixture
def job_image(cpu_image: str, image_builder, tmp_path: Path):
    """Build an image of another job's code FROM the CPU image (its Python and TensorFlow):
    the job's folder replaces /data, as the pack tool puts a code path there."""

    def build(code_path: Path) -> str:
        context = Path(tempfile.mkdtemp(prefix="job-image-", dir=tmp_path))
        shutil.copytree(code_path, context / "code", ignore=shutil.ignore_patterns("__pycache__"))
        (context / "Dockerfile").write_text(
            f"FROM {cpu_image}\nRUN rm -rf /data && mkdir /data\nCOPY code/ /data/\n"
        )
        return image_builder(context, f"uai-harness/job:{code_path.name.replace('_', '-')}")

    return build
