"""Event files written with TensorFlow's own protos, for the job protocol's tests."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.util import event_pb2


def write_events(
    path: Path, scalars: list[tuple[int, str, float]], wall_time: float = 0.0, tensor: bool = False
) -> Path:
    """An event file holding scalars as TF1 `simple_value`s or TF2 scalar tensors."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(
            event_pb2.Event(wall_time=wall_time, file_version="brain.Event:2").SerializeToString()
        )
        for step, tag, value in scalars:
            summary_value = tf.compat.v1.Summary.Value(tag=tag)
            if tensor:
                summary_value.tensor.CopyFrom(tf.make_tensor_proto(np.float32(value)))
            else:
                summary_value.simple_value = value
            event = event_pb2.Event(
                wall_time=wall_time or time.time(),
                step=step,
                summary=tf.compat.v1.Summary(value=[summary_value]),
            )
            writer.write(event.SerializeToString())
    return path
