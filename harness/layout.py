"""Putting a job's inputs where the platform would: data into data_dir, the pretrained
file where the job's parameters name it, and a root per cluster task or repeated run."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness import snapshot
from harness.contract import (
    CONTAINER_DATA_DIR,
    CONTAINER_WORK_DIR,
    PlatformRoot,
    job_path_in_container,
)
from harness.phases import CHIEF_TASK, Run


def lay_out_inputs(run: Run) -> Path | None:
    """Data into data_dir, the pretrained file where the job's parameters name it;
    returns the host path of the pretrained file the job will see (None: none)."""
    plan, inputs, root = run.plan, run.inputs, run.root
    if inputs.data is not None:
        if inputs.data.large:
            run.reporter.note(
                f"--data is large ({inputs.data.describe()}); a smaller sample validates as well, "
                "and faster"
            )
        run.reporter.note(f"data: {inputs.data.describe()} copied to data_dir")
        inputs.data.copy_to(root.data_dir)
    else:
        described = inputs.profile.generate(
            root.data_dir, plan.train_params, plan.seed, plan.num_images
        )
        run.reporter.note(f"data: {described} ({inputs.profile.name} profile)")
    if inputs.pretrained_flag is None:
        return None
    flag, value = inputs.pretrained_flag
    container = job_path_in_container(value, CONTAINER_WORK_DIR)
    host = root.host_path(container)
    run.pretrained_container = container
    if inputs.pretrained is not None:
        inputs.pretrained.copy_to(host)
        run.backend.expose(root, container)
        run.place(host)
        run.reporter.note(f"pretrained: {inputs.pretrained.path} placed at {container} (--{flag})")
        return host
    shipped = run.backend.shipped_file(root, container)
    if shipped is not None:
        run.reporter.note(f"pretrained: the job's own {container} (--{flag})")
        return shipped
    if inputs.profile.write_pretrained(host, plan.seed, plan.checkpoint_format):
        run.backend.expose(root, container)
        run.place(host)
        run.reporter.note(f"pretrained: synthetic checkpoint written at {container} (--{flag})")
        return host
    return None


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


def lay_out_task_roots(run: Run) -> None:
    """A platform root per task besides the chief's, with the same code, data and pretrained
    file: on the platform every node mounts the data and has its own /data/output."""
    run.task_roots = {CHIEF_TASK: run.root}
    for name in run.plan.cluster.task_names()[1:]:
        task_root = PlatformRoot.create(parent=run.run_dir, prefix=f"task-{name}-")
        run.backend.prepare(task_root)
        shutil.copytree(run.root.data_dir, task_root.data_dir, symlinks=True, dirs_exist_ok=True)
        container = run.pretrained_container
        if container is not None and not container.startswith(CONTAINER_DATA_DIR + "/"):
            host = run.root.host_path(container)
            for part in host.parent.glob(host.name + "*"):
                target = task_root.host_path(container).with_name(part.name)
                target.parent.mkdir(parents=True, exist_ok=True)
                copy = shutil.copytree if part.is_dir() else shutil.copy2
                copy(part, target)
            run.backend.expose(task_root, container)
        run.task_roots[name] = task_root


def twin_root(run: Run) -> PlatformRoot:
    """A fresh root with the same data and work_dir files, for a repeated training."""
    twin = PlatformRoot.create(parent=run.run_dir, prefix="platform-repeat-")
    run.backend.prepare(twin)
    for relative in snapshot.hash_tree(run.root.data_dir, relative_to=run.root.root):
        source, copy = run.root.root / relative, twin.root / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(source.read_bytes())
    for source in run.root.work_dir.iterdir():
        if source.is_file() and not (twin.work_dir / source.name).exists():
            (twin.work_dir / source.name).write_bytes(source.read_bytes())
    return twin
