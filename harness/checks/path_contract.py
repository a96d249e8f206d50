"""The platform's path contract: a job reads its inputs and writes only under output_dir.

Everything outside /data/output is lost when a platform job ends, so a file written
anywhere else is a bug the platform will not report. Writes are compared by path
components (`/data/output_backup` is not inside `/data/output`). A short, documented
list of places is ignored because the interpreter or TensorFlow itself writes there
on import - never the job's results - and every ignored path is listed in the
evidence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from harness import snapshot
from harness.checks.phases import TRAIN
from harness.contract import (
    CACHE_NAMES,
    CACHE_PATHS,
    CONTAINER_OUTPUT_DIR,
    SCRATCH_PATHS,
    PlatformRoot,
)
from harness.job import JobOutput
from harness.record import FAILED, CheckResult
from harness.snapshot import describe_size

if TYPE_CHECKING:
    from harness.scenario.evidence import Evidence

NAME = "path_contract"
PHASES = (TRAIN,)
# What a job leaves in scratch space is ignored - unless it is a result (a model, a
# checkpoint, summaries), which is lost when the job ends and is never uploaded.
RESULT_NAME = re.compile(
    r"(\.index|\.data-\d+-of-\d+|^checkpoint|\.ckpt.*|\.meta|\.h5|\.hdf5|\.keras|"
    r"^saved_model\.pb(txt)?|^events\.out\.tfevents\..*|^metrics\.jsonl)$"
)


def is_under(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or below it, compared by path components."""
    parts, base = PurePosixPath(path).parts, PurePosixPath(folder).parts
    return parts[: len(base)] == base


def _ignored(path: str) -> bool:
    pure = PurePosixPath(path)
    if any(part in CACHE_NAMES for part in pure.parts):
        return True
    if any(is_under(path, folder) for folder in CACHE_PATHS):
        return True
    scratch = any(is_under(path, folder) for folder in SCRATCH_PATHS)
    return scratch and not RESULT_NAME.search(pure.name)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def classify_container_changes(
    changes: Iterable[str], output_dir: str, mount_points: Iterable[str]
) -> tuple[list[str], list[str]]:
    """Split `docker diff` paths into (written outside output_dir, ignored).

    Docker lists every bind mount's destination and its parent folders as changed;
    those are not writes of the job.
    """
    mounts = list(mount_points)
    outside, ignored = [], []
    for path in sorted(set(changes)):
        if is_under(path, output_dir):
            continue
        if any(is_under(mount, path) for mount in mounts):  # a mount point or its parent
            continue
        (ignored if _ignored(path) else outside).append(path)
    return outside, ignored


def check_path_contract(
    added: Sequence[str],
    modified: Sequence[str],
    removed: Sequence[str],
    output_dir: str,
    log_dir: str,
    inputs_changed: Sequence[str],
    models: Sequence[str],
    container_outside: Sequence[str] = (),
    ignored: Sequence[str] = (),
    output_sizes: Mapping[str, int] | None = None,
    max_output_bytes: float = math.inf,
) -> CheckResult:
    """Judge one run's writes.

    `added`/`modified`/`removed` are paths (relative to the platform root, as
    `output_dir` and `log_dir` are) that changed on the host side; `container_outside`
    are `docker diff` paths outside output_dir, already classified; `inputs_changed`
    are inputs (data, pretrained file) whose bytes differ after the run;
    `models` are the model files (checkpoints, Keras files, SavedModels) the job
    protocol found under output_dir; `output_sizes` the size of each file under it,
    which together may not pass `max_output_bytes` (the platform uploads them all).
    """
    written = [*added, *modified]
    outside = [p for p in written if not is_under(p, output_dir) and not _ignored(p)]
    ignored = [*ignored, *(p for p in written if not is_under(p, output_dir) and _ignored(p))]
    under_output = [p for p in written if is_under(p, output_dir)]
    in_log_dir = [p for p in under_output if is_under(p, log_dir)]
    problems = []
    if outside or container_outside:
        shown = [*outside, *container_outside]
        problems.append(f"wrote outside output_dir: {', '.join(shown[:5])}")
    deleted = [p for p in removed if not is_under(p, output_dir)]
    if deleted:
        problems.append(f"deleted files it was given: {', '.join(deleted[:5])}")
    if inputs_changed:
        problems.append(f"changed its inputs: {', '.join(inputs_changed[:5])}")
    if not models:
        problems.append(
            "saved no model under output_dir (no checkpoint, Keras file or SavedModel): the "
            "platform would upload no trained weights"
        )
    too_big = _over_limit(output_sizes or {}, max_output_bytes)
    if too_big:
        problems.append(too_big)
    warnings = []
    if not in_log_dir:
        warnings.append(
            "wrote nothing under log_dir: the platform's TensorBoard view of the job will be "
            "empty (summaries written elsewhere under output_dir are still uploaded)"
        )
    evidence = {
        "written_under_output": under_output,
        "written_in_log_dir": in_log_dir,
        "written_outside_output": [*outside, *container_outside],
        "removed": list(removed),
        "inputs_changed": list(inputs_changed),
        "models": list(models),
        "ignored": sorted(set(ignored)),
        "ignore_list": [
            *CACHE_PATHS,
            *(
                f"{folder} (but results: models, checkpoints, summaries)"
                for folder in SCRATCH_PATHS
            ),
            *(f"*/{n}/" for n in CACHE_NAMES),
        ],
    }
    if too_big:
        evidence["output_bytes"] = sum((output_sizes or {}).values())
    message = (
        f"{_count(len(under_output), 'file')} written, all under output_dir "
        f"({_count(len(models), 'saved model')}, {_count(len(in_log_dir), 'file')} in "
        "log_dir); inputs unchanged"
    )
    return CheckResult.from_findings(NAME, problems, warnings, message, evidence=evidence)


def _over_limit(sizes: Mapping[str, int], limit: float) -> str | None:
    """What is wrong when the files under output_dir add up to more than `limit` bytes,
    naming the largest of them."""
    total = sum(sizes.values())
    if total <= limit:
        return None
    largest = sorted(sizes.items(), key=lambda item: (-item[1], item[0]))[:5]
    named = ", ".join(f"{path} ({describe_size(size)})" for path, size in largest)
    return (
        f"left {describe_size(total)} under output_dir, over the {describe_size(limit)} "
        f"limit (--max-output-gb): {named}"
    )


def judge(evidence: Evidence) -> CheckResult:
    """The chief's (or the single node's) writes, and in a cluster every other task's:
    nothing but at most a log in its own log_dir."""
    root = evidence.root
    after = snapshot.hash_tree(root.root)
    change = snapshot.diff(evidence.before, after)

    def relative(path: Path, base: PlatformRoot = root) -> str:
        return path.relative_to(base.root).as_posix()

    outside, ignored = classify_container_changes(
        evidence.phase(TRAIN).outcome.container_changes,
        CONTAINER_OUTPUT_DIR,
        evidence.backend.mount_points(root),
    )
    result = check_path_contract(
        change.added,
        change.modified,
        change.removed,
        relative(root.output_dir),
        relative(root.log_dir),
        sorted(p for p, h in evidence.input_hashes.items() if after.get(p) != h and p in after),
        [relative(m.path) for m in evidence.models_after[TRAIN]],
        outside,
        ignored,
        {
            relative(root.output_dir / name): size
            for name, size in snapshot.tree_size(root.output_dir).items()
        },
        evidence.plan.max_output_gb * 1e9,
    )
    problems = []
    for name, task_before in evidence.tasks_before.items():
        task_root = evidence.task_roots[name]
        task_change = snapshot.diff(task_before, snapshot.hash_tree(task_root.root))
        found = task_output_problems(
            name,
            [*task_change.added, *task_change.modified],
            relative(task_root.output_dir, task_root),
            relative(task_root.log_dir, task_root),
            [relative(m.path, task_root) for m in JobOutput(task_root.output_dir).models()],
        )
        result.evidence[f"task {name}"] = {"written": task_change.added, "problems": found}
        problems += found
    return with_problems(result, problems)


# Of those results, the state a job resumes from (not summaries or metrics).
_RESUME_STATE = re.compile(r"(\.index|^checkpoint|\.ckpt.*|\.h5|\.hdf5|\.keras)$")


def checkpoints_outside(evidence: Evidence, phase: str) -> list[str]:
    """Checkpoints and models `phase` wrote outside output_dir (in /tmp, say): state a
    restarted platform job never finds again."""
    outside, _ = classify_container_changes(
        evidence.phase(phase).outcome.container_changes,
        CONTAINER_OUTPUT_DIR,
        evidence.backend.mount_points(evidence.root),
    )
    return [p for p in outside if _RESUME_STATE.search(PurePosixPath(p).name)]


def with_problems(result: CheckResult, problems: list[str], **evidence: object) -> CheckResult:
    """`result` failed for `problems` too (a cluster task's writes, the user's own files
    changed by a later phase), keeping what it found itself."""
    if not problems:
        return result
    own = [result.message] if result.status == FAILED else []
    return CheckResult.from_findings(
        result.name,
        own + problems,
        result.warnings,
        "",
        evidence={**result.evidence, **evidence},
        seconds=result.seconds,
    )


def task_output_problems(
    task: str, written: Sequence[str], output_dir: str, log_dir: str, checkpoints: Sequence[str]
) -> list[str]:
    """What a non-chief task did wrong with its own output folder: anything but a log in
    log_dir, and any checkpoint at all."""
    problems = []
    if checkpoints:
        problems.append(
            f"{task} wrote checkpoints ({', '.join(checkpoints[:3])}); only the chief may"
        )
    stray = [p for p in written if is_under(p, output_dir) and not is_under(p, log_dir)]
    if stray and not checkpoints:
        problems.append(f"{task} wrote under output_dir outside log_dir: {', '.join(stray[:3])}")
    outside = [p for p in written if not is_under(p, output_dir)]
    if outside:
        problems.append(f"{task} wrote outside output_dir: {', '.join(outside[:3])}")
    return problems
