"""The training loop behind train.py, kept importable so tests can drive it.

Holds what upstream delegated to slim.learning.train: the learning-rate
schedule, gradient clipping and SGD, periodic logging and checkpointing,
resuming, and the failure rules a week-long platform job needs: refuse bad
settings before touching any folder, name the file, record, variable or step at
fault, stop on a non-finite loss without saving it, save and exit on SIGTERM,
and never let a failed or killed save damage the checkpoints already there.
"""

from __future__ import annotations

import math
import time

import tensorflow as tf

from im2txt import captioning_task, checkpointing
from im2txt.configuration import ModelConfig, TrainingConfig
from im2txt.metrics_log import MetricsLog
from im2txt.ops import inputs
from im2txt.show_and_tell_model import ShowAndTellModel
from im2txt.stop_request import StopRequest
from im2txt.train_options import (
    TrainingError,
    TrainOptions,
    check_mixed_precision,
    ensure_writable,
    resolve_input_files,
    seed_tensorflow,
)
from im2txt.training_inputs import Batches


def _make_strategy(num_gpus: int) -> tf.distribute.Strategy:
    if num_gpus <= 0:
        return tf.distribute.get_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) < num_gpus:
        raise TrainingError(f"--num_gpus={num_gpus} but only {len(gpus)} GPU(s) are visible")
    return tf.distribute.MirroredStrategy([d.name for d in gpus[:num_gpus]])


def train(
    options: TrainOptions,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    stop: StopRequest | None = None,
) -> int:
    """Train until the global step reaches `options.target_step`; return the final step.

    `stop` is the SIGTERM flag (train.py installs it before importing TensorFlow);
    without one, train() watches SIGTERM itself while it runs. Failures raise
    TrainingError with a message naming what is at fault.
    """
    if stop is None:
        with StopRequest() as own_stop:
            return train(options, model_config, training_config, own_stop)
    if stop.requested:
        _stopped_before_training(None)
        return 0
    seed_tensorflow(options)
    check_mixed_precision(options)
    strategy = _make_strategy(options.num_gpus)
    replicas = strategy.num_replicas_in_sync
    if model_config.batch_size % replicas:
        raise TrainingError(
            f"--batch_size={model_config.batch_size} does not split over {replicas} GPUs"
        )
    resolve_input_files(options)
    ensure_writable(options.checkpoint_dir, options.checkpoint_flag)
    ensure_writable(options.log_dir, "log_dir")

    model, manager = _build_and_initialise(options, model_config, training_config, strategy)
    start_step = int(model.global_step.numpy())
    if _nothing_to_train(start_step, options, stop):
        return start_step

    batches = Batches(options, model_config, strategy)
    train_step = captioning_task.make_train_step(
        model, strategy, model_config, training_config, options
    )
    metrics = MetricsLog(options.log_dir)
    # Nothing trained since start_step: a resumed run has its checkpoint, a fresh one
    # rebuilds the same state from the Inception file.
    last_save_time, saved_step = time.monotonic(), start_step
    step = start_step
    try:
        while step < options.target_step and not stop.requested:
            started = time.perf_counter()
            batch = batches.next(step)
            if stop.requested:
                break
            try:
                loss, rate = train_step(batch)
                loss = float(loss)
            except tf.errors.OpError as err:
                raise TrainingError(
                    f"training step {step + 1} failed: {inputs.tf_error_message(err)}"
                ) from err
            elapsed = time.perf_counter() - started
            if not math.isfinite(loss):
                raise TrainingError(
                    f"loss became {loss} at global step {step + 1}; stopping without saving it. "
                    f"Last good checkpoint: {manager.latest() or 'none'}"
                )
            step = int(model.global_step.numpy())
            if step % options.log_every_n_steps == 0 or step == options.target_step:
                metrics.write(
                    step,
                    loss,
                    float(rate),
                    elapsed,
                    model_config.batch_size,
                    float(model.inception.regularization_loss()),
                )
                batches.report_dropped()
            due_by_steps = (
                options.save_checkpoint_steps > 0
                and step - saved_step >= options.save_checkpoint_steps
            )
            due_by_time = (
                options.save_checkpoint_secs > 0
                and time.monotonic() - last_save_time >= options.save_checkpoint_secs
            )
            if (due_by_steps or due_by_time) and step < options.target_step:
                _save(manager, model, step, options.checkpoint_flag)
                last_save_time, saved_step = time.monotonic(), step
        _save_at_end(manager, model, step, start_step, saved_step, stop, options.checkpoint_flag)
    finally:
        metrics.close()
        batches.summarise()
    return step


def _build_and_initialise(
    options: TrainOptions,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    strategy: tf.distribute.Strategy,
) -> tuple[ShowAndTellModel, checkpointing.CheckpointManager]:
    """The model's variables under `strategy`, resumed from the checkpoint folder (output_dir
    or --train_dir) or from Inception."""
    model = captioning_task.build_model(options, model_config, strategy)
    manager = checkpointing.CheckpointManager(
        options.checkpoint_dir, max_to_keep=training_config.max_checkpoints_to_keep
    )
    manager.remove_partial_saves()
    _initialise(model, manager, options)
    return model, manager


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
        path = _save(manager, model, step, flag)
        if stop.requested:
            print(f"SIGTERM received at global step {step}: saved {path}; exiting", flush=True)
        else:
            print(f"Saved checkpoint {path} at global step {step}", flush=True)


def _stopped_before_training(step: int | None) -> None:
    at = "" if step is None else f" (global step {step})"
    print(f"SIGTERM received before training started{at}: nothing to save; exiting", flush=True)


def _save(
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


def _initialise(model: ShowAndTellModel, manager, options: TrainOptions) -> None:
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
