"""The harness's failure matrix without a real daemon: each fault ends in a verdict or a
one-line CLI error, never a traceback or a hang.

Docker faults use a scripted fake client; local-backend faults run a tiny fake job
(`train.py` that prints loss lines and writes a checkpoint-like file) so nothing
here trains a model.
"""

from __future__ import annotations

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

from harness.backends.base import JobSpec
from harness.backends.container import HARNESS_ENV, DockerBackend, DockerError
from harness.backends.local import LocalBackend
from harness.cli import main
from harness.contract import PlatformRoot
from harness.images.build import build_image
from harness.validate import Plan, new_run_dir, validate

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
    """A code path whose train.py is FAKE_TRAIN; evaluate/inference just exit."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(FAKE_TRAIN)
    for tool in ("evaluate.py", "run_inference.py"):
        (code / tool).write_text("print('Perplexity = 1.0')\n")
    return code


def _fake_plan(*extra: str, **overrides) -> Plan:
    return Plan(
        train_params=[PATTERN, *extra],
        steps=3,
        resume_steps=1,
        num_images=2,
        probe_images=1,
        **overrides,
    )


# --------------------------------------------------------------------------- fake docker


class FakeContainer:
    """A container that follows a script: `wait` is a list of results or exceptions."""

    def __init__(self, script: dict, command) -> None:
        self.script, self.command = script, command
        self.short_id = "c0ffee000000"
        self.id = self.short_id * 5
        self.killed = self.removed = False

    def start(self) -> None:
        pass

    def wait(self, timeout=None) -> dict:
        outcome = self.script["wait"].pop(0)
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
        return []

    def get_archive(self, path: str):
        raise docker.errors.NotFound(f"no {path}")

    def remove(self, force: bool = False) -> None:
        self.removed = True
        if "remove_error" in self.script:
            raise self.script["remove_error"]


class FakeContainers:
    """Hands out containers scripted in creation order; records every request."""

    def __init__(self, scripts: list[dict], run_error: Exception | None = None) -> None:
        self.scripts, self.run_error = list(scripts), run_error
        self.created: list[dict] = []
        self.ran: list[dict] = []
        self.instances: list[FakeContainer] = []

    def create(self, image, command=None, **kwargs) -> FakeContainer:
        self.created.append({"image": image, "command": command, **kwargs})
        self.instances.append(FakeContainer(self.scripts.pop(0), command))
        return self.instances[-1]

    def run(self, image, command=None, **kwargs) -> bytes:
        self.ran.append({"image": image, "command": command, **kwargs})
        if self.run_error is not None:
            raise self.run_error
        return b'{"python": "3.11"}\n'


class FakeImages:
    def __init__(self, missing: bool = False) -> None:
        self.missing = missing

    def get(self, name: str):
        if self.missing:
            raise docker.errors.ImageNotFound(f"No such image: {name}")
        image = type("Image", (), {})()
        image.id, image.tags, image.attrs = "sha256:" + "ab" * 32, [name], {}
        return image


class FakeClient:
    def __init__(self, scripts=(), run_error=None, missing_image=False) -> None:
        self.containers = FakeContainers(list(scripts), run_error)
        self.images = FakeImages(missing_image)


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


def _docker_run(tmp_path: Path, script: dict, **job) -> tuple:
    client = FakeClient([script])
    backend = DockerBackend("fake:1", client=client)
    root = PlatformRoot.create(parent=tmp_path)
    backend.prepare(root)
    outcome = backend.run(JobSpec(**job), root, tmp_path / "logs" / "train.log")
    return outcome, client, root


# --------------------------------------------------------------------------- 1. no daemon


def test_no_daemon_is_one_cli_line(monkeypatch, capsys) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    assert main(["validate", "--backend", "docker", "--image", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: no Docker daemon answers at unix:///nonexistent.sock")


def _pytest_on(tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    """A separate pytest over one docker-marked test, with no daemon reachable."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_needs_docker.py").write_text(
        "import pytest\n\n@pytest.mark.docker\ndef test_needs_docker():\n    pass\n"
    )
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsfE", "-p", "no:cacheprovider", *options],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plugin_skips_docker_tests_with_the_reason(tmp_path) -> None:
    done = _pytest_on(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "no Docker daemon answers" in done.stdout


def test_plugin_fails_docker_tests_under_require_docker(tmp_path) -> None:
    done = _pytest_on(tmp_path, "--require-docker")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 error" in done.stdout  # failed in setup: the test body never ran
    assert "--require-docker is set but no Docker daemon answers" in done.stdout
    assert "Traceback" not in done.stdout


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


def test_validate_turns_a_dead_daemon_into_failed_verdicts(tmp_path) -> None:
    probe = {"wait": [0], "logs": [b"tensorflow 2.21.0\n"]}
    train = {"wait": [DAEMON_GONE], "logs": [b"Restored 0 variables\n"]}
    client = FakeClient([probe, train], run_error=DAEMON_GONE)
    result = validate(DockerBackend("fake:1", client=client), _fake_plan(), tmp_path / "run")
    verdicts = {check.name: check for check in result.record.checks}
    assert verdicts["image_contract"].passed
    assert not verdicts["train"].passed
    assert "could not be run to the end: the Docker daemon failed: APIError" in (
        verdicts["train"].message
    )
    assert "Restored 0 variables" in verdicts["train"].message
    assert result.record.environment["error"].startswith("environment probe failed: APIError")
    assert (tmp_path / "run" / "run_record.json").exists()


def test_probe_reports_a_dead_daemon_as_its_output(tmp_path) -> None:
    backend = DockerBackend("fake:1", client=FakeClient([{"wait": [DAEMON_GONE]}]))
    code, output = backend.probe(["true"])
    assert code == -1
    assert output.startswith("image probe failed: the Docker daemon failed: APIError")


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


# --------------------------------------------------------------------------- 4. time limit


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


def test_local_job_past_its_time_limit_is_killed(tmp_path, fake_code) -> None:
    started = time.monotonic()
    result = validate(
        LocalBackend(fake_code), _fake_plan("--fake_mode=sleep", timeout_s=2), tmp_path / "run"
    )
    assert time.monotonic() - started < 60
    train = next(check for check in result.record.checks if check.name == "train")
    assert not train.passed
    assert train.message.startswith("the job timed out after 2 s and was killed")
    assert "started" in train.message
    assert "started" in (tmp_path / "run" / "logs" / "train.log").read_text()


# --------------------------------------------------------------------------- 5. non-zero exit


def test_local_job_exiting_non_zero_shows_the_last_log_lines(tmp_path, fake_code) -> None:
    result = validate(LocalBackend(fake_code), _fake_plan("--fake_mode=fail"), tmp_path / "run")
    train = next(check for check in result.record.checks if check.name == "train")
    assert train.message.startswith("the job exited with status 3; last log lines:")
    assert train.message.endswith("line 29")
    assert "line 10" not in train.message


def test_docker_job_exiting_non_zero_still_hands_back(tmp_path, hand_backs) -> None:
    outcome, client, root = _docker_run(tmp_path, {"wait": [1], "logs": [b"boom\n"]})
    assert outcome.exit_code == 1 and outcome.error is None
    assert "boom" in outcome.log_tail()
    assert client.containers.instances[0].removed
    assert hand_backs == [root.root]


def test_local_interpreter_that_cannot_start_is_a_verdict(tmp_path, fake_code) -> None:
    backend = LocalBackend(fake_code, python=str(tmp_path / "no-such-python"))
    result = validate(backend, _fake_plan(), tmp_path / "run")
    train = next(check for check in result.record.checks if check.name == "train")
    assert "could not be run to the end: cannot start" in train.message
    assert "No such file or directory" in train.message


# --------------------------------------------------------------------------- 6. ownership


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
    (chown,) = client.containers.ran
    assert chown["command"] == ["chown", "-R", f"{os.getuid()}:{os.getgid()}", "/data/output"]
    assert chown["volumes"] == {str(root.output_dir): {"bind": "/data/output", "mode": "rw"}}
    assert chown["network_mode"] == "none" and chown["user"] == "0:0"
    assert len(attempts) == 2


# --------------------------------------------------------------------------- 7. bad inputs


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


def test_pattern_matching_no_shard_is_one_cli_line(tmp_path, capsys, fake_code) -> None:
    pattern = "--input_file_pattern=/train-?????-of-00256.tfrecord"
    path = _cmd_file(tmp_path, f"/usr/bin/python /data/train.py {pattern}")
    code = main(
        [
            "validate",
            "--cmd-file",
            str(path),
            "--backend",
            "local",
            "--code-path",
            str(fake_code),
            "--out",
            str(tmp_path / "runs"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: cannot shape synthetic data to the job's --input_file_pattern: ")
    assert "'/train-?????-of-00256.tfrecord'" in err


# --------------------------------------------------------------------------- 8. concurrency


def test_run_dirs_started_in_the_same_second_differ(tmp_path) -> None:
    first, second = new_run_dir(tmp_path / "runs"), new_run_dir(tmp_path / "runs")
    assert first != second and first.parent == second.parent
    assert re.fullmatch(r"\d{8}-\d{6}-\w+", first.name), first.name
    assert stat.S_IMODE(first.stat().st_mode) == 0o700


def test_two_parallel_validations_keep_their_own_folders(tmp_path, fake_code) -> None:
    out = tmp_path / "runs"
    codes: list[int] = []

    def one_run() -> None:
        codes.append(
            main(
                [
                    "validate",
                    "--backend",
                    "local",
                    "--code-path",
                    str(fake_code),
                    f"--train-params={PATTERN}",
                    "--steps",
                    "3",
                    "--resume-steps",
                    "1",
                    "--num-images",
                    "2",
                    "--out",
                    str(out),
                    "--json",
                ]
            )
        )

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(codes) == 2 and set(codes) <= {0, 1}
    runs = sorted(out.iterdir())
    assert len(runs) == 2
    for run in runs:
        assert (run / "run_record.json").exists()
        (root,) = run.glob("platform-*")
        output = root / "data" / "output"
        # Each job's checkpoint names its own output folder: nothing was shared.
        assert (output / "model.ckpt-4.index").read_text() == str(output)


def test_containers_are_unnamed_and_labelled_with_their_run(tmp_path) -> None:
    outcome, client, root = _docker_run(tmp_path, {"wait": [0]})
    (created,) = client.containers.created
    assert "name" not in created
    assert created["labels"] == {"uai-harness": "1", "uai-harness.root": str(root.root)}


# --------------------------------------------------------------------------- 9. security


def test_job_containers_are_isolated_and_get_no_host_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "HOSTSECRET")
    probe = {"wait": [0], "logs": [b"tensorflow 2.21.0\n"]}
    client = FakeClient([probe, {"wait": [0]}, {"wait": [0]}])
    backend = DockerBackend("fake:1", client=client)
    root = PlatformRoot.create(parent=tmp_path)
    backend.prepare(root)
    backend.probe(["true"])
    backend.run(JobSpec(), root, tmp_path / "train.log")
    backend.image_file("/data/inception_v3.ckpt")
    backend.environment()
    requests_made = client.containers.created + client.containers.ran
    assert len(requests_made) == 4
    for request in requests_made:
        assert request["network_mode"] == "none"
        assert request["privileged"] is False
        assert request["security_opt"] == ["no-new-privileges"]
        assert request.get("environment", HARNESS_ENV) == HARNESS_ENV
    assert "HOSTSECRET" not in repr(requests_made)
    job = client.containers.created[1]
    assert job["volumes"][str(root.data_dir)] == {"bind": "/data/data", "mode": "ro"}
    assert job["volumes"][str(root.output_dir)] == {"bind": "/data/output", "mode": "rw"}


def test_local_job_gets_no_host_secrets(tmp_path, fake_code, monkeypatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "HOSTSECRET")
    root = PlatformRoot.create(parent=tmp_path)
    backend = LocalBackend(fake_code)
    backend.prepare(root)
    outcome = backend.run(JobSpec(train_params=(PATTERN,)), root, tmp_path / "train.log")
    assert outcome.succeeded, outcome.log_text
    assert "HOSTSECRET" not in outcome.log_text
    assert "AWS_SECRET_ACCESS_KEY" not in outcome.log_text


def test_job_keys_never_reach_the_record_and_files_are_private(tmp_path, fake_code) -> None:
    run_dir = new_run_dir(tmp_path / "runs")
    plan = _fake_plan("--private_key=SECRET123", "--public_key", "PUBLIC456", "--fake_mode=fail")
    result = validate(LocalBackend(fake_code), plan, run_dir)
    assert "argv:" in result.outcomes["train"].log_text  # the job saw and printed its keys
    for name in ("run_record.json", "report.md", "report.html", "verdict.json"):
        text = (run_dir / name).read_text()
        assert "SECRET123" not in text and "PUBLIC456" not in text, name
    assert stat.S_IMODE(result.root.root.stat().st_mode) == 0o700
    world_writable = [
        p
        for p in [run_dir, *run_dir.rglob("*")]
        if not p.is_symlink() and p.stat().st_mode & stat.S_IWOTH
    ]
    assert world_writable == []


def test_mount_points_are_not_writes_outside_output() -> None:
    """`docker diff` lists bind destinations (a mounted checkpoint file) and their parents."""
    from harness.backends.container import _outside_output

    changes = [
        {"Path": path}
        for path in (
            "/data",
            "/data/data",
            "/data/inception_v3.ckpt",
            "/data/output/m.index",
            "/data/stray.txt",
            "/root/.cache/pip",
        )
    ]
    mounts = {"/data/data", "/data/output", "/data/inception_v3.ckpt"}
    assert _outside_output(changes, mounts) == ["/data/stray.txt"]
