"""Inception v3 image features as a TF2 module that loads the TF-slim checkpoint by name.

This is the network of TF-slim's `inception_v3_base` (up to `Mixed_7c`) as im2txt
configures it: every convolution has no bias and is followed by batch norm without
gamma (epsilon 0.001, moving-average decay 0.9997) and ReLU; the final feature map is
average-pooled over its whole spatial extent, dropped out (keep 0.8) while Inception
trains, and flattened to [B, 2048]. Variables carry slim's names
(`InceptionV3/Mixed_5b/Branch_1/Conv2d_0b_5x5/weights`, ...) so the public
`inception_v3_2016_08_28` checkpoint restores into `variables_by_name()` by key.

The architecture is written once, in `_inception_v3_base`, against a tiny "ops"
interface: `_VariableBuilder` walks it with channel counts to create the variables,
`_ForwardPass` walks it with tensors to compute.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

import tensorflow as tf

BATCH_NORM_EPSILON = 0.001
BATCH_NORM_DECAY = 0.9997
WEIGHT_DECAY = 0.00004
WEIGHTS_STDDEV = 0.1
# The smallest height and width the network's VALID convolutions and pools leave a map for.
MIN_IMAGE_SIZE = 75
DROPOUT_KEEP_PROB = 0.8

T = TypeVar("T")


class _Ops(Protocol[T]):
    """What the architecture needs; T is a tensor, or a channel count while building."""

    def conv(
        self,
        x: T,
        scope: str,
        depth: int,
        kernel: tuple[int, int],
        stride: int = 1,
        padding: str = "SAME",
    ) -> T: ...

    def max_pool(self, x: T, stride: int, padding: str) -> T: ...

    def avg_pool(self, x: T) -> T: ...

    def concat(self, xs: Sequence[T]) -> T: ...


def _mixed_35x35(ops: _Ops[T], x: T, block: str, pool_depth: int) -> T:
    """Mixed_5b/5c/5d: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""
    # Slim names Mixed_5c's 5x5 tower differently from 5b's and 5d's.
    if block == "Mixed_5c":
        b1_names = ("Conv2d_0b_1x1", "Conv_1_0c_5x5")
    else:
        b1_names = ("Conv2d_0a_1x1", "Conv2d_0b_5x5")
    s = f"{block}/Branch_"
    b0 = ops.conv(x, s + "0/Conv2d_0a_1x1", 64, (1, 1))
    b1 = ops.conv(x, s + "1/" + b1_names[0], 48, (1, 1))
    b1 = ops.conv(b1, s + "1/" + b1_names[1], 64, (5, 5))
    b2 = ops.conv(x, s + "2/Conv2d_0a_1x1", 64, (1, 1))
    b2 = ops.conv(b2, s + "2/Conv2d_0b_3x3", 96, (3, 3))
    b2 = ops.conv(b2, s + "2/Conv2d_0c_3x3", 96, (3, 3))
    b3 = ops.conv(ops.avg_pool(x), s + "3/Conv2d_0b_1x1", pool_depth, (1, 1))
    return ops.concat([b0, b1, b2, b3])


def _mixed_17x17(ops: _Ops[T], x: T, block: str, depth_7x7: int) -> T:
    """Mixed_6b..6e: 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avgpool-1x1."""
    s = f"{block}/Branch_"
    d = depth_7x7
    b0 = ops.conv(x, s + "0/Conv2d_0a_1x1", 192, (1, 1))
    b1 = ops.conv(x, s + "1/Conv2d_0a_1x1", d, (1, 1))
    b1 = ops.conv(b1, s + "1/Conv2d_0b_1x7", d, (1, 7))
    b1 = ops.conv(b1, s + "1/Conv2d_0c_7x1", 192, (7, 1))
    b2 = ops.conv(x, s + "2/Conv2d_0a_1x1", d, (1, 1))
    b2 = ops.conv(b2, s + "2/Conv2d_0b_7x1", d, (7, 1))
    b2 = ops.conv(b2, s + "2/Conv2d_0c_1x7", d, (1, 7))
    b2 = ops.conv(b2, s + "2/Conv2d_0d_7x1", d, (7, 1))
    b2 = ops.conv(b2, s + "2/Conv2d_0e_1x7", 192, (1, 7))
    b3 = ops.conv(ops.avg_pool(x), s + "3/Conv2d_0b_1x1", 192, (1, 1))
    return ops.concat([b0, b1, b2, b3])


def _mixed_8x8(ops: _Ops[T], x: T, block: str) -> T:
    """Mixed_7b/7c: 1x1 | 1x1-(1x3,3x1) | 1x1-3x3-(1x3,3x1) | avgpool-1x1."""
    # Slim names Mixed_7b's second 3x1 `Conv2d_0b_3x1` and Mixed_7c's `Conv2d_0c_3x1`.
    b1_3x1 = "Conv2d_0b_3x1" if block == "Mixed_7b" else "Conv2d_0c_3x1"
    s = f"{block}/Branch_"
    b0 = ops.conv(x, s + "0/Conv2d_0a_1x1", 320, (1, 1))
    b1 = ops.conv(x, s + "1/Conv2d_0a_1x1", 384, (1, 1))
    b1 = ops.concat(
        [
            ops.conv(b1, s + "1/Conv2d_0b_1x3", 384, (1, 3)),
            ops.conv(b1, s + "1/" + b1_3x1, 384, (3, 1)),
        ]
    )
    b2 = ops.conv(x, s + "2/Conv2d_0a_1x1", 448, (1, 1))
    b2 = ops.conv(b2, s + "2/Conv2d_0b_3x3", 384, (3, 3))
    b2 = ops.concat(
        [
            ops.conv(b2, s + "2/Conv2d_0c_1x3", 384, (1, 3)),
            ops.conv(b2, s + "2/Conv2d_0d_3x1", 384, (3, 1)),
        ]
    )
    b3 = ops.conv(ops.avg_pool(x), s + "3/Conv2d_0b_1x1", 192, (1, 1))
    return ops.concat([b0, b1, b2, b3])


def _inception_v3_base(ops: _Ops[T], x: T) -> T:
    """Slim's inception_v3_base from the image to Mixed_7c (2048 channels)."""
    # Stem: 299 -> 149 -> 147 -> 147 -> 73 -> 73 -> 71 -> 35.
    x = ops.conv(x, "Conv2d_1a_3x3", 32, (3, 3), stride=2, padding="VALID")
    x = ops.conv(x, "Conv2d_2a_3x3", 32, (3, 3), padding="VALID")
    x = ops.conv(x, "Conv2d_2b_3x3", 64, (3, 3))
    x = ops.max_pool(x, stride=2, padding="VALID")
    x = ops.conv(x, "Conv2d_3b_1x1", 80, (1, 1), padding="VALID")
    x = ops.conv(x, "Conv2d_4a_3x3", 192, (3, 3), padding="VALID")
    x = ops.max_pool(x, stride=2, padding="VALID")

    x = _mixed_35x35(ops, x, "Mixed_5b", pool_depth=32)
    x = _mixed_35x35(ops, x, "Mixed_5c", pool_depth=64)
    x = _mixed_35x35(ops, x, "Mixed_5d", pool_depth=64)

    # Mixed_6a: 35 -> 17.
    b0 = ops.conv(x, "Mixed_6a/Branch_0/Conv2d_1a_1x1", 384, (3, 3), stride=2, padding="VALID")
    b1 = ops.conv(x, "Mixed_6a/Branch_1/Conv2d_0a_1x1", 64, (1, 1))
    b1 = ops.conv(b1, "Mixed_6a/Branch_1/Conv2d_0b_3x3", 96, (3, 3))
    b1 = ops.conv(b1, "Mixed_6a/Branch_1/Conv2d_1a_1x1", 96, (3, 3), stride=2, padding="VALID")
    x = ops.concat([b0, b1, ops.max_pool(x, stride=2, padding="VALID")])

    x = _mixed_17x17(ops, x, "Mixed_6b", depth_7x7=128)
    x = _mixed_17x17(ops, x, "Mixed_6c", depth_7x7=160)
    x = _mixed_17x17(ops, x, "Mixed_6d", depth_7x7=160)
    x = _mixed_17x17(ops, x, "Mixed_6e", depth_7x7=192)

    # Mixed_7a: 17 -> 8.
    b0 = ops.conv(x, "Mixed_7a/Branch_0/Conv2d_0a_1x1", 192, (1, 1))
    b0 = ops.conv(b0, "Mixed_7a/Branch_0/Conv2d_1a_3x3", 320, (3, 3), stride=2, padding="VALID")
    b1 = ops.conv(x, "Mixed_7a/Branch_1/Conv2d_0a_1x1", 192, (1, 1))
    b1 = ops.conv(b1, "Mixed_7a/Branch_1/Conv2d_0b_1x7", 192, (1, 7))
    b1 = ops.conv(b1, "Mixed_7a/Branch_1/Conv2d_0c_7x1", 192, (7, 1))
    b1 = ops.conv(b1, "Mixed_7a/Branch_1/Conv2d_1a_3x3", 192, (3, 3), stride=2, padding="VALID")
    x = ops.concat([b0, b1, ops.max_pool(x, stride=2, padding="VALID")])

    x = _mixed_8x8(ops, x, "Mixed_7b")
    return _mixed_8x8(ops, x, "Mixed_7c")


class _ConvBN(tf.Module):
    """Slim conv2d (no bias) + batch_norm(scale=False) + ReLU, with slim's variables."""

    def __init__(
        self,
        scope: str,
        in_depth: int,
        depth: int,
        kernel: tuple[int, int],
        stride: int,
        padding: str,
        trainable: bool,
        dtype: tf.DType,
    ) -> None:
        super().__init__(name=scope.rsplit("/", 1)[-1])
        self.scope = scope
        self.stride = stride
        self.padding = padding
        init = tf.random.truncated_normal([*kernel, in_depth, depth], stddev=WEIGHTS_STDDEV)
        self.weights = tf.Variable(
            tf.cast(init, dtype), trainable=trainable, name=f"{scope}/weights"
        )
        self.beta = tf.Variable(
            tf.zeros([depth], dtype), trainable=trainable, name=f"{scope}/BatchNorm/beta"
        )
        self.moving_mean = tf.Variable(
            tf.zeros([depth], dtype), trainable=False, name=f"{scope}/BatchNorm/moving_mean"
        )
        self.moving_variance = tf.Variable(
            tf.ones([depth], dtype), trainable=False, name=f"{scope}/BatchNorm/moving_variance"
        )

    def slim_variables(self) -> dict[str, tf.Variable]:
        """This layer's variables under the names slim gives them."""
        scope = self.scope
        return {
            f"{scope}/weights": self.weights,
            f"{scope}/BatchNorm/beta": self.beta,
            f"{scope}/BatchNorm/moving_mean": self.moving_mean,
            f"{scope}/BatchNorm/moving_variance": self.moving_variance,
        }

    def __call__(self, x: tf.Tensor, batch_stats: bool) -> tf.Tensor:
        """Normalise with batch statistics (and update the averages) or the averages."""
        # Variables are cast to the activations' dtype so float16 compute can be asked for.
        weights = tf.cast(self.weights, x.dtype)
        y = tf.nn.conv2d(x, weights, strides=self.stride, padding=self.padding)
        if batch_stats:
            mean, variance = tf.nn.moments(y, axes=[0, 1, 2])
            for average, value in ((self.moving_mean, mean), (self.moving_variance, variance)):
                # slim's assign_moving_average, without zero-debiasing.
                value = tf.cast(value, average.dtype)
                average.assign_sub((1.0 - BATCH_NORM_DECAY) * (average - value))
        else:
            mean = tf.cast(self.moving_mean, x.dtype)
            variance = tf.cast(self.moving_variance, x.dtype)
        beta = tf.cast(self.beta, x.dtype)
        # scale=None: slim's batch norm here has no gamma.
        y = tf.nn.batch_normalization(y, mean, variance, beta, None, BATCH_NORM_EPSILON)
        return tf.nn.relu(y)


class _VariableBuilder:
    """Walks the architecture with channel counts, creating one _ConvBN per conv."""

    def __init__(self, prefix: str, trainable: bool, dtype: tf.DType) -> None:
        self.prefix = prefix
        self.trainable = trainable
        self.dtype = dtype
        self.layers: dict[str, _ConvBN] = {}

    def conv(
        self,
        x: int,
        scope: str,
        depth: int,
        kernel: tuple[int, int],
        stride: int = 1,
        padding: str = "SAME",
    ) -> int:
        full_scope = f"{self.prefix}/{scope}"
        self.layers[scope] = _ConvBN(
            full_scope, x, depth, kernel, stride, padding, self.trainable, self.dtype
        )
        return depth

    def max_pool(self, x: int, stride: int, padding: str) -> int:
        return x

    def avg_pool(self, x: int) -> int:
        return x

    def concat(self, xs: Sequence[int]) -> int:
        return sum(xs)


class _ForwardPass:
    """Walks the architecture with tensors through the layers _VariableBuilder made."""

    def __init__(self, layers: dict[str, _ConvBN], batch_stats: bool) -> None:
        self.layers = layers
        self.batch_stats = batch_stats

    def conv(
        self,
        x: tf.Tensor,
        scope: str,
        depth: int,
        kernel: tuple[int, int],
        stride: int = 1,
        padding: str = "SAME",
    ) -> tf.Tensor:
        # depth, kernel, stride and padding are already fixed in the layer.
        return self.layers[scope](x, self.batch_stats)

    def max_pool(self, x: tf.Tensor, stride: int, padding: str) -> tf.Tensor:
        return tf.nn.max_pool2d(x, ksize=3, strides=stride, padding=padding)

    def avg_pool(self, x: tf.Tensor) -> tf.Tensor:
        # The 3x3/1 SAME pool of the mixed blocks' Branch_3; TF's average ignores padding.
        return tf.nn.avg_pool2d(x, ksize=3, strides=1, padding="SAME")

    def concat(self, xs: Sequence[tf.Tensor]) -> tf.Tensor:
        return tf.concat(list(xs), axis=3)


class InceptionV3(tf.Module):
    """Inception v3 (to Mixed_7c) + full average pool: images [B, H, W, 3] -> [B, 2048].

    `trainable` says whether Inception is fine-tuned (im2txt's `train_inception`): only
    then are weights and betas trainable, is batch norm in training mode when called
    with `training=True`, is dropout applied and is weight decay added.
    """

    def __init__(
        self,
        trainable: bool,
        name: str = "InceptionV3",
        dtype: tf.DType = tf.float32,
        compute_dtype: tf.DType | None = None,
    ) -> None:
        super().__init__(name=name)
        dtype = tf.as_dtype(dtype)
        self.trainable = trainable
        self.dtype = dtype
        # Mixed precision: float16 activations over float32 variables on GPUs.
        self.compute_dtype = tf.as_dtype(compute_dtype or dtype)
        builder = _VariableBuilder(name, trainable, dtype)
        _inception_v3_base(builder, 3)
        self._layers = builder.layers

    def variables_by_name(self) -> dict[str, tf.Variable]:
        """The 376 variables keyed by slim checkpoint name, for restore and save."""
        named: dict[str, tf.Variable] = {}
        for layer in self._layers.values():
            named.update(layer.slim_variables())
        return named

    def regularization_loss(self) -> tf.Tensor:
        """slim's l2_regularizer(0.00004) on the conv weights, only when Inception trains."""
        if not self.trainable:
            return tf.constant(0.0, tf.float32)
        l2 = [tf.nn.l2_loss(tf.cast(layer.weights, tf.float32)) for layer in self._layers.values()]
        return WEIGHT_DECAY * tf.add_n(l2)

    def __call__(self, images: tf.Tensor, training: bool) -> tf.Tensor:
        """Features for images scaled to [-1, 1], at least 75x75; -> [B, 2048]."""
        height, width = images.shape[1], images.shape[2]
        if any(size is not None and size < MIN_IMAGE_SIZE for size in (height, width)):
            # Smaller maps shrink to nothing before the pool: some CPU kernels raise, others
            # return an empty map whose mean is NaN. Say so instead, whichever runs here.
            raise ValueError(
                f"Inception v3 needs images of at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE},"
                f" got {height}x{width}"
            )
        fine_tuning = self.trainable and training
        x = tf.cast(images, self.compute_dtype)
        net = _inception_v3_base(_ForwardPass(self._layers, fine_tuning), x)
        # im2txt's avg_pool2d over the whole remaining map, VALID: the spatial mean,
        # which also holds when the map's size is only known at run time.
        # Its [B, 1, 1, 2048] output flattened is this [B, 2048] one.
        net = tf.reduce_mean(net, axis=[1, 2])
        if fine_tuning:
            net = tf.nn.dropout(net, rate=1.0 - DROPOUT_KEEP_PROB)
        return tf.cast(net, tf.float32)
