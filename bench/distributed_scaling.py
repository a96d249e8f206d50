"""Benchmark: the chief's images/sec in cluster training against single-node training.

Runs im2txt/train.py three ways on this machine, on the same synthetic data, in
one run: single-node (no TF_CONFIG), and a cluster of master + 1 ps with 1 and
with 2 workers on loopback ports. Every process is a real train.py, as
UAI-Train starts them. The figures are the job's steady-state throughput after
the warm-up steps (tracing, first remote calls), from the chief's metrics.jsonl:
batch size x steps / time. Prints one table of ratios; nothing is asserted.

    python bench/distributed_scaling.py [--batch 8] [--size 150] [--steps 30] [--warmup 5]
        [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.contract import PlatformRoot  # noqa: E402
from harness.synthetic import generate_dataset, write_inception_checkpoint  # noqa: E402

TRAIN = Path(__file__).resolve().parents[1] / "im2txt" / "train.py"


def _ports(count: int) -> list[int]:
    held = [socket.socket() for _ in range(count)]
    for sock in held:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in held]
    for sock in held:
        sock.close()
    return ports


def _train(root: PlatformRoot, out: Path, args: argparse.Namespace) -> list[str]:
    return [
        sys.executable,
        str(TRAIN),
        "--input_file_pattern=/train-?????-of-00256",
        "--inception_checkpoint_file=/inception_v3.ckpt",
        f"--batch_size={args.batch}",
        f"--image_size={args.size}",
        f"--number_of_steps={args.warmup + args.steps}",
        "--log_every_n_steps=1",
        f"--work_dir={root.work_dir}",
        f"--data_dir={root.data_dir}",
        f"--output_dir={out}",
        f"--log_dir={out}/log",
    ]


def _env(tf_config: dict | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def _steady_sec_per_step(out: Path, warmup: int) -> float:
    """Mean wall seconds per global step after the warm-up steps."""
    records = [
        json.loads(line) for line in (out / "log" / "metrics.jsonl").read_text().splitlines()
    ]
    steady = [r["sec_per_step"] for r in records if r["step"] > warmup]
    return sum(steady) / len(steady)


def single_node(root: PlatformRoot, work: Path, args: argparse.Namespace) -> float:
    out = Path(tempfile.mkdtemp(prefix="single-", dir=work))
    subprocess.run(_train(root, out, args), env=_env(), check=True, stdout=subprocess.DEVNULL)
    return _steady_sec_per_step(out, args.warmup)


def cluster(root: PlatformRoot, work: Path, args: argparse.Namespace, workers: int) -> float:
    ports = iter(_ports(2 + workers))
    spec = {
        "master": [f"127.0.0.1:{next(ports)}"],
        "ps": [f"127.0.0.1:{next(ports)}"],
        "worker": [f"127.0.0.1:{next(ports)}" for _ in range(workers)],
    }
    servers = [("ps", 0)] + [("worker", i) for i in range(workers)]
    processes = [
        subprocess.Popen(
            _train(root, Path(tempfile.mkdtemp(prefix=f"{kind}{index}-", dir=work)), args),
            env=_env({"cluster": spec, "task": {"type": kind, "index": index}}),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for kind, index in servers
    ]
    out = Path(tempfile.mkdtemp(prefix=f"w{workers}-master-", dir=work))
    try:
        subprocess.run(
            _train(root, out, args),
            env=_env({"cluster": spec, "task": {"type": "master", "index": 0}}),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    return _steady_sec_per_step(out, args.warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=150)
    parser.add_argument("--steps", type=int, default=30, help="measured steps")
    parser.add_argument("--warmup", type=int, default=5, help="steps left out")
    parser.add_argument("--rounds", type=int, default=2, help="best of this many runs each")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="distributed-scaling-") as folder:
        work = Path(folder)
        root = PlatformRoot.create(parent=work)
        generate_dataset(root.data_dir, num_images=16, captions_per_image=2, num_eval_images=0)
        write_inception_checkpoint(root.work_dir / "inception_v3.ckpt")
        jobs = {
            "single-node (no TF_CONFIG)": lambda: single_node(root, work, args),
            "cluster, 1 worker": lambda: cluster(root, work, args, workers=1),
            "cluster, 2 workers": lambda: cluster(root, work, args, workers=2),
        }
        started = time.perf_counter()
        # Rounds interleave the jobs; the best round of each damps other users' load.
        rounds = [{name: job() for name, job in jobs.items()} for _ in range(args.rounds)]
        seconds = {name: min(r[name] for r in rounds) for name in jobs}
        total = time.perf_counter() - started

    base = seconds["single-node (no TF_CONFIG)"]
    print(
        f"{os.cpu_count()} CPU cores, batch {args.batch}, {args.size}x{args.size}, vocab 12000, "
        f"Inception frozen, {args.steps} steps after {args.warmup} warm-up, best of "
        f"{args.rounds} rounds ({total:.0f} s)"
    )
    print(f"{'job':28s} {'sec/step':>9s} {'images/sec':>11s} {'vs single-node':>15s}")
    for name, sec in seconds.items():
        print(f"{name:28s} {sec:9.3f} {args.batch / sec:11.2f} {base / sec:15.3f}")
    one, two = seconds["cluster, 1 worker"], seconds["cluster, 2 workers"]
    print(f"2 workers vs 1 worker: {one / two:.2f}x the images/sec")
    print(
        f"strategy overhead at 1 worker: {one / base:.2f}x the "
        "single-node step time (variables read from and gradients sent to the ps over gRPC)"
    )
    print(
        f"On {os.cpu_count()} shared cores the ps, the workers and the chief all compete for "
        "the same CPUs, so a second worker adds no compute here: the 2-worker figure shows "
        "the cost of the extra traffic and contention, not the speed-up one node per worker "
        "would give."
    )


if __name__ == "__main__":
    main()
