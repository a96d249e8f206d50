"""The training loop behind train.py, kept importable so tests can drive it.

Holds what upstream delegated to slim.learning.train: the learning-rate
schedule, gradient clipping and SGD, periodic logging and checkpointing,
resuming, and the failure rules a week-long platform job needs (stop on a
non-finite loss without saving it, save and exit on SIGTERM).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import time

import tensorflow as tf
from absl import logging

from im2txt import checkpointing
from im2txt.configuration import ModelConfig, TrainingConfig
from im2txt.ops import inputs
from im2txt.show_and_tell_model import ShowAndTellModel

METRICS_FILE = "metrics.jsonl"


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
    train_inception: bool = False
    log_every_n_steps: int = 1
    save_checkpoint_steps: int = 0
    save_checkpoint_secs: float = 600.0
    num_gpus: int = 0
    mixed_precision: bool = False
    seed: int | None = None
    deterministic: bool = False


def learning_rate(config: TrainingConfig, batch_size: int, train_inception: bool, step):
    """Upstream's schedule: constant when Inception trains, else staircase decay."""
    if train_inception:
        return tf.constant(config.train_inception_learning_rate, tf.float32)
    rate = tf.constant(config.initial_learning_rate, tf.float32)
    if config.learning_rate_decay_factor > 0:
        halvings = tf.math.floordiv(step, config.decay_steps(batch_size))
        rate = rate * tf.pow(config.learning_rate_decay_factor, tf.cast(halvings, tf.float32))
    return rate


def ensure_writable(directory: str, what: str) -> None:
    """Create `directory` and prove a file can be written there, or fail naming it."""
    try:
        os.makedirs(directory, exist_ok=True)
        probe = os.path.join(directory, f".write-probe-{os.getpid()}")
        with open(probe, "w") as handle:
            handle.write("ok")
        os.unlink(probe)
    except OSError as err:
        raise TrainingError(f"{what} {directory} is not writable: {err}") from err


def _make_strategy(num_gpus: int) -> tf.distribute.Strategy:
    if num_gpus <= 0:
        return tf.distribute.get_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) < num_gpus:
        raise TrainingError(f"--num_gpus={num_gpus} but only {len(gpus)} GPU(s) are visible")
    return tf.distribute.MirroredStrategy([d.name for d in gpus[:num_gpus]])


def _mean_aggregation(next_creator, **kwargs):
    """Let replicas update batch-norm statistics under MirroredStrategy."""
    if kwargs.get("dtype") in (None, tf.float32, tf.float16):
        kwargs.setdefault("aggregation", tf.VariableAggregation.MEAN)
    return next_creator(**kwargs)


class _StopRequest:
    """Turns SIGTERM (the platform's stop) into a flag the loop checks per step."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def restore(self) -> None:
        signal.signal(signal.SIGTERM, self._previous)


class MetricsLog:
    """Step lines on stdout, JSON lines in log_dir, and TensorBoard scalars."""

    def __init__(self, log_dir: str) -> None:
        self.path = os.path.join(log_dir, METRICS_FILE)
        self._writer = tf.summary.create_file_writer(log_dir)

    def write(self, step: int, loss: float, rate: float, sec_per_step: float, batch: int) -> None:
        print(f"global step {step}: loss = {loss:.4f} ({sec_per_step:.3f} sec/step)", flush=True)
        record = {
            "step": step,
            "loss": loss,
            "learning_rate": rate,
            "sec_per_step": sec_per_step,
            "images_per_sec": batch / sec_per_step if sec_per_step > 0 else None,
        }
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        with self._writer.as_default(step=step):
            tf.summary.scalar("losses/batch_loss", loss)
            tf.summary.scalar("learning_rate", rate)
            tf.summary.scalar("global_step/sec", 1.0 / sec_per_step if sec_per_step > 0 else 0.0)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def train(options: TrainOptions, model_config: ModelConfig, training_config: TrainingConfig) -> int:
    """Train until the global step reaches `options.target_step`; return the final step."""
    if options.seed is not None:
        tf.keras.utils.set_random_seed(options.seed)
    if options.deterministic:
        tf.config.experimental.enable_op_determinism()
    ensure_writable(options.output_dir, "output_dir")
    ensure_writable(options.log_dir, "log_dir")
    if options.mixed_precision and options.num_gpus < 1:
        raise TrainingError("--mixed_precision needs --num_gpus >= 1 (it only helps on GPUs)")

    strategy = _make_strategy(options.num_gpus)
    replicas = strategy.num_replicas_in_sync
    if model_config.batch_size % replicas:
        raise TrainingError(
            f"--batch_size={model_config.batch_size} does not split over {replicas} GPUs"
        )
    with strategy.scope(), tf.variable_creator_scope(_mean_aggregation):
        model = ShowAndTellModel(
            model_config,
            train_inception=options.train_inception,
            image_compute_dtype=tf.float16 if options.mixed_precision else None,
        )
    manager = checkpointing.CheckpointManager(
        options.output_dir, max_to_keep=training_config.max_checkpoints_to_keep
    )
    manager.remove_partial_saves()
    _initialise(model, manager, options)

    start_step = int(model.global_step.numpy())
    if start_step >= options.target_step:
        print(
            f"Global step {start_step} already reaches the target {options.target_step}; "
            "nothing to train",
            flush=True,
        )
        return start_step

    dataset = inputs.build_dataset(
        options.file_patterns, model_config, is_training=True, seed=options.seed
    )
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    train_step = _make_train_step(model, strategy, model_config, training_config, options)

    metrics = MetricsLog(options.log_dir)
    stop = _StopRequest()
    last_save_time, last_saved_step = time.monotonic(), start_step
    step = start_step
    try:
        while step < options.target_step:
            started = time.perf_counter()
            try:
                batch = next(iterator)
            except tf.errors.OpError as err:
                raise TrainingError(
                    _describe_input_error(err, options, model_config, step)
                ) from err
            loss, rate = train_step(batch)
            loss = float(loss)
            elapsed = time.perf_counter() - started
            if not math.isfinite(loss):
                latest = manager.latest()
                raise TrainingError(
                    f"loss became {loss} at global step {step + 1}; stopping without saving it. "
                    f"Last good checkpoint: {latest or 'none'}"
                )
            step = int(model.global_step.numpy())
            if step % options.log_every_n_steps == 0 or step == options.target_step:
                metrics.write(step, loss, float(rate), elapsed, model_config.batch_size)
            due_by_steps = (
                options.save_checkpoint_steps > 0
                and step - last_saved_step >= options.save_checkpoint_steps
            )
            due_by_time = (
                options.save_checkpoint_secs > 0
                and time.monotonic() - last_save_time >= options.save_checkpoint_secs
            )
            if (due_by_steps or due_by_time) and step < options.target_step:
                manager.save(model.checkpoint_variables(), step)
                last_save_time, last_saved_step = time.monotonic(), step
            if stop.requested:
                logging.warning("SIGTERM received at global step %d: saving and exiting", step)
                break
        path = manager.save(model.checkpoint_variables(), step)
        print(f"Saved checkpoint {path} at global step {step}", flush=True)
    finally:
        stop.restore()
        metrics.close()
    return step


def _describe_input_error(
    err: tf.errors.OpError, options: TrainOptions, model_config: ModelConfig, step: int
) -> str:
    """Name the record at fault: tf.data's own error only names the op."""
    where = f"input data error before global step {step + 1}"
    culprit = inputs.find_undecodable_image(options.file_patterns, model_config)
    if culprit is not None:
        return f"{where}: {culprit.message}"
    return f"{where}: {err.message}"


def _initialise(model: ShowAndTellModel, manager, options: TrainOptions) -> None:
    """Resume from output_dir when it holds a checkpoint, else load pretrained Inception."""
    latest = manager.latest()
    if latest is not None:
        try:
            checkpointing.restore_variables(latest, model.checkpoint_variables())
        except checkpointing.CheckpointError as err:
            raise TrainingError(
                f"cannot resume from {latest} in output_dir (a different model "
                f"configuration?): {err}"
            ) from err
        print(f"Resuming from {latest} at global step {int(model.global_step.numpy())}", flush=True)
        return
    if not options.inception_checkpoint:
        raise TrainingError(
            "--inception_checkpoint_file is required for a fresh run "
            "(output_dir holds no checkpoint to resume from)"
        )
    try:
        count = checkpointing.restore_variables(
            options.inception_checkpoint, model.inception.variables_by_name()
        )
    except checkpointing.CheckpointError as err:
        raise TrainingError(f"cannot restore Inception v3: {err}") from err
    print(f"Restored {count} Inception variables from {options.inception_checkpoint}", flush=True)


def _make_train_step(model, strategy, model_config, training_config, options):
    """One SGD step across replicas: mean masked loss, global-norm clip, update."""
    variables = model.variables_to_train()
    replicas = strategy.num_replicas_in_sync

    # Dropout masks depend only on (seed, global step, replica): reruns and resumes repeat.
    base_seed = options.seed if options.seed is not None else int.from_bytes(os.urandom(4), "big")

    def replica_gradients(batch):
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        seed = tf.stack([tf.constant(base_seed, tf.int64), model.global_step])
        seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(replica, tf.int64))
        with tf.GradientTape() as tape:
            loss = model.batch_loss(batch, training=True, dropout_seed=seed)
            total = (loss + model.inception.regularization_loss()) / replicas
        grads = tape.gradient(total, variables)
        # A variable the loss does not reach gets no update (TF1 optimizers skipped it too).
        grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
                 for v, g in zip(variables, grads, strict=True)]
        return loss / replicas, grads

    @tf.function
    def train_step(batch):
        rate = learning_rate(
            training_config, model_config.batch_size, options.train_inception, model.global_step
        )
        per_replica_loss, per_replica_grads = strategy.run(replica_gradients, args=(batch,))
        loss = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica_loss, axis=None)
        grads = [
            strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None) for g in per_replica_grads
        ]
        if training_config.clip_gradients:
            grads, _ = tf.clip_by_global_norm(grads, training_config.clip_gradients)
        if tf.math.is_finite(loss):
            for variable, grad in zip(variables, grads, strict=True):
                variable.assign_sub(rate * grad)
            model.global_step.assign_add(1)
        return loss, rate

    return train_step
