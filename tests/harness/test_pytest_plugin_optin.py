"""The pytest plugin changes nothing in a session that did not ask for it (finding 6): a
throwaway project with its own `gpu` and `docker` markers and a fixture named like ours
keeps them; asking with `-p harness.pytest_plugin` gives the `uai_`-prefixed fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.plugin import plugin_args

PROJECT_TESTS = """
import pytest


@pytest.fixture
def platform_root():
    return "mine"


@pytest.mark.gpu
def test_own_gpu_marker(platform_root):
    assert platform_root == "mine"


@pytest.mark.docker
def test_own_docker_marker():
    pass
"""

PLUGIN_TESTS = """
def test_prefixed(uai_platform_root):
    assert uai_platform_root.data_dir.is_dir()
"""


def _pytest(project: Path, enable: bool) -> subprocess.CompletedProcess:
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            *plugin_args(enable),
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_packaging_declares_no_pytest11_entry_point(repo_root: Path) -> None:
    assert "pytest11" not in (repo_root / "pyproject.toml").read_text()


def test_a_project_that_did_not_ask_keeps_its_own_markers_and_fixtures(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    gpu: mine\n    docker: mine\naddopts = --strict-markers\n"
    )
    (tmp_path / "test_project.py").write_text(PROJECT_TESTS)
    done = _pytest(tmp_path, enable=False)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "2 passed" in done.stdout and "skipped" not in done.stdout


def test_a_project_that_asks_gets_prefixed_fixtures(tmp_path: Path) -> None:
    (tmp_path / "test_plugin.py").write_text(PLUGIN_TESTS)
    done = _pytest(tmp_path, enable=True)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "1 passed" in done.stdout
