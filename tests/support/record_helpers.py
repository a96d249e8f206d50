"""Tiny JPEGs and upstream-layout SequenceExample records for the input-pipeline tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image


def jpeg(seed: int) -> bytes:
    """A 28x24 JPEG of random pixels, different for each seed."""
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 28, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG")
    return buffer.getvalue()


def record(image: bytes | int, caption_ids: list[int], image_id: int = 0) -> bytes:
    """A SequenceExample; an int `image` stores `image/data` as int64 (a mistyped feature)."""
    example = tf.train.SequenceExample()
    example.context.feature["image/image_id"].int64_list.value.append(image_id)
    data = example.context.feature["image/data"]
    if isinstance(image, int):
        data.int64_list.value.append(image)
    else:
        data.bytes_list.value.append(image)
    ids = example.feature_lists.feature_list["image/caption_ids"]
    words = example.feature_lists.feature_list["image/caption"]
    for token in caption_ids:
        ids.feature.add().int64_list.value.append(token)
        words.feature.add().bytes_list.value.append(str(token).encode())
    return example.SerializeToString()


def write(path: Path, records: list[bytes]) -> str:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for serialized in records:
            writer.write(serialized)
    return str(path)


def batches(dataset: tf.data.Dataset, count: int) -> list[dict[str, np.ndarray]]:
    return [{key: value.numpy() for key, value in batch.items()} for batch in dataset.take(count)]
