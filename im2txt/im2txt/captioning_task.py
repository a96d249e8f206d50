"""What is trained, apart from how the loop runs it: the Show and Tell model and its step.

Upstream handed these to slim.learning.train; here they stay free of the loop's
schedule, checkpoints and process layout, so the local loop and the cluster's
chief build and step the same model the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import tensorflow as tf

from im2txt.configuration import ModelConfig, TrainingConfig
from im2txt.show_and_tell_model import ShowAndTellModel
from im2txt.train_options import TrainOptions

TrainStep = Callable[[dict[str, tf.Tensor]], tuple[tf.Tensor, tf.Tensor]]


def learning_rate(
    config: TrainingConfig, batch_size: int, train_inception: bool, step: tf.Variable
) -> tf.Tensor:
    """Upstream's schedule: constant when Inception trains, else staircase decay."""
    if train_inception:
        return tf.constant(config.train_inception_learning_rate, tf.float32)
    rate = tf.constant(config.initial_learning_rate, tf.float32)
    if config.learning_rate_decay_factor > 0:
        halvings = tf.math.floordiv(step, config.decay_steps(batch_size))
        rate = rate * tf.pow(config.learning_rate_decay_factor, tf.cast(halvings, tf.float32))
    return rate


def build_model(
    options: TrainOptions, model_config: ModelConfig, strategy: tf.distribute.Strategy
) -> ShowAndTellModel:
    """The model's variables, placed by `strategy` (replicas, or the cluster's ps tasks)."""
    with strategy.scope(), tf.variable_creator_scope(_mean_aggregation):
        return ShowAndTellModel(
            model_config,
            train_inception=options.train_inception,
            image_compute_dtype=tf.float16 if options.mixed_precision else None,
        )


def _mean_aggregation(next_creator, **kwargs):
    """Let replicas update batch-norm statistics under MirroredStrategy."""
    if kwargs.get("dtype") in (None, tf.float32, tf.float16):
        kwargs.setdefault("aggregation", tf.VariableAggregation.MEAN)
    return next_creator(**kwargs)


def make_train_step(
    model: ShowAndTellModel,
    strategy: tf.distribute.Strategy,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    options: TrainOptions,
) -> TrainStep:
    """One SGD step across replicas: mean masked loss, global-norm clip, update.

    The step returns (loss, learning rate) and applies nothing when the loss is not
    finite, so the loop can stop without saving the damage.
    """
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
