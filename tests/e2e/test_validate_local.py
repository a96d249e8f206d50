"""End to end on this machine: the real trainer through every phase and check."""

from __future__ import annotations

import json

import pytest

from harness.record import RunRecord

pytestmark = pytest.mark.slow

EXPECTED_CHECKS = [
    "path_contract",
    "pretrained_restore",
    "loss_decrease",
    "uses_image",
    "resume",
    "inference",
]


def test_every_check_passes(finished_run) -> None:
    verdicts = {c.name: (c.passed, c.message) for c in finished_run.record.checks}
    assert list(verdicts) == EXPECTED_CHECKS
    failed = {name: message for name, (ok, message) in verdicts.items() if not ok}
    assert not failed, failed


def test_trainer_honours_the_platform_layout(finished_run) -> None:
    root = finished_run.root
    assert (root.output_dir / "checkpoint").exists()
    assert sorted(p.name for p in root.output_dir.glob("model.ckpt-*.index"))
    assert list(root.log_dir.glob("events.out.tfevents.*"))
    metrics = [
        json.loads(line) for line in (root.log_dir / "metrics.jsonl").read_text().splitlines()
    ]
    assert {"step", "loss", "learning_rate", "sec_per_step", "images_per_sec"} <= set(metrics[0])
    assert metrics[-1]["step"] == 320  # 300 steps, then 20 more on resume


def test_evaluate_and_inference_ran(finished_run) -> None:
    true_log = finished_run.outcomes["evaluate_true"].log_text
    assert "Perplexity = " in true_log
    captions = finished_run.outcomes["inference"].log_text
    assert "Captions for image " in captions
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
    assert len(train.losses) == 300 and train.exit_code == 0
    assert any(path.endswith("inception_v3.ckpt") for path in record.inputs)
    assert any(path.endswith(".index") for path in record.outputs)
    assert record.environment["tensorflow"].startswith("2.")
    assert record.environment["pip_freeze"]
    assert "<root>" in " ".join(train.command)
    for name in ("report.md", "report.html", "loss.png"):
        assert (finished_run.run_dir / name).stat().st_size > 0
