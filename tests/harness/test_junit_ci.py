"""JUnit as CI servers read it (finding 7): a stable dot-free classname per check family,
case times that add up to the run (GitLab sums them), a failed check's reason as the
message and its evidence as the body, and a file on exit 2 too - each validated against
the Jenkins xUnit junit-10 schema (tests/fixtures/junit.xsd)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import xmlschema

from harness.cli import main
from harness.junit import write_junit
from harness.record import CheckResult, PhaseRecord, RunRecord

SCHEMA = xmlschema.XMLSchema(str(Path(__file__).resolve().parents[1] / "fixtures" / "junit.xsd"))


def _phase(name: str, seconds: float) -> PhaseRecord:
    noise = "I0000 tensorflow noise\n" * 3
    return PhaseRecord(name, ["python"], 0, seconds, {}, "stdout", noise, "local")


def _record(code_folder: str) -> RunRecord:
    train, resume = 100.0, 6.0
    return RunRecord(
        code={"kind": "code path", "path": f"/work/{code_folder}"},
        job={"mainfile": "train.py"},
        phases=[_phase("train", train), _phase("resume", resume)],
        checks=[
            CheckResult("image_contract", "not applicable", "the local backend runs no image"),
            CheckResult("path_contract", "passed", "all under output_dir", seconds=train + 0.5),
            CheckResult("loss_decrease", "passed", "fell", seconds=train + 0.1),
            CheckResult("resume", "passed", "resumed", seconds=train + resume + 0.2),
            CheckResult(
                "regression",
                "failed",
                "loss got worse: 0.31 vs baseline 0.12",
                evidence={"last_fifth_mean": 0.31, "baseline": 0.12},
            ),
        ],
        timings={"total": 106.0},
    )


def _cases(path: Path) -> dict[str, ET.Element]:
    SCHEMA.validate(str(path))
    return {c.get("name"): c for c in ET.parse(path).getroot().iter("testcase")}


def test_classnames_are_dot_free_families_whatever_the_code_folder(tmp_path: Path) -> None:
    first = _cases(write_junit(_record("im2txt"), tmp_path / "a.xml"))
    other = _cases(write_junit(_record("my.job.v2"), tmp_path / "b.xml"))
    names = {n: c.get("classname") for n, c in first.items()}
    assert names == {n: c.get("classname") for n, c in other.items()}
    assert names["resume"] == "uai-harness-generic" and names["regression"] == "uai-harness-gate"
    assert not any("." in c for c in names.values())
    suite = ET.parse(tmp_path / "a.xml").getroot().find("testsuite")
    assert suite.get("name") == "uai-harness validate"
    properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert properties["job"] == "train.py in im2txt"


def test_case_times_add_up_to_the_run_not_a_multiple(tmp_path: Path) -> None:
    cases = _cases(write_junit(_record("im2txt"), tmp_path / "j.xml"))
    times = {name: float(case.get("time")) for name, case in cases.items()}
    assert abs(sum(times.values()) - 106.8) < 0.01, times
    assert times["path_contract"] == 100.5 and times["resume"] == 6.2


def test_a_failed_case_carries_its_reason_and_its_evidence(tmp_path: Path) -> None:
    failure = _cases(write_junit(_record("im2txt"), tmp_path / "j.xml"))["regression"]
    failure = failure.find("failure")
    assert failure.get("message") == "loss got worse: 0.31 vs baseline 0.12"
    assert '"last_fifth_mean": 0.31' in failure.text and "tensorflow" not in failure.text


def test_bad_input_still_writes_one_error_case(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    junit = tmp_path / "reports" / "junit.xml"
    args = ["validate", "--code-path", "nowhere", "--junit-xml", "reports/junit.xml"]
    assert main(args) == 2
    message = capsys.readouterr().err.removeprefix("error: ").strip()
    (case,) = _cases(junit).values()
    assert case.get("classname") == "uai-harness-input"
    assert case.find("error").get("message") == message and "nowhere" in message
    assert not (tmp_path / "runs").exists()
