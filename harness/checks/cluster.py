"""The platform's distributed mode: every task ran, the chief finished, and only the chief
wrote results (each node uploads its own /data/output, so a worker's checkpoints are waste
at best and a conflicting copy of the model at worst)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from harness.checks.paths import is_under
from harness.record import CheckResult

NAME = "cluster_tasks"
# Exit statuses of a task the harness stopped with SIGTERM after the chief ended.
STOPPED_STATUSES = (0, -15, 143)


def check_cluster_tasks(
    tasks: Mapping[str, tuple[int, bool, str | None]], chief: str, seconds: float = 0.0
) -> CheckResult:
    """`tasks`: name -> (exit status, stopped by the harness, backend error)."""
    started = time.monotonic()
    problems, warnings = [], []
    for name, (status, stopped, error) in tasks.items():
        if error:
            problems.append(f"{name} could not be run: {error}")
        elif name == chief and status != 0:
            problems.append(f"the chief {name} exited with status {status}")
        elif name != chief and stopped and status not in STOPPED_STATUSES:
            warnings.append(
                f"{name} did not exit cleanly when stopped after the chief ended "
                f"(status {status}); the platform would kill it too"
            )
        elif name != chief and not stopped and status != 0:
            problems.append(f"{name} exited with status {status} while the chief ran")
    evidence = {
        name: {"exit_code": status, "stopped_after_chief": stopped, "error": error}
        for name, (status, stopped, error) in tasks.items()
    }
    message = (
        f"all {len(tasks)} tasks started; the chief {chief} finished; "
        f"{sum(stopped for _, stopped, _ in tasks.values())} stopped after it"
    )
    return CheckResult.from_findings(
        NAME,
        problems,
        warnings,
        message,
        evidence=evidence,
        seconds=seconds + time.monotonic() - started,
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
