"""The platform's path contract: read from data_dir and work_dir, write only to output."""

from __future__ import annotations

import time

from harness import snapshot
from harness.contract import PlatformRoot
from harness.record import CheckResult

NAME = "path_contract"


def check_path_contract(
    root: PlatformRoot,
    before: dict[str, str],
    after: dict[str, str],
    log_text: str,
    inputs_read: list[str],
    expected_in_log: list[str],
    container_writes: list[str] | None = None,
) -> CheckResult:
    """Everything the job wrote lies under output_dir/log_dir; inputs are untouched.

    `inputs_read` are root-relative files the job must have read (its records and
    the pretrained checkpoint): each must still be byte-identical. The log must
    name each of `expected_in_log` (data_dir, the checkpoint under work_dir, as the
    job sees them), proving it resolved its inputs where the platform mounts them.
    `container_writes` are paths a container changed outside its mounts (from
    `docker diff`), when the backend has them.
    """
    started = time.monotonic()
    change = snapshot.diff(before, after)
    output_prefix = root.output_dir.relative_to(root.root).as_posix() + "/"
    outside = [p for p in change.added + change.modified if not p.startswith(output_prefix)]
    removed = change.removed
    wrote_output = [p for p in change.added + change.modified if p.startswith(output_prefix)]
    log_prefix = root.log_dir.relative_to(root.root).as_posix() + "/"
    wrote_log = [p for p in wrote_output if p.startswith(log_prefix)]
    checkpoints = [p for p in wrote_output if p.endswith(".index")]
    unnamed = [location for location in expected_in_log if location not in log_text]
    problems = []
    if outside:
        problems.append(f"wrote outside output_dir: {', '.join(outside[:5])}")
    if removed:
        problems.append(f"deleted files it was given: {', '.join(removed[:5])}")
    if container_writes:
        problems.append(
            f"changed the image outside /data/output: {', '.join(container_writes[:5])}"
        )
    if not checkpoints:
        problems.append("wrote no checkpoint (*.index) under output_dir")
    if not wrote_log:
        problems.append("wrote nothing under log_dir (TensorBoard events, metrics)")
    if unnamed:
        problems.append(f"log never names the inputs' platform paths {', '.join(unnamed)}")
    evidence = {
        "written_under_output": wrote_output,
        "written_outside_output": outside,
        "removed": removed,
        "container_writes_outside_output": container_writes or [],
        "inputs_unchanged": [p for p in inputs_read if before.get(p) == after.get(p)],
        "input_paths_named_in_log": [loc for loc in expected_in_log if loc not in unnamed],
    }
    message = (
        "; ".join(problems)
        if problems
        else (
            f"{len(wrote_output)} files written, all under output_dir "
            f"({len(checkpoints)} checkpoints, {len(wrote_log)} in log_dir); inputs unchanged"
        )
    )
    return CheckResult(NAME, not problems, message, evidence, time.monotonic() - started)
