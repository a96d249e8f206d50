"""Benchmark: how long `uai-harness validate` takes, phase by phase, serial against
side by side, each phase against the process-start floor.

- the README's default job (`python3 -m harness validate`: batch 8, 96x96, QUICK_STEPS);
- this repository's trainer at upstream's size (299x299, batch 32, frozen Inception), on
  the im2txt profile's default step budget;
- each foreign fixture job (fixtures/jobs/) at its default parameters.
Each job validates twice in this one run: with `jobs=1` (the serial order every
validation had before the phases after train ran side by side) and with the default
(as many at a time as cores and memory allow); the default job also as it ran before
this work ("before": 200 steps, serial, the synthetic checkpoint written afresh). The
floor is one `python -c "import tensorflow"`, timed before and after (the mean is used):
every phase starts at least that. Also prints each run folder's size. Asserts nothing;
on a shared machine compare ratios from one run, not seconds across runs.

    python bench/validate_times.py [--only NAME ...] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.backends.local import LocalBackend  # noqa: E402
from harness.jobshapes import PLATFORM_EXAMPLE_PARAMS  # noqa: E402
from harness.scenario import Plan, validate  # noqa: E402
from harness.untrusted import folder_bytes  # noqa: E402
from tests.support.foreign_jobs import JOBS, JobInputs, plan_for  # noqa: E402

GOALS_S = {"default": 30.0, "upstream": 120.0, **dict.fromkeys(JOBS, 10.0)}
MODES = {"serial": 1, "new": None}
BEFORE_STEPS = 200  # the built-in job's steps before they were cut to QUICK_STEPS


def import_floor() -> float:
    """Seconds of one process that imports TensorFlow and exits."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import tensorflow"], check=True)
    return time.monotonic() - started


def plan_of(name: str, inputs: JobInputs) -> tuple[Path, Plan]:
    if name == "default":
        return REPO / "im2txt", Plan()
    if name == "upstream":
        return REPO / "im2txt", Plan(train_params=list(PLATFORM_EXAMPLE_PARAMS))
    return JOBS[name].folder, plan_for(JOBS[name], inputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(GOALS_S), default=None)
    parser.add_argument("--keep", type=Path, help="keep the run folders here (a new folder)")
    args = parser.parse_args()
    floors = [import_floor()]
    cache = os.environ.get("UAI_CACHE_DIR")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as folder:
        inputs = JobInputs(Path(folder) / "inputs")
        for name in args.only or list(GOALS_S):
            modes = {"before": 1, **MODES} if name == "default" else MODES
            for mode, jobs in modes.items():
                code, plan = plan_of(name, inputs)
                if mode == "before":
                    plan.steps = BEFORE_STEPS
                    os.environ["UAI_CACHE_DIR"] = "/proc/no-cache"  # unusable: written afresh
                run_dir = (args.keep.resolve() if args.keep else Path(folder)) / f"{name}-{mode}"
                result = validate(LocalBackend(code), plan, run_dir, jobs=jobs)
                os.environ.pop("UAI_CACHE_DIR", None)
                if cache is not None:
                    os.environ["UAI_CACHE_DIR"] = cache
                size = folder_bytes(run_dir) / 1e6
                summary = result.record.summary()
                print(f"{name} ({mode}): {summary}; run folder {size:.1f} MB", flush=True)
                rows.append((name, mode, result.record.timings, size))
    floors.append(import_floor())
    floor = statistics.mean(floors)
    print(f"\nfloor: import tensorflow {floors[0]:.1f} s before, {floors[1]:.1f} s after")
    print("job             mode     phase                seconds  floors")
    for name, mode, timings, size in rows:
        for phase, seconds in timings.items():
            if phase != "total":
                print(f"{name:15s} {mode:8s} {phase:20s} {seconds:7.1f} {seconds / floor:7.1f}")
        total = timings["total"]
        print(
            f"{name:15s} {mode:8s} {'total':20s} {total:7.1f} {total / floor:7.1f}"
            f"  (goal {GOALS_S[name]:.0f} s; run folder {size:.1f} MB)"
        )
    print("\njob             serial s  new s  new/serial  new/floor")
    totals = {(n, m): t["total"] for n, m, t, _ in rows}
    for name in dict.fromkeys(n for n, *_ in rows):
        serial, new = totals[(name, "serial")], totals[(name, "new")]
        print(f"{name:15s} {serial:8.1f} {new:6.1f} {new / serial:10.2f} {new / floor:10.1f}")
    if ("default", "before") in totals:
        before, new = totals[("default", "before")], totals[("default", "new")]
        print(f"default: before {before:.1f} s = {before / floor:.1f} floors, new {new:.1f} s")


if __name__ == "__main__":
    main()
