"""Loading the harness's pytest plugin in a throwaway project's pytest run, as a user does
(`-p harness.pytest_plugin`: it has no pytest11 entry point)."""

from __future__ import annotations

import importlib.metadata


def plugin_args(enable: bool = True) -> list[str]:
    """pytest arguments that enable the plugin (or not). An environment installed before
    the entry point was dropped would load it by itself under another name: that install
    is disabled, so what is judged is this checkout's packaging."""
    stale = [
        f"-pno:{ep.name}"
        for ep in importlib.metadata.entry_points(group="pytest11")
        if ep.value == "harness.pytest_plugin"
    ]
    return stale + (["-p", "harness.pytest_plugin"] if enable else [])
