"""Benchmark: the harness's time and peak memory reading a job's hostile outputs.

Lays out a platform root whose output_dir holds what the security review found (a
metrics.jsonl linked to /dev/zero, a named pipe, a 1 TB and a 16 GB sparse file, a
real file of --real-gb GB, a tree deeper than Python's recursion limit, a checkpoint
index naming a host file, a log tail with control sequences), then runs every read
the harness makes of a finished phase: the job protocol's mark, losses and models,
the root's hash picture and the outputs' sizes, the path check, the reports. Prints
seconds per step, the total and the peak resident memory. Asserts nothing.

    python bench/hostile_outputs.py [--real-gb 1.0]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness import snapshot  # noqa: E402
from harness.checks.path_contract import check_path_contract  # noqa: E402
from harness.contract import PlatformRoot  # noqa: E402
from harness.defaults import MAX_OUTPUT_GB  # noqa: E402
from harness.job import JobOutput  # noqa: E402
from harness.record import PhaseRecord, RunRecord  # noqa: E402
from harness.report import render_html, render_markdown  # noqa: E402

TAIL = "step 9\x1b]0;retitled\x07\x1b[2J" * 20


def write_hostile(output: Path, real_gb: float) -> None:
    """What a hostile job leaves: every case of the review in one output_dir."""
    log = output / "log"
    log.mkdir(parents=True)
    (log / "metrics.jsonl").symlink_to("/dev/zero")
    os.mkfifo(output / "pipe")
    for name, size in (("sparse-1tb.bin", 1 << 40), ("sparse-16gb.bin", 16 << 30)):
        with open(output / name, "wb") as handle:
            handle.truncate(size)
    with open(output / "real.bin", "wb") as handle:
        block = os.urandom(1 << 20)
        for _ in range(int(real_gb * 1024)):
            handle.write(block)
    (output / "checkpoint").write_text('model_checkpoint_path: "/etc/passwd"\n')
    deep = output
    for _ in range(sys.getrecursionlimit() + 100):
        deep = deep / "d"
        deep.mkdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real-gb", type=float, default=1.0, help="GB of real data written")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as folder:
        root = PlatformRoot.create(parent=Path(folder))
        write_hostile(root.output_dir, args.real_gb)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        output = JobOutput(root.output_dir)
        steps = {
            "mark": output.mark,
            "losses": lambda: output.losses(TAIL),
            "models": output.models,
            "hash_tree(root)": lambda: snapshot.hash_tree(root.root),
            "tree_size(output_dir)": lambda: snapshot.tree_size(root.output_dir),
        }
        results, started = {}, time.monotonic()
        for name, step in steps.items():
            begun = time.monotonic()
            results[name] = step()
            print(f"{name:24s} {time.monotonic() - begun:8.2f} s")
        sizes = results["tree_size(output_dir)"]
        check = check_path_contract(
            list(sizes), [], [], "", "log", [], [], output_sizes=sizes,
            max_output_bytes=MAX_OUTPUT_GB * 1e9,
        )  # fmt: skip
        phase = PhaseRecord("train", ["python"], 1, 1.0, {}, "", TAIL, "local")
        record = RunRecord(phases=[phase], output_bytes=sum(sizes.values()))
        clean = "\x1b" not in render_markdown(record) + render_html(record, b"")
        total = time.monotonic() - started
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        hashes = results["hash_tree(root)"]
        print(f"{'total':24s} {total:8.2f} s")
        print(f"peak RSS {rss_peak / 1024:.0f} MB (before the reads {rss_before / 1024:.0f} MB)")
        print(f"output_dir {snapshot.describe_size(sum(sizes.values()))}; path_contract: ")
        print(f"  {check.status}: {check.message[:160]}")
        for name in ("output/log/metrics.jsonl", "output/pipe", "output/sparse-1tb.bin"):
            print(f"  {name}: {hashes['data/' + name][:40]}")
        print(f"  real.bin: {hashes['data/output/real.bin'][:40]}")
        print(f"  losses: {results['losses'].candidates}; models: {results['models']}")
        print(f"  reports free of control sequences: {clean}")
        deep = root.output_dir / "d"  # TemporaryDirectory's rmtree recurses: remove it here
        subprocess.run(["rm", "-rf", str(deep)], check=True)


if __name__ == "__main__":
    main()
