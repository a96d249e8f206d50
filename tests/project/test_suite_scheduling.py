"""The suite's own scheduling: tests that share an expensive fixture stay on one worker.

tox runs pytest on two xdist workers with `--dist loadgroup`, and the costly end-to-end
modules mark themselves `xdist_group` so that their shared fixture (a README walk, a
cluster run) is paid once. If a pytest/pytest-xdist pairing stops honouring the mark
(pytest 9.2 renamed the node id attribute that xdist 3.8 rewrites), every such fixture
silently runs once per worker: this test makes that a failure instead of a slower CI.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GROUPED = """
import os
import pytest

pytestmark = pytest.mark.xdist_group("shared")


@pytest.fixture(scope="module")
def shared():
    with open(os.environ["SETUPS"], "a") as log:
        log.write(os.environ.get("PYTEST_XDIST_WORKER", "main") + "\\n")


def test_one(shared): pass
def test_two(shared): pass
def test_three(shared): pass
"""


def test_an_xdist_group_shares_its_module_fixture_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    (tmp_path / "test_other.py").write_text(
        "".join(f"def test_other_{i}(): pass\n" for i in range(12))
    )
    setups = tmp_path / "setups.txt"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2"]
        + ["--dist", "loadgroup", "-o", "addopts=", str(tmp_path)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "SETUPS": str(setups), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(setups.read_text().split()) == 1, (
        f"the group's module fixture was set up on {setups.read_text().split()}: "
        "xdist_group is not honoured by this pytest/pytest-xdist pair"
    )
