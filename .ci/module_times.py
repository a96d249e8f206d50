"""Print each test module's summed test seconds from the tox envs' JUnit files.

`.ci/run` calls it after tox so that every run shows where the time goes, module by
module (docs/testing.md keeps a measured copy). On xdist workers the sums overlap in
wall time: a module's figure is its tests' own seconds (setup, call and teardown).

    python3 .ci/module_times.py .tox/py311/log/junit.xml .tox/docker/log/junit.xml
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path


def module_seconds(junit: Path) -> dict[str, tuple[float, int]]:
    """Test module -> (summed seconds, tests) of one JUnit file."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "?").split(".")
        # classname is "tests.harness.checks.test_x" or "tests.harness.checks.test_x.TestClass"
        while module and not module[-1].startswith("test_"):
            module.pop()
        name = "/".join(module[1:]) + ".py" if module else case.get("classname", "?")
        totals[name][0] += float(case.get("time") or 0.0)
        totals[name][1] += 1
    return {name: (seconds, int(count)) for name, (seconds, count) in totals.items()}


def main(paths: list[str]) -> int:
    for raw in paths:
        junit = Path(raw)
        if not junit.is_file():
            print(f"  (no {junit}: that env did not run its tests)")
            continue
        env = junit.parent.parent.name
        rows = sorted(module_seconds(junit).items(), key=lambda row: -row[1][0])
        print(f"  tox {env}: seconds of test time per module")
        for name, (seconds, count) in rows:
            print(f"    {seconds:8.1f}s  {count:4d} tests  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
