"""Shared test configuration.

The harness plugin normally arrives through its pytest11 entry point; in a bare
checkout (package not installed) it is loaded here instead.
"""

import importlib.metadata
from pathlib import Path

import pytest

_registered = any(
    ep.value == "harness.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11")
)
pytest_plugins = [] if _registered else ["harness.pytest_plugin"]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
