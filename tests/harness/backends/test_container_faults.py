"""The failure matrix against the real daemon, with tiny images built from the base image.

Each job is a few lines of Python standing in for train.py (the base image has
/usr/bin/python but no TensorFlow), so every case costs a container start, not a
training run. Image tags carry a random suffix and containers are found by the
run's label, so parallel test sessions never touch each other's.
"""

from __future__ import annotations

import os
import textwrap
import threading
import time
import uuid

import docker
import pytest

from harness.backends.base import PhaseCommand
from harness.backends.container import DockerBackend, DockerError
from harness.cli import main
from harness.contract import HARNESS_ENV, PlatformRoot
from harness.images.build import build_image
from harness.record import NOT_RUN
from harness.scenario import Plan, validate

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BASE_IMAGE = "uai-harness/base:bookworm-py311"
FAKE_TRAIN = textwrap.dedent(
    """\
    import os, sys, time
    mode = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--fake_mode=")), "ok")
    print("started", flush=True)
    if mode == "sleep":
        time.sleep(120)
    if mode == "fail":
        open("/data/output/partial.txt", "w").write("x")
        for i in range(30):
            print(f"line {i}")
        sys.exit(3)
    if mode == "erofs":
        open("/data/data/injected.txt", "w").write("x")
    if mode == "env":
        print("env:", " ".join(sorted(os.environ)))
        print([l for l in open("/proc/self/status") if l.startswith("NoNewPrivs")][0].strip())
    open(f"/data/output/{os.uname().nodename}.index", "w").write("x")
    """
)


def _unique(name: str) -> str:
    return f"uai-harness/faults:{name}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    from harness.pytest_plugin import docker_unavailable_reason

    if reason := docker_unavailable_reason():
        pytest.fail(f"docker test without a daemon: {reason}")
    return docker.from_env()


@pytest.fixture(scope="module")
def tiny_image(client, tmp_path_factory) -> str:
    """The base image with FAKE_TRAIN as /data/train.py, under a tag unique to this run."""
    context = tmp_path_factory.mktemp("tiny-image")
    (context / "train.py").write_text(FAKE_TRAIN)
    (context / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nCOPY train.py /data/train.py\n")
    tag = _unique("tiny")
    build_image(context, tag, client=client)
    yield tag
    client.images.remove(tag, force=True)


def _plan(mode: str, **overrides) -> Plan:
    params = ["--input_file_pattern=/train-?????-of-00002", f"--fake_mode={mode}", "--steps=3"]
    return Plan(train_params=params, num_images=2, **overrides)


def _train_failure(result) -> tuple[str, str]:
    """(why phase train failed, as every unrun check says; the end of its log)."""
    reasons = {c.message for c in result.record.checks if c.status == NOT_RUN}
    (reason,) = reasons
    assert reason.startswith("phase train failed: ")
    return reason[len("phase train failed: ") :], result.record.phase("train").log_tail


def _leftovers(client, root: PlatformRoot) -> list:
    return client.containers.list(all=True, filters={"label": f"uai-harness.root={root.root}"})


def test_missing_image_is_one_cli_line(client, tmp_path, capsys) -> None:
    code = main(
        ["validate", "--backend", "docker", "--image", "nosuch:tag", "--out", str(tmp_path)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err == (
        "error: image 'nosuch:tag' is not available to the local Docker daemon: "
        "build it (uai-harness pack) or pull it first\n"
    )


def test_failed_build_shows_the_step_and_the_log_tail(client, tmp_path) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nRUN echo about to fail && false\n")
    tag = _unique("broken-build")
    with pytest.raises(DockerError) as raised:
        build_image(tmp_path, tag, client=client)
    first, *tail = str(raised.value).splitlines()
    assert first.startswith(f"docker build of {tag} failed: ")
    assert "returned a non-zero code: 1" in first
    assert "about to fail" in "\n".join(tail)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(tag)


def test_container_past_its_time_limit_is_killed(client, tiny_image, tmp_path) -> None:
    started = time.monotonic()
    result = validate(DockerBackend(tiny_image), _plan("sleep", timeout_s=3), tmp_path / "run")
    assert time.monotonic() - started < 90
    reason, tail = _train_failure(result)
    assert reason.startswith("was stopped at the 3 s time limit, no step logged toward --steps=3")
    assert "started" in tail
    assert "started" in (tmp_path / "run" / "logs" / "train.log").read_text()
    assert result.outcomes["train"].exit_code == 137
    assert _leftovers(client, result.root) == []


def test_failing_container_shows_its_last_lines_and_hands_back(client, tiny_image, tmp_path):
    result = validate(DockerBackend(tiny_image), _plan("fail"), tmp_path / "run")
    reason, tail = _train_failure(result)
    assert reason == "exited with status 3"
    assert tail.endswith("line 29")
    partial = result.root.output_dir / "partial.txt"
    assert (partial.stat().st_uid, partial.stat().st_gid) == (os.getuid(), os.getgid())
    assert _leftovers(client, result.root) == []


def test_data_is_read_only_in_the_container(client, tiny_image, tmp_path) -> None:
    result = validate(DockerBackend(tiny_image), _plan("erofs"), tmp_path / "run")
    _, tail = _train_failure(result)
    assert "OSError: [Errno 30] Read-only file system: '/data/data/injected.txt'" in tail
    assert not (result.root.data_dir / "injected.txt").exists()


def test_container_gets_only_the_harness_environment(client, tiny_image, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "HOSTSECRET")
    backend = DockerBackend(tiny_image)
    root = PlatformRoot.create(parent=tmp_path)
    backend.prepare(root)
    outcome = backend.run(
        PhaseCommand(train_params=("--fake_mode=env",)), root, tmp_path / "env.log"
    )
    assert outcome.succeeded, outcome.log_text
    assert "HOSTSECRET" not in outcome.log_text
    (line,) = [line for line in outcome.log_text.splitlines() if line.startswith("env:")]
    image_env = {
        item.split("=", 1)[0] for item in client.images.get(tiny_image).attrs["Config"]["Env"]
    }
    runtime = {"HOSTNAME", "HOME"}  # set by Docker
    shell = {"PWD", "OLDPWD", "SHLVL", "_"}  # set by the platform's `bash -c "cd /data && ..."`
    allowed = image_env | set(HARNESS_ENV) | runtime | shell
    assert set(line.split()[1:]) <= allowed
    assert "NoNewPrivs:\t1" in outcome.log_text


def test_parallel_runs_keep_their_own_containers_and_outputs(client, tiny_image, tmp_path):
    roots = [PlatformRoot.create(parent=tmp_path) for _ in range(2)]
    outcomes = {}

    def run(root: PlatformRoot) -> None:
        backend = DockerBackend(tiny_image)
        backend.prepare(root)
        outcomes[root.root] = backend.run(PhaseCommand(), root, root.root / "train.log")

    threads = [threading.Thread(target=run, args=(root,)) for root in roots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    written = [sorted(p.name for p in root.output_dir.glob("*.index")) for root in roots]
    assert all(outcome.succeeded for outcome in outcomes.values())
    assert [len(names) for names in written] == [1, 1] and written[0] != written[1]
    assert all(_leftovers(client, root) == [] for root in roots)
