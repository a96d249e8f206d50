"""The CI regression gate on a fixture job: a committed baseline, and `validate --baseline`
failing for exactly what got worse - a learning rate that stalls, a slower step, a stray
output file - while the unchanged job passes it, twice in a row.

The baseline is `tests/baselines/estimator_like.json`, written by `uai-harness baseline`
from a run of fixtures/jobs/estimator_like; `python tests/baselines/refresh.py` writes it
again when the job or the baseline format change.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.backends.local import LocalBackend
from harness.baseline import load_baseline
from harness.record import FAILED, PASSED
from harness.scenario import validate
from tests.support.foreign_jobs import (
    ESTIMATOR_LIKE,
    Mutant,
    expected_verdicts,
    make_mutant,
    verdict_messages,
    verdict_table,
)
from tests.support.gate import BASELINE, GATE_PARAMS, SPEED_TOLERANCE, gate_plan

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("regression-gate")]

VARIANTS = {
    "stalling_learning_rate": (
        Mutant(
            "train.py",
            'parser.add_argument("--learning-rate", type=float, default=0.05,',
            'parser.add_argument("--learning-rate", type=float, default=3.0,',
            {},
        ),
        "the loss got worse",
    ),
    "slowed_step": (
        Mutant(
            "train.py",
            "                _, final_loss = session.run([train_op, loss])\n",
            "                _, final_loss = session.run([train_op, loss])\n"
            "                __import__('time').sleep(0.15)\n",
            {},
        ),
        "it got slower",
    ),
    "stray_output": (
        Mutant(
            "train.py",
            "        tf.io.gfile.makedirs(args.output_dir)\n",
            "        tf.io.gfile.makedirs(args.output_dir)\n"
            '        open(args.output_dir + "/notes.txt", "w").write("x")\n',
            {},
        ),
        "new files under output_dir: notes.txt",
    ),
}


def _gate(code: Path, job_inputs, run_dir: Path):
    """The gated validation's record."""
    plan = gate_plan(job_inputs, baseline=BASELINE, speed_tolerance=SPEED_TOLERANCE)
    return validate(LocalBackend(code), plan, run_dir).record


def test_the_committed_baseline_is_small_stable_and_reviewable() -> None:
    text = BASELINE.read_text()
    data = load_baseline(BASELINE)
    assert text == json.dumps(data, indent=2, sort_keys=True) + "\n"  # as the tool writes it
    assert data["identity"]["train_params"] == GATE_PARAMS
    assert not re.search(r"/(tmp|root|home|work)/", text), "an absolute path of a machine"
    assert len(text) < 20_000 and data["speed"]["steps_per_s"] > 0
    assert "events.out.tfevents.*" in data["outputs"]


def test_the_unchanged_job_passes_the_gate_twice_in_a_row(tmp_path, job_inputs) -> None:
    for attempt in ("first", "second"):
        check = _gate(ESTIMATOR_LIKE.folder, job_inputs, tmp_path / attempt).check("regression")
        assert check.status == PASSED, check.message
        print(f"{attempt}: {check.evidence['speed']}")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_worse_variant_fails_the_gate_naming_what_changed(
    tmp_path, job_inputs, variant: str
) -> None:
    mutant, named = VARIANTS[variant]
    code = make_mutant(ESTIMATOR_LIKE, mutant, tmp_path / "code")
    record = _gate(code, job_inputs, tmp_path / "run")
    check = record.check("regression")
    assert check.status == FAILED and named in check.message, check.message
    # The whole table: the job's own verdicts but for the regression (and, for a learning
    # rate that stalls, the loss that no longer falls enough).
    expected = {**expected_verdicts(ESTIMATOR_LIKE), "regression": FAILED}
    if variant == "stalling_learning_rate":
        expected["loss_decrease"] = FAILED
    assert verdict_table(record) == expected, verdict_messages(record)
    others = {"the loss got worse", "it got slower", "new files under output_dir"} - {
        named.split(":")[0]
    }
    assert not any(other in check.message for other in others), check.message
    if variant == "stalling_learning_rate":
        assert "loss_decrease (passed -> failed)" in check.message
