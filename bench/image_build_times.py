"""Benchmark: cold vs warm offline `pack` of the CPU job image.

Cold starts from nothing: an empty cache folder (no rootfs tarball, no wheelhouse, pip's
own cache off) and no offline base image, so `pack --offline` runs debootstrap, docker
import, the wheelhouse download and a full image build. Warm then changes one file of
the code path and packs again: everything is cached, only the code layer is rebuilt.
Both run in the same process, one after the other; the figures are printed, nothing is
asserted. Needs root (debootstrap) and a daemon; it replaces the offline base image
(`uai-harness/base:bookworm-py311`), so other users' next build re-runs its pip layer.

    python bench/image_build_times.py [--image-name uai-harness/bench]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from harness.images.base import OFFLINE_BASE
from harness.images.build import connect
from harness.images.progress import SilentProgress
from harness.pack import PackSpec, pack

REPO = Path(__file__).resolve().parents[1]


class StepTimes(SilentProgress):
    """Seconds per progress step, in order."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, float]] = []
        self._current: tuple[str, float] | None = None

    def step(self, title: str) -> None:
        self.finish()
        self._current = (title, time.perf_counter())

    def finish(self) -> None:
        if self._current is not None:
            title, started = self._current
            self.steps.append((title, time.perf_counter() - started))
            self._current = None


def _timed_pack(spec: PackSpec, out: Path) -> tuple[float, list[tuple[str, float]]]:
    progress = StepTimes()
    started = time.perf_counter()
    pack(spec, out, progress)
    progress.finish()
    return time.perf_counter() - started, progress.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image-name", default="uai-harness/bench")
    args = parser.parse_args()
    client = connect()
    with tempfile.TemporaryDirectory(prefix="uai-bench-") as tmp:
        work = Path(tmp)
        os.environ["UAI_CACHE_DIR"] = str(work / "cache")
        os.environ["PIP_NO_CACHE_DIR"] = "1"
        code = work / "im2txt"
        shutil.copytree(REPO / "im2txt", code, ignore=shutil.ignore_patterns("__pycache__"))
        if client.images.list(name=OFFLINE_BASE):
            client.images.remove(OFFLINE_BASE, noprune=True)
        spec = PackSpec(code, image_name=args.image_name, offline=True)
        cold, cold_steps = _timed_pack(spec, work / "out")
        (code / "im2txt" / "bench_change.py").write_text(f"# {time.time()}\n")
        warm, warm_steps = _timed_pack(spec, work / "out")
        client.images.remove(spec.cpu_image, noprune=True)
    for label, steps in (("cold", cold_steps), ("warm", warm_steps)):
        for title, seconds in steps:
            print(f"  {label}: {title[:70]:70s} {seconds:7.1f} s")
    print(f"{'cold offline pack (empty cache)':34s} {cold:7.1f} s")
    print(f"{'warm offline pack (code change)':34s} {warm:7.1f} s")
    print(f"{'ratio warm / cold':34s} {warm / cold:7.3f}")


if __name__ == "__main__":
    main()
