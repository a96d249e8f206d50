"""The job image: a code path built into Dockerfile.cpu/.gpu, online or offline by itself.

With a registry the image starts from python:3.11-slim-bookworm and pip installs from
the index, as `docker build` from a checkout does. Without one it starts from the local
debootstrap base and installs, with no index, from a wheelhouse the host downloaded and
serves on loopback for the build (so the daemon must run on this machine); both are
cached, so only the first build pays for them. The build context is made fresh in the
cache folder: the Dockerfile, its requirements, the code path as im2txt/ and, when
given, a checkpoint, hard-linked rather than copied.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from pathlib import Path

import docker

from harness import credentials, resources
from harness.backends import daemon
from harness.images import wheelhouse
from harness.images.base import BaseImage, ensure_base_image
from harness.images.build import build_image
from harness.images.progress import Progress, SilentProgress

CONTEXT_CODE_FOLDER = "im2txt"  # where the Dockerfiles COPY the code path from
CONTEXT_CHECKPOINTS = ".checkpoints"


@dataclasses.dataclass(frozen=True)
class BuiltImage:
    """A job image and what it was made from."""

    tag: str
    id: str
    base: BaseImage
    wheelhouse: Path | None  # None: packages came from the index


def job_context(
    code_path: Path,
    variant: str,
    into: Path,
    checkpoint: Path | None = None,
) -> dict[str, str]:
    """Lay out a build context for Dockerfile.<variant> in `into`; returns its build args.

    `checkpoint` is a pretrained checkpoint path or V2 prefix: its files are baked in as
    /data/inception_v3.ckpt* (the Dockerfile's INCEPTION_CHECKPOINT).
    """
    if not code_path.is_dir():
        raise FileNotFoundError(f"code path {code_path} is not a folder")
    parts = sorted(checkpoint.parent.glob(checkpoint.name + "*")) if checkpoint else []
    if checkpoint is not None and not parts:
        raise FileNotFoundError(f"checkpoint {checkpoint} matches no file")
    for name in (resources.dockerfile_name(variant), resources.requirements_name(variant)):
        shutil.copy(resources.build_file(name), into / name)
    shutil.copytree(
        code_path,
        into / CONTEXT_CODE_FOLDER,
        ignore=lambda folder, names: {
            *shutil.ignore_patterns("__pycache__", "*.pyc")(folder, names),
            *credentials.left_out(Path(folder), names),
        },
        symlinks=True,
    )
    if checkpoint is None:
        return {}
    (into / CONTEXT_CHECKPOINTS).mkdir()
    for part in parts:
        _link_or_copy(part, into / CONTEXT_CHECKPOINTS / part.name)
    return {"INCEPTION_CHECKPOINT": f"{CONTEXT_CHECKPOINTS}/{checkpoint.name}"}


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        target.hardlink_to(source)
    except OSError:
        shutil.copy2(source, target)


def ensure_job_image(
    code_path: Path,
    tag: str,
    gpu: bool = False,
    progress: Progress | None = None,
    *,
    offline: bool = False,
    base_image: str | None = None,
    checkpoint: Path | None = None,
    client: docker.DockerClient | None = None,
) -> BuiltImage:
    """Build `code_path` into the CPU (or GPU) job image `tag`, making whatever base image
    and wheelhouse this machine lacks; returns the image and what it came from.

    `offline` never pulls or uses the index; `base_image` names a base to use as is (it
    must have Python 3.11), installing from the index unless `offline`.
    """
    progress = progress or SilentProgress()
    client = client or daemon.client()
    variant = "gpu" if gpu else "cpu"
    if base_image:
        base = BaseImage(base_image, offline=offline, how="given")
    else:
        base = ensure_base_image(client, progress, offline=offline)
    wheels = wheelhouse.wheelhouse_dir(variant) if base.offline else None
    packages = (
        f"the wheelhouse {wheels} (served on loopback, no index)" if wheels else "the package index"
    )
    progress.note(f"{variant} image {tag}: {base.describe()}; packages from {packages}")
    if wheels is not None:
        wheels = wheelhouse.ensure_wheelhouse(variant, progress)
    context_parent = resources.cache_dir() / "contexts"
    context_parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(
            tempfile.TemporaryDirectory(prefix=f"{variant}-", dir=context_parent)
        )
        buildargs = job_context(code_path, variant, Path(tmp), checkpoint)
        buildargs["BASE_IMAGE"] = base.name
        if wheels is not None:
            buildargs["WHEELHOUSE_URL"] = stack.enter_context(wheelhouse.serve(wheels))
        progress.step(f"docker build of {tag} ({resources.dockerfile_name(variant)})")
        image_id = build_image(
            Path(tmp),
            tag,
            buildargs,
            on_line=progress.line,
            client=client,
            # the build's pip reaches the served wheelhouse on the host's loopback
            network_mode="host" if wheels is not None else None,
            dockerfile=resources.dockerfile_name(variant),
        )
    return BuiltImage(tag=tag, id=image_id, base=base, wheelhouse=wheels)
