"""Tests of im2txt.ops.image_processing: decode, resize, crop, distort, scale."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from im2txt.ops import image_processing

HEIGHT, WIDTH = 20, 24
RESIZE = {"resize_height": 30, "resize_width": 32}


def _encode(array: np.ndarray, image_format: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, image_format)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def jpeg(noise: np.ndarray) -> bytes:
    return _encode(noise)


def _process(encoded: bytes, is_training: bool, **kwargs) -> np.ndarray:
    return image_processing.process_image(
        encoded, is_training, HEIGHT, WIDTH, **{**RESIZE, **kwargs}
    ).numpy()


def _check_range_and_shape(image: np.ndarray) -> None:
    assert image.shape == (HEIGHT, WIDTH, 3)
    assert image.dtype == np.float32
    assert image.min() >= -1.0 and image.max() <= 1.0


def test_eval_output_shape_and_range(jpeg: bytes) -> None:
    image = _process(jpeg, is_training=False)
    _check_range_and_shape(image)
    # Eval is deterministic and ignores any seed.
    np.testing.assert_array_equal(image, _process(jpeg, is_training=False, seed=[3, 4]))


@pytest.mark.parametrize("order", [0, 1, tf.constant(0), tf.constant(3, tf.int64)])
def test_train_output_shape_and_range(jpeg: bytes, order) -> None:
    _check_range_and_shape(_process(jpeg, True, distortion_order=order, seed=[1, 2]))


@pytest.mark.parametrize(("value", "expected"), [(255, 1.0), (0, -1.0)])
def test_eval_scales_to_minus_one_one(value: int, expected: float) -> None:
    solid = _encode(np.full((30, 30, 3), value, dtype=np.uint8))
    np.testing.assert_allclose(_process(solid, False), expected, atol=1e-5)


def test_eval_is_central_crop_of_resized_image(noise: np.ndarray) -> None:
    encoded = _encode(noise, "PNG")  # Lossless, so the reference sees the same pixels.
    resized = tf.image.resize(noise.astype(np.float32) / 255.0, [30, 32]).numpy()
    top, left = (30 - HEIGHT) // 2, (32 - WIDTH) // 2
    expected = (np.clip(resized[top : top + HEIGHT, left : left + WIDTH], 0, 1) - 0.5) * 2
    actual = _process(encoded, False, image_format="png")
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_png_option_decodes_png(noise: np.ndarray) -> None:
    png = _encode(noise, "PNG")
    _check_range_and_shape(_process(png, False, image_format="png"))
    _check_range_and_shape(_process(png, True, image_format="png", seed=[0, 0]))


def test_grayscale_becomes_three_channels() -> None:
    grey = _encode(np.full((30, 30), 128, dtype=np.uint8))
    _check_range_and_shape(_process(grey, False))


def test_bad_format_is_value_error_naming_it(jpeg: bytes) -> None:
    with pytest.raises(ValueError, match="gif"):
        _process(jpeg, False, image_format="gif")


def test_crop_larger_than_resize_is_value_error(jpeg: bytes) -> None:
    with pytest.raises(ValueError, match="crop"):
        image_processing.process_image(jpeg, True, 40, 40, resize_height=30, resize_width=30)


def test_undecodable_bytes_raise_invalid_argument() -> None:
    with pytest.raises(tf.errors.InvalidArgumentError):
        _process(b"not a jpeg", False)
    dataset = tf.data.Dataset.from_tensors(tf.constant(b"\xff\xd8 truncated")).map(
        lambda data: image_processing.process_image(data, True, HEIGHT, WIDTH, seed=[1, 1])
    )
    with pytest.raises(tf.errors.InvalidArgumentError):
        list(dataset)


def test_decode_image_error_names_source() -> None:
    with pytest.raises(tf.errors.InvalidArgumentError, match="train-00001-of-00002 record 7"):
        image_processing.decode_image(b"junk", "jpeg", source="train-00001-of-00002 record 7")


def test_training_is_reproducible_from_seed(jpeg: bytes) -> None:
    first = _process(jpeg, True, seed=[7, 11])
    np.testing.assert_array_equal(first, _process(jpeg, True, seed=[7, 11]))
    assert not np.array_equal(first, _process(jpeg, True, seed=[7, 12]))


def test_distortion_order_uses_parity(jpeg: bytes) -> None:
    order0 = _process(jpeg, True, seed=[5, 5], distortion_order=0)
    order1 = _process(jpeg, True, seed=[5, 5], distortion_order=1)
    assert not np.array_equal(order0, order1)
    np.testing.assert_array_equal(
        order0, _process(jpeg, True, seed=[5, 5], distortion_order=tf.constant(2))
    )
    np.testing.assert_array_equal(
        order1, _process(jpeg, True, seed=[5, 5], distortion_order=tf.constant(-1, tf.int64))
    )


def test_graph_mode_gives_static_shape(jpeg: bytes) -> None:
    @tf.function(input_signature=[tf.TensorSpec([], tf.string), tf.TensorSpec([2], tf.int64)])
    def train(encoded: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        image = image_processing.process_image(
            encoded, True, HEIGHT, WIDTH, distortion_order=seed[1], seed=seed, **RESIZE
        )
        assert image.shape.as_list() == [HEIGHT, WIDTH, 3]
        return image

    seed = tf.constant([1, 2], tf.int64)
    np.testing.assert_array_equal(train(jpeg, seed), _process(jpeg, True, seed=seed))
