"""The pytest plugin's `uai_finished_run` fixture in a user's own test suite: one real
validation of the job the user names on pytest's command line, shared by the session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.foreign_jobs import TF1_COMPAT
from tests.support.plugin import plugin_args

pytestmark = pytest.mark.slow

USER_TESTS = """
import pathlib


def _seen(run):
    with open(pathlib.Path(__file__).with_name("seen.txt"), "a") as seen:
        seen.write(f"{id(run)} {run.run_dir}\\n")


def test_my_job_passes(uai_finished_run):
    _seen(uai_finished_run)
    table = {c.name: c.status for c in uai_finished_run.record.checks}
    assert uai_finished_run.passed, table
    assert table["loss_decrease"] == "passed" and table["resume"] == "passed"


def test_the_same_run_is_shared(uai_finished_run):
    _seen(uai_finished_run)
    assert (uai_finished_run.run_dir / "run_record.json").is_file()
"""


def test_uai_finished_run_validates_the_users_job_once_for_the_session(tmp_path: Path) -> None:
    (tmp_path / "test_my_job.py").write_text(USER_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    params = " ".join(TF1_COMPAT.params(steps=40))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *plugin_args(),
            f"--harness-code-path={TF1_COMPAT.folder}",
            f"--harness-train-params={params}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 passed" in done.stdout
    # Both tests got the one validation object, and only one validation ran.
    first, second = (tmp_path / "seen.txt").read_text().splitlines()
    assert first == second
    records = list(Path(first.split(" ", 1)[1]).parent.rglob("run_record.json"))
    assert len(records) == 1, records
