"""The training loop behind train.py, kept importable so tests can drive it.

Holds what upstream delegated to slim.learning.train: the learning-rate
schedule, gradient clipping and SGD, periodic logging and checkpointing,
resuming, and the failure rules a week-long platform job needs: refuse bad
settings before touching any folder, name the file, record, variable or step at
fault, stop on a non-finite loss without saving it, save and exit on SIGTERM,
and never let a failed or killed save damage the checkpoints already there.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Iterator

import tensorflow as tf
from absl import logging

from im2txt import checkpointing
from im2txt.configuration import ModelConfig, TrainingConfig
from im2txt.ops import inputs
from im2txt.show_and_tell_model import ShowAndTellModel
from im2txt.stop_request import StopRequest
from im2txt.summaries import ScalarWriter

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
        for stale in tf.io.gfile.glob(os.path.join(directory, ".write-probe-*")):
            os.unlink(stale)  # Left by a job killed between writing and removing it.
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


class MetricsLog:
    """Step lines on stdout, JSON lines in log_dir, and TensorBoard scalars (if installed)."""

    def __init__(self, log_dir: str) -> None:
        self.path = os.path.join(log_dir, METRICS_FILE)
        self._scalars = ScalarWriter(log_dir, still_written=f"{METRICS_FILE} and checkpoints")

    def write(
        self,
        step: int,
        loss: float,
        rate: float,
        sec_per_step: float,
        batch: int,
        regularization: float = 0.0,
    ) -> None:
        """One logged step; `regularization` (fine-tuned Inception's weight decay) makes
        upstream's `losses/total_loss` from the captioning `losses/batch_loss`."""
        print(f"global step {step}: loss = {loss:.4f} ({sec_per_step:.3f} sec/step)", flush=True)
        record = {
            "step": step,
            "loss": loss,
            "total_loss": loss + regularization,
            "learning_rate": rate,
            "sec_per_step": sec_per_step,
            "images_per_sec": batch / sec_per_step if sec_per_step > 0 else None,
        }
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        self._scalars.write(
            step,
            {
                "losses/batch_loss": loss,
                "losses/total_loss": loss + regularization,
                "learning_rate": rate,
                "global_step/sec": 1.0 / sec_per_step if sec_per_step > 0 else 0.0,
            },
        )

    def close(self) -> None:
        self._scalars.close()


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
    if options.seed is not None:
        tf.keras.utils.set_random_seed(options.seed)
    if options.deterministic:
        tf.config.experimental.enable_op_determinism()
    if options.mixed_precision and options.num_gpus < 1:
        raise TrainingError("--mixed_precision needs --num_gpus >= 1 (it only helps on GPUs)")
    strategy = _make_strategy(options.num_gpus)
    replicas = strategy.num_replicas_in_sync
    if model_config.batch_size % replicas:
        raise TrainingError(
            f"--batch_size={model_config.batch_size} does not split over {replicas} GPUs"
        )
    try:
        inputs.resolve_files(options.file_patterns)
    except (FileNotFoundError, inputs.InputDataError) as err:
        raise TrainingError(f"--input_file_pattern: {err}") from err
    ensure_writable(options.checkpoint_dir, options.checkpoint_flag)
    ensure_writable(options.log_dir, "log_dir")

    model, manager = _build_and_initialise(options, model_config, training_config, strategy)
    start_step = int(model.global_step.numpy())
    if _nothing_to_train(start_step, options, stop):
        return start_step

    batches = _Batches(options, model_config, strategy)
    train_step = _make_train_step(model, strategy, model_config, training_config, options)
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
    with strategy.scope(), tf.variable_creator_scope(_mean_aggregation):
        model = ShowAndTellModel(
            model_config,
            train_inception=options.train_inception,
            image_compute_dtype=tf.float16 if options.mixed_precision else None,
        )
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


class _Batches:
    """The training iterator, which names the record at fault when the input fails.

    With --skip_bad_images, the first undecodable image triggers a scan for all of
    them; the pipeline is rebuilt without those images (starting its order afresh,
    as a resumed job does) and the count is reported. Any other bad record, or a
    pass over the data with no usable record, stops the job.
    """

    def __init__(
        self, options: TrainOptions, model_config: ModelConfig, strategy: tf.distribute.Strategy
    ) -> None:
        self._options = options
        self._config = model_config
        self._strategy = strategy
        self._skipped: list[inputs.BadRecord] = []
        self._dropped_reported = 0
        # A plain host variable (no strategy, no GPU) that the input pipeline counts into.
        with tf.device("/cpu:0"):
            self.dropped_captions = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._iterator = self._make_iterator()

    def _make_iterator(self) -> Iterator[dict[str, tf.Tensor]]:
        dataset = inputs.build_dataset(
            self._options.file_patterns,
            self._config,
            is_training=True,
            seed=self._options.seed,
            skip_images=[bad.image for bad in self._skipped],
            dropped_captions=self.dropped_captions,
        )
        return iter(self._strategy.experimental_distribute_dataset(dataset))

    def next(self, step: int) -> dict[str, tf.Tensor]:
        """The next batch; raises TrainingError naming the bad record or empty data."""
        while True:
            try:
                return next(self._iterator)
            except (StopIteration, tf.errors.OutOfRangeError) as err:
                raise TrainingError(
                    f"the input files ({', '.join(self._options.file_patterns)}) hold no usable "
                    f"record: {int(self.dropped_captions.numpy())} had a caption shorter than "
                    f"2 tokens and {len(self._skipped)} an undecodable image"
                ) from err
            except tf.errors.OpError as err:
                self._skip_or_raise(err, step)

    def _skip_or_raise(self, err: tf.errors.OpError, step: int) -> None:
        where = f"input data error before global step {step + 1}"
        if self._options.skip_bad_images:
            found = list(inputs.find_bad_records(self._options.file_patterns, self._config))
        else:
            found = [inputs.find_undecodable_image(self._options.file_patterns, self._config)]
        found = [bad for bad in found if bad is not None]
        fatal = [bad for bad in found if bad.image is None or not self._options.skip_bad_images]
        if fatal:
            hint = (
                "; pass --skip_bad_images to skip such images" if fatal[0].image is not None else ""
            )
            raise TrainingError(f"{where}: {fatal[0].message}{hint}") from err
        known = {bad.image for bad in self._skipped}
        new = [bad for bad in found if bad.image not in known]
        if not new:  # The scan cannot tell which record failed: report TF's own words.
            raise TrainingError(f"{where}: {inputs.tf_error_message(err)}") from err
        for bad in new:
            logging.warning("Skipping undecodable image (--skip_bad_images): %s", bad.message)
        print(
            f"Skipping {len(new)} undecodable image(s) (--skip_bad_images), first: "
            f"{new[0].message}",
            flush=True,
        )
        self._skipped.extend(new)
        self._iterator = self._make_iterator()

    def report_dropped(self) -> None:
        """Warn when more records were dropped for a caption shorter than 2 tokens."""
        dropped = int(self.dropped_captions.numpy())
        if dropped > self._dropped_reported:
            logging.warning(
                "Dropped %d records so far: caption shorter than 2 tokens (no word to predict)",
                dropped,
            )
            self._dropped_reported = dropped

    def summarise(self) -> None:
        """The end-of-job counts of what the input pipeline left out."""
        if self._skipped:
            print(
                f"Skipped {len(self._skipped)} undecodable image(s) (--skip_bad_images)",
                flush=True,
            )
        dropped = int(self.dropped_captions.numpy())
        if dropped:
            print(
                f"Dropped {dropped} records with a caption shorter than 2 tokens "
                "(counted on every pass over the data)",
                flush=True,
            )


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
        grads = [
            tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
            for v, g in zip(variables, grads, strict=True)
        ]
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
