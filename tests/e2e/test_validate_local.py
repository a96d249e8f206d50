"""End to end on this machine: the real trainer through every phase and check."""

from __future__ import annotations

import json

import pytest

from harness.record import NOT_APPLICABLE, PASSED, RunRecord

pytestmark = pytest.mark.slow

EXPECTED = {
    "image_contract": NOT_APPLICABLE,  # the local backend runs no image
    "path_contract": PASSED,
    "pretrained_restore": PASSED,
    "loss_decrease": PASSED,
    "uses_image": PASSED,
    "resume": PASSED,
    "inference": PASSED,
    "reproducible": NOT_APPLICABLE,  # not asked for
}


def test_every_planned_check_has_its_verdict(finished_run) -> None:
    table = {c.name: c.status for c in finished_run.record.checks}
    assert table == EXPECTED, {c.name: c.message for c in finished_run.record.checks}
    assert finished_run.passed
    assert finished_run.record.summary() == "PASSED: 6 of 6 checks passed (2 not applicable)"


def test_trainer_honours_the_platform_layout(finished_run) -> None:
    root = finished_run.root
    assert (root.output_dir / "checkpoint").exists()
    assert sorted(p.name for p in root.output_dir.glob("model.ckpt-*.index"))
    assert list(root.log_dir.glob("events.out.tfevents.*"))
    metrics = [
        json.loads(line) for line in (root.log_dir / "metrics.jsonl").read_text().splitlines()
    ]
    assert {"step", "loss", "total_loss", "learning_rate", "sec_per_step", "images_per_sec"} <= set(
        metrics[0]
    )
    assert metrics[-1]["step"] == 210  # the quick job's 200 steps, then 10 on resume


def test_evaluate_and_inference_ran(finished_run) -> None:
    assert "Perplexity = " in finished_run.outcomes["evaluate_true"].log_text
    captions = finished_run.outcomes["inference"].log_text
    assert "Captions for image image-" in captions
    assert "  0) " in captions and "(p=" in captions


def test_run_record_and_reports_are_written(finished_run) -> None:
    record = RunRecord.load(finished_run.run_dir / "run_record.json")
    assert record.passed
    assert [p.name for p in record.phases] == [
        "train",
        "evaluate_true",
        "evaluate_shuffled",
        "resume",
        "inference",
    ]
    train = record.phase("train")
    assert len(train.losses) == 200 and train.exit_code == 0
    # Upstream's summary tag, at the loss's own (float32) precision.
    assert train.loss_source == "events:losses/total_loss"
    assert any(path.endswith("inception_v3.ckpt") for path in record.inputs)
    assert any(path.endswith(".index") for path in record.outputs)
    assert record.environment["tensorflow"].startswith("2.")
    assert record.environment["pip_freeze"]
    assert record.code["kind"] == "code path" and len(record.code["sha256"]) == 64
    assert record.job["steps"] == 200 and record.job["step_flag"] == "number_of_steps"
    assert "<root>" in " ".join(train.command)
    for name in ("report.md", "report.html", "loss.png"):
        assert (finished_run.run_dir / name).stat().st_size > 0
