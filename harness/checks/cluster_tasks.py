"""The platform's distributed mode: every task ran, the chief finished, and only the chief
wrote results (each node uploads its own /data/output, so a worker's checkpoints are waste
at best and a conflicting copy of the model at worst)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from harness.checks.phases import TRAIN
from harness.distributed_mode import CHIEF_TASK
from harness.record import CheckResult

if TYPE_CHECKING:
    from harness.scenario.evidence import Evidence

NAME = "cluster_tasks"
PHASES = (TRAIN,)
# Exit statuses of a task the harness stopped with SIGTERM after the chief ended.
STOPPED_STATUSES = (0, -15, 143)


def check_cluster_tasks(
    tasks: Mapping[str, tuple[int, bool, str | None]], chief: str
) -> CheckResult:
    """`tasks`: name -> (exit status, stopped by the harness, backend error)."""
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
    return CheckResult.from_findings(NAME, problems, warnings, message, evidence=evidence)


def judge(evidence: Evidence) -> CheckResult:
    """From how every task of the training phase ended."""
    tasks = evidence.cluster_runs[TRAIN]
    return check_cluster_tasks(
        {n: (t.outcome.exit_code, t.stopped, t.outcome.error) for n, t in tasks.items()},
        CHIEF_TASK,
    )
