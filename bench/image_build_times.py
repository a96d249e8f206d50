"""Benchmark: cold vs warm (code-only change) build of the CPU training image.

Cold rebuilds every layer (`--no-cache`); warm changes one file of the code path
and rebuilds, so only the code layer should run again. Both use the offline
inputs (.ci/base-image.sh, .ci/wheelhouse.sh) and are measured in the same run.
Prints the figures; asserts nothing.

    python bench/image_build_times.py [--tag uai-harness/im2txt:bench]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASE = "uai-harness/base:bookworm-py311"


def _build(tag: str, *extra: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            "docker",
            "build",
            "--network",
            "none",
            *extra,
            "-f",
            "Dockerfile.cpu",
            "--build-arg",
            f"BASE_IMAGE={BASE}",
            "-t",
            tag,
            ".",
        ],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tag", default="uai-harness/im2txt:bench")
    args = parser.parse_args()
    subprocess.run(["bash", ".ci/base-image.sh"], cwd=REPO, check=True)
    subprocess.run(
        ["bash", ".ci/wheelhouse.sh", "cpu", "--stage", ".wheelhouse"], cwd=REPO, check=True
    )
    cold = _build(args.tag, "--no-cache")
    marker = tempfile.NamedTemporaryFile(
        dir=REPO / "im2txt", prefix="bench-change-", suffix=".txt", delete=False
    )
    try:
        marker.write(str(time.time()).encode())
        marker.close()
        warm = _build(args.tag)
    finally:
        Path(marker.name).unlink()
    print(f"{'cold build (--no-cache)':28s} {cold:7.1f} s")
    print(f"{'warm build (code change)':28s} {warm:7.1f} s")
    print(f"{'ratio warm / cold':28s} {warm / cold:7.3f}")


if __name__ == "__main__":
    main()
