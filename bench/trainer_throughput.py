"""Benchmark: the real trainer's images/sec against the bare Inception v3 forward pass.

Both are measured in the same run on the same machine. The trainer is `train.py`
itself, launched the platform's way on synthetic records; its steady-state rate is
the median `images_per_sec` of the second half of the steps it logs to
metrics.jsonl (the first steps pay for tracing). The baseline is the frozen image
tower alone on a batch of the same size. The ratio says what the caption model,
the input pipeline, loss, gradients and SGD cost on top of Inception (upstream's
default configuration: batch 32, 299x299, Inception frozen). Prints a table;
asserts nothing.

    python bench/trainer_throughput.py [--batch 32] [--size 299] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "im2txt"))
sys.path.insert(0, str(REPO))

import tensorflow as tf  # noqa: E402

from harness.contract import PlatformRoot, job_command  # noqa: E402
from harness.synthetic import generate_dataset, write_inception_checkpoint  # noqa: E402
from im2txt.ops.image_embedding import InceptionV3  # noqa: E402


def trainer_rate(batch: int, size: int, steps: int) -> tuple[float, int]:
    """Median images/sec of train.py over the second half of its logged steps."""
    with tempfile.TemporaryDirectory(prefix="bench-trainer-") as folder:
        root = PlatformRoot.create(parent=Path(folder))
        generate_dataset(root.data_dir, num_images=8, captions_per_image=2, num_eval_images=0)
        write_inception_checkpoint(root.work_dir / "inception_v3.ckpt")
        root.install_code(REPO / "im2txt")
        params = [
            "--input_file_pattern=/train-?????-of-00256",
            "--inception_checkpoint_file=/inception_v3.ckpt",
            f"--number_of_steps={steps}",
            "--log_every_n_steps=1",
            f"--batch_size={batch}",
            f"--image_size={size}",
        ]
        command = job_command("train.py", params, root.host_paths, sys.executable)
        subprocess.run(command, cwd=root.work_dir, check=True, capture_output=True)
        rows = [
            json.loads(line) for line in (root.log_dir / "metrics.jsonl").read_text().splitlines()
        ]
    steady = [row["images_per_sec"] for row in rows[len(rows) // 2 :]]
    return statistics.median(steady), len(rows)


def forward_rate(batch: int, size: int, steps: int) -> float:
    """Images/sec of the frozen Inception v3 forward pass alone, after one warm-up call."""
    inception = InceptionV3(trainable=False)
    images = tf.random.uniform([batch, size, size, 3], -1.0, 1.0, seed=1)
    forward = tf.function(lambda: inception(images, training=False))
    forward().numpy()
    started = time.perf_counter()
    for _ in range(steps):
        forward().numpy()
    return batch * steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=299)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    trainer, logged = trainer_rate(args.batch, args.size, args.steps)
    forward = forward_rate(args.batch, args.size, max(3, args.steps // 4))
    print(f"batch {args.batch}, {args.size}x{args.size}, Inception frozen, CPU")
    print(f"{'Inception v3 forward only':34s} {forward:8.2f} images/sec")
    steady = logged - logged // 2
    print(
        f"{'train.py steady state':34s} {trainer:8.2f} images/sec "
        f"(median of the last {steady} of {logged} steps)"
    )
    print(f"{'ratio train.py / forward':34s} {trainer / forward:8.3f}")


if __name__ == "__main__":
    main()
