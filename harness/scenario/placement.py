"""Putting a job's inputs where the platform would: data into data_dir, the pretrained
file where the job's parameters name it, and a root per cluster task or repeated run.
Each function returns what it placed; none changes the run context."""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
from pathlib import Path

from harness.contract import (
    CONTAINER_DATA_DIR,
    CONTAINER_WORK_DIR,
    PlatformRoot,
    job_path_in_container,
)
from harness.distributed_mode import CHIEF_TASK
from harness.scenario.context import RunContext
from harness.untrusted import is_regular, open_regular, walk


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where the pretrained file landed: its host path as the job will see it (None: the job
    gets none), its container path, the files the harness itself put under output_dir
    (never the job's outputs), and whether it is the profile's synthetic checkpoint."""

    pretrained: Path | None = None
    pretrained_container: str | None = None
    placed: tuple[Path, ...] = ()
    synthetic: bool = False


def place_inputs(ctx: RunContext) -> Placement:
    """Data into data_dir, the pretrained file where the job's parameters name it."""
    plan, preflight, root, note = ctx.plan, ctx.preflight, ctx.root, ctx.reporter.note
    if preflight.data is not None:
        if preflight.data.large:
            note(
                f"--data is large ({preflight.data.describe()}); a smaller sample validates as "
                "well, and faster"
            )
        note(f"data: {preflight.data.describe()} copied to data_dir")
        preflight.data.copy_to(root.data_dir)
    else:
        described = preflight.profile.generate(
            root.data_dir, plan.train_params, plan.seed, plan.num_images
        )
        note(f"data: {described} ({preflight.profile.name} profile)")
    if preflight.pretrained_flag is None:
        return Placement()
    flag, value = preflight.pretrained_flag
    container = job_path_in_container(value, CONTAINER_WORK_DIR)
    host = root.host_path(container)
    if preflight.pretrained is not None:
        preflight.pretrained.copy_to(host)
        ctx.backend.expose(root, container)
        note(f"pretrained: {preflight.pretrained.path} placed at {container} (--{flag})")
        return Placement(host, container, (host,))
    shipped = ctx.backend.shipped_file(root, container)
    if shipped is not None:
        note(f"pretrained: the job's own {container} (--{flag})")
        return Placement(shipped, container)
    if preflight.profile.write_pretrained(host, plan.seed, plan.checkpoint_format):
        ctx.backend.expose(root, container)
        note(f"pretrained: synthetic checkpoint written at {container} (--{flag})")
        return Placement(host, container, (host,), synthetic=True)
    return Placement(None, container)


def is_input(root: PlatformRoot, relative: str, pretrained: Path | None) -> bool:
    """Whether a file of the root (relative path) is one of the job's inputs."""
    path = root.root / relative
    if root.data_dir in path.parents:
        return True
    return pretrained is not None and (
        path == pretrained
        or pretrained in path.parents
        or (path.name.startswith(pretrained.name) and path.parent == pretrained.parent)
    )


def task_roots(ctx: RunContext, placement: Placement) -> dict[str, PlatformRoot]:
    """A platform root per task, the chief's the run's own, each other with the same code,
    data and pretrained file: on the platform every node mounts the data and has its own
    /data/output."""
    roots = {CHIEF_TASK: ctx.root}
    for name in ctx.plan.cluster.task_names()[1:]:
        task_root = PlatformRoot.create(parent=ctx.run_dir, prefix=f"task-{name}-")
        ctx.backend.prepare(task_root)
        shutil.copytree(ctx.root.data_dir, task_root.data_dir, symlinks=True, dirs_exist_ok=True)
        container = placement.pretrained_container
        if container is not None and not container.startswith(CONTAINER_DATA_DIR + "/"):
            host = ctx.root.host_path(container)
            for part in host.parent.glob(host.name + "*"):
                target = task_root.host_path(container).with_name(part.name)
                target.parent.mkdir(parents=True, exist_ok=True)
                copy = shutil.copytree if part.is_dir() else shutil.copy2
                copy(part, target)
            ctx.backend.expose(task_root, container)
        roots[name] = task_root
    return roots


def twin_root(ctx: RunContext) -> PlatformRoot:
    """A fresh root with the same data and work_dir files, for a repeated training.

    Files are copied through no-follow descriptors, data_dir's links (--data's, relative
    inside it) as links, and work_dir's links not at all: the job had work_dir to write
    in, and a link it left there (to a host file it could not see) must not become a
    copy of that file in the repeat's root."""
    twin = PlatformRoot.create(parent=ctx.run_dir, prefix="platform-repeat-")
    ctx.backend.prepare(twin)
    for source, info in walk(ctx.root.data_dir):
        copy = twin.root / source.relative_to(ctx.root.root)
        if stat.S_ISREG(info.st_mode):
            _copy_regular(source, copy)
        elif stat.S_ISLNK(info.st_mode):  # --data's links, made relative inside data_dir
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.symlink_to(os.readlink(source))
    for source in ctx.root.work_dir.iterdir():
        if is_regular(source) and not (twin.work_dir / source.name).exists():
            _copy_regular(source, twin.work_dir / source.name)
    return twin


def _copy_regular(source: Path, copy: Path) -> None:
    """`source`'s bytes into `copy`, read through a no-follow descriptor."""
    copy.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(open_regular(source), "rb") as reading, open(copy, "wb") as writing:
        shutil.copyfileobj(reading, writing)
