"""InceptionV3: slim checkpoint names and shapes, output shape, batch-norm modes, decay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from im2txt.ops import image_embedding
from im2txt.ops.image_embedding import InceptionV3

MANIFEST = Path(__file__).parents[3] / "fixtures" / "inception_v3_2016_08_28.manifest.json"
EXPECTED_VALUES = 21_802_784


def _images(batch: int, size: int, seed: int = 0) -> tf.Tensor:
    return tf.random.stateless_uniform([batch, size, size, 3], [seed, 1], -1.0, 1.0)


def _moving_stats(model: InceptionV3) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in model.variables_by_name().items() if "/moving_" in k}


@pytest.fixture(scope="module")
def frozen() -> InceptionV3:
    return InceptionV3(trainable=False)


@pytest.fixture(scope="module")
def trainable() -> InceptionV3:
    return InceptionV3(trainable=True)


def test_variables_are_the_checkpoint_base_variables(frozen: InceptionV3) -> None:
    manifest = json.loads(MANIFEST.read_text())["variables"]
    expected = {
        name: shape
        for name, shape in manifest.items()
        if not name.startswith(("InceptionV3/AuxLogits/", "InceptionV3/Logits/"))
    }
    variables = frozen.variables_by_name()
    assert {name: list(v.shape) for name, v in variables.items()} == expected
    assert len(variables) == 376
    assert sum(int(np.prod(v.shape)) for v in variables.values()) == EXPECTED_VALUES
    assert all(v.name == f"{name}:0" for name, v in variables.items())
    assert len(frozen.variables) == 376


@pytest.mark.parametrize(("batch", "size"), [(1, 299), (2, 139)])
def test_output_is_batch_by_2048(frozen: InceptionV3, batch: int, size: int) -> None:
    out = frozen(_images(batch, size), training=False)
    assert out.shape == (batch, 2048)
    assert out.dtype == tf.float32


def test_smallest_input_is_75(frozen: InceptionV3) -> None:
    assert frozen(_images(1, 75), training=False).shape == (1, 2048)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
        frozen(_images(1, 74), training=False)


def test_frozen_never_trains(frozen: InceptionV3) -> None:
    assert frozen.trainable_variables == ()
    assert not any(v.trainable for v in frozen.variables_by_name().values())
    before = _moving_stats(frozen)
    images = _images(2, 75)
    out = frozen(images, training=True)
    for name, value in _moving_stats(frozen).items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    # Inference mode and no dropout, whatever `training` says.
    np.testing.assert_array_equal(out, frozen(images, training=False))
    assert float(frozen.regularization_loss()) == 0.0


def test_trainable_updates_moving_stats_and_decays_weights(trainable: InceptionV3) -> None:
    variables = trainable.variables_by_name()
    trainable_names = {name for name, v in variables.items() if v.trainable}
    assert trainable_names == {
        name for name in variables if name.endswith(("/weights", "/BatchNorm/beta"))
    }
    assert len(trainable.trainable_variables) == 188

    images = _images(2, 75, seed=1)
    before = _moving_stats(trainable)
    trainable(images, training=False)
    for name, value in _moving_stats(trainable).items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)

    trainable(images, training=True)
    after = _moving_stats(trainable)
    assert all(not np.array_equal(after[name], before[name]) for name in before)
    # The first layer's update is slim's: mean <- mean - (1 - 0.9997) * (mean - batch_mean).
    conv = tf.nn.conv2d(
        images, variables["InceptionV3/Conv2d_1a_3x3/weights"], strides=2, padding="VALID"
    )
    name = "InceptionV3/Conv2d_1a_3x3/BatchNorm/moving_mean"
    batch_mean = tf.reduce_mean(conv, axis=[0, 1, 2]).numpy()
    expected = before[name] - 0.0003 * (before[name] - batch_mean)
    np.testing.assert_allclose(after[name], expected, rtol=1e-5, atol=1e-7)

    weights = [v for name, v in variables.items() if name.endswith("/weights")]
    l2 = sum(float(tf.reduce_sum(w**2)) / 2 for w in weights)
    np.testing.assert_allclose(float(trainable.regularization_loss()), 0.00004 * l2, rtol=1e-4)
    assert float(trainable.regularization_loss()) > 0.0


def test_conv_bn_layer_arithmetic() -> None:
    """conv (no bias) -> (x - mean) / sqrt(var + 0.001) + beta (no gamma) -> ReLU."""
    layer = image_embedding._ConvBN(
        "S/Conv", 3, 4, (3, 3), 1, "SAME", trainable=True, dtype=tf.float32
    )
    layer.beta.assign([0.5, -0.5, 0.0, 1.0])
    layer.moving_mean.assign([0.1, 0.2, -0.3, 0.0])
    layer.moving_variance.assign([0.5, 2.0, 1.0, 4.0])
    x = _images(2, 5)
    conv = tf.nn.conv2d(x, layer.weights, strides=1, padding="SAME").numpy()

    expected = np.maximum(
        (conv - layer.moving_mean.numpy()) / np.sqrt(layer.moving_variance.numpy() + 0.001)
        + layer.beta.numpy(),
        0.0,
    )
    np.testing.assert_allclose(layer(x, batch_stats=False), expected, rtol=1e-5, atol=1e-5)

    mean, var = conv.mean(axis=(0, 1, 2)), conv.var(axis=(0, 1, 2))
    expected = np.maximum((conv - mean) / np.sqrt(var + 0.001) + layer.beta.numpy(), 0.0)
    np.testing.assert_allclose(layer(x, batch_stats=True), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        layer.moving_variance,
        [0.5, 2.0, 1.0, 4.0] - 0.0003 * ([0.5, 2.0, 1.0, 4.0] - var),
        rtol=1e-6,
    )


def test_works_in_tf_function_with_unknown_spatial_size(frozen: InceptionV3) -> None:
    embed = tf.function(
        lambda images: frozen(images, training=False),
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
        autograph=False,
    )
    images = _images(1, 107)
    np.testing.assert_allclose(embed(images), frozen(images, training=False), atol=1e-4)


def test_he_scaled_synthetic_weights_give_finite_features() -> None:
    """The harness's synthetic checkpoint: He-scaled weights, beta 0, mean 0, variance 1."""
    model = InceptionV3(trainable=False)
    rng = np.random.default_rng(0)
    for name, var in model.variables_by_name().items():
        if name.endswith("/weights"):
            fan_in = int(np.prod(var.shape[:3]))
            var.assign(rng.normal(0.0, np.sqrt(2.0 / fan_in), var.shape).astype(np.float32))
    out = model(_images(2, 299, seed=3), training=False).numpy()
    assert np.isfinite(out).all()
    assert np.abs(out).max() > 0.0


def test_float16_compute_keeps_float32_variables_and_output() -> None:
    model = image_embedding.InceptionV3(trainable=False, compute_dtype=tf.float16)
    reference = image_embedding.InceptionV3(trainable=False)
    rng = np.random.default_rng(0)
    for name, variable in model.variables_by_name().items():
        if name.endswith("/weights"):  # He scaling keeps activations O(1), as real weights do
            fan_in = np.prod(variable.shape[:3])
            value = rng.normal(size=variable.shape) * np.sqrt(2.0 / fan_in)
            variable.assign(value.astype(np.float32))
        reference.variables_by_name()[name].assign(variable)
    images = tf.random.uniform([1, 75, 75, 3], -1.0, 1.0, seed=3)
    features = model(images, training=False)
    assert features.dtype == tf.float32
    assert all(v.dtype == tf.float32 for v in model.variables_by_name().values())
    np.testing.assert_allclose(features, reference(images, training=False), rtol=0.05, atol=0.05)
