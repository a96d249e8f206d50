"""Tiny plain-Python jobs (no TensorFlow) for tests of how the harness runs a job: its
interrupt, its live output, its time limit. Each takes the platform's flags and a step
target; what it does after is the test's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PRELUDE = """\
import argparse, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--number_of_steps", type=int, default=10)
for flag in ("output_dir", "data_dir", "work_dir", "log_dir", "num_gpus"):
    parser.add_argument(f"--{flag}")
args, _ = parser.parse_known_args()
"""


def write_plain_job(folder: Path, body: str) -> tuple[Path, Path]:
    """(code folder, data sample) under `folder`: train.py = PRELUDE + `body`."""
    code, sample = folder / "code", folder / "sample"
    code.mkdir(parents=True)
    (code / "train.py").write_text(PRELUDE + body)
    sample.mkdir()
    (sample / "a.csv").write_text("x,1\n")
    return code, sample


def start_validate(
    folder: Path, body: str, *options: str, steps: int = 100000
) -> subprocess.Popen[str]:
    """`uai-harness validate` of a plain job with a target of `steps` into `folder/run`,
    as a user starts it (its own process, output piped)."""
    code, sample = write_plain_job(folder, body)
    repo = Path(__file__).resolve().parents[2]
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "validate", "--code-path", str(code), "--profile",
         "none", "--data", str(sample), f"--train-params=--number_of_steps={steps}",
         "--run-dir", str(folder / "run"), *options],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(repo)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
