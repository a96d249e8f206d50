"""UAI-Train's distributed mode, reproduced on one machine.

The platform starts the same image and command on every node and gives each task a
`TF_CONFIG` (`harness.contract.tf_config`), with `master` as the chief; each node has
its own /data/output. When the chief ends the
platform stops the remaining tasks. `run_cluster` does the same with any backend:
loopback ports locally, one container per task on an internal network in Docker.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from harness.backends.base import Backend, LogSink, PhaseCommand, RunningJob, RunOutcome, TaskSpec
from harness.contract import CHIEF, TASK_TYPES, PlatformRoot, tf_config

CHIEF_TASK = f"{CHIEF}-0"  # the chief task's name: its phase outcome is the phase's
# How long a task may take to exit after SIGTERM once the chief has ended.
STOP_GRACE_S = 30.0
_SPEC = re.compile(r"^\s*(?P<type>[a-z]+)\s*=\s*(?P<count>\d+)\s*$")


@dataclasses.dataclass(frozen=True)
class ClusterSpec:
    """How many tasks of each type besides the one chief (`master`)."""

    ps: int = 0
    worker: int = 0

    @classmethod
    def parse(cls, text: str) -> ClusterSpec:
        """`ps=1,worker=2` (either may be left out); ValueError naming what is wrong."""
        counts: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            match = _SPEC.match(part)
            if not match or match["type"] not in TASK_TYPES:
                raise ValueError(
                    f"--cluster {text!r}: {part!r} is not TYPE=COUNT with TYPE one of "
                    f"{', '.join(TASK_TYPES)} (the chief, {CHIEF}, is always one)"
                )
            counts[match["type"]] = int(match["count"])
        spec = cls(**counts)
        if spec.ps + spec.worker == 0:
            raise ValueError(f"--cluster {text!r} names no ps or worker task")
        return spec

    def task_names(self) -> list[str]:
        """Every task as `type-index`, chief first."""
        return [
            f"{CHIEF}-0",
            *(f"ps-{i}" for i in range(self.ps)),
            *(f"worker-{i}" for i in range(self.worker)),
        ]

    def tf_config(self, task: str, addresses: dict[str, str]) -> dict:
        """The TF_CONFIG the platform gives `task`, with the given `host:port` addresses."""
        cluster: dict[str, list[str]] = {}
        for name in self.task_names():
            cluster.setdefault(name.split("-")[0], []).append(addresses[name])
        kind, index = task.rsplit("-", 1)
        return tf_config(cluster, kind, int(index))

    def describe(self) -> str:
        return f"1 {CHIEF}, {self.ps} ps, {self.worker} worker"


@dataclasses.dataclass
class TaskOutcome:
    """How one task ended, and whether the harness had to stop it after the chief."""

    name: str
    tf_config: dict  # addresses replaced by task names, for the record
    outcome: RunOutcome
    stopped: bool


def run_cluster(
    backend: Backend,
    spec: ClusterSpec,
    job: PhaseCommand,
    roots: dict[str, PlatformRoot],
    log_dir: Path,
    on_line: LogSink | None = None,
) -> dict[str, TaskOutcome]:
    """Start every task (servers first, the chief last), wait for the chief, then stop the
    tasks still running - as the platform does - and return how each ended. Whatever
    fails, every task is finished and the cluster's network is removed."""
    names = spec.task_names()
    addresses = backend.cluster_addresses(names)
    by_name = {name: name for name in names}
    running: dict[str, RunningJob] = {}
    ended: dict[str, TaskOutcome] = {}
    try:
        for name in [*names[1:], names[0]]:
            config = json.dumps(spec.tf_config(name, addresses))
            sink = on_line if name == names[0] else None
            running[name] = backend.start(
                job, roots[name], log_dir / f"{name}.log", sink, TaskSpec(name, config)
            )
        chief = running[names[0]].finish(job.timeout_s)
        ended[names[0]] = TaskOutcome(names[0], spec.tf_config(names[0], by_name), chief, False)
        for name in names[1:]:
            task = running[name]
            stopped = task.poll() is None
            if stopped:
                task.stop(STOP_GRACE_S)
            outcome = task.finish(STOP_GRACE_S + 10)
            ended[name] = TaskOutcome(name, spec.tf_config(name, by_name), outcome, stopped)
    finally:
        for name, task in running.items():
            if name not in ended:
                task.stop(1.0)
                task.finish(10.0)
        problems = backend.close_cluster()
    if problems:
        chief_outcome = ended[names[0]].outcome
        chief_outcome.error = "; ".join(filter(None, [chief_outcome.error, *problems]))
    return ended
