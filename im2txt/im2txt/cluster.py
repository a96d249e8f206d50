"""TF_CONFIG, UAI-Train's description of a distributed job: which task this process is.

UAI-Train starts the same command on every node of a distributed job and tells
each process its place through the TF_CONFIG environment variable:
`{"cluster": {"master": ["ip0:2222"], "ps": ["ip0:2223", "ip1:2223"],
"worker": ["ip1:2222"]}, "task": {"type": "worker", "index": 0}}`. The platform
calls the chief "master" (TensorFlow 1's word); TensorFlow 2 calls it "chief";
both are accepted. Parsing imports no TensorFlow, so a bad TF_CONFIG is refused
in a fraction of a second, before any file is written.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from collections.abc import Mapping, Sequence

ENV_VAR = "TF_CONFIG"
CHIEF, WORKER, PS = "chief", "worker", "ps"
# TF_CONFIG task type -> the role it plays here.
_ROLES = {"master": CHIEF, "chief": CHIEF, "worker": WORKER, "ps": PS}


class ClusterConfigError(ValueError):
    """TF_CONFIG is malformed or describes a cluster this trainer cannot run."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"{ENV_VAR}: {problem}")


@dataclasses.dataclass(frozen=True)
class Task:
    """One process of the cluster: its role, its index within the role, its address."""

    role: str
    index: int
    address: str

    def __str__(self) -> str:
        return f"{self.role} {self.index} at {self.address}"


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A validated cluster with exactly one chief, at least one ps and one worker."""

    chief: str
    workers: tuple[str, ...]
    ps: tuple[str, ...]
    task: Task  # the task of this process

    @property
    def is_chief(self) -> bool:
        return self.task.role == CHIEF

    def spec(self) -> dict[str, list[str]]:
        """The cluster in TensorFlow's job names (for tf.train.ClusterSpec)."""
        return {CHIEF: [self.chief], WORKER: list(self.workers), PS: list(self.ps)}

    def servers(self) -> list[Task]:
        """The ps and worker tasks, which the chief needs before it can start."""
        return [Task(PS, i, a) for i, a in enumerate(self.ps)] + [
            Task(WORKER, i, a) for i, a in enumerate(self.workers)
        ]


def from_environment(environ: Mapping[str, str] = os.environ) -> Cluster | None:
    """The cluster TF_CONFIG describes, or None for a single-node job."""
    return parse_tf_config(environ.get(ENV_VAR))


def parse_tf_config(text: str | None) -> Cluster | None:
    """Parse and validate a TF_CONFIG value.

    None (single-node) when it is unset, blank, or its cluster is empty or holds
    one task. Otherwise the cluster must name one chief ("master" or "chief"), at
    least one ps and one worker, each as distinct "host:port" addresses, and a
    task that exists in it; anything else raises ClusterConfigError saying what.
    """
    if text is None or not text.strip():
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise ClusterConfigError(f"not valid JSON ({err}): {text!r}") from err
    if not isinstance(config, dict):
        raise ClusterConfigError(f"must be a JSON object, got {text!r}")
    jobs = _jobs(config.get("cluster", {}))
    task_config = config.get("task")
    if not jobs:
        if task_config:
            raise ClusterConfigError("names a task but its cluster is empty")
        return None
    if sum(len(addresses) for addresses in jobs.values()) == 1:
        if task_config is not None:
            _task(task_config, jobs)
        return None
    task = _task(task_config, jobs)
    chief = jobs.get(CHIEF, ())
    if len(chief) != 1:
        raise ClusterConfigError(
            f"the cluster needs exactly one chief ('master' or 'chief'), found {len(chief)}"
        )
    for role, why in ((PS, "the parameter servers hold the variables"), (WORKER, "workers train")):
        if not jobs.get(role):
            raise ClusterConfigError(f"the cluster needs at least one {role!r} task ({why})")
    return Cluster(chief[0], jobs[WORKER], jobs[PS], task)


def _jobs(cluster: object) -> dict[str, tuple[str, ...]]:
    """The cluster's addresses by role, with 'master' read as the chief."""
    if not isinstance(cluster, dict):
        raise ClusterConfigError(f"'cluster' must be an object of task lists, got {cluster!r}")
    jobs: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for name, addresses in cluster.items():
        role = _ROLES.get(name)
        if role is None:
            raise ClusterConfigError(
                f"unknown task type {name!r} in the cluster (known: {', '.join(_ROLES)})"
            )
        if role in jobs:
            raise ClusterConfigError("the cluster names the chief twice ('master' and 'chief')")
        if not isinstance(addresses, list):
            raise ClusterConfigError(f"cluster {name!r} must be a list of addresses")
        for index, address in enumerate(addresses):
            where = f"cluster {name!r} entry {index}"
            _check_address(address, where)
            if address in seen:
                raise ClusterConfigError(f"{where} repeats {seen[address]}'s address {address}")
            seen[address] = where
        if addresses:
            jobs[role] = tuple(addresses)
    return jobs


def _check_address(address: object, where: str) -> None:
    if not isinstance(address, str):
        raise ClusterConfigError(f"{where} must be a 'host:port' string, got {address!r}")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterConfigError(f"{where} is {address!r}, not 'host:port' with a port 1-65535")


def _task(task: object, jobs: Mapping[str, Sequence[str]]) -> Task:
    if not isinstance(task, dict):
        raise ClusterConfigError(f"'task' must be an object with 'type' and 'index', got {task!r}")
    name, index = task.get("type"), task.get("index")
    role = _ROLES.get(name) if isinstance(name, str) else None
    if role is None:
        raise ClusterConfigError(f"unknown task type {name!r} (known: {', '.join(_ROLES)})")
    if role not in jobs:
        raise ClusterConfigError(f"task type {name!r} has no entry in the cluster")
    if isinstance(index, bool) or not isinstance(index, int):
        raise ClusterConfigError(f"task index must be an integer, got {index!r}")
    if not 0 <= index < len(jobs[role]):
        raise ClusterConfigError(
            f"task index {index} is out of range: the cluster has {len(jobs[role])} "
            f"{name!r} task(s)"
        )
    return Task(role, index, jobs[role][index])


def unreachable(tasks: Sequence[Task], wait_s: float, poll_s: float = 0.5) -> list[Task]:
    """The tasks that still refuse a TCP connection after up to `wait_s` seconds.

    A task's gRPC server accepts connections once it has started, so this tells
    a task that is not up (yet) from one that is; `wait_s=0` asks once.
    """
    deadline = time.monotonic() + wait_s
    waiting = list(tasks)
    while True:
        waiting = [task for task in waiting if not _accepts(task.address)]
        if not waiting or time.monotonic() >= deadline:
            return waiting
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))


def _accepts(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
            return True
    except OSError:
        return False
