"""Show and Tell input pipeline: SequenceExample shards to padded caption batches.

A tf.data replacement for upstream's reader queues and `batch_with_dynamic_pad`.
Given a seed the pipeline is deterministic end to end: file order, example
shuffle and every image distortion derive from it, so two trainer runs with the
same `--seed` see identical batches.
"""

from __future__ import annotations

import random
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from im2txt.configuration import ModelConfig
from im2txt.ops import image_processing

# Upstream's shuffle queue held values_per_input_shard * input_queue_capacity_factor
# serialized examples (4600 at the defaults, about 0.7 GB of COCO JPEGs); the cap
# keeps a large per-shard estimate from exhausting host memory.
_MAX_SHUFFLE_BUFFER = 10_000
# Shards read concurrently while training, so one batch mixes several shards.
_MIN_TRAIN_CYCLE_LENGTH = 4


class UndecodableImage(NamedTuple):
    """Where an image that does not decode lives, for the trainer's error message."""

    path: str
    index: int
    message: str


def parse_sequence_example(
    serialized: tf.Tensor, image_feature: str, caption_feature: str
) -> tuple[tf.Tensor, tf.Tensor]:
    """Parse one record into (encoded image bytes scalar, int64 caption ids [n])."""
    context, sequence = tf.io.parse_single_sequence_example(
        serialized,
        context_features={image_feature: tf.io.FixedLenFeature([], dtype=tf.string)},
        sequence_features={caption_feature: tf.io.FixedLenSequenceFeature([], dtype=tf.int64)},
    )
    return context[image_feature], sequence[caption_feature]


def caption_to_sequences(caption: tf.Tensor) -> dict[str, tf.Tensor]:
    """Split a caption of n ids into the model's n-1 step input, target and mask.

    The input is every word but the last, the target every word but the first
    (the next word to predict), and the mask marks the n-1 real steps.
    """
    input_seq = caption[:-1]
    return {
        "input_seqs": input_seq,
        "target_seqs": caption[1:],
        "input_mask": tf.ones_like(input_seq, dtype=tf.int32),
    }


def batch_with_dynamic_pad(
    dataset: tf.data.Dataset, batch_size: int, drop_remainder: bool = True
) -> tf.data.Dataset:
    """Batch (image, caption) pairs, zero-padding sequences to the batch's longest.

    Yields dicts with "images" [B, H, W, 3], "input_seqs" and "target_seqs"
    [B, T] int64 and "input_mask" [B, T] int32, T = longest caption - 1.
    """

    def to_features(image: tf.Tensor, caption: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"images": image, **caption_to_sequences(caption)}

    return dataset.map(to_features).padded_batch(batch_size, drop_remainder=drop_remainder)


def resolve_files(file_patterns: list[str]) -> list[str]:
    """Expand glob patterns into a sorted file list so shard order is reproducible.

    Raises FileNotFoundError naming every pattern that matches nothing, since a
    mistyped pattern would otherwise silently train on part of the data.
    """
    if isinstance(file_patterns, str):
        file_patterns = [file_patterns]
    files: set[str] = set()
    unmatched = []
    for pattern in file_patterns:
        matches = tf.io.gfile.glob(pattern)
        if not matches:
            unmatched.append(pattern)
        files.update(matches)
    if unmatched or not files:
        raise FileNotFoundError(
            f"Found no input files matching {', '.join(unmatched) or '(no patterns given)'}"
        )
    return sorted(files)


def _shuffle_buffer_size(config: ModelConfig) -> int:
    wanted = config.values_per_input_shard * config.input_queue_capacity_factor
    return max(1, min(wanted, _MAX_SHUFFLE_BUFFER))


def _has_caption_pair(_: tf.Tensor, caption: tf.Tensor) -> tf.Tensor:
    return tf.size(caption) >= 2


def build_dataset(
    file_patterns: list[str],
    config: ModelConfig,
    is_training: bool,
    seed: int | None = None,
    repeat: bool = True,
) -> tf.data.Dataset:
    """Build the batched input pipeline from resolved shard glob patterns.

    Training shuffles shards and examples, reads shards in parallel and distorts
    images; evaluation reads shards in sorted order with central crops. Batches
    always hold `config.batch_size` examples except for the last one of a
    non-repeated evaluation pass. Records whose caption has fewer than 2 ids form
    no (input, target) pair and are dropped. A JPEG that does not decode makes the
    iterator raise `tf.errors.InvalidArgumentError`; `find_undecodable_image`
    then names the record.

    `seed` fixes file order, example shuffle and per-element distortion seeds
    `[seed, element index]`; without one the pipeline is free to reorder for speed.
    """
    files = resolve_files(file_patterns)
    deterministic = seed is not None or not is_training
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    file_seed, example_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))

    if is_training:
        dataset = tf.data.Dataset.from_tensor_slices(files).shuffle(
            len(files), seed=file_seed, reshuffle_each_iteration=True
        )
        if repeat:
            dataset = dataset.repeat()
        dataset = dataset.interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(
                len(files), max(config.num_input_reader_threads, _MIN_TRAIN_CYCLE_LENGTH)
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        dataset = dataset.shuffle(_shuffle_buffer_size(config), seed=example_seed)
    else:
        dataset = tf.data.TFRecordDataset(files)
        if repeat:
            dataset = dataset.repeat()

    dataset = dataset.map(
        lambda serialized: parse_sequence_example(
            serialized, config.image_feature_name, config.caption_feature_name
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).filter(_has_caption_pair)

    base_seed = tf.constant(seed, dtype=tf.int64)

    def preprocess(
        index: tf.Tensor, example: tuple[tf.Tensor, tf.Tensor]
    ) -> tuple[tf.Tensor, tf.Tensor]:
        encoded_image, caption = example
        image = image_processing.process_image(
            encoded_image,
            is_training=is_training,
            height=config.image_height,
            width=config.image_width,
            resize_height=config.resize_height,
            resize_width=config.resize_width,
            distortion_order=index,
            image_format=config.image_format,
            seed=tf.stack([base_seed, index]),
        )
        return image, caption

    dataset = dataset.enumerate().map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = batch_with_dynamic_pad(
        dataset, config.batch_size, drop_remainder=is_training or repeat
    ).prefetch(tf.data.AUTOTUNE)

    options = tf.data.Options()
    options.deterministic = deterministic
    return dataset.with_options(options)


def find_undecodable_image(
    file_patterns: list[str], config: ModelConfig
) -> UndecodableImage | None:
    """Locate the first record (0-based index in its file) that fails to load.

    The training iterator only says that some image failed to decode; this scan
    (parallel, in sorted file order) lets the trainer name the file and record.
    Records that cannot be read or parsed are reported the same way.
    """

    def decoded_index(index: tf.Tensor, serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        encoded_image, _ = parse_sequence_example(
            serialized, config.image_feature_name, config.caption_feature_name
        )
        # Returning the shape keeps the decode alive: an unused one would be pruned.
        return index, tf.shape(image_processing.decode_image(encoded_image, config.image_format))

    for path in resolve_files(file_patterns):
        records = tf.data.TFRecordDataset(path)
        good = records.enumerate().map(decoded_index, num_parallel_calls=tf.data.AUTOTUNE)
        expected = 0
        for index, _ in good.ignore_errors().as_numpy_iterator():
            if index != expected:
                break
            expected += 1
        try:
            rest = list(records.skip(expected).take(1))
            if not rest:
                continue
            encoded_image, _ = parse_sequence_example(
                rest[0], config.image_feature_name, config.caption_feature_name
            )
            image_processing.decode_image(
                encoded_image, config.image_format, source=f"{path} record {expected}"
            )
        except tf.errors.OpError as err:
            return UndecodableImage(path, expected, err.message)
    return None
