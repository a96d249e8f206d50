"""The plugin's leftover check under pytest-xdist: each worker labels with its own id, and
the controller's check finds what any worker left, and nothing of another session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from harness import pytest_plugin
from harness.backends import daemon
from tests.support.plugin import plugin_args

RECORDS_ID = """
import os


def test_one(): open(os.environ["IDS"], "a").write(os.environ["UAI_HARNESS_SESSION"] + "\\n")
def test_two(): open(os.environ["IDS"], "a").write(os.environ["UAI_HARNESS_SESSION"] + "\\n")
"""


def test_each_xdist_worker_labels_with_the_sessions_id_and_its_own_name(tmp_path: Path) -> None:
    (tmp_path / "test_ids.py").write_text(RECORDS_ID)
    ids = tmp_path / "ids.txt"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2"]
        + [*plugin_args(), "--dist", "load", "-o", "addopts=", str(tmp_path)],
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "IDS": str(ids),
            "HOME": str(tmp_path),
            "UAI_HARNESS_SESSION": "pytest-abc",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(ids.read_text().split()) <= {"pytest-abc-gw0", "pytest-abc-gw1"}


def _labelled(session: str) -> dict[str, str]:
    return {daemon.LABEL: "1", daemon.SESSION_LABEL: session}


class _Listing:
    def __init__(self, items):
        self.items = items
        self.filters = []

    def list(self, all: bool = False, filters: dict | None = None):
        self.filters.append(filters)
        return self.items


def test_leftovers_are_the_sessions_and_its_workers_and_no_one_elses(monkeypatch) -> None:
    monkeypatch.setenv(daemon.SESSION_ENV, "pytest-abc")
    api = SimpleNamespace(
        containers=_Listing(
            [
                SimpleNamespace(name="mine", status="running", labels=_labelled("pytest-abc")),
                SimpleNamespace(name="worker", status="exited", labels=_labelled("pytest-abc-gw1")),
                SimpleNamespace(name="other", status="running", labels=_labelled("pytest-abcd")),
            ]
        ),
        networks=_Listing(
            [
                SimpleNamespace(name="net-worker", attrs={"Labels": _labelled("pytest-abc-gw0")}),
                SimpleNamespace(name="net-other", attrs={"Labels": _labelled("cli-123")}),
            ]
        ),
        images=_Listing(
            [
                SimpleNamespace(tags=["job:x"], short_id="1", labels=_labelled("pytest-abc-gw0")),
                SimpleNamespace(tags=[], short_id="2", labels=None),
            ]
        ),
    )
    monkeypatch.setattr(daemon, "client", lambda timeout=120: api)
    assert pytest_plugin.leftovers() == [
        "container mine (running)",
        "container worker (exited)",
        "network net-worker",
        "image ['job:x']",
    ]
    assert api.containers.filters == [{"label": daemon.SESSION_LABEL}]
