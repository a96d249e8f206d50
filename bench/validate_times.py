"""Benchmark: how long `uai-harness validate` takes, phase by phase, on every job shape.

- this repository's trainer at upstream's size (299x299, batch 32, frozen Inception),
  on the im2txt profile's default step budget - the case that must validate in about
  5 minutes on a 2-core CPU;
- each foreign fixture job (fixtures/jobs/: tf1_compat, keras_fit, keras_model,
  tf1_summaries, estimator_like, slim_like) at its default parameters - each must
  validate in under a minute.
All in one run on this machine; prints the seconds of every phase, the total, and the
total as a share of its goal. Asserts nothing.

    python bench/validate_times.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.backends.local import LocalBackend  # noqa: E402
from harness.jobshapes import PLATFORM_EXAMPLE_PARAMS  # noqa: E402
from harness.scenario import Plan, validate  # noqa: E402
from tests.support.foreign_jobs import JOBS, JobInputs, plan_for  # noqa: E402

GOALS_S = {"im2txt": 300.0, **dict.fromkeys(JOBS, 60.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(GOALS_S), default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as folder:
        inputs = JobInputs(Path(folder) / "inputs")
        for name in args.only or list(GOALS_S):
            if name == "im2txt":
                code, plan = REPO / "im2txt", Plan(train_params=list(PLATFORM_EXAMPLE_PARAMS))
            else:
                code, plan = JOBS[name].folder, plan_for(JOBS[name], inputs)
            result = validate(LocalBackend(code), plan, Path(folder) / name)
            timings = result.record.timings
            print(f"{name}: {result.record.summary()}")
            for phase, seconds in timings.items():
                if phase != "total":
                    print(f"  {phase:22s} {seconds:7.1f} s")
            total = timings["total"]
            goal = GOALS_S[name]
            print(f"  {'total':22s} {total:7.1f} s = {total / goal:.2f} of the {goal:.0f} s goal")
            rows.append((name, total, goal))
    print("\njob             seconds  goal  share")
    for name, total, goal in rows:
        print(f"{name:15s} {total:7.1f} {goal:5.0f} {total / goal:6.2f}")


if __name__ == "__main__":
    main()
