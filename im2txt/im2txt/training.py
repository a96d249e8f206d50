"""The one training loop, for a single node and for a cluster's chief alike.

Holds what upstream delegated to slim.learning.train: the step schedule up to
--number_of_steps, periodic logging and checkpointing, resuming, and the failure
rules a week-long platform job needs: refuse bad settings before touching any
folder, stop on a non-finite loss without saving it, save and exit on SIGTERM,
and never let a failed or killed save damage the checkpoints already there.
What is trained comes from captioning_task; how each step is dispatched (one at
a time in this process, or scheduled on a cluster's workers) and where the
variables live come from a TrainingVariant (local_training, distributed).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Protocol

import tensorflow as tf

from im2txt import captioning_task, checkpointing
from im2txt.captioning_task import TrainStep
from im2txt.configuration import ModelConfig, TrainingConfig
from im2txt.metrics_log import MetricsLog
from im2txt.ops import inputs
from im2txt.show_and_tell_model import ShowAndTellModel
from im2txt.stop_request import StopRequest
from im2txt.train_options import TrainingError, TrainOptions, ensure_writable
from im2txt.training_inputs import Batches


@dataclasses.dataclass(frozen=True)
class TrainingJob:
    """What one job trains and the SIGTERM flag it polls, read by the loop and its variant."""

    options: TrainOptions
    model_config: ModelConfig
    training_config: TrainingConfig
    stop: StopRequest


class StepRunner(Protocol):
    """Runs the task's steps for the loop and counts them."""

    # Steps finished since the start, counted as they arrive; the global step after drain().
    step: int
    # Whether steps run concurrently, so one step has no duration of its own.
    overlapping_steps: bool
    batches: Batches

    def next(self, until: int) -> tuple[float, float] | None:
        """(loss, learning rate) of the next finished step, scheduling none past `until`;
        None when SIGTERM came while its batch was read, so the step did not run."""

    def drain(self) -> int:
        """Wait for the steps in flight; return the global step they leave behind."""


class TrainingVariant(Protocol):
    """Where the loop runs: which settings hold, where variables live, how steps run."""

    def check(self, job: TrainingJob) -> None:
        """Seed TensorFlow and refuse settings it cannot run, before any folder is touched."""

    def strategy(self) -> tf.distribute.Strategy:
        """The strategy whose scope places the model's variables."""

    def step_runner(
        self, job: TrainingJob, model: ShowAndTellModel, train_step: TrainStep
    ) -> StepRunner:
        """The batches and the dispatch of `train_step` on them."""


def run(job: TrainingJob, variant: TrainingVariant) -> int:
    """Train until the global step reaches the job's target step; return the final step.

    `job.stop` is the SIGTERM flag, polled before training and after each step.
    Failures raise TrainingError with a message naming what is at fault.
    """
    options = job.options
    if job.stop.requested:
        _stopped_before_training(None)
        return 0
    variant.check(job)
    ensure_writable(options.checkpoint_dir, options.checkpoint_flag)
    ensure_writable(options.log_dir, "log_dir")
    strategy = variant.strategy()
    model = captioning_task.build_model(options, job.model_config, strategy)
    manager = checkpointing.CheckpointManager(
        options.checkpoint_dir, max_to_keep=job.training_config.max_checkpoints_to_keep
    )
    manager.remove_partial_saves()
    _initialise(model, manager, options)
    start_step = int(model.global_step.numpy())
    if _nothing_to_train(start_step, options, job.stop):
        return start_step

    train_step = captioning_task.make_train_step(
        model, strategy, job.model_config, job.training_config, options
    )
    runner = variant.step_runner(job, model, train_step)
    metrics = MetricsLog(options.log_dir)
    try:
        step = _run_steps(job, runner, model, manager, metrics)
    finally:
        metrics.close()
        runner.batches.summarise()
    return step


def _run_steps(
    job: TrainingJob,
    runner: StepRunner,
    model: ShowAndTellModel,
    manager: checkpointing.CheckpointManager,
    metrics: MetricsLog,
) -> int:
    """The step schedule: log every N steps, save by steps or time, stop at the target."""
    options, stop = job.options, job.stop
    start_step = runner.step
    # Nothing trained since start_step: a resumed run has its checkpoint, a fresh one
    # rebuilds the same state from the Inception file.
    last_save_time, saved_step = time.monotonic(), start_step
    logged_step, logged_time = start_step, time.perf_counter()
    while runner.step < options.target_step and not stop.requested:
        # Nothing is scheduled past a step-count save, so it saves at that very step.
        save_at = saved_step + (options.save_checkpoint_steps or options.target_step)
        started = time.perf_counter()
        outcome = runner.next(until=min(save_at, options.target_step))
        if outcome is None:
            break
        loss, rate = outcome
        finished = time.perf_counter()
        step = runner.step
        if not math.isfinite(loss):
            raise TrainingError(
                f"loss became {loss} at global step {step}; stopping without saving it. "
                f"Last good checkpoint: {manager.latest() or 'none'}"
            )
        if step % options.log_every_n_steps == 0 or step == options.target_step:
            sec_per_step = (
                (finished - logged_time) / max(1, step - logged_step)
                if runner.overlapping_steps
                else finished - started
            )
            metrics.write(
                step,
                loss,
                rate,
                sec_per_step,
                job.model_config.batch_size,
                float(model.inception.regularization_loss()),
            )
            runner.batches.report_dropped()
            logged_step, logged_time = step, finished
        due_by_time = (
            options.save_checkpoint_secs > 0
            and time.monotonic() - last_save_time >= options.save_checkpoint_secs
        )
        if (step >= save_at or due_by_time) and step < options.target_step:
            saved_step = runner.drain()
            save_checkpoint(manager, model, saved_step, options.checkpoint_flag)
            last_save_time = time.monotonic()
    step = runner.drain()
    _save_at_end(manager, model, step, start_step, saved_step, stop, options.checkpoint_flag)
    return step


def _initialise(
    model: ShowAndTellModel, manager: checkpointing.CheckpointManager, options: TrainOptions
) -> None:
    """Resume from the checkpoint folder when it holds one, else load pretrained Inception."""
    latest = manager.latest()
    if latest is not None:
        try:
            checkpointing.restore_variables(latest, model.checkpoint_variables())
        except checkpointing.CheckpointError as err:
            raise TrainingError(
                f"cannot resume from {latest} in {options.checkpoint_flag}: {err}. A checkpoint "
                "only loads into a model with the same --vocab_size as the run that wrote it; "
                f"give another --{options.checkpoint_flag} to start afresh"
            ) from err
        print(f"Resuming from {latest} at global step {int(model.global_step.numpy())}", flush=True)
        return
    if not options.inception_checkpoint:
        raise TrainingError(
            "--inception_checkpoint_file is required for a fresh run "
            f"({options.checkpoint_flag} holds no checkpoint to resume from)"
        )
    try:
        count = checkpointing.restore_variables(
            options.inception_checkpoint, model.inception.variables_by_name()
        )
    except checkpointing.CheckpointError as err:
        raise TrainingError(
            f"cannot restore Inception v3 (--inception_checkpoint_file): {err}"
        ) from err
    print(f"Restored {count} Inception variables from {options.inception_checkpoint}", flush=True)


def _nothing_to_train(start_step: int, options: TrainOptions, stop: StopRequest) -> bool:
    """Whether a stop or a target already reached ends the job before its first step."""
    if stop.requested:
        _stopped_before_training(start_step)
        return True
    if start_step >= options.target_step:
        print(
            f"Global step {start_step} already reaches the target {options.target_step}; "
            "nothing to train",
            flush=True,
        )
        return True
    return False


def _save_at_end(
    manager: checkpointing.CheckpointManager,
    model: ShowAndTellModel,
    step: int,
    start_step: int,
    saved_step: int,
    stop: StopRequest,
    flag: str,
) -> None:
    """Save the last step unless the last save already holds it, and say which it was."""
    if step == saved_step:  # Only a stop gets here without a step since the last save.
        if step == start_step and manager.latest() is None:
            _stopped_before_training(step)
        else:
            print(
                f"SIGTERM received at global step {step}: {manager.latest()} already holds "
                "it; exiting",
                flush=True,
            )
    else:
        path = save_checkpoint(manager, model, step, flag)
        if stop.requested:
            print(f"SIGTERM received at global step {step}: saved {path}; exiting", flush=True)
        else:
            print(f"Saved checkpoint {path} at global step {step}", flush=True)


def _stopped_before_training(step: int | None) -> None:
    at = "" if step is None else f" (global step {step})"
    print(f"SIGTERM received before training started{at}: nothing to save; exiting", flush=True)


def save_checkpoint(
    manager: checkpointing.CheckpointManager, model: ShowAndTellModel, step: int, flag: str
) -> str:
    """Save, turning a failure (full disk, lost folder) into an error naming the folder."""
    try:
        return manager.save(model.checkpoint_variables(), step)
    except (OSError, tf.errors.OpError, checkpointing.CheckpointError) as err:
        reason = inputs.tf_error_message(err) if isinstance(err, tf.errors.OpError) else err
        raise TrainingError(
            f"cannot save the checkpoint of global step {step} in {flag} "
            f"{manager.directory}: {reason}. The last complete checkpoint, "
            f"{manager.latest() or 'none'}, is intact"
        ) from err
