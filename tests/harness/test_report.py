"""Reports: files written, every planned check shown with its verdict, plot embedded,
text escaped. The record comes from a real `validate` run (`real_validation`), with a
failed and an unrun check added the way validate writes them."""

from __future__ import annotations

import base64
import copy
import math
import re

import pytest

from harness.record import FAILED, NOT_RUN, CheckResult, RunRecord
from harness.report import loss_plot_png, write_report

# With the other modules that read the session's real_validation: one worker runs it once.
pytestmark = pytest.mark.xdist_group("real_validation")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def record(real_validation) -> RunRecord:
    record = copy.deepcopy(real_validation.record)
    record.checks.append(
        CheckResult("loss_decrease", FAILED, "loss is nan at step 5 | <S> token", {}, 0.02)
    )
    record.checks.append(
        CheckResult("resume", NOT_RUN, "phase resume failed: exited with status 1")
    )
    record.phases[1].losses[99] = math.nan
    return record


def test_write_report_creates_markdown_html_and_png(tmp_path, record):
    paths = write_report(record, tmp_path / "report")
    assert set(paths) == {"markdown", "html", "plot"}
    assert all(path.is_file() and path.parent == tmp_path / "report" for path in paths.values())
    assert paths["plot"].name == "loss.png"
    assert paths["plot"].read_bytes().startswith(PNG_MAGIC)


def test_markdown_has_the_verdict_and_a_row_per_planned_check(tmp_path, record):
    text = write_report(record, tmp_path)["markdown"].read_text()
    assert f"**{record.summary()}**" in text
    assert record.summary().startswith("FAILED: 4 of 5 checks passed (1 not run, 2 not applicable)")
    for check in record.checks:
        assert f"| {check.name} | {check.status.upper()} |" in text
    assert "| loss_decrease | FAILED | loss is nan at step 5 \\| &lt;S> token | 0.02 |" in text
    assert "| resume | NOT RUN | phase resume failed: exited with status 1 |" in text
    train = record.phases[0]
    steps = sorted(train.losses)
    assert (
        f"| train | local | 0 | {train.seconds:.1f} | {len(steps)} ({steps[0]}-{steps[-1]}) |"
        in text
    )
    assert "![loss per global step](loss.png)" in text


def test_warnings_are_shown_with_their_check(tmp_path, record):
    record.checks[1].warnings.append("wrote nothing under log_dir")
    text = write_report(record, tmp_path)["markdown"].read_text()
    assert "warning: wrote nothing under log_dir" in text


def test_html_shows_checks_escaped_and_embeds_a_png(tmp_path, record):
    text = write_report(record, tmp_path)["html"].read_text()
    for check in record.checks:
        assert f"<td>{check.name}</td>" in text
    assert '<tr class="failed"><td>loss_decrease</td>' in text
    assert '<tr class="not-run"><td>resume</td>' in text
    assert '<tr class="not-applicable"><td>image_contract</td>' in text
    assert "&lt;S&gt; token" in text and "<S> token" not in text
    assert "<details>" in text and "<style>" in text
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert match and base64.b64decode(match[1]).startswith(PNG_MAGIC)


def test_plot_without_losses_and_with_log_scale_is_still_a_png(record):
    assert loss_plot_png([]).startswith(PNG_MAGIC)
    assert loss_plot_png(record.phases, log_scale=True).startswith(PNG_MAGIC)


def test_an_empty_record_reports_that_no_check_ran(tmp_path):
    paths = write_report(RunRecord(), tmp_path)
    assert "**FAILED: no check ran**" in paths["markdown"].read_text()
