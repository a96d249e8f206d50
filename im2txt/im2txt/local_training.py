"""Single-node training: the loop's steps run one at a time in this process.

Variables live on the CPU, or are mirrored over --num_gpus GPUs
(MirroredStrategy), and each step is one --batch_size batch split over them.
"""

from __future__ import annotations

import tensorflow as tf

from im2txt import training
from im2txt.captioning_task import TrainStep
from im2txt.configuration import ModelConfig, TrainingConfig
from im2txt.ops import inputs
from im2txt.show_and_tell_model import ShowAndTellModel
from im2txt.stop_request import StopRequest
from im2txt.train_options import (
    TrainingError,
    TrainOptions,
    check_mixed_precision,
    resolve_input_files,
    seed_tensorflow,
)
from im2txt.training_inputs import Batches


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
    job = training.TrainingJob(options, model_config, training_config, stop)
    return training.run(job, LocalTraining())


class LocalTraining:
    """The TrainingVariant of one process: variables here, steps run as they are asked for."""

    def __init__(self) -> None:
        self._strategy: tf.distribute.Strategy | None = None

    def check(self, job: training.TrainingJob) -> None:
        """Seed, then refuse GPU settings this machine cannot meet or inputs that are missing."""
        seed_tensorflow(job.options)
        check_mixed_precision(job.options)
        self._strategy = _make_strategy(job.options.num_gpus)
        replicas = self._strategy.num_replicas_in_sync
        batch_size = job.model_config.batch_size
        if batch_size % replicas:
            raise TrainingError(f"--batch_size={batch_size} does not split over {replicas} GPUs")
        resolve_input_files(job.options)

    def strategy(self) -> tf.distribute.Strategy:
        """The strategy that check() chose for --num_gpus."""
        assert self._strategy is not None, "check() chooses the strategy"
        return self._strategy

    def step_runner(
        self, job: training.TrainingJob, model: ShowAndTellModel, train_step: TrainStep
    ) -> training.StepRunner:
        """Steps run one by one on the batches of one input pipeline."""
        batches = Batches(job.options, job.model_config, self.strategy())
        return _LocalSteps(model, train_step, batches, job.stop)


def _make_strategy(num_gpus: int) -> tf.distribute.Strategy:
    """The default strategy without GPUs, else a mirror over the first `num_gpus` of them."""
    if num_gpus <= 0:
        return tf.distribute.get_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) < num_gpus:
        raise TrainingError(f"--num_gpus={num_gpus} but only {len(gpus)} GPU(s) are visible")
    return tf.distribute.MirroredStrategy([d.name for d in gpus[:num_gpus]])


class _LocalSteps:
    """Steps run synchronously, each on the next batch, so each has its own duration."""

    overlapping_steps = False

    def __init__(
        self, model: ShowAndTellModel, train_step: TrainStep, batches: Batches, stop: StopRequest
    ) -> None:
        self._model = model
        self._train_step = train_step
        self._stop = stop
        self.batches = batches
        self.step = int(model.global_step.numpy())

    def next(self, until: int) -> tuple[float, float] | None:
        """(loss, learning rate) of one step; None when SIGTERM came while reading its batch."""
        batch = self.batches.next(self.step)
        if self._stop.requested:
            return None
        try:
            loss, rate = self._train_step(batch)
            loss = float(loss)
        except tf.errors.OpError as err:
            raise TrainingError(
                f"training step {self.step + 1} failed: {inputs.tf_error_message(err)}"
            ) from err
        self.step += 1
        return loss, float(rate)

    def drain(self) -> int:
        """Nothing runs in the background here: the global step is the one to save."""
        self.step = int(self._model.global_step.numpy())
        return self.step
