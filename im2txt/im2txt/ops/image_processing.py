"""Image decoding and preprocessing for Show and Tell, following upstream im2txt.

Training images are resized, randomly cropped, randomly flipped and colour
distorted in one of two orders; evaluation images are resized and centrally
cropped. Every random op is stateless and driven by an explicit `[2]` seed, so a
trainer run with a fixed `--seed` sees exactly the same pixels every time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

_DECODERS: dict[str, Callable[..., tf.Tensor]] = {
    "jpeg": tf.io.decode_jpeg,
    "png": tf.io.decode_png,
}

# Upstream's colour distortion ranges.
_BRIGHTNESS_MAX_DELTA = 32.0 / 255.0
_SATURATION_RANGE = (0.5, 1.5)
_HUE_MAX_DELTA = 0.032
_CONTRAST_RANGE = (0.5, 1.5)


def _decoder_for(image_format: str) -> Callable[..., tf.Tensor]:
    """Fail at pipeline-build time, not on the first element, for an unknown format."""
    try:
        return _DECODERS[image_format]
    except KeyError:
        raise ValueError(
            f"Invalid image format: {image_format!r} (expected one of {sorted(_DECODERS)})"
        ) from None


def decode_image(
    encoded_image: tf.Tensor | bytes, image_format: str = "jpeg", source: str | None = None
) -> tf.Tensor:
    """Decode an encoded image to uint8 [H, W, 3] so grey and RGBA inputs look alike.

    Undecodable bytes raise `tf.errors.InvalidArgumentError`: inside a tf.data
    graph the iterator raises it and the caller adds the context. Called eagerly
    with `source` (e.g. "train-00003-of-00256 record 17"), the re-raised error
    names that source, which is how the trainer reports the bad record.
    """
    decoder = _decoder_for(image_format)
    if source is None or not tf.executing_eagerly():
        return decoder(encoded_image, channels=3)
    try:
        return decoder(encoded_image, channels=3)
    except tf.errors.InvalidArgumentError as err:
        raise tf.errors.InvalidArgumentError(
            err.node_def, err.op, f"Cannot decode {image_format} image in {source}: {err.message}"
        ) from err


def _distort_colours(image: tf.Tensor, order: int, seeds: tf.Tensor) -> tf.Tensor:
    """Apply upstream's brightness/saturation/hue/contrast jitter in order 0 or 1."""
    ops = {
        "brightness": lambda x: tf.image.stateless_random_brightness(
            x, _BRIGHTNESS_MAX_DELTA, seed=seeds[0]
        ),
        "saturation": lambda x: tf.image.stateless_random_saturation(
            x, *_SATURATION_RANGE, seed=seeds[1]
        ),
        "hue": lambda x: tf.image.stateless_random_hue(x, _HUE_MAX_DELTA, seed=seeds[2]),
        "contrast": lambda x: tf.image.stateless_random_contrast(
            x, *_CONTRAST_RANGE, seed=seeds[3]
        ),
    }
    names = (
        ("brightness", "saturation", "hue", "contrast")
        if order == 0
        else ("brightness", "contrast", "saturation", "hue")
    )
    for name in names:
        image = ops[name](image)
    return image


def _distort(
    image: tf.Tensor, height: int, width: int, distortion_order: int | tf.Tensor, seed: tf.Tensor
) -> tf.Tensor:
    """Random crop, flip and colour jitter of one training image, all from `seed`."""
    crop_seed, flip_seed, *colour_seeds = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=6)
    )
    colour_seeds = tf.stack(colour_seeds)
    image = tf.image.stateless_random_crop(image, [height, width, 3], seed=crop_seed)
    image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    if isinstance(distortion_order, int):
        return _distort_colours(image, distortion_order % 2, colour_seeds)
    return tf.cond(
        tf.equal(tf.math.floormod(distortion_order, 2), 0),
        lambda: _distort_colours(image, 0, colour_seeds),
        lambda: _distort_colours(image, 1, colour_seeds),
    )


def process_image(
    encoded_image: tf.Tensor | bytes,
    is_training: bool,
    height: int,
    width: int,
    resize_height: int = 346,
    resize_width: int = 346,
    distortion_order: int | tf.Tensor = 0,
    image_format: str = "jpeg",
    seed: tf.Tensor | Sequence[int] | None = None,
) -> tf.Tensor:
    """Turn encoded image bytes into the [height, width, 3] float32 input in [-1, 1].

    Args:
      encoded_image: scalar string tensor of JPEG (or PNG) bytes.
      is_training: random crop, flip and colour distortion when True, else a
        central crop.
      height, width: output size (Inception v3 wants 299 x 299).
      resize_height, resize_width: size the image is resized to (bilinear) before
        cropping; both 0 skips the resize.
      distortion_order: int or int tensor whose parity picks the colour
        distortion order, as upstream alternated it across preprocessing threads.
      image_format: "jpeg" or "png"; anything else raises ValueError.
      seed: shape [2] integer seed of the stateless random ops (training only); the
        caller derives it per element. None draws a fresh one (not reproducible).

    Undecodable bytes surface as `tf.errors.InvalidArgumentError` (see decode_image).
    """
    if (resize_height > 0) != (resize_width > 0):
        raise ValueError(
            f"resize_height ({resize_height}) and resize_width ({resize_width}) must both be "
            "positive or both be 0"
        )
    if is_training and resize_height > 0 and (height > resize_height or width > resize_width):
        raise ValueError(
            f"Cannot crop {height}x{width} out of an image resized to "
            f"{resize_height}x{resize_width}"
        )

    image = tf.image.convert_image_dtype(decode_image(encoded_image, image_format), tf.float32)
    if resize_height > 0:
        image = tf.image.resize(image, [resize_height, resize_width], method="bilinear")

    if is_training:
        if seed is None:
            seed = tf.random.uniform([2], maxval=tf.int32.max, dtype=tf.int32)
        image = _distort(image, height, width, distortion_order, tf.convert_to_tensor(seed))
    else:
        image = tf.image.resize_with_crop_or_pad(image, height, width)

    # Colour jitter (and bilinear rounding) can leave [0, 1]; upstream clipped here.
    image = tf.clip_by_value(image, 0.0, 1.0)
    return (image - 0.5) * 2.0
