"""Run records (harness/record.py): verdict rules, strict-JSON round trip, load errors."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.record import (
    FAILED,
    NOT_APPLICABLE,
    NOT_RUN,
    PASSED,
    CheckResult,
    PhaseRecord,
    RunRecord,
    dumps,
)
from harness.redaction import REDACTED, Redactor


def make_record(losses: dict[int, float] | None = None, message: str = "ok") -> RunRecord:
    phase = PhaseRecord(
        name="train",
        command=["/usr/bin/python", "<root>/data/train.py", "--number_of_steps=3"],
        exit_code=0,
        seconds=1.5,
        losses=losses if losses is not None else {1: 2.5, 2: 2.25, 3: 2.0},
        loss_source="events:loss",
        log_tail="loss = 2.0, step = 3",
        backend="local",
    )
    return RunRecord(
        code={"kind": "code path", "path": "/src", "sha256": "a" * 64, "git": None},
        host={"hostname": "h", "cpus": 2},
        job={"mainfile": "train.py", "train_params": ["--number_of_steps=3"], "profile": "none"},
        environment={"python": "3.11.7", "tensorflow": "2.21.0", "pip_freeze": ["numpy==2.0.0"]},
        inputs={"data/data/train.csv": "0" * 64},
        outputs={"data/output/checkpoint": "1" * 64},
        phases=[phase],
        checks=[CheckResult(name="loss_decrease", status=PASSED, message=message)],
        timings={"train": 1.5, "total": 3.0},
    )


# --------------------------------------------------------------------------- verdict rules


@pytest.mark.parametrize(
    ("statuses", "passed"),
    [
        ([], False),  # zero checks never pass
        ([NOT_APPLICABLE], False),  # nothing ran
        ([PASSED, NOT_APPLICABLE], True),
        ([PASSED, FAILED], False),
        ([PASSED, NOT_RUN], False),  # a phase failed and left a check unrun
        ([PASSED, PASSED], True),
    ],
)
def test_a_run_passes_only_if_a_check_ran_none_failed_and_none_was_left_unrun(statuses, passed):
    record = make_record()
    record.checks = [CheckResult(f"c{i}", status, "m") for i, status in enumerate(statuses)]
    assert record.passed is passed


def test_the_summary_counts_every_planned_check():
    record = make_record()
    record.checks = [
        CheckResult("a", PASSED, ""),
        CheckResult("b", NOT_RUN, ""),
        CheckResult("c", NOT_APPLICABLE, ""),
    ]
    assert record.summary() == "FAILED: 1 of 1 checks passed (1 not run, 1 not applicable)"
    record.checks = [CheckResult("c", NOT_APPLICABLE, "")]
    assert record.summary() == "FAILED: no check ran (1 not applicable)"


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown status 'skipped'"):
        CheckResult("x", "skipped", "m")


# --------------------------------------------------------------------------- round trip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    losses=st.dictionaries(
        st.integers(min_value=0, max_value=10**9),
        st.floats(allow_nan=False, allow_infinity=False),
        max_size=20,
    ),
    message=st.text(alphabet="abc xyz éß漢字-_.:", max_size=60),
)
def test_round_trip_preserves_losses_and_unicode_messages(losses, message):
    original = make_record(losses, message)
    with tempfile.TemporaryDirectory() as directory:
        loaded = RunRecord.load(original.to_json(Path(directory) / "run.json"))
    assert loaded == original
    assert all(type(step) is int for step in loaded.phases[0].losses)


def test_non_finite_losses_are_strict_json_and_come_back_as_floats(tmp_path):
    path = make_record({1: math.nan, 2: math.inf, 3: -math.inf}).to_json(tmp_path / "run.json")
    json.loads(path.read_text(), parse_constant=lambda name: pytest.fail(f"non-strict {name}"))
    losses = RunRecord.load(path).phases[0].losses
    assert math.isnan(losses[1]) and losses[2] == math.inf and losses[3] == -math.inf


def test_to_json_is_sorted_indented_and_leaves_no_temp_files(tmp_path):
    path = make_record().to_json(tmp_path / "sub" / "run.json")
    assert path.read_text().startswith('{\n  "checks"')
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.json"]


def test_to_json_redacts_with_the_runs_redactor(tmp_path):
    record = make_record()
    record.job["train_params"] = ["--public_key", "pk-value-1", "--private_key=hunter22"]
    record.phases[0].log_tail = "echo: private key is hunter22"
    redactor = Redactor.for_params(record.job["train_params"])
    text = record.to_json(tmp_path / "run.json", redactor).read_text()
    assert "hunter22" not in text and "pk-value-1" not in text and REDACTED in text


def test_dumps_is_strict_and_redacted():
    text = dumps({"loss": float("nan"), "arg": "--private_key=abc123"}, indent=None)
    assert json.loads(text) == {"arg": f"--private_key={REDACTED}", "loss": "nan"}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("not json {", "not JSON"),
        ("[1, 2]", "not a run record"),
        ('{"name": "x"}', "not a run record"),
        ('{"schema": 1, "phases": []}', "schema 1 is not supported"),
        ('{"schema": 2, "phases": []}', "malformed"),
    ],
)
def test_load_errors_name_the_file(tmp_path, content, fragment):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=fragment) as error:
        RunRecord.load(path)
    assert str(path) in str(error.value)


def test_load_rejects_a_malformed_phase(tmp_path):
    data = make_record().to_dict()
    data["phases"][0]["losses"] = {"one": 1.0}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="malformed"):
        RunRecord.load(path)


def test_numpy_and_paths_in_evidence_are_stored_as_json(tmp_path):
    record = make_record()
    record.checks[0].evidence = {"loss": np.float32(1.5), "steps": np.arange(3), "dir": tmp_path}
    loaded = RunRecord.load(record.to_json(tmp_path / "run.json"))
    assert loaded.checks[0].evidence == {"loss": 1.5, "steps": [0, 1, 2], "dir": str(tmp_path)}


def test_the_log_tail_is_bounded():
    tail = PhaseRecord.tail("\n".join(f"line {i}" for i in range(1000)))
    assert tail.splitlines()[-1] == "line 999" and len(tail.splitlines()) == 200
