"""Reports: files written, checks shown with verdicts, plot embedded, text escaped."""

from __future__ import annotations

import base64
import math
import re

import pytest

from harness.record import CheckResult, PhaseRecord, RunRecord
from harness.report import loss_plot_png, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def record() -> RunRecord:
    return RunRecord(
        job={"mainfile": "train.py", "train_params": ["--seed=1"], "seed": 1, "backend": "local"},
        environment={"python": "3.11.7", "tensorflow": "2.21.0", "pip_freeze": ["numpy==2.0.0"]},
        inputs={"data/word_counts.txt": "a" * 64},
        outputs={"output/checkpoint": "b" * 64},
        phases=[
            PhaseRecord(
                "train",
                ["python", "train.py", "--private_key=hunter2"],
                0,
                3.0,
                {1: 8.0, 2: 7.5, 3: 7.0},
                "global step 3: loss = 7.0",
                "local",
            ),
            PhaseRecord(
                "resume",
                ["python", "train.py"],
                1,
                1.0,
                {4: 6.5, 5: math.nan},
                "Traceback: boom",
                "local",
            ),
        ],
        checks=[
            CheckResult("exit_code", True, "all phases exited 0", {"codes": [0, 1]}, 0.01),
            CheckResult("loss_finite", False, "loss is nan at step 5 | <S> token", {}, 0.02),
            CheckResult("gpu_visible", False, "no GPU on this machine", {}, 0.0, skipped=True),
        ],
        timings={"total": 4.0},
    )


def test_write_report_creates_markdown_html_and_png(tmp_path, record):
    paths = write_report(record, tmp_path / "report")
    assert set(paths) == {"markdown", "html", "plot"}
    assert all(path.is_file() and path.parent == tmp_path / "report" for path in paths.values())
    assert paths["plot"].name == "loss.png"
    assert paths["plot"].read_bytes().startswith(PNG_MAGIC)


def test_markdown_has_verdict_and_a_row_per_check(tmp_path, record):
    text = write_report(record, tmp_path)["markdown"].read_text()
    assert "**FAILED: 1 of 2 checks passed, 1 skipped**" in text
    assert "| exit_code | PASSED | all phases exited 0 | 0.01 |" in text
    assert "| loss_finite | FAILED | loss is nan at step 5 \\| &lt;S&gt; token | 0.02 |" in text
    assert "| gpu_visible | SKIPPED | no GPU on this machine | 0.00 |" in text
    assert "| train | local | 0 | 3.0 | 3 (1-3) | 8 | 7 |" in text
    assert "| resume | local | 1 | 1.0 | 2 (4-5) | 6.5 | nan |" in text
    assert "![loss per global step](loss.png)" in text
    assert "Traceback: boom" in text
    assert "hunter2" not in text


def test_html_shows_checks_escaped_and_embeds_a_png(tmp_path, record):
    text = write_report(record, tmp_path)["html"].read_text()
    for name in ("exit_code", "loss_finite", "gpu_visible"):
        assert f"<td>{name}</td>" in text
    assert '<tr class="failed"><td>loss_finite</td>' in text
    assert '<tr class="passed"><td>exit_code</td>' in text
    assert "&lt;S&gt; token" in text and "<S> token" not in text
    assert "hunter2" not in text
    assert "<details>" in text and "<style>" in text
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert match and base64.b64decode(match[1]).startswith(PNG_MAGIC)


def test_plot_without_losses_and_with_log_scale_is_still_a_png(record):
    assert loss_plot_png([]).startswith(PNG_MAGIC)
    assert loss_plot_png(record.phases, log_scale=True).startswith(PNG_MAGIC)


def test_empty_record_reports(tmp_path):
    paths = write_report(RunRecord(), tmp_path)
    assert "**PASSED: 0 of 0 checks passed, 0 skipped**" in paths["markdown"].read_text()
