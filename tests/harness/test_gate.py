"""The CI gate's pieces on fast fake jobs: JUnit XML checked against the schema CI servers
read (harness/junit.py), the baseline file and the regression check (harness/baseline.py,
harness/checks/regression.py), and `uai-harness rerun` (harness/rerun.py)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from harness.baseline import summarise, write_baseline
from harness.checks import regression
from harness.cli import main
from harness.junit import write_junit
from harness.record import FAILED, PASSED, RunRecord
from tests.support.adversaries import weights, write_job

SCHEMA = xmlschema.XMLSchema(str(Path(__file__).resolve().parents[1] / "fixtures" / "junit.xsd"))
JOB = """\
done = saved_steps()
first = done[-1] + 1 if done else 1
log(first, falling(steps - first + 1, 4.0 - (first - 1) / 4))
save(f"step-{steps}")
"""
TEMPLATES = {"step-8": weights(8), "step-10": weights(10, seed=1)}


@pytest.fixture
def job(tmp_path: Path) -> list[str]:
    """`uai-harness validate` arguments for a fast fake job and its tiny sample."""
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "rows.csv").write_text("1,0\n")
    write_job(tmp_path / "code", JOB, TEMPLATES)
    return [
        "validate",
        "--code-path",
        str(tmp_path / "code"),
        "--data",
        str(sample),
        "--train-params=--number_of_steps=8",
        "--resume-steps=2",
    ]


def _run(args: list[str], run_dir: Path, *extra: str) -> tuple[int, RunRecord]:
    code = main([*args, "--run-dir", str(run_dir), *extra])
    return code, RunRecord.load(run_dir / "run_record.json")


# --------------------------------------------------------------------------- JUnit


def test_junit_xml_is_valid_and_holds_every_planned_check(job, tmp_path) -> None:
    code, record = _run(job, tmp_path / "run", "--junit-xml", str(tmp_path / "junit.xml"))
    assert code == 0
    SCHEMA.validate(str(tmp_path / "junit.xml"))
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == [c.name for c in record.checks]
    assert cases["image_contract"].find("skipped").get("message").startswith("the local backend")
    assert cases["resume"].find("failure") is None
    properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert properties["verdict"] == record.summary() and "phase:train:seconds" in properties
    assert suite.get("tests") == str(len(record.checks)) and suite.get("failures") == "0"


def test_junit_failures_carry_the_reason_and_the_log_tail_and_warnings_are_properties(
    tmp_path,
) -> None:
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "rows.csv").write_text("1,0\n")
    write_job(tmp_path / "code", 'print("about to crash")\nraise SystemExit(3)\n', {})
    args = ["validate", "--code-path", str(tmp_path / "code"), "--data", str(sample)]
    args += ["--train-params=--number_of_steps=8"]
    code, record = _run(args, tmp_path / "run", "--junit-xml", str(tmp_path / "j.xml"))
    assert code == 1
    SCHEMA.validate(str(tmp_path / "j.xml"))
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    failure = next(suite.iter("testcase")).find("failure")
    assert failure is None  # image_contract: skipped
    failures = [
        case.find("failure") for case in suite.iter("testcase") if case.find("failure") is not None
    ]
    assert failures and all(f.get("type") == "not run" for f in failures)
    assert "about to crash" in failures[0].text
    assert suite.get("failures") == str(len(failures))


def test_strict_turns_warnings_into_junit_failures(tmp_path) -> None:
    record = RunRecord(
        job={"mainfile": "train.py"},
        checks=[
            regression.CheckResult(
                "resume", "warning", "no resume logic", warnings=["no resume logic"]
            )
        ],
        strict=True,
    )
    write_junit(record, tmp_path / "j.xml")
    SCHEMA.validate(str(tmp_path / "j.xml"))
    root = ET.parse(tmp_path / "j.xml").getroot()
    assert root.find("testsuite/testcase/failure").get("type") == "warning (strict)"
    properties = {p.get("name"): p.get("value") for p in root.find("testsuite/properties")}
    assert properties["warning:resume"] == "no resume logic" and not record.passed


# --------------------------------------------------------------------------- baseline, regression


def test_a_baseline_gates_the_next_run_and_names_what_changed(job, tmp_path) -> None:
    code, record = _run(job, tmp_path / "good")
    baseline = write_baseline(record, tmp_path / "baseline.json")
    text = baseline.read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert str(tmp_path) not in text and record.host["hostname"] not in text
    code, again = _run(
        job, tmp_path / "again", "--baseline", str(baseline), "--speed-tolerance=0.9"
    )
    assert code == 0 and again.check("regression").status == PASSED
    other = [*job[:-2], "--train-params=--number_of_steps=8 --lr=2", "--resume-steps=2"]
    code, changed = _run(other, tmp_path / "other", "--baseline", str(baseline))
    message = changed.check("regression").message
    assert code == 1 and message.startswith("the job is not the one baseline.json was made from")
    assert "a new baseline is due" in message


def test_the_regression_check_on_crafted_summaries() -> None:
    base = {
        "identity": {"train_params": ["--x=1"]},
        "version": {"kind": "code path", "sha256": "a" * 64},
        "losses": {str(s): 2.0 - s / 10 for s in range(1, 11)},
        "verdicts": {"loss_decrease": PASSED, "resume": PASSED},
        "outputs": ["model.ckpt-10.index"],
        "speed": {"steps_per_s": 10.0, "machine_gflops": 30.0, "seconds": 8.0},
    }
    same = regression.check_regression(base, json.loads(json.dumps(base)), "b.json")
    assert same.status == PASSED and "code unchanged" in same.message
    worse = json.loads(json.dumps(base))
    worse["losses"] = {k: v * 1.2 for k, v in base["losses"].items()}
    worse["verdicts"]["resume"] = FAILED
    worse["outputs"] = ["model.ckpt-10.index", "stray.txt"]
    worse["speed"] = {"steps_per_s": 7.0, "machine_gflops": 30.0, "seconds": 8.0}
    worse["version"]["sha256"] = "b" * 64
    result = regression.check_regression(base, worse, "b.json")
    assert result.status == FAILED
    for named in ("the loss got worse", "resume (passed -> failed)", "stray.txt", "it got slower"):
        assert named in result.message
    assert "code changed since the baseline" in result.evidence["version"]
    bitwise = json.loads(json.dumps(base))
    bitwise["identity"]["reproducible"] = True
    nudged = json.loads(json.dumps(bitwise))
    nudged["losses"]["10"] += 1e-9
    assert regression.check_regression(bitwise, nudged, "b.json").status == FAILED
    assert regression.check_regression(bitwise, bitwise, "b.json").status == PASSED
    in_epochs = json.loads(json.dumps(worse))
    in_epochs["speed"] = {"steps_per_s": 0.1, "unit": "epochs"}
    unit = regression.check_regression(base, in_epochs, "b.json").evidence["speed"]
    assert unit == "speed not compared (timed in epochs, the baseline in steps)"


def test_summaries_generalise_run_specific_output_names() -> None:
    record = RunRecord(
        outputs={
            "data/output/model.ckpt-8.index": "x",
            "data/output/log/events.out.tfevents.1796.host.123.0.v2": "y",
            "data/data/train.csv": "z",
            "data/output/export/best/1764950400/saved_model.pb": "s",
            "data/output/export/best/1764950471/saved_model.pb": "t",
        }
    )
    assert summarise(record)["outputs"] == [
        "export/best/<time>/saved_model.pb",
        "log/events.out.tfevents.*",
        "model.ckpt-8.index",
    ]


# --------------------------------------------------------------------------- rerun


def test_rerun_repeats_a_recorded_run_and_refuses_changed_code(job, tmp_path, capsys) -> None:
    _run(job, tmp_path / "first")
    assert main(["rerun", str(tmp_path / "first"), "--out", str(tmp_path / "reruns")]) == 0
    assert "rerun of first: the same" in capsys.readouterr().out
    (tmp_path / "code" / "train.py").write_text(
        (tmp_path / "code" / "train.py").read_text() + "\n# changed\n"
    )
    assert main(["rerun", str(tmp_path / "first"), "--out", str(tmp_path / "reruns")]) == 2
    err = capsys.readouterr().err
    assert "changed since the run" in err and "--allow-changed-code" in err


def test_rerun_refuses_changed_data_and_redacted_parameters(job, tmp_path, capsys) -> None:
    _run(job, tmp_path / "first")
    (tmp_path / "sample" / "rows.csv").write_text("2,1\n")
    assert main(["rerun", str(tmp_path / "first")]) == 2
    assert "rows.csv differ" in capsys.readouterr().err
    secret = [
        *job[:-2],
        "--train-params=--number_of_steps=8 --private_key=k3y-v4lue",
        "--resume-steps=2",
    ]
    (tmp_path / "sample" / "rows.csv").write_text("1,0\n")
    _run(secret, tmp_path / "secret")
    assert main(["rerun", str(tmp_path / "secret")]) == 2
    assert "only redacted (--private_key)" in capsys.readouterr().err
