"""Cluster training end to end: train.py as master, ps and workers on 127.0.0.1.

Each task is its own train.py process with the same flags, its own TF_CONFIG
and its own output_dir and log_dir, as UAI-Train starts them on separate nodes.
The runs share state in order to stay few: a fresh cluster run writes
model.ckpt-4, a single-node run resumes it to 6, and a second cluster run
resumes that to 16 while one of its workers is SIGKILLed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tensorflow as tf

from harness.contract import PlatformRoot
from harness.synthetic import generate_dataset, write_inception_checkpoint

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_cluster_training")]

TRAIN = Path(__file__).resolve().parents[3] / "im2txt" / "train.py"
TIMEOUT = 300
FIRST_STEPS, SINGLE_NODE_STEPS, LAST_STEPS = 4, 6, 16
TRAINING_FLAGS = {
    "input_file_pattern": "/train-?????-of-00256",
    "inception_checkpoint_file": "/inception_v3.ckpt",
    "batch_size": 4,
    "image_size": 75,
    "vocab_size": 64,
    "log_every_n_steps": 1,
}
STEP_LINE = re.compile(r"global step (\d+): loss = (\S+)")


def _command(root: PlatformRoot, output_dir: Path, **flags: object) -> list[str]:
    """train.py with the tiny test model, the platform folders and `flags`."""
    return [
        sys.executable,
        str(TRAIN),
        *(f"--{key}={value}" for key, value in {**TRAINING_FLAGS, **flags}.items()),
        f"--work_dir={root.work_dir}",
        f"--data_dir={root.data_dir}",
        f"--output_dir={output_dir}",
        f"--log_dir={output_dir / 'log'}",
    ]


def _free_ports(count: int) -> list[int]:
    """Ports free right now (held open together, so they are distinct)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclasses.dataclass
class Task:
    """One train.py process of the cluster, with its folders and captured output."""

    name: str
    output_dir: Path
    console: Path
    process: subprocess.Popen[bytes] | None = None

    def output(self) -> str:
        return self.console.read_text(errors="replace")

    def wait(self, timeout: float = TIMEOUT) -> int:
        return self.process.wait(timeout=timeout)


class LocalCluster:
    """A master, ps tasks and workers of train.py on loopback ports picked at run time."""

    def __init__(self, root: PlatformRoot, where: Path, workers: int = 2, ps: int = 1) -> None:
        self.root = root
        ports = iter(_free_ports(1 + ps + workers))
        self.spec = {
            "master": [f"127.0.0.1:{next(ports)}"],
            "ps": [f"127.0.0.1:{next(ports)}" for _ in range(ps)],
            "worker": [f"127.0.0.1:{next(ports)}" for _ in range(workers)],
        }
        self.tasks = {
            f"{kind}{index}": Task(
                f"{kind}{index}", where / f"{kind}{index}", where / f"{kind}{index}.out"
            )
            for kind, addresses in self.spec.items()
            for index in range(len(addresses))
        }

    def tf_config(self, name: str) -> str:
        kind, index = name.rstrip("0123456789"), int(name.lstrip("abcdefghijklmnopqrstuvwxyz"))
        return json.dumps({"cluster": self.spec, "task": {"type": kind, "index": index}})

    def start(self, name: str, output_dir: Path | None = None, **flags: object) -> Task:
        task = self.tasks[name]
        command = _command(self.root, output_dir or task.output_dir, **flags)
        env = {**_env(), "TF_CONFIG": self.tf_config(name)}
        with open(task.console, "wb") as console:
            task.process = subprocess.Popen(
                command, stdout=console, stderr=subprocess.STDOUT, env=env
            )
        return task

    def start_servers(self, **flags: object) -> None:
        for name in self.tasks:
            if not name.startswith("master"):
                self.start(name, **flags)

    def stop(self, name: str) -> tuple[int, float]:
        """SIGTERM a task; its exit status and how long it took to exit."""
        task = self.tasks[name]
        started = time.monotonic()
        task.process.send_signal(signal.SIGTERM)
        status = task.wait(60)
        return status, time.monotonic() - started

    def kill_all(self) -> None:
        for task in self.tasks.values():
            if task.process is not None and task.process.poll() is None:
                task.process.kill()
                task.process.wait()


def _env() -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("TF_CONFIG", None)
    return env


def _wait_for_line(task: Task, pattern: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, task.output()):
        if task.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{task.name} never printed {pattern!r}:\n{task.output()}")
        time.sleep(0.2)


def _checkpoint_step(prefix: Path) -> int:
    return int(tf.train.load_checkpoint(str(prefix)).get_tensor("global_step"))


def _losses(output: str) -> dict[int, float]:
    return {int(step): float(loss) for step, loss in STEP_LINE.findall(output)}


def _assert_wrote_nothing(task: Task) -> None:
    written = sorted(task.output_dir.rglob("*")) if task.output_dir.exists() else []
    assert written == [], f"{task.name} wrote {written}"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> PlatformRoot:
    root = PlatformRoot.create(parent=tmp_path_factory.mktemp("cluster"))
    generate_dataset(root.data_dir, num_images=4, captions_per_image=2, num_eval_images=0)
    write_inception_checkpoint(root.work_dir / "inception_v3.ckpt")
    return root


@dataclasses.dataclass(frozen=True)
class FirstRun:
    """A fresh 1-master/1-ps/2-worker run to FIRST_STEPS, and how its servers stopped."""

    cluster: LocalCluster
    chief_status: int
    server_stops: dict[str, tuple[int, float]]


@pytest.fixture(scope="module")
def first_run(root: PlatformRoot, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstRun]:
    cluster = LocalCluster(root, tmp_path_factory.mktemp("first"))
    try:
        cluster.start_servers()
        chief = cluster.start("master0", number_of_steps=FIRST_STEPS, save_checkpoint_steps=2)
        status = chief.wait()
        stops = {name: cluster.stop(name) for name in cluster.tasks if name != "master0"}
        yield FirstRun(cluster, status, stops)
    finally:
        cluster.kill_all()


def test_chief_trains_and_alone_writes_checkpoints(first_run: FirstRun) -> None:
    chief = first_run.cluster.tasks["master0"]
    assert first_run.chief_status == 0, chief.output()
    output = chief.output()
    assert "Coordinating 2 worker(s) and 1 ps task(s)" in output
    assert "Restored 376 Inception variables" in output
    losses = _losses(output)
    assert sorted(losses) == list(range(1, FIRST_STEPS + 1))
    assert all(0 < loss < 1e4 for loss in losses.values()), losses
    metrics = [
        json.loads(line)
        for line in (chief.output_dir / "log" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [record["step"] for record in metrics] == list(range(1, FIRST_STEPS + 1))
    assert list(chief.output_dir.glob("log/events.out.tfevents.*"))
    index = (chief.output_dir / "checkpoint").read_text()
    assert f'model_checkpoint_path: "model.ckpt-{FIRST_STEPS}"' in index
    assert _checkpoint_step(chief.output_dir / f"model.ckpt-{FIRST_STEPS}") == FIRST_STEPS
    assert _checkpoint_step(chief.output_dir / "model.ckpt-2") == 2
    keys = tf.train.load_checkpoint(
        str(chief.output_dir / "model.ckpt-2")
    ).get_variable_to_shape_map()
    assert {"global_step", "lstm/basic_lstm_cell/kernel", "seq_embedding/map"} <= set(keys)
    assert len([key for key in keys if key.startswith("InceptionV3/")]) == 376


def test_ps_and_workers_write_nothing_and_exit_0_on_sigterm(first_run: FirstRun) -> None:
    for name, (status, seconds) in first_run.server_stops.items():
        task = first_run.cluster.tasks[name]
        assert status == 0, task.output()
        assert f"SIGTERM received: {name[:-1]} {name[-1]}" in task.output()
        _assert_wrote_nothing(task)
        print(f"{name} exited {seconds:.1f} s after SIGTERM")


@pytest.fixture(scope="module")
def single_node_resume(first_run: FirstRun) -> subprocess.CompletedProcess[str]:
    """train.py without TF_CONFIG, continuing the cluster's checkpoints."""
    output_dir = first_run.cluster.tasks["master0"].output_dir
    command = _command(first_run.cluster.root, output_dir, number_of_steps=SINGLE_NODE_STEPS)
    return subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT, env=_env(), check=False
    )


def test_cluster_checkpoint_resumes_single_node(
    first_run: FirstRun, single_node_resume: subprocess.CompletedProcess[str]
) -> None:
    output_dir = first_run.cluster.tasks["master0"].output_dir
    assert single_node_resume.returncode == 0, single_node_resume.stderr
    assert f"model.ckpt-{FIRST_STEPS} at global step {FIRST_STEPS}" in single_node_resume.stdout
    assert sorted(_losses(single_node_resume.stdout)) == list(
        range(FIRST_STEPS + 1, SINGLE_NODE_STEPS + 1)
    )
    assert _checkpoint_step(output_dir / f"model.ckpt-{SINGLE_NODE_STEPS}") == SINGLE_NODE_STEPS


@dataclasses.dataclass(frozen=True)
class ResumedRun:
    """A second cluster continuing the single-node checkpoint; worker1 killed mid-run."""

    cluster: LocalCluster
    chief_status: int
    killed_at_step: int
    seconds_after_kill: float


@pytest.fixture(scope="module")
def resumed_with_a_killed_worker(
    first_run: FirstRun,
    single_node_resume: subprocess.CompletedProcess[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ResumedRun]:
    output_dir = first_run.cluster.tasks["master0"].output_dir
    cluster = LocalCluster(first_run.cluster.root, tmp_path_factory.mktemp("resumed"))
    try:
        cluster.start_servers()
        chief = cluster.start("master0", output_dir=output_dir, number_of_steps=LAST_STEPS)
        _wait_for_line(chief, r"global step \d+: loss")
        killed_at = max(_losses(chief.output()))
        cluster.tasks["worker1"].process.kill()
        killed = time.monotonic()
        status = chief.wait()
        yield ResumedRun(cluster, status, killed_at, time.monotonic() - killed)
    finally:
        cluster.kill_all()


def test_single_node_checkpoint_resumes_in_the_cluster_despite_a_killed_worker(
    first_run: FirstRun, resumed_with_a_killed_worker: ResumedRun
) -> None:
    run = resumed_with_a_killed_worker
    chief = run.cluster.tasks["master0"]
    output = chief.output()
    assert run.chief_status == 0, output
    assert f"model.ckpt-{SINGLE_NODE_STEPS} at global step {SINGLE_NODE_STEPS}" in output
    assert run.killed_at_step < LAST_STEPS, "the worker was killed after training ended"
    losses = _losses(output)
    assert max(losses) == LAST_STEPS
    assert min(losses) == SINGLE_NODE_STEPS + 1
    output_dir = first_run.cluster.tasks["master0"].output_dir
    # A step the killed worker had applied may run again elsewhere, counting twice.
    final = (output_dir / "checkpoint").read_text().splitlines()[0]
    step = int(re.search(r"model\.ckpt-(\d+)", final)[1])
    assert LAST_STEPS <= step <= LAST_STEPS + 2
    assert _checkpoint_step(output_dir / f"model.ckpt-{step}") == step
    for name in ("ps0", "worker0", "worker1"):
        _assert_wrote_nothing(run.cluster.tasks[name])
    print(
        f"worker1 SIGKILLed after global step {run.killed_at_step}; the chief reached "
        f"step {step} and exited 0 {run.seconds_after_kill:.1f} s later"
    )


def test_missing_ps_fails_after_the_bounded_wait_naming_it(
    root: PlatformRoot, tmp_path: Path
) -> None:
    cluster = LocalCluster(root, tmp_path, workers=1)
    try:
        cluster.start("worker0")
        chief = cluster.start("master0", number_of_steps=2, cluster_wait_secs=3)
        status = chief.wait()
    finally:
        cluster.kill_all()
    assert status == 1, chief.output()
    assert (
        f"TF_CONFIG task(s) not reachable after 3 s (--cluster_wait_secs): "
        f"ps 0 at {cluster.spec['ps'][0]}"
    ) in chief.output()
    assert "worker 0" not in chief.output().split("not reachable")[1]
    assert not list(cluster.tasks["master0"].output_dir.rglob("model.ckpt-*"))


MALFORMED = {
    "not json": ("{'cluster': 1}", "TF_CONFIG: not valid JSON"),
    "no chief": (
        json.dumps(
            {
                "cluster": {"ps": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"]},
                "task": {"type": "worker", "index": 0},
            }
        ),
        "TF_CONFIG: the cluster needs exactly one chief",
    ),
    "index out of range": (
        json.dumps(
            {
                "cluster": {
                    "master": ["127.0.0.1:1"],
                    "ps": ["127.0.0.1:2"],
                    "worker": ["127.0.0.1:3"],
                },
                "task": {"type": "worker", "index": 1},
            }
        ),
        "TF_CONFIG: task index 1 is out of range",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_tf_config_is_refused_before_anything_is_written(
    root: PlatformRoot, tmp_path: Path, case: str
) -> None:
    tf_config, expected = MALFORMED[case]
    output_dir = tmp_path / "output"
    result = subprocess.run(
        _command(root, output_dir),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**_env(), "TF_CONFIG": tf_config},
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert f"error: {expected}" in result.stderr
    assert not output_dir.exists()
