"""Comparing run records: loss divergence, tolerances, and what else changed.

Records start from a real `validate` run (the session's `real_validation`); each test
changes a copy the way a second run on another machine or commit would.
"""

from __future__ import annotations

import copy
import json
import math

import pytest

from harness.cli import main
from harness.compare import compare, diff_packages, parse_freeze
from harness.record import FAILED, PASSED, CheckResult, PhaseRecord, RunRecord

# With the other modules that read the session's real_validation: one worker runs it once.
pytestmark = pytest.mark.xdist_group("real_validation")


@pytest.fixture
def run(real_validation) -> RunRecord:
    return copy.deepcopy(real_validation.record)


@pytest.fixture
def other(real_validation) -> RunRecord:
    return copy.deepcopy(real_validation.record)


def _steps(record: RunRecord, phase: int = 0) -> list[int]:
    return sorted(record.phases[phase].losses)


def test_identical_runs_have_no_divergence(run, other):
    result = compare(run, other)
    assert result.identical_losses
    assert [p.name for p in result.phases] == ["train", "resume"]
    assert result.phases[0].steps_compared == len(run.phases[0].losses) > 0
    assert not (result.job or result.versions or result.checks)
    assert result.environment.empty and result.inputs.empty and result.outputs.empty
    text = result.render_text()
    assert text.startswith("Losses: identical (bitwise)")
    assert "Inputs: same" in text


def test_a_changed_loss_is_the_first_divergence(run, other):
    first, second = _steps(run)[1], _steps(run)[-1]
    other.phases[0].losses[first] += 1e-12
    other.phases[0].losses[second] = 5.0
    result = compare(run, other)
    assert not result.identical_losses
    train, resume = result.phases
    assert resume.identical_losses and not train.identical_losses
    divergence = train.first_divergence
    assert divergence is not None and divergence.step == first
    assert divergence.loss_b == run.phases[0].losses[first] + 1e-12
    assert train.divergent_steps == 2
    assert f"first divergence at step {first}" in result.render_text()


def test_bitwise_distinguishes_signed_zero_and_matches_nan(run, other):
    a, b = _steps(run)[:2]
    run.phases[0].losses.update({a: 0.0, b: math.nan})
    other.phases[0].losses.update({a: -0.0, b: math.nan})
    assert compare(run, other).phases[0].first_divergence.step == a
    other.phases[0].losses[a] = 0.0
    assert compare(run, other).identical_losses
    other.phases[0].losses[b] = 1.0
    assert compare(run, other).phases[0].first_divergence.step == b


def test_tolerances_accept_small_differences_only(run, other):
    step, later = _steps(run)[0], _steps(run)[-1]
    other.phases[0].losses[step] *= 1 + 1e-9
    assert not compare(run, other).identical_losses
    loose = compare(run, other, rtol=1e-6)
    assert loose.identical_losses and loose.render_text().startswith("Losses: identical (rtol=")
    assert compare(run, other, atol=1e-6).identical_losses
    other.phases[0].losses[later] += 1.0
    assert compare(run, other, rtol=1e-6).phases[0].first_divergence.step == later
    with pytest.raises(ValueError):
        compare(run, other, rtol=-1.0)


def test_cli_compare_takes_tolerances(real_validation, tmp_path, capsys):
    """Two machines rarely agree bit for bit: --rtol/--atol reach compare from the CLI."""
    record = copy.deepcopy(real_validation.record)
    step = sorted(record.phases[0].losses)[0]
    record.phases[0].losses[step] *= 1 + 1e-9
    a = real_validation.record.to_json(tmp_path / "a.json")
    b = record.to_json(tmp_path / "b.json")
    assert main(["compare", str(a), str(b)]) == 1
    assert main(["compare", str(a), str(b), "--rtol", "1e-6"]) == 0
    assert "Losses: identical (rtol=1e-06, atol=0)" in capsys.readouterr().out
    assert main(["compare", str(a), str(b), "--atol", "1e-6", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["identical_losses"] is True


def test_steps_and_phases_present_in_one_run_only(run, other):
    last = _steps(run)[-1]
    del other.phases[0].losses[last]
    other.phases[0].losses[last + 1000] = 0.1
    other.phases.pop()
    other.phases.append(
        PhaseRecord("evaluate", ["python", "evaluate.py"], 0, 1.0, {}, "none", "", "local")
    )
    result = compare(run, other)
    train, resume, evaluate = result.phases
    assert train.first_divergence is None
    assert train.only_in_a == [last] and train.only_in_b == [last + 1000]
    assert (resume.in_a, resume.in_b) == (True, False)
    assert (evaluate.in_a, evaluate.in_b) == (False, True)
    assert not result.identical_losses
    text = result.render_text()
    assert f"steps only in a: {last}" in text and "phase resume: only in a" in text


def test_job_code_environment_inputs_and_check_differences(run, other):
    other.job["train_params"] = [*run.job["train_params"], "--learning_rate=0.1"]
    other.code["sha256"] = "f" * 64
    other.environment["tensorflow"] = "2.99.0"
    freeze = [line for line in run.environment["pip_freeze"] if not line.lower().startswith("rich")]
    other.environment["pip_freeze"] = [*freeze, "zzz-extra==1.0"]
    changed_input = sorted(run.inputs)[0]
    other.inputs[changed_input] = "d" * 64
    other.inputs["data/data/extra.csv"] = "e" * 64
    other.checks[1] = CheckResult(run.checks[1].name, FAILED, "went wrong")
    result = compare(run, other)
    assert result.job["train_params"][1][-1] == "--learning_rate=0.1"
    assert result.versions["code.sha256"] == (run.code["sha256"], "f" * 64)
    assert result.environment.values["tensorflow"][1] == "2.99.0"
    packages = result.environment.packages
    assert packages.added == {"zzz-extra": "1.0"} and "rich" in packages.removed
    assert result.inputs.changed == [changed_input] and result.inputs.added == [
        "data/data/extra.csv"
    ]
    assert result.checks == {run.checks[1].name: (PASSED, FAILED)}
    text = result.render_text()
    for fragment in ["+ zzz-extra 1.0", f"changed {changed_input}", f"'{PASSED}' -> '{FAILED}'"]:
        assert fragment in text


def test_phase_environment_and_image_differences(run, other):
    run.phases[0].image = {"id": "sha256:1", "digest": "d1"}
    other.phases[0].image = {"id": "sha256:2", "digest": "d1"}
    run.phases[0].environment = {"python": "3.11", "pip_freeze": ["tensorflow==2.21.0"]}
    other.phases[0].environment = {"python": "3.11", "pip_freeze": ["tensorflow==2.20.0"]}
    train = compare(run, other).phases[0]
    assert train.differences == {"image.id": ("sha256:1", "sha256:2")}
    assert train.environment.packages.changed == {"tensorflow": ("2.21.0", "2.20.0")}


def test_parse_freeze_handles_urls_editables_and_extras():
    packages = parse_freeze(
        [
            "# comment",
            "",
            "Foo.Bar==1.0",
            "baz @ file:///tmp/baz-1.0.whl",
            "-e git+https://example.com/q.git@abc#egg=qux",
            "thing[extra]===2",
        ]
    )
    assert packages == {
        "foo-bar": "1.0",
        "baz": "@ file:///tmp/baz-1.0.whl",
        "qux": "-e git+https://example.com/q.git@abc#egg=qux",
        "thing": "2",
    }
    assert diff_packages(["a==1"], ["A==1"]).empty


def test_to_dict_is_strict_json(run, other):
    step = _steps(run)[0]
    other.phases[0].losses[step] = math.inf
    data = compare(run, other).to_dict()
    text = json.dumps(data, allow_nan=False)
    assert data["identical_losses"] is False and data["phases"][0]["identical_losses"] is False
    assert data["phases"][0]["first_divergence"]["step"] == step
    assert data["phases"][0]["first_divergence"]["abs_diff"] == "inf"
    assert json.loads(text)["phases"][1]["identical_losses"] is True
