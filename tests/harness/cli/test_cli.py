"""The CLI's edge: relative paths resolved from the current folder, newest runs found,
strict JSON out (harness/cli.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.cli import main

# With the other modules that read the session's real_validation: one worker runs it once.
pytestmark = pytest.mark.xdist_group("real_validation")


@pytest.fixture
def runs(real_validation, tmp_path: Path, monkeypatch) -> Path:
    """Two runs under ./runs (the second a copy with one loss changed), cwd = tmp_path."""
    monkeypatch.chdir(tmp_path)
    first = real_validation.record
    second = copy.deepcopy(first)
    step = sorted(second.phases[0].losses)[0]
    second.phases[0].losses[step] += 0.5
    first.to_json(tmp_path / "runs" / "20261130-100000-aaaa" / "run_record.json")
    second.to_json(tmp_path / "runs" / "20261130-110000-bbbb" / "run_record.json")
    return tmp_path / "runs"


def test_report_defaults_to_the_newest_run(runs: Path, capsys) -> None:
    assert main(["report"]) == 0
    out = capsys.readouterr().out
    assert f"markdown: {runs / '20261130-110000-bbbb' / 'report.md'}" in out
    assert (runs / "20261130-110000-bbbb" / "report.html").exists()
    assert not (runs / "20261130-100000-aaaa" / "report.html").exists()


def test_report_takes_a_relative_run_folder(runs: Path, capsys) -> None:
    assert main(["report", "runs/20261130-100000-aaaa", "--out", "rep"]) == 0
    assert (runs.parent / "rep" / "report.md").exists()


def test_compare_defaults_to_the_two_newest_runs(runs: Path, capsys) -> None:
    assert main(["compare"]) == 1  # a loss differs
    out = capsys.readouterr().out
    assert out.startswith(f"a: {runs / '20261130-100000-aaaa' / 'run_record.json'}\nb: ")
    assert "Losses: DIFFERENT (bitwise)" in out
    assert main(["compare", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["identical_losses"] is False and data["b"].endswith("bbbb/run_record.json")


def test_compare_needs_two_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["compare"]) == 2
    assert "holds 0 run(s) with a run_record.json; need 2" in capsys.readouterr().err
    assert main(["compare", "only-one"]) == 2
    assert "compare takes two runs, or none" in capsys.readouterr().err
