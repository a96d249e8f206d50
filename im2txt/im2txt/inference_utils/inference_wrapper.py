"""Adapts a restored ShowAndTellModel to the interface CaptionGenerator drives.

Upstream fed an exported graph through a session; here two tf.functions do the
same work: one turns an encoded image into the LSTM's initial state, the other
advances a batch of beams by one word.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from im2txt import checkpointing
from im2txt.configuration import ModelConfig
from im2txt.ops.image_processing import process_image
from im2txt.show_and_tell_model import ShowAndTellModel


class InferenceWrapper:
    """`feed_image` and `inference_step` over a model loaded from a checkpoint."""

    def __init__(self, config: ModelConfig, checkpoint_path: str) -> None:
        self.config = config
        self.model = ShowAndTellModel(config)
        self.checkpoint_path = latest_or_file(checkpoint_path)
        checkpointing.restore_variables(self.checkpoint_path, self.model.model_variables())
        self._initial_state = tf.function(self._initial_state_impl)
        self._step = tf.function(self.model.step)

    def _initial_state_impl(self, encoded_image: tf.Tensor) -> tf.Tensor:
        image = process_image(
            encoded_image,
            is_training=False,
            height=self.config.image_height,
            width=self.config.image_width,
            resize_height=self.config.resize_height,
            resize_width=self.config.resize_width,
            image_format=self.config.image_format,
        )
        return self.model.initial_state(tf.expand_dims(image, 0))

    def feed_image(self, encoded_image: bytes) -> np.ndarray:
        """Encoded image bytes -> initial LSTM state [1, 2 * num_lstm_units]."""
        return self._initial_state(tf.constant(encoded_image)).numpy()

    def inference_step(self, input_feed: np.ndarray, state_feed: np.ndarray):
        """Advance N beams by one word -> (softmax [N, V], new states [N, S], None)."""
        softmax, states = self._step(
            tf.constant(input_feed, tf.int64), tf.constant(state_feed, tf.float32)
        )
        return softmax.numpy(), states.numpy(), None


def latest_or_file(path: str) -> str:
    """A checkpoint prefix or file as given, or the newest one when given a folder."""
    if tf.io.gfile.isdir(path):
        latest = checkpointing.CheckpointManager(path).latest()
        if latest is None:
            raise checkpointing.CheckpointError(f"no checkpoint found in {path}")
        return latest
    return path
