"""Comparing run records: loss divergence, tolerances, and what else changed."""

from __future__ import annotations

import copy
import json
import math

import pytest

from harness.compare import compare, diff_packages, parse_freeze
from harness.record import CheckResult, PhaseRecord, RunRecord


def make_run(steps: int = 20, seed: int = 1) -> RunRecord:
    """Two phases (train, resume) with distinct losses per step."""
    train = {step: 10.0 / step for step in range(1, steps + 1)}
    resume = {step: 1.0 / step for step in range(steps + 1, 2 * steps + 1)}
    return RunRecord(
        job={
            "mainfile": "train.py",
            "train_params": [f"--seed={seed}"],
            "flags": {"seed": seed, "batch_size": 4},
            "seed": seed,
            "backend": "local",
        },
        environment={
            "python": "3.11.7",
            "tensorflow": "2.21.0",
            "pip_freeze": ["numpy==2.0.0", "absl-py==2.1.0", "Pillow==10.0.0"],
        },
        inputs={"data/train-00000-of-00001": "a" * 64, "data/word_counts.txt": "b" * 64},
        outputs={"output/model.ckpt-20.index": "c" * 64},
        phases=[
            PhaseRecord("train", ["python", "train.py"], 0, 1.0, train, "", "local"),
            PhaseRecord("resume", ["python", "train.py"], 0, 1.0, resume, "", "local"),
        ],
        checks=[
            CheckResult("exit_code", True, "0", {}, 0.0),
            CheckResult("loss_finite", True, "finite", {}, 0.0),
        ],
    )


def test_identical_runs_have_no_divergence():
    a = make_run()
    result = compare(a, copy.deepcopy(a))
    assert result.identical_losses
    assert all(p.first_divergence is None and p.steps_compared == 20 for p in result.phases)
    assert not (result.job or result.versions or result.checks)
    assert result.environment.empty and result.inputs.empty and result.outputs.empty
    text = result.render_text()
    assert text.startswith("Losses: identical (bitwise)")
    assert "Inputs: same" in text


def test_changed_loss_at_step_7_is_the_first_divergence():
    a, b = make_run(), make_run()
    b.phases[0].losses[7] = a.phases[0].losses[7] + 1e-12
    b.phases[0].losses[9] = 5.0
    result = compare(a, b)
    assert not result.identical_losses
    train, resume = result.phases
    assert resume.identical_losses and not train.identical_losses
    first = train.first_divergence
    assert first is not None and first.step == 7
    assert (first.loss_a, first.loss_b) == (a.phases[0].losses[7], b.phases[0].losses[7])
    assert first.abs_diff == pytest.approx(1e-12, rel=1e-3)
    assert train.divergent_steps == 2
    assert "first divergence at step 7" in result.render_text()


def test_bitwise_distinguishes_signed_zero_and_matches_nan():
    a, b = make_run(), make_run()
    a.phases[0].losses.update({1: 0.0, 2: math.nan})
    b.phases[0].losses.update({1: -0.0, 2: math.nan})
    assert compare(a, b).phases[0].first_divergence.step == 1
    b.phases[0].losses[1] = 0.0
    assert compare(a, b).identical_losses
    b.phases[0].losses[2] = 1.0
    assert compare(a, b).phases[0].first_divergence.step == 2


def test_tolerances_accept_small_differences_only():
    a, b = make_run(), make_run()
    b.phases[0].losses[7] *= 1 + 1e-9
    assert not compare(a, b).identical_losses
    loose = compare(a, b, rtol=1e-6)
    assert loose.identical_losses and loose.render_text().startswith("Losses: identical (rtol=")
    assert compare(a, b, atol=1e-6).identical_losses
    b.phases[0].losses[8] += 1.0
    assert compare(a, b, rtol=1e-6).phases[0].first_divergence.step == 8
    with pytest.raises(ValueError):
        compare(a, b, rtol=-1.0)


def test_steps_and_phases_present_in_one_run_only():
    a, b = make_run(), make_run()
    del b.phases[0].losses[20]
    b.phases[0].losses[21] = 0.1
    b.phases.pop()
    b.phases.append(PhaseRecord("evaluate", ["python", "evaluate.py"], 0, 1.0, {}, "", "local"))
    result = compare(a, b)
    train, resume, evaluate = result.phases
    assert train.first_divergence is None and train.only_in_a == [20] and train.only_in_b == [21]
    assert (resume.in_a, resume.in_b) == (True, False)
    assert (evaluate.in_a, evaluate.in_b) == (False, True)
    assert not result.identical_losses
    text = result.render_text()
    assert "steps only in a: 20" in text and "phase resume: only in a" in text


def test_job_environment_inputs_and_check_differences():
    a, b = make_run(seed=1), make_run(seed=2)
    b.environment["tensorflow"] = "2.22.0"
    b.environment["pip_freeze"] = ["numpy==2.1.0", "absl_py==2.1.0", "rich==13.0.0"]
    b.inputs["data/word_counts.txt"] = "d" * 64
    b.inputs["data/extra"] = "e" * 64
    del b.inputs["data/train-00000-of-00001"]
    b.checks[1] = CheckResult("loss_finite", False, "nan", {}, 0.0)
    b.checks.append(CheckResult("gpu", False, "none", {}, 0.0, skipped=True))
    b.git = {"commit": "f" * 40, "dirty": True, "repo": "/x"}
    result = compare(a, b)
    assert result.job["seed"] == (1, 2) and result.job["flags.seed"] == (1, 2)
    assert "flags.batch_size" not in result.job
    assert result.versions["git.dirty"] == (None, True)
    assert result.environment.values == {"tensorflow": ("2.21.0", "2.22.0")}
    packages = result.environment.packages
    assert packages.added == {"rich": "13.0.0"}
    assert packages.removed == {"pillow": "10.0.0"}
    assert packages.changed == {"numpy": ("2.0.0", "2.1.0")}
    assert result.inputs.changed == ["data/word_counts.txt"]
    assert result.inputs.added == ["data/extra"]
    assert result.inputs.removed == ["data/train-00000-of-00001"]
    assert result.checks == {"gpu": (None, "skipped"), "loss_finite": ("passed", "failed")}
    text = result.render_text()
    for fragment in [
        "+ rich 13.0.0",
        "- pillow 10.0.0",
        "~ numpy 2.0.0 -> 2.1.0",
        "changed data/word_counts.txt",
        "loss_finite: 'passed' -> 'failed'",
    ]:
        assert fragment in text


def test_phase_environment_and_image_differences():
    a, b = make_run(), make_run()
    a.phases[0].image = {"id": "sha256:1", "digest": "d1"}
    b.phases[0].image = {"id": "sha256:2", "digest": "d1"}
    a.phases[0].environment = {"python": "3.11", "pip_freeze": ["tensorflow==2.21.0"]}
    b.phases[0].environment = {"python": "3.11", "pip_freeze": ["tensorflow==2.20.0"]}
    train = compare(a, b).phases[0]
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


def test_to_dict_is_strict_json():
    a, b = make_run(), make_run()
    b.phases[0].losses[3] = math.inf
    data = compare(a, b).to_dict()
    text = json.dumps(data, allow_nan=False)
    assert data["identical_losses"] is False and data["phases"][0]["identical_losses"] is False
    assert data["phases"][0]["first_divergence"]["step"] == 3
    assert data["phases"][0]["first_divergence"]["abs_diff"] == "inf"
    assert json.loads(text)["phases"][1]["identical_losses"] is True
