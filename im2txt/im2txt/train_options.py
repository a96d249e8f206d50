"""A training job's settings and the checks every variant makes before touching a folder.

A week-long platform job must fail at once, naming the flag, file or folder at
fault, rather than after hours; these checks are shared by the local loop and
the cluster's chief, each calling them in its own order.
"""

from __future__ import annotations

import dataclasses
import os

import tensorflow as tf

from im2txt.ops import inputs


class TrainingError(RuntimeError):
    """Training cannot start or go on; the message says what is at fault."""


@dataclasses.dataclass
class TrainOptions:
    """Resolved, validated settings of one training job."""

    file_patterns: list[str]
    inception_checkpoint: str | None
    output_dir: str
    log_dir: str
    target_step: int
    train_dir: str | None = None  # Checkpoints go here instead of output_dir (inside it).
    train_inception: bool = False
    log_every_n_steps: int = 1
    save_checkpoint_steps: int = 0
    save_checkpoint_secs: float = 600.0
    num_gpus: int = 0
    mixed_precision: bool = False
    seed: int | None = None
    deterministic: bool = False
    skip_bad_images: bool = False

    @property
    def checkpoint_flag(self) -> str:
        """The flag naming the checkpoint folder, for messages."""
        return "train_dir" if self.train_dir else "output_dir"

    @property
    def checkpoint_dir(self) -> str:
        return self.train_dir or self.output_dir


def ensure_writable(directory: str, what: str) -> None:
    """Create `directory` and prove a file can be written there, or fail naming it."""
    try:
        os.makedirs(directory, exist_ok=True)
        for stale in tf.io.gfile.glob(os.path.join(directory, ".write-probe-*")):
            os.unlink(stale)  # Left by a job killed between writing and removing it.
        probe = os.path.join(directory, f".write-probe-{os.getpid()}")
        with open(probe, "w") as handle:
            handle.write("ok")
        os.unlink(probe)
    except OSError as err:
        raise TrainingError(f"{what} {directory} is not writable: {err}") from err


def resolve_input_files(options: TrainOptions) -> list[str]:
    """The files --input_file_pattern matches, or TrainingError saying why there are none."""
    try:
        return inputs.resolve_files(options.file_patterns)
    except (FileNotFoundError, inputs.InputDataError) as err:
        raise TrainingError(f"--input_file_pattern: {err}") from err


def check_mixed_precision(options: TrainOptions) -> None:
    """Refuse --mixed_precision without GPUs, where float16 only slows Inception down."""
    if options.mixed_precision and options.num_gpus < 1:
        raise TrainingError("--mixed_precision needs --num_gpus >= 1 (it only helps on GPUs)")


def seed_tensorflow(options: TrainOptions) -> None:
    """Apply --seed and --deterministic before any random op or variable exists."""
    if options.seed is not None:
        tf.keras.utils.set_random_seed(options.seed)
    if options.deterministic:
        tf.config.experimental.enable_op_determinism()
