"""The platform's distributed mode in the harness (distributed_mode.py, cluster_tasks.py),
driven with a tiny fake job: each task reads its TF_CONFIG; the chief trains and exits,
servers wait until they are stopped."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness import distributed_mode as cluster_module
from harness.backends.base import PhaseCommand
from harness.backends.local import LocalBackend
from harness.checks.cluster_tasks import check_cluster_tasks
from harness.checks.path_contract import task_output_problems
from harness.contract import PlatformRoot
from harness.distributed_mode import ClusterSpec, run_cluster
from harness.record import FAILED, NOT_APPLICABLE, PASSED, WARNING
from harness.scenario import Plan, validate

FAKE_JOB = textwrap.dedent(
    """\
    import json, os, signal, sys, time
    flags = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    config = json.loads(os.environ["TF_CONFIG"])
    task = config["task"]
    print("TF_CONFIG", json.dumps(config), flush=True)
    ready = flags["ready_dir"]
    if task["type"] != "master":
        if flags.get("server_mode") == "stubborn":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        else:
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        if flags.get("worker_mode") == "checkpoint" and task["type"] == "worker":
            open(os.path.join(flags["output_dir"], "model.ckpt-1.index"), "w").write("x")
        me = config["cluster"][task["type"]][task["index"]]
        open(os.path.join(ready, me.replace(":", "_")), "w").close()
        while True:
            time.sleep(0.2)
    # As a real chief waits for its servers to connect.
    cluster = config["cluster"]
    servers = [a.replace(":", "_") for k, v in cluster.items() if k != "master" for a in v]
    deadline = time.time() + 30
    while not set(servers) <= set(os.listdir(ready)) and time.time() < deadline:
        time.sleep(0.05)
    steps = int(flags.get("number_of_steps", 5))
    for step in range(1, steps + 1):
        print(f"global step {step}: loss = {4.0 / step:.4f}")
    open(os.path.join(flags["output_dir"], f"model.ckpt-{steps}.index"), "w").write("x")
    """
)


@pytest.fixture
def fake_code(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(FAKE_JOB)
    return code


def test_cluster_specs_parse_and_name_their_tasks() -> None:
    spec = ClusterSpec.parse("ps=1, worker=2")
    assert spec.task_names() == ["master-0", "ps-0", "worker-0", "worker-1"]
    config = spec.tf_config("worker-1", {n: f"{n}:2222" for n in spec.task_names()})
    assert config == {
        "cluster": {
            "master": ["master-0:2222"],
            "ps": ["ps-0:2222"],
            "worker": ["worker-0:2222", "worker-1:2222"],
        },
        "task": {"type": "worker", "index": 1},
        "environment": "cloud",
    }


@pytest.mark.parametrize("text", ["chief=1", "worker", "ps=-1", "worker=two", "ps=0", ""])
def test_bad_cluster_specs_are_named(text: str) -> None:
    with pytest.raises(ValueError, match="--cluster"):
        ClusterSpec.parse(text)


def _run(tmp_path: Path, fake_code: Path, *params: str) -> dict:
    spec = ClusterSpec.parse("ps=1,worker=2")
    backend = LocalBackend(fake_code, sandbox_mode=False)
    roots = {}
    for name in spec.task_names():
        roots[name] = PlatformRoot.create(parent=tmp_path, prefix=f"{name}-")
        backend.prepare(roots[name])
    ready = tmp_path / "ready"
    ready.mkdir()
    job = PhaseCommand(train_params=(f"--ready_dir={ready}", *params), timeout_s=60)
    return run_cluster(backend, spec, job, roots, tmp_path / "logs")


def test_every_task_gets_its_tf_config_and_servers_are_stopped_after_the_chief(
    tmp_path, fake_code
) -> None:
    tasks = _run(tmp_path, fake_code)
    chief = tasks["master-0"]
    assert chief.outcome.exit_code == 0 and not chief.stopped
    seen = {}
    for name, task in tasks.items():
        line = next(ln for ln in task.outcome.log_text.splitlines() if ln.startswith("TF_CONFIG"))
        seen[name] = json.loads(line.split(" ", 1)[1])
        assert seen[name]["task"] == {"type": name.split("-")[0], "index": int(name[-1])}
    addresses = [a for group in seen["master-0"]["cluster"].values() for a in group]
    assert len(set(addresses)) == 4 and all(a.startswith("127.0.0.1:") for a in addresses)
    assert all(task.stopped and task.outcome.exit_code == 0 for task in list(tasks.values())[1:])
    # The record's TF_CONFIG names tasks instead of addresses.
    assert tasks["worker-1"].tf_config["cluster"]["worker"] == ["worker-0", "worker-1"]


def test_a_server_that_ignores_sigterm_is_killed_after_the_grace(
    tmp_path, fake_code, monkeypatch
) -> None:
    monkeypatch.setattr(cluster_module, "STOP_GRACE_S", 1.0)
    tasks = _run(tmp_path, fake_code, "--server_mode=stubborn")
    assert tasks["ps-0"].stopped and tasks["ps-0"].outcome.exit_code == -9
    result = check_cluster_tasks(
        {n: (t.outcome.exit_code, t.stopped, t.outcome.error) for n, t in tasks.items()},
        "master-0",
    )
    assert result.status == WARNING  # the platform kills it too: a warning, not a failure
    assert any("ps-0 did not exit cleanly" in w for w in result.warnings)


def test_task_verdicts() -> None:
    crashed = check_cluster_tasks(
        {"master-0": (0, False, None), "worker-0": (1, False, None)}, "master-0"
    )
    assert (
        crashed.status == FAILED
        and "worker-0 exited with status 1 while the chief ran" in crashed.message
    )
    chief = check_cluster_tasks({"master-0": (2, False, None), "ps-0": (0, True, None)}, "master-0")
    assert chief.status == FAILED and "the chief master-0 exited with status 2" in chief.message
    assert (
        task_output_problems(
            "ps-0", ["data/output/log/ps.log"], "data/output", "data/output/log", []
        )
        == []
    )
    problems = task_output_problems(
        "worker-0",
        ["data/output/model.ckpt-1.index"],
        "data/output",
        "data/output/log",
        ["data/output/model.ckpt-1.index"],
    )
    assert problems == [
        "worker-0 wrote checkpoints (data/output/model.ckpt-1.index); only the chief may"
    ]


def test_validate_a_cluster_flags_a_worker_that_writes_checkpoints(tmp_path, fake_code) -> None:
    data = tmp_path / "sample"
    data.mkdir()
    (data / "part-0.csv").write_text("1,2\n")
    ready = tmp_path / "ready"
    ready.mkdir()
    plan = Plan(
        train_params=["--number_of_steps=5", "--worker_mode=checkpoint", f"--ready_dir={ready}"],
        profile="none",
        data=data,
        resume_steps=2,
        cluster=ClusterSpec.parse("ps=1,worker=1"),
        timeout_s=60,
    )
    result = validate(LocalBackend(fake_code, sandbox_mode=False), plan, tmp_path / "run")
    table = {c.name: c.status for c in result.record.checks}
    assert table["cluster_tasks"] == PASSED
    assert table["path_contract"] == FAILED
    # The fake's files are no real checkpoints: the worker's one is a stray write.
    message = result.record.check("path_contract").message
    assert (
        "worker-0 wrote under output_dir outside log_dir: data/output/model.ckpt-1.index" in message
    )
    assert table["reproducible"] == NOT_APPLICABLE
    names = [phase.name for phase in result.record.phases]
    assert names[:3] == ["train", "train:ps-0", "train:worker-0"]
    worker = result.record.phase("train:worker-0")
    assert worker.task["tf_config"]["task"] == {"type": "worker", "index": 0}
    assert "127.0.0.1" not in json.dumps(worker.task)
