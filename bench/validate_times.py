"""Benchmark: how long `uai-harness validate` takes, phase by phase, on three jobs.

- this repository's trainer at upstream's size (299x299, batch 32, frozen Inception),
  on the im2txt profile's default step budget - the case that must validate in about
  5 minutes on a 2-core CPU;
- the two foreign fixture jobs (fixtures/jobs/tf1_compat, fixtures/jobs/keras_fit) at
  their default parameters.
All in one run on this machine; prints the seconds of every phase, the total, and
the total as a share of the 5-minute goal. Asserts nothing.

    python bench/validate_times.py [--only im2txt|tf1_compat|keras_fit]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.backends.local import LocalBackend  # noqa: E402
from harness.contract import PLATFORM_EXAMPLE_PARAMS  # noqa: E402
from harness.validate import Plan, validate  # noqa: E402
from tests.foreign_jobs import JOBS, KERAS_FIT, make_inputs  # noqa: E402

GOAL_S = 300.0


def plans(scratch: Path) -> dict[str, tuple[Path, Plan]]:
    inputs = scratch / "keras-inputs"
    make_inputs(KERAS_FIT, inputs)
    return {
        "im2txt": (REPO / "im2txt", Plan(train_params=list(PLATFORM_EXAMPLE_PARAMS))),
        "tf1_compat": (JOBS["tf1_compat"].folder, Plan(train_params=JOBS["tf1_compat"].params())),
        "keras_fit": (
            KERAS_FIT.folder,
            Plan(
                train_params=KERAS_FIT.params(),
                profile="none",
                data=inputs / "data",
                pretrained=inputs / KERAS_FIT.pretrained_file.lstrip("/"),
            ),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["im2txt", "tf1_compat", "keras_fit"], default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as folder:
        for name, (code, plan) in plans(Path(folder)).items():
            if args.only and name != args.only:
                continue
            result = validate(LocalBackend(code), plan, Path(folder) / name)
            timings = result.record.timings
            print(f"{name}: {result.record.summary()}")
            for phase, seconds in timings.items():
                if phase != "total":
                    print(f"  {phase:22s} {seconds:7.1f} s")
            total = timings["total"]
            print(f"  {'total':22s} {total:7.1f} s = {total / GOAL_S:.2f} of the 5-minute goal")


if __name__ == "__main__":
    main()
