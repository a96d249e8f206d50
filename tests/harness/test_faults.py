"""The harness's failure matrix without a real daemon: each fault ends in a verdict or a
one-line CLI error, never a traceback, a hang or a leftover container.

Docker faults use a scripted fake client; local-backend faults run a tiny fake job
(`train.py` that prints loss lines and writes a file into output_dir) so nothing
here trains a model.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import docker
import pytest
import requests
import urllib3

from harness.backends import daemon
from harness.backends.base import PhaseCommand
from harness.backends.container import DockerBackend, DockerError
from harness.backends.local import LocalBackend
from harness.cli import main
from harness.contract import HARNESS_ENV, PlatformRoot
from harness.images.build import build_image
from harness.record import NOT_APPLICABLE, NOT_RUN, PASSED
from harness.scenario import Plan, new_run_dir, validate
from tests.support.plugin import plugin_args

PATTERN = "--input_file_pattern=/train-?????-of-00002"

FAKE_TRAIN = textwrap.dedent(
    """\
    import os, sys, time
    flags = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    print("argv:", " ".join(sys.argv[1:]))
    print("env:", " ".join(sorted(os.environ)))
    mode = flags.get("fake_mode", "ok")
    if mode == "sleep":
        print("started", flush=True)
        time.sleep(120)
    if mode == "fail":
        for i in range(30):
            print(f"line {i}")
        sys.exit(3)
    os.makedirs(flags["log_dir"], exist_ok=True)
    steps = int(flags.get("number_of_steps", 3))
    for step in range(1, steps + 1):
        print(f"global step {step}: loss = {5.0 / step:.4f} (0.01 sec/step)")
    with open(os.path.join(flags["output_dir"], f"model.ckpt-{steps}.index"), "w") as f:
        f.write(flags["output_dir"])
    """
)


@pytest.fixture
def fake_code(tmp_path: Path) -> Path:
    """A code path whose train.py is FAKE_TRAIN."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(FAKE_TRAIN)
    return code


def _fake_plan(*extra: str, **overrides) -> Plan:
    return Plan(
        train_params=[PATTERN, "--number_of_steps=3", *extra],
        resume_steps=1,
        num_images=2,
        **overrides,
    )


def _verdicts(result) -> dict[str, tuple[str, str]]:
    return {check.name: (check.status, check.message) for check in result.record.checks}


# --------------------------------------------------------------------------- fake docker


def _role(command) -> str:
    """What a container is for, from its command: the harness makes five kinds."""
    text = " ".join(command or [])
    if text.startswith("/bin/bash -c cd /data"):
        return "job"
    if text.startswith("/bin/bash -c test -x"):
        return "probe"
    if text.startswith("/usr/bin/python -c"):
        return "env"
    if text.startswith("chown"):
        return "chown"
    return "copy"


class FakeContainer:
    """A container that follows a script: `wait` is a list of results or exceptions."""

    def __init__(self, script: dict, command, name: str, labels: dict) -> None:
        self.script, self.command, self.name, self.labels = script, command, name, labels
        self.short_id = "c0ffee000000"
        self.id = self.short_id * 5
        self.status = "created"
        self.killed = self.removed = False

    def start(self) -> None:
        if "start_error" in self.script:
            raise self.script["start_error"]
        self.status = "running"

    def wait(self, timeout=None) -> dict:
        outcome = self.script.setdefault("wait", [0]).pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return {"StatusCode": outcome}

    def logs(self, stream: bool = False, follow: bool = False):
        chunks = self.script.get("logs", [b""])
        if not stream:
            return b"".join(chunks)
        return self._stream(chunks)

    def _stream(self, chunks):
        yield from chunks
        if "log_error" in self.script:
            raise self.script["log_error"]

    def kill(self) -> None:
        self.killed = True
        if "kill_error" in self.script:
            raise self.script["kill_error"]

    def diff(self) -> list:
        return [{"Path": p, "Kind": 1} for p in self.script.get("diff", [])]

    def get_archive(self, path: str):
        raise docker.errors.NotFound(f"no {path}")

    def remove(self, force: bool = False) -> None:
        if "remove_error" in self.script:
            raise self.script["remove_error"]
        self.removed = True


class FakeContainers:
    """Hands out containers scripted per role, in creation order; records every request.

    `create_error` makes the daemon create the container and then fail the call, as a
    timeout on the creation request does.
    """

    def __init__(self, scripts: dict[str, list[dict]], create_error=None) -> None:
        self.scripts = {role: list(items) for role, items in scripts.items()}
        self.create_error = create_error
        self.created: list[dict] = []
        self.instances: list[FakeContainer] = []
        self.stale: list[FakeContainer] = []

    def create(self, image, command=None, name=None, **kwargs) -> FakeContainer:
        self.created.append({"image": image, "command": command, "name": name, **kwargs})
        queue = self.scripts.get(_role(command), [])
        container = FakeContainer(
            queue.pop(0) if queue else {}, command, name, kwargs.get("labels", {})
        )
        self.instances.append(container)
        if self.create_error is not None:
            raise self.create_error
        return container

    def get(self, name: str) -> FakeContainer:
        for container in self.instances:
            if container.name == name:
                return container
        raise docker.errors.NotFound(name)

    def list(self, all: bool = False, filters=None) -> list[FakeContainer]:
        return [c for c in self.stale + self.instances if not c.removed]

    def of_role(self, role: str) -> list[FakeContainer]:
        return [c for c in self.instances if _role(c.command) == role]


class FakeImages:
    def __init__(self, missing: bool = False) -> None:
        self.missing = missing

    def get(self, name: str):
        if self.missing:
            raise docker.errors.ImageNotFound(f"No such image: {name}")
        image = type("Image", (), {})()
        image.id, image.tags, image.attrs = "sha256:" + "ab" * 32, [name], {}
        return image


class FakeNetworks:
    def __init__(self) -> None:
        self.items: list = []

    def list(self, filters=None) -> list:
        return list(self.items)


class FakeClient:
    def __init__(self, missing_image: bool = False, create_error=None, **scripts) -> None:
        self.containers = FakeContainers(scripts, create_error)
        self.images = FakeImages(missing_image)
        self.networks = FakeNetworks()


def _read_timeout() -> requests.exceptions.ConnectionError:
    """What docker-py raises over a unix socket when `wait(timeout=)` expires."""
    return requests.exceptions.ConnectionError(
        urllib3.exceptions.ReadTimeoutError(None, None, "Read timed out.")
    )


DAEMON_GONE = docker.errors.APIError("500 Server Error: Internal Server Error (daemon shut down)")


@pytest.fixture
def hand_backs(monkeypatch) -> list[Path]:
    """Records every PlatformRoot.hand_back call (and still performs it)."""
    calls: list[Path] = []
    original = PlatformRoot.hand_back

    def spy(self, uid=None, gid=None):
        calls.append(self.root)
        original(self, uid, gid)

    monkeypatch.setattr(PlatformRoot, "hand_back", spy)
    return calls


def _docker_run(tmp_path: Path, script: dict, client: FakeClient | None = None, **job) -> tuple:
    client = client or FakeClient(job=[script])
    backend = DockerBackend("fake:1", client=client)
    root = PlatformRoot.create(parent=tmp_path)
    backend.prepare(root)
    outcome = backend.run(PhaseCommand(**job), root, tmp_path / "logs" / "train.log")
    return outcome, client, root


# --------------------------------------------------------------------------- 1. no daemon


def test_no_daemon_is_one_cli_line_saying_how_to_start_one(monkeypatch, capsys) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    assert main(["validate", "--backend", "docker", "--image", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: no Docker daemon answers at unix:///nonexistent.sock")
    assert ".ci/docker-up.sh" in err


def _pytest_on(tmp_path: Path, body: dict[str, str], *options: str) -> subprocess.CompletedProcess:
    """A separate pytest over the given test files, with no daemon reachable."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    for name, text in body.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsfE", "-p", "no:cacheprovider"]
        + [*plugin_args(), *options],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


MARKED = "import pytest\n\n@pytest.mark.docker\ndef test_needs_docker():\n    pass\n"


def test_plugin_skips_docker_tests_with_the_reason(tmp_path) -> None:
    done = _pytest_on(tmp_path, {"test_marked.py": MARKED})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "no Docker daemon answers" in done.stdout


def test_plugin_fails_docker_tests_under_require_docker(tmp_path) -> None:
    done = _pytest_on(tmp_path, {"test_marked.py": MARKED}, "--require-docker")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 error" in done.stdout  # failed in setup: the test body never ran
    assert "--require-docker is set but no Docker daemon answers" in done.stdout
    assert "Traceback" not in done.stdout


def test_plugin_judges_markers_not_folder_names(tmp_path) -> None:
    """A user's unmarked tests in folders named docker/ and gpu/ must run."""
    plain = "def test_plain():\n    assert True\n"
    done = _pytest_on(tmp_path, {"docker/test_a.py": plain, "gpu/test_b.py": plain})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout and "skipped" not in done.stdout


# --------------------------------------------------------------------------- 2. daemon dies


def test_daemon_dying_mid_run_is_named_and_not_masked_by_removal(tmp_path, hand_backs) -> None:
    script = {
        "wait": [DAEMON_GONE],
        "logs": [b"global step 1: loss = 2.0\n"],
        "log_error": requests.exceptions.ConnectionError("Connection aborted."),
        "remove_error": requests.exceptions.ConnectionError("Connection refused"),
    }
    outcome, _, root = _docker_run(tmp_path, script)
    assert not outcome.succeeded and not outcome.timed_out
    assert outcome.error.startswith("the Docker daemon failed: APIError: 500 Server Error")
    assert "could not remove container c0ffee000000" in outcome.error
    assert outcome.error.index("APIError") < outcome.error.index("could not remove")
    assert "global step 1" in outcome.log_text
    assert "the log stream broke: ConnectionError" in outcome.log_text
    assert hand_backs == [root.root]


def test_connection_error_is_a_daemon_error_not_a_timeout(tmp_path) -> None:
    refused = requests.exceptions.ConnectionError("('Connection aborted.', ConnectionResetError)")
    outcome, _, _ = _docker_run(tmp_path, {"wait": [refused]})
    assert not outcome.timed_out
    assert "the Docker daemon failed: ConnectionError" in outcome.error


def test_validate_turns_a_dead_daemon_into_verdicts(tmp_path) -> None:
    client = FakeClient(
        probe=[{"logs": [b"tensorflow 2.21.0\n"]}],
        job=[{"wait": [DAEMON_GONE], "logs": [b"Restored 0 variables\n"]}],
        env=[{"wait": [DAEMON_GONE]}],
    )
    result = validate(DockerBackend("fake:1", client=client), _fake_plan(), tmp_path / "run")
    verdicts = _verdicts(result)
    assert verdicts["image_contract"][0] == PASSED
    status, message = verdicts["path_contract"]
    assert status == NOT_RUN
    assert message.startswith("phase train failed: could not be run to the end: the Docker")
    assert verdicts["resume"][1] == message
    assert not result.passed
    assert "Restored 0 variables" in result.record.phase("train").log_tail
    assert result.record.environment["error"].startswith("environment probe failed")
    assert (tmp_path / "run" / "run_record.json").exists()
    assert all(c.removed for c in client.containers.instances)


def test_probe_reports_a_dead_daemon_as_its_output(tmp_path) -> None:
    backend = DockerBackend("fake:1", client=FakeClient(copy=[{"wait": [DAEMON_GONE]}]))
    code, output = backend.probe(["true"])
    assert code == -1
    assert output.startswith("image probe failed: APIError")


# --------------------------------------------------------------------------- 3. image


def test_missing_image_is_named() -> None:
    with pytest.raises(DockerError, match=r"image 'nosuch:tag' is not available to the local"):
        DockerBackend("nosuch:tag", client=FakeClient(missing_image=True))


def test_failed_build_names_the_step_with_the_log_tail(tmp_path) -> None:
    class Api:
        def build(self, **kwargs):
            assert kwargs["network_mode"] == "none"
            yield {"stream": "Step 1/2 : FROM base\n"}
            yield {"stream": "Step 2/2 : RUN false\n ---> Running in 1234\n"}
            yield {"error": "The command '/bin/sh -c false' returned a non-zero code: 1"}

    client = FakeClient()
    client.api = Api()
    with pytest.raises(DockerError) as raised:
        build_image(tmp_path, "uai-harness/broken:x", client=client)
    first, *tail = str(raised.value).splitlines()
    assert first == (
        "docker build of uai-harness/broken:x failed: "
        "The command '/bin/sh -c false' returned a non-zero code: 1"
    )
    assert "Step 2/2 : RUN false" in tail


# --------------------------------------------------------------------------- 4. leftovers


def test_a_container_whose_start_fails_is_removed(tmp_path) -> None:
    """The image has no /usr/bin/python: the environment probe's start fails (issue 14)."""
    no_python = docker.errors.APIError(
        '400 Client Error: exec: "/usr/bin/python": stat /usr/bin/python: no such file'
    )
    client = FakeClient(env=[{"start_error": no_python}])
    environment = DockerBackend("fake:1", client=client).environment()
    assert "no such file" in environment["error"]
    (probe,) = client.containers.of_role("env")
    assert probe.removed


def test_a_container_created_by_a_call_that_failed_is_found_by_name_and_removed(tmp_path) -> None:
    client = FakeClient(create_error=requests.exceptions.ReadTimeout("timed out"))
    outcome, _, _ = _docker_run(tmp_path, {}, client=client)
    assert "the Docker daemon failed: ReadTimeout" in outcome.error
    assert all(c.removed for c in client.containers.instances)


def test_ctrl_c_while_a_job_runs_still_removes_its_container(tmp_path) -> None:
    client = FakeClient(job=[{"wait": [KeyboardInterrupt()]}])
    with pytest.raises(KeyboardInterrupt):
        _docker_run(tmp_path, {}, client=client)
    assert client.containers.instances[0].killed and client.containers.instances[0].removed


def test_stale_containers_past_their_deadline_are_removed_at_start() -> None:
    client = FakeClient()
    old = FakeContainer({}, ["x"], "old", {daemon.LABEL: "1", daemon.DEADLINE_LABEL: "100"})
    fresh = FakeContainer({}, ["x"], "fresh", {daemon.LABEL: "1", daemon.DEADLINE_LABEL: "9e12"})
    client.containers.stale = [old, fresh]
    network = type(
        "Net", (), {"name": "uai-net", "attrs": {"Labels": {daemon.DEADLINE_LABEL: "1"}}}
    )()
    network.removed = []
    network.remove = lambda: network.removed.append(True)
    client.networks.items = [network]
    backend = DockerBackend("fake:1", client=client)
    assert old.removed and not fresh.removed and network.removed
    assert backend.stale_removed == [old.short_id, "uai-net"]


# --------------------------------------------------------------------------- 5. time limit


def test_docker_job_past_its_time_limit_is_killed(tmp_path, hand_backs) -> None:
    script = {"wait": [_read_timeout(), 137], "logs": [b"started\n"]}
    outcome, client, _ = _docker_run(tmp_path, script, timeout_s=3)
    assert outcome.timed_out and outcome.error is None
    assert client.containers.instances[0].killed
    assert outcome.exit_code == 137
    assert hand_backs


def test_docker_job_exiting_at_the_deadline_is_still_a_timeout(tmp_path) -> None:
    gone = docker.errors.APIError("409 Client Error: Conflict (container is not running)")
    gone.response = type("Response", (), {"status_code": 409})()
    script = {"wait": [_read_timeout(), 0], "kill_error": gone}
    outcome, _, _ = _docker_run(tmp_path, script, timeout_s=3)
    assert outcome.timed_out and outcome.error is None


def test_a_job_that_ignores_its_step_flag_is_stopped_with_a_clear_verdict(
    tmp_path, fake_code
) -> None:
    started = time.monotonic()
    result = validate(
        LocalBackend(fake_code), _fake_plan("--fake_mode=sleep", timeout_s=2), tmp_path / "run"
    )
    assert time.monotonic() - started < 60
    status, message = _verdicts(result)["loss_decrease"]
    assert status == NOT_RUN
    assert message.startswith("phase train failed: was stopped at the 2 s time limit")
    assert "no step logged toward --number_of_steps=3: is it stuck" in message
    assert "started" in result.record.phase("train").log_tail
    assert "started" in (tmp_path / "run" / "logs" / "train.log").read_text()


# --------------------------------------------------------------------------- 6. non-zero exit


def test_local_job_exiting_non_zero_leaves_every_check_not_run(tmp_path, fake_code) -> None:
    result = validate(LocalBackend(fake_code), _fake_plan("--fake_mode=fail"), tmp_path / "run")
    verdicts = _verdicts(result)
    assert {name: status for name, (status, _) in verdicts.items()} == {
        "image_contract": NOT_APPLICABLE,  # the local backend runs no image
        "path_contract": NOT_RUN,
        "pretrained_restore": NOT_APPLICABLE,  # the job names no pretrained checkpoint
        "loss_decrease": NOT_RUN,
        "uses_image": NOT_APPLICABLE,  # the code has no evaluate.py
        "resume": NOT_RUN,
        "inference": NOT_APPLICABLE,
        "reproducible": NOT_APPLICABLE,  # not asked for
    }
    assert verdicts["path_contract"][1] == "phase train failed: exited with status 3"
    assert verdicts["resume"][1] == "phase train failed: exited with status 3"
    assert "line 29" in result.record.phase("train").log_tail
    assert result.record.summary() == "FAILED: no check ran (3 not run, 5 not applicable)"


def test_cli_prints_a_failed_phase_once_with_its_log_tail(tmp_path, fake_code, capsys) -> None:
    code = main(
        [
            "validate",
            "--code-path",
            str(fake_code),
            f"--train-params={PATTERN} --number_of_steps=3 --fake_mode=fail",
            "--out",
            str(tmp_path / "runs"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert out.count("✗ train failed (0s): exited with status 3") == 1
    assert out.count("line 29") == 1  # the log tail is shown once, with the failed phase
    assert "line 14" not in out


def test_docker_job_exiting_non_zero_still_hands_back(tmp_path, hand_backs) -> None:
    outcome, client, root = _docker_run(tmp_path, {"wait": [1], "logs": [b"boom\n"]})
    assert outcome.exit_code == 1 and outcome.error is None
    assert "boom" in outcome.log_tail()
    assert client.containers.instances[0].removed
    assert hand_backs == [root.root]


def test_local_interpreter_that_cannot_start_is_a_verdict(tmp_path, fake_code) -> None:
    backend = LocalBackend(fake_code, python=str(tmp_path / "no-such-python"))
    result = validate(backend, _fake_plan(), tmp_path / "run")
    status, message = _verdicts(result)["loss_decrease"]
    assert status == NOT_RUN  # bash starts it as the platform's shell line does: 127, named
    assert "exited with status 127" in message
    assert f"the interpreter {tmp_path / 'no-such-python'} that starts the job" in message


# --------------------------------------------------------------------------- 7. ownership


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files to another user")
def test_hand_back_gives_root_files_to_the_user(tmp_path) -> None:
    root = PlatformRoot.create(parent=tmp_path)
    (root.log_dir / "sub").mkdir(parents=True)
    (root.log_dir / "sub" / "events").write_text("x")
    (root.output_dir / "model.ckpt-1.index").write_text("x")
    locked = root.output_dir / "locked"
    locked.mkdir(mode=0o500)
    (root.output_dir / "link").symlink_to("/etc/passwd")
    root.hand_back(65534, 65534)
    owners = {
        p: (p.lstat().st_uid, p.lstat().st_gid)
        for p in [root.root, *root.root.rglob("*")]
        if not p.is_symlink()
    }
    assert set(owners.values()) == {(65534, 65534)}, owners
    assert locked.stat().st_mode & stat.S_IWUSR
    assert Path("/etc/passwd").stat().st_uid == 0  # symlinks are not followed


def test_user_who_may_not_chown_gets_a_root_container_to_do_it(tmp_path, monkeypatch) -> None:
    attempts = []

    def hand_back(self, uid=None, gid=None):
        attempts.append(self.root)
        if len(attempts) == 1:
            raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(PlatformRoot, "hand_back", hand_back)
    outcome, client, root = _docker_run(tmp_path, {"wait": [0]})
    assert outcome.succeeded
    chown = next(c for c in client.containers.created if _role(c["command"]) == "chown")
    assert chown["command"] == ["chown", "-R", f"{os.getuid()}:{os.getgid()}", "/data/output"]
    assert chown["volumes"] == {str(root.output_dir): {"bind": "/data/output", "mode": "rw"}}
    assert chown["network_mode"] == "none" and chown["user"] == "0:0"
    assert client.containers.of_role("chown")[0].removed
    assert len(attempts) == 2


# --------------------------------------------------------------------------- 8. bad inputs


def _cmd_file(tmp_path: Path, deploy: str | bytes) -> Path:
    path = tmp_path / "uaitrain_cmd.txt"
    if isinstance(deploy, bytes):
        path.write_bytes(deploy)
    else:
        path.write_text(f"CMD Used for deploying: {deploy}\n")
    return path


@pytest.mark.parametrize(
    ("deploy", "message"),
    [
        ("/usr/bin/python /data/train.py '--x=1", ":1: cannot split the command"),
        ("python /data/train.py " + PATTERN, ":1: the deploy command must start with the main"),
        (b"\xff\xfe not text", ": not a text file"),
        ("", ":1: 'CMD Used for deploying:' has no command"),
    ],
)
def test_bad_cmd_file_is_one_cli_line(tmp_path, capsys, deploy, message: str) -> None:
    path = _cmd_file(tmp_path, deploy)
    assert main(["validate", "--cmd-file", str(path), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {path}{message}"), err


def test_missing_cmd_file_is_one_cli_line(tmp_path, capsys) -> None:
    assert main(["validate", "--cmd-file", str(tmp_path / "nope.txt")]) == 2
    assert capsys.readouterr().err == f"error: cmd file {tmp_path / 'nope.txt'} does not exist\n"


def test_pattern_matching_no_shard_is_one_cli_line_and_writes_nothing(
    tmp_path, capsys, fake_code
) -> None:
    pattern = "--input_file_pattern=/train-?????-of-00256.tfrecord"
    code = main(
        [
            "validate",
            "--code-path",
            str(fake_code),
            f"--train-params={pattern}",
            "--out",
            str(tmp_path / "runs"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: cannot shape synthetic data to --input_file_pattern: ")
    assert "'train-?????-of-00256.tfrecord'" in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--steps", "5"], "--steps needs the flag that carries the job's step target"),
        (["--data", "nowhere"], "--data {cwd}/nowhere does not exist"),
        (["--pretrained", "nothing.ckpt"], "--pretrained {cwd}/nothing.ckpt does not exist"),
        (["--train-params=--data_dir=/x"], "--train-params must not set --data_dir=/x"),
        (["--code-path", "absent"], "--code-path absent is not a folder"),
    ],
)
def test_bad_validate_arguments_are_one_line_and_write_nothing(
    tmp_path, capsys, fake_code, monkeypatch, arguments, message
) -> None:
    monkeypatch.chdir(tmp_path)
    base = ["validate", "--code-path", str(fake_code), f"--train-params={PATTERN}"]
    assert main([*base, *arguments]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"error: {message.format(cwd=tmp_path)}" + err[len(message.format(cwd=tmp_path)) + 7 :]
    )
    assert err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_no_im2txt_folder_here_says_to_pass_code_path(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no code path given and ") and "pass --code-path" in err


# --------------------------------------------------------------------------- 9. concurrency


def test_run_dirs_started_in_the_same_second_differ(tmp_path) -> None:
    first, second = new_run_dir(tmp_path / "runs"), new_run_dir(tmp_path / "runs")
    assert first != second and first.parent == second.parent
    assert re.fullmatch(r"\d{8}-\d{6}-\w+", first.name), first.name
    assert stat.S_IMODE(first.stat().st_mode) == 0o700


def test_two_parallel_validations_keep_their_own_folders(tmp_path, fake_code, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default, relative --out: resolved at the edge
    codes: list[int] = []

    def one_run() -> None:
        arguments = [
            "validate",
            "--code-path",
            "code",
            f"--train-params={PATTERN} --number_of_steps=3",
        ]
        codes.append(main([*arguments, "--resume-steps", "1", "--num-images", "2", "--json"]))

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(codes) == 2 and set(codes) <= {0, 1}
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2
    for run in runs:
        assert (run / "run_record.json").exists()
        (root,) = run.glob("platform-*")
        output = root / "data" / "output"
        # Each job wrote into its own output folder (as the job saw it): nothing was shared.
        assert (output / "model.ckpt-3.index").is_file()
    assert len({run.resolve() for run in runs}) == 2


def test_containers_get_unique_names_and_labels_with_session_and_deadline(tmp_path) -> None:
    before = time.time()
    _, client, root = _docker_run(tmp_path, {"wait": [0]}, timeout_s=100)
    (created,) = [c for c in client.containers.created if _role(c["command"]) == "job"]
    assert created["name"].startswith(f"uai-harness-{daemon.session_id()}-")
    labels = created["labels"]
    assert labels[daemon.LABEL] == "1" and labels["uai-harness.root"] == str(root.root)
    assert labels[daemon.SESSION_LABEL] == daemon.session_id()
    assert before + 100 <= float(labels[daemon.DEADLINE_LABEL]) <= time.time() + 200


# --------------------------------------------------------------------------- 10. security


def test_job_containers_are_isolated_and_get_no_host_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "HOSTSECRET")
    client = FakeClient(probe=[{"logs": [b"tensorflow 2.21.0\n"]}])
    backend = DockerBackend("fake:1", client=client)
    root = PlatformRoot.create(parent=tmp_path)
    backend.prepare(root)
    backend.probe(["/bin/bash", "-c", "test -x /usr/bin/python"])
    backend.run(PhaseCommand(), root, tmp_path / "train.log")
    backend.read_code("evaluate.py")
    backend.environment()
    requests_made = client.containers.created
    assert {_role(r["command"]) for r in requests_made} == {"probe", "job", "copy", "env"}
    for request in requests_made:
        assert request["network_mode"] == "none"
        assert request["privileged"] is False
        assert request["security_opt"] == ["no-new-privileges"]
        assert request.get("environment", HARNESS_ENV) == HARNESS_ENV
    assert "HOSTSECRET" not in repr(requests_made)
    job = next(r for r in requests_made if _role(r["command"]) == "job")
    assert job["volumes"][str(root.data_dir)] == {"bind": "/data/data", "mode": "ro"}
    assert job["volumes"][str(root.output_dir)] == {"bind": "/data/output", "mode": "rw"}
    assert all(c.removed for c in client.containers.instances)


def test_local_job_gets_no_host_secrets(tmp_path, fake_code, monkeypatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "HOSTSECRET")
    root = PlatformRoot.create(parent=tmp_path)
    backend = LocalBackend(fake_code)
    backend.prepare(root)
    outcome = backend.run(PhaseCommand(train_params=(PATTERN,)), root, tmp_path / "train.log")
    assert outcome.succeeded, outcome.log_text
    assert "HOSTSECRET" not in outcome.log_text
    assert "AWS_SECRET_ACCESS_KEY" not in outcome.log_text


def test_job_keys_never_reach_console_json_record_or_report(tmp_path, fake_code, capsys) -> None:
    params = f"{PATTERN} --number_of_steps=3 --private_key=SECRET123 --public_key PUBLIC456"
    out = tmp_path / "runs"
    main(
        [
            "validate",
            "--code-path",
            str(fake_code),
            f"--train-params={params}",
            "--out",
            str(out),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    (run_dir,) = out.iterdir()
    assert "argv:" in (run_dir / "logs" / "train.log").read_text()  # the job printed its keys
    shown = {"stdout": captured.out, "stderr": captured.err}
    for name in ("run_record.json", "report.md", "report.html", "verdict.json"):
        shown[name] = (run_dir / name).read_text()
    for name, text in shown.items():
        assert "SECRET123" not in text and "PUBLIC456" not in text, name
    verdict = json.loads(captured.out, parse_constant=lambda c: pytest.fail(f"non-strict {c}"))
    assert verdict["run_dir"] == str(run_dir)
    assert stat.S_IMODE(next(run_dir.glob("platform-*")).stat().st_mode) == 0o700
    world_writable = [
        p
        for p in [run_dir, *run_dir.rglob("*")]
        if not p.is_symlink() and p.stat().st_mode & stat.S_IWOTH
    ]
    assert world_writable == []


# --------------------------------------------------------------------------- 11. docker host


def test_docker_host_comes_from_the_environment_then_the_active_context(
    tmp_path, monkeypatch
) -> None:
    import hashlib

    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert daemon.docker_host() == (daemon.DEFAULT_SOCKET, None)
    meta = tmp_path / "contexts" / "meta" / hashlib.sha256(b"remote").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": "remote", "Endpoints": {"docker": {"Host": "tcp://10.0.0.5:2375"}}})
    )
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    assert daemon.docker_host() == ("tcp://10.0.0.5:2375", None)
    monkeypatch.setenv("DOCKER_CONTEXT", "default")
    assert daemon.docker_host()[0] == daemon.DEFAULT_SOCKET
    monkeypatch.setenv("DOCKER_HOST", "unix:///custom.sock")
    assert daemon.docker_host()[0] == "unix:///custom.sock"
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.setenv("DOCKER_CONTEXT", "missing")
    with pytest.raises(DockerError, match="docker context 'missing' cannot be read"):
        daemon.docker_host()


def test_a_cmd_files_main_file_and_parameters_are_what_validate_runs(
    tmp_path, fake_code, monkeypatch, capsys
) -> None:
    """UCloud's format (no interpreter); the image is stood in for by the local code."""
    path = tmp_path / "uaitrain_cmd.txt"
    path.write_text(
        f"CMD Used for deploying: /data/train.py {PATTERN} --number_of_steps=4\n"
        "CMD for CPU local test: sudo docker run -it -v /d:/data/data -v /o:/data/output "
        f'job-cpu:uaitrain /bin/bash -c "cd /data && /usr/bin/python /data/train.py {PATTERN} '
        "--number_of_steps=4 --work_dir=/data --data_dir=/data/data --output_dir=/data/output "
        '--log_dir=/data/output/log"\n'
    )
    seen = []

    def local(args):
        seen.append(args.image)
        return LocalBackend(fake_code)

    monkeypatch.setattr("harness.cli.validating._backend", local)
    main(["validate", "--cmd-file", str(path), "--out", str(tmp_path / "runs"), "--json"])
    verdict = json.loads(capsys.readouterr().out)
    assert seen == ["job-cpu:uaitrain"]
    assert verdict["job"]["train_params"] == [PATTERN, "--number_of_steps=4"]
    assert verdict["job"]["steps"] == 4
    assert (
        verdict["job"]["plan"]["deploy_command"] == f"/data/train.py {PATTERN} --number_of_steps=4"
    )
