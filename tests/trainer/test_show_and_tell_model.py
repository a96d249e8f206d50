"""The Show and Tell model (im2txt/im2txt/show_and_tell_model.py)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from im2txt.configuration import ModelConfig, TrainingConfig
from im2txt.show_and_tell_model import BasicLSTM, ShowAndTellModel


@pytest.fixture(scope="module")
def model() -> ShowAndTellModel:
    return ShowAndTellModel(ModelConfig())


def _count(variables) -> int:
    return sum(int(np.prod(v.shape)) for v in variables)


def test_parameter_counts_per_scope_equal_upstream(model: ShowAndTellModel) -> None:
    by_scope: dict[str, int] = {}
    for name, variable in model.model_variables().items():
        scope = name.split("/")[0]
        by_scope[scope] = by_scope.get(scope, 0) + int(np.prod(variable.shape))
    assert by_scope == {
        "InceptionV3": 21_802_784,
        "image_embedding": 1_048_576,
        "seq_embedding": 6_144_000,
        "lstm": 2_099_200,
        "logits": 6_156_000,
    }
    assert model.lstm.kernel.shape == (1024, 2048)
    assert model.lstm.bias.shape == (2048,)


def test_checkpoint_names_are_upstreams(model: ShowAndTellModel) -> None:
    names = set(model.checkpoint_variables())
    assert {
        "global_step",
        "image_embedding/weights",
        "seq_embedding/map",
        "lstm/basic_lstm_cell/kernel",
        "lstm/basic_lstm_cell/bias",
        "logits/weights",
        "logits/biases",
    } <= names
    assert len(names) == 376 + 7


def test_frozen_inception_is_not_trained(model: ShowAndTellModel) -> None:
    assert _count(model.variables_to_train()) == 1_048_576 + 6_144_000 + 2_099_200 + 6_156_000
    tuned = ShowAndTellModel(ModelConfig(vocab_size=10), train_inception=True)
    inception_trainable = [v for v in tuned.inception.variables_by_name().values() if v.trainable]
    assert len(tuned.variables_to_train()) == 6 + len(inception_trainable) == 6 + 188


def test_defaults_match_upstream() -> None:
    config, training = ModelConfig(), TrainingConfig()
    assert (config.image_format, config.values_per_input_shard, config.vocab_size) == (
        "jpeg",
        2300,
        12000,
    )
    assert (config.batch_size, config.image_height, config.image_width) == (32, 299, 299)
    assert (config.initializer_scale, config.embedding_size, config.num_lstm_units) == (
        0.08,
        512,
        512,
    )
    assert config.lstm_dropout_keep_prob == 0.7
    assert (training.num_examples_per_epoch, training.optimizer) == (586363, "SGD")
    assert (training.initial_learning_rate, training.learning_rate_decay_factor) == (2.0, 0.5)
    assert training.decay_steps(32) == 146590
    assert (training.train_inception_learning_rate, training.clip_gradients) == (0.0005, 5.0)
    assert training.max_checkpoints_to_keep == 5


def test_lstm_step_is_tf1_basic_lstm_cell_math() -> None:
    rng = np.random.default_rng(0)
    cell = BasicLSTM(3, 2, lambda shape: tf.constant(rng.normal(size=shape), tf.float32))
    cell.bias.assign(rng.normal(size=8).astype(np.float32))
    x = rng.normal(size=(1, 3)).astype(np.float32)
    c = rng.normal(size=(1, 2)).astype(np.float32)
    h = rng.normal(size=(1, 2)).astype(np.float32)
    output, (new_c, new_h) = cell(x, (c, h))

    def sigmoid(v):
        return 1 / (1 + np.exp(-v))

    gates = np.concatenate([x, h], 1) @ cell.kernel.numpy() + cell.bias.numpy()
    i, j, f, o = np.split(gates, 4, axis=1)
    expected_c = c * sigmoid(f + 1.0) + sigmoid(i) * np.tanh(j)
    expected_h = np.tanh(expected_c) * sigmoid(o)
    np.testing.assert_allclose(new_c, expected_c, rtol=1e-5)
    np.testing.assert_allclose(new_h, expected_h, rtol=1e-5)
    np.testing.assert_array_equal(output, new_h)


def _small_model() -> ShowAndTellModel:
    tf.random.set_seed(1)
    config = ModelConfig(vocab_size=20, embedding_size=8, num_lstm_units=8)
    return ShowAndTellModel(config)


def test_loss_is_averaged_over_the_mask_only() -> None:
    model = _small_model()
    images = tf.random.uniform([2, 75, 75, 3], -1, 1, seed=2)
    batch = {
        "images": images,
        "input_seqs": tf.constant([[1, 4, 5], [1, 6, 0]], tf.int64),
        "target_seqs": tf.constant([[4, 5, 2], [6, 2, 0]], tf.int64),
        "input_mask": tf.constant([[1, 1, 1], [1, 1, 0]], tf.int32),
    }
    token_losses, weights = model.losses(batch, training=False)
    expected = float(tf.reduce_sum(token_losses * weights) / 5.0)
    assert float(model.batch_loss(batch, training=False)) == pytest.approx(expected)
    # Padding content never changes the loss.
    padded = dict(
        batch,
        input_seqs=tf.constant([[1, 4, 5], [1, 6, 9]], tf.int64),
        target_seqs=tf.constant([[4, 5, 2], [6, 2, 7]], tf.int64),
    )
    assert float(model.batch_loss(padded, training=False)) == pytest.approx(expected)


def test_inference_steps_reproduce_the_training_logits() -> None:
    """The image fed at step -1 primes the state; step() continues it word by word."""
    model = _small_model()
    images = tf.random.uniform([1, 75, 75, 3], -1, 1, seed=3)
    words = tf.constant([[1, 4, 5]], tf.int64)
    logits = model.sequence_logits(model.embed_images(images, False), words, training=False)
    state = model.initial_state(images)
    for t in range(3):
        softmax, state = model.step(words[:, t], state)
        np.testing.assert_allclose(softmax, tf.nn.softmax(logits[:, t]), rtol=1e-4, atol=1e-6)


def test_dropout_only_in_training() -> None:
    model = _small_model()
    embeddings = tf.random.normal([2, 8], seed=4)
    words = tf.constant([[1, 4], [1, 5]], tf.int64)
    first = model.sequence_logits(embeddings, words, training=False)
    np.testing.assert_array_equal(first, model.sequence_logits(embeddings, words, False))
    assert not np.allclose(first, model.sequence_logits(embeddings, words, training=True))
