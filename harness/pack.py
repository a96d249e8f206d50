"""`uai-harness pack`: build the job's images and write `uaitrain_cmd.txt`, offline-capable.

Mirrors what UCloud's pack tool produces - a CPU image, a GPU image and the
command file with the deploy command and the local test commands - without
pushing anywhere and without ever asking for or storing cloud keys.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.backends import container as container_backend
from harness.contract import (
    CONTAINER_PATHS,
    PLATFORM_PYTHON,
    container_shell_command,
)
from harness.params import strip_platform_flags

REPO_ROOT = Path(__file__).resolve().parent.parent
CMD_FILE = "uaitrain_cmd.txt"


@dataclasses.dataclass(frozen=True)
class PackSpec:
    """What to pack: the code folder, its main file and the job's own parameters."""

    code_path: Path
    mainfile: str
    train_params: list[str]
    cpu_image: str = "im2txt-cpu:uaitrain"
    gpu_image: str = "im2txt-gpu:uaitrain"
    base_image: str | None = None
    gpu: bool = False


def lint(spec: PackSpec) -> list[str]:
    """Problems the platform would reject or silently misread, one sentence each."""
    problems = []
    if not (spec.code_path / spec.mainfile).is_file():
        problems.append(f"main file {spec.mainfile} is not in code path {spec.code_path}")
    if spec.mainfile.startswith(("python", "/")):
        problems.append(
            f"--mainfile-path must be a file relative to the code path, not {spec.mainfile!r}"
        )
    if strip_platform_flags(spec.train_params) != spec.train_params:
        problems.append(
            "--train-params must not set --work_dir/--data_dir/--output_dir/"
            "--log_dir/--num_gpus: the platform appends them"
        )
    if any(p.split("=", 1)[0] in ("--public_key", "--private_key") for p in spec.train_params):
        problems.append("--train-params must not carry cloud keys")
    return problems


def deploy_command(spec: PackSpec) -> str:
    """The command the platform runs in the image (its working directory is /data)."""
    words = [PLATFORM_PYTHON, f"{CONTAINER_PATHS.work_dir}/{spec.mainfile}", *spec.train_params]
    return " ".join(shlex.quote(w) for w in words)


def cmd_file_text(spec: PackSpec) -> str:
    """`uaitrain_cmd.txt` in the pack tool's line format."""
    mounts = "-v /path/to/data:/data/data -v /path/to/output:/data/output"
    cpu = container_shell_command(spec.mainfile, spec.train_params)
    gpu = container_shell_command(spec.mainfile, spec.train_params, num_gpus=1)
    return (
        f"CMD Used for deploying: {deploy_command(spec)}\n"
        f"CMD for CPU local test: sudo docker run -it {mounts} {spec.cpu_image} "
        f"/bin/bash -c {shlex.quote(cpu)}\n"
        f"CMD for GPU local test: sudo docker run --gpus all -it {mounts} {spec.gpu_image} "
        f"/bin/bash -c {shlex.quote(gpu)}\n"
    )


def build_context(spec: PackSpec, dockerfile: str, into: Path) -> Path:
    """A small build context: the Dockerfile, requirements, code path and wheelhouse."""
    shutil.copy(REPO_ROOT / dockerfile, into / dockerfile)
    (into / "docker").mkdir()
    for requirements in (REPO_ROOT / "docker").glob("requirements-*.txt"):
        shutil.copy(requirements, into / "docker" / requirements.name)
    shutil.copytree(
        spec.code_path, into / "im2txt", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    wheelhouse = REPO_ROOT / ".wheelhouse"
    if wheelhouse.is_dir():
        (into / ".wheelhouse").mkdir()
        for wheel in wheelhouse.glob("*.whl"):
            target = into / ".wheelhouse" / wheel.name
            try:
                os.link(wheel, target)
            except OSError:
                shutil.copy(wheel, target)
    return into


def build_image(
    spec: PackSpec, dockerfile: str, tag: str, on_line: Callable[[str], None] | None = None
) -> str:
    """Build one image from a fresh context, offline when a wheelhouse is staged."""
    with tempfile.TemporaryDirectory(prefix="uai-pack-") as tmp:
        context = build_context(spec, dockerfile, Path(tmp))
        buildargs = {"BASE_IMAGE": spec.base_image} if spec.base_image else {}
        offline = any((context / ".wheelhouse").glob("*.whl"))
        return container_backend.build_image(
            context, tag, buildargs, on_line, offline=offline, dockerfile=dockerfile
        )


def pack(spec: PackSpec, out_dir: Path, on_line: Callable[[str], None] | None = None) -> dict:
    """Lint, build the CPU (and optionally GPU) image, and write uaitrain_cmd.txt."""
    problems = lint(spec)
    if problems:
        raise ValueError("; ".join(problems))
    built = {"cpu": build_image(spec, "Dockerfile.cpu", spec.cpu_image, on_line)}
    if spec.gpu:
        built["gpu"] = build_image(spec, "Dockerfile.gpu", spec.gpu_image, on_line)
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd_file = out_dir / CMD_FILE
    cmd_file.write_text(cmd_file_text(spec))
    return {"images": built, "cmd_file": str(cmd_file)}
