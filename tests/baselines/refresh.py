"""Write tests/baselines/estimator_like.json again from a fresh run of the fixture job.

    python tests/baselines/refresh.py

Run it when fixtures/jobs/estimator_like or the baseline format changes, on a quiet
machine, and commit the file: it is what tests/harness/test_regression_gate.py gates on.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from harness.backends.local import LocalBackend  # noqa: E402
from harness.baseline import write_baseline  # noqa: E402
from harness.scenario import validate  # noqa: E402
from tests.support.foreign_jobs import ESTIMATOR_LIKE, JobInputs  # noqa: E402
from tests.support.gate import gate_plan  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="baseline-") as folder:
        inputs = JobInputs(Path(folder) / "inputs")
        plan = gate_plan(inputs)
        result = validate(LocalBackend(ESTIMATOR_LIKE.folder), plan, Path(folder) / "run")
        print(result.record.summary())
        written = write_baseline(result.record, Path(__file__).with_name("estimator_like.json"))
        print(f"wrote {written}")


if __name__ == "__main__":
    main()
