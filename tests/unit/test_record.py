"""Run records: JSON round trip, load errors, collectors, log parsing and redaction."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from harness import record as record_module
from harness.record import (
    REDACTED,
    CheckResult,
    PhaseRecord,
    RunRecord,
    git_info,
    local_environment,
    parse_losses,
    read_metrics,
    redact,
    redact_command,
    sha256_tree,
)


def make_record(losses: dict[int, float] | None = None, message: str = "ok") -> RunRecord:
    """A small but complete record."""
    phase = PhaseRecord(
        name="train",
        command=["python", "train.py", "--number_of_steps=3"],
        exit_code=0,
        seconds=1.5,
        losses=losses if losses is not None else {1: 2.5, 2: 2.25, 3: 2.0},
        log_tail="global step 3: loss = 2.0000 (0.100 sec/step)",
        backend="local",
        image={"id": "sha256:abc", "digest": None, "tags": ["x:1"]},
    )
    return RunRecord(
        trainer_version="1.0",
        git={"commit": "a" * 40, "dirty": False, "repo": "/src"},
        host={"hostname": "h", "cpus": 2},
        job={
            "mainfile": "train.py",
            "train_params": ["--seed=1"],
            "flags": {"seed": 1},
            "seed": 1,
            "backend": "local",
        },
        environment={"python": "3.11.7", "tensorflow": "2.21.0", "pip_freeze": ["numpy==2.0.0"]},
        inputs={"data/train-00000-of-00001": "0" * 64},
        outputs={"output/checkpoint": "1" * 64},
        phases=[phase],
        checks=[CheckResult("exit_code", True, message, {"exit_code": 0}, 0.01)],
        timings={"total": 3.0},
    )


# --------------------------------------------------------------------------- round trip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    losses=st.dictionaries(
        st.integers(min_value=0, max_value=10**9),
        st.floats(allow_nan=False, allow_infinity=False),
        max_size=20,
    ),
    message=st.text(max_size=60),
)
def test_round_trip_preserves_losses_and_unicode_messages(losses, message):
    assume(redact(message) == message)
    original = make_record(losses, message)
    with tempfile.TemporaryDirectory() as directory:
        path = original.to_json(Path(directory) / "run.json")
        loaded = RunRecord.load(path)
    assert loaded == original
    assert all(type(step) is int for step in loaded.phases[0].losses)
    for step, loss in losses.items():
        assert math.copysign(1, loaded.phases[0].losses[step]) == math.copysign(1, loss)


def test_non_finite_losses_are_strict_json_and_come_back_as_floats(tmp_path):
    path = make_record({1: math.nan, 2: math.inf, 3: -math.inf}).to_json(tmp_path / "run.json")
    text = path.read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"non-strict JSON {name}"))
    losses = RunRecord.load(path).phases[0].losses
    assert math.isnan(losses[1]) and losses[2] == math.inf and losses[3] == -math.inf


def test_to_json_is_sorted_indented_and_leaves_no_temp_files(tmp_path):
    path = make_record().to_json(tmp_path / "sub" / "run.json")
    text = path.read_text()
    assert text.startswith('{\n  "checks"')
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.json"]


def test_to_json_redacts_flags_params_and_commands(tmp_path):
    record = make_record()
    record.job["flags"]["private_key"] = "hunter2"
    record.job["train_params"] = ["--public_key", "pk-value", "--seed=1"]
    record.phases[0].command.append("--private_key=hunter2")
    text = record.to_json(tmp_path / "run.json").read_text()
    assert "hunter2" not in text and "pk-value" not in text
    assert REDACTED in text


def test_passed_ignores_skipped_checks():
    record = make_record()
    record.checks.append(CheckResult("gpu", False, "no GPU", {}, 0.0, skipped=True))
    assert record.passed
    record.checks.append(CheckResult("loss_finite", False, "nan at step 3", {"step": 3}, 0.0))
    assert not record.passed


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("not json {", "not JSON"),
        ("[1, 2]", "not a run record"),
        ('{"name": "x"}', "not a run record"),
        ('{"schema": 99, "phases": []}', "schema 99"),
        ('{"schema": 1, "phases": []}', "malformed"),
    ],
)
def test_load_errors_name_the_file(tmp_path, content, fragment):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=fragment) as error:
        RunRecord.load(path)
    assert str(path) in str(error.value)


def test_load_rejects_malformed_phase(tmp_path):
    data = make_record().to_dict()
    data["phases"][0]["losses"] = {"one": 1.0}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="malformed"):
        RunRecord.load(path)


def test_jsonable_stores_numpy_and_paths(tmp_path):
    np = pytest.importorskip("numpy")
    record = make_record()
    record.checks[0].evidence = {"loss": np.float32(1.5), "steps": np.arange(3), "dir": tmp_path}
    loaded = RunRecord.load(record.to_json(tmp_path / "run.json"))
    assert loaded.checks[0].evidence == {"loss": 1.5, "steps": [0, 1, 2], "dir": str(tmp_path)}


# --------------------------------------------------------------------------- job output


LOG = """\
2025-11-25 20:00:00.1 I tensorflow/core/platform/cpu_feature_guard.cc:210] This TensorFlow binary
Restored 376 Inception variables from /data/data/inception_v3.ckpt
global step 1: loss = 8.5172 (2.345 sec/step)
WARNING:tensorflow:something unrelated: loss = 3
I1125 20:00:01.000 140 train.py:113] global step 2: loss = 8.3001 (0.512 sec/step)
global step 3: loss = nan (0.500 sec/step)
global step 4: loss = inf (0.500 sec/step)
global step 5: loss = -inf (0.500 sec/step)
global step 6: loss = 1e-05 (0.500 sec/step)
global step 7: loss = garbage (0.500 sec/step)
"""


def test_parse_losses_reads_step_lines_among_noise():
    losses = parse_losses(LOG)
    assert sorted(losses) == [1, 2, 3, 4, 5, 6]
    assert losses[1] == 8.5172 and losses[2] == 8.3001 and losses[6] == 1e-05
    assert math.isnan(losses[3]) and losses[4] == math.inf and losses[5] == -math.inf


def test_parse_losses_keeps_last_value_of_a_repeated_step():
    assert parse_losses("global step 5: loss = 1.0 (1 sec/step)\nglobal step 5: loss = 2.0") == {
        5: 2.0
    }
    assert parse_losses("") == {}


def metrics_line(step: int, loss: float) -> str:
    return json.dumps(
        {
            "step": step,
            "loss": loss,
            "learning_rate": 2.0,
            "sec_per_step": 0.5,
            "images_per_sec": 64.0,
        }
    )


def test_read_metrics_tolerates_truncated_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(
        metrics_line(1, 3.25) + "\n" + metrics_line(2, math.nan) + "\n" + metrics_line(3, 2.0)[:20]
    )
    losses = read_metrics(path)
    assert sorted(losses) == [1, 2] and losses[1] == 3.25 and math.isnan(losses[2])


def test_read_metrics_rejects_bad_middle_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(metrics_line(1, 3.0) + "\n{broken\n" + metrics_line(3, 2.0) + "\n")
    with pytest.raises(ValueError, match=r"metrics.jsonl:2"):
        read_metrics(path)


def test_phase_from_output_parses_losses_and_redacts(tmp_path):
    log = "start --private_key=sekrit\n" + "\n".join(
        f"global step {i}: loss = {10 - i}.0 (0.1 sec/step)" for i in range(1, 301)
    )
    phase = PhaseRecord.from_output(
        "train", ["python", "train.py", "--public_key", "pub123"], 0, 2.0, log, "local"
    )
    assert phase.command == ["python", "train.py", "--public_key", REDACTED]
    assert len(phase.losses) == 300 and phase.losses[300] == -290.0
    assert len(phase.log_tail.splitlines()) == record_module.LOG_TAIL_LINES
    assert "sekrit" not in phase.log_tail
    explicit = PhaseRecord.from_output("t", [], 1, 0.0, log, "docker", losses={1: 0.5})
    assert explicit.losses == {1: 0.5}


# --------------------------------------------------------------------------- redaction


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("python train.py --public_key abc123 --seed 1", "abc123"),
        ("python train.py --private_key=def456", "def456"),
        ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI", "wJalrXUtnFEMI"),
        ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        ("db password=hunter2 ok", "hunter2"),
        ('{"token": "tok-987"}', "tok-987"),
        ("Authorization: Bearer eyJhbGciOi.xyz", "eyJhbGciOi"),
        ("pip install git+https://me:ghp_secretvalue@github.com/a/b", "ghp_secretvalue"),
        ("url?api_key=k1k2k3&x=1", "k1k2k3"),
    ],
)
def test_redact_removes_credentials(text, secret):
    redacted = redact(text)
    assert secret not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "text",
    [
        "global step 5: loss = 2.3456 (0.100 sec/step)",
        "tokenizers==0.15.0",
        "--number_of_steps=10 --train_inception=true --input_file_pattern=/data/train-?????",
        "Tokenizer: loaded 5 words",
    ],
)
def test_redact_leaves_ordinary_text_alone(text):
    assert redact(text) == text


def test_redact_command_hides_value_after_secret_flag():
    argv = ["train.py", "--public_key", "abc", "--private_key=def", "--use_token", "--seed", "1"]
    assert redact_command(argv) == [
        "train.py",
        "--public_key",
        REDACTED,
        f"--private_key={REDACTED}",
        "--use_token",
        "--seed",
        "1",
    ]


# --------------------------------------------------------------------------- collectors


def test_sha256_tree_hashes_relative_sorted_and_skips_pycache(tmp_path):
    (tmp_path / "code" / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "code" / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"x")
    (tmp_path / "code" / "pkg" / "stale.pyc").write_bytes(b"x")
    (tmp_path / "code" / "pkg" / "m.py").write_text("print(1)\n")
    (tmp_path / "code" / "b.txt").write_bytes(b"abc")
    (tmp_path / "code" / "skip.tmp").write_bytes(b"")
    hashes = sha256_tree(tmp_path / "code", tmp_path, exclude=lambda p: p.suffix == ".tmp")
    assert list(hashes) == ["code/b.txt", "code/pkg/m.py"]
    assert hashes["code/b.txt"] == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert list(sha256_tree(tmp_path / "code")) == ["b.txt", "pkg/m.py", "skip.tmp"]


def test_sha256_tree_exclude_prunes_directories(tmp_path):
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "model.ckpt-1.index").write_bytes(b"1")
    (tmp_path / "in.txt").write_bytes(b"1")
    assert list(sha256_tree(tmp_path, exclude=lambda p: p.name == "output")) == ["in.txt"]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_git_info_reports_commit_and_dirty_flag(tmp_path):
    _git(tmp_path, "init", "-q")
    assert git_info(tmp_path) == {"repo": str(tmp_path.resolve()), "commit": None, "dirty": False}
    (tmp_path / "train.py").write_text("print(1)\n")
    _git(tmp_path, "add", "train.py")
    _git(tmp_path, "commit", "-q", "-m", "first")
    clean = git_info(tmp_path / "train.py")
    assert clean is not None and len(clean["commit"]) == 40 and clean["dirty"] is False
    (tmp_path / "train.py").write_text("print(2)\n")
    dirty = git_info(tmp_path)
    assert dirty is not None and dirty["commit"] == clean["commit"] and dirty["dirty"] is True


def test_git_info_outside_a_repository_and_without_git(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert git_info(tmp_path) is None
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert git_info(Path.cwd()) is None


def test_local_environment_reads_tensorflow_build_info(monkeypatch):
    monkeypatch.setenv("UAI_HARNESS_TEST_SECRET", "zz-env-value-zz")
    fake = types.ModuleType("tensorflow")
    fake.__version__ = "9.9.9"
    fake.sysconfig = types.SimpleNamespace(
        get_build_info=lambda: {
            "cuda_version": "12.5",
            "cudnn_version": "9",
            "is_cuda_build": True,
            "cpu_compiler": "x",
        }
    )
    monkeypatch.setitem(sys.modules, "tensorflow", fake)
    env = local_environment()
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["tensorflow"] == "9.9.9"
    assert env["cuda_version"] == "12.5" and env["is_cuda_build"] is True
    assert "cpu_compiler" not in env
    assert any(line.lower().startswith("pytest==") for line in env["pip_freeze"])
    assert "zz-env-value-zz" not in json.dumps(env)


def test_local_environment_without_tensorflow_or_pip(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    monkeypatch.setattr(record_module.sys, "executable", str(tmp_path / "no-python"))
    env = local_environment()
    assert "tensorflow" not in env
    assert env["pip_freeze"] == [] and "pip freeze failed" in env["pip_freeze_error"]


def test_sha256_tree_of_a_missing_root_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        sha256_tree(tmp_path / "missing")
