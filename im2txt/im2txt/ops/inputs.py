"""Show and Tell input pipeline: SequenceExample shards to padded caption batches.

A tf.data replacement for upstream's reader queues and `batch_with_dynamic_pad`.
Given a seed the pipeline is deterministic end to end: file order, example
shuffle and every image distortion derive from it, so two trainer runs with the
same `--seed` see identical batches.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Iterator, Sequence
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


# TF error messages wrap the useful part in the name of the function and op that failed.
_TF_MESSAGE_NOISE = re.compile(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\](\s*name:.*)?$")


class InputDataError(ValueError):
    """An input file cannot be used as a TFRecord shard; the message names it."""


class BadRecord(NamedTuple):
    """A record the pipeline cannot use, located for the trainer's error message."""

    path: str
    index: int  # 0-based position of the record in its file
    message: str
    image: bytes | None = None  # the encoded image, when only the image fails to decode


def tf_error_message(err: tf.errors.OpError) -> str:
    """The part of a TF error message that says what went wrong, without op names."""
    return _TF_MESSAGE_NOISE.sub("", err.message).strip()


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


def check_caption_ids(caption: tf.Tensor, vocab_size: int) -> tf.Tensor:
    """`caption`, failing on an id the embedding cannot look up.

    On a GPU an out-of-range gather silently reads zeros instead of failing, so
    the pipeline checks here and the trainer's scan then names the record.
    """
    in_vocabulary = tf.reduce_all((caption >= 0) & (caption < vocab_size))
    check = tf.debugging.Assert(
        in_vocabulary,
        [f"caption id outside the vocabulary (vocab_size={vocab_size}); caption ids:", caption],
        summarize=64,
    )
    with tf.control_dependencies([check]):
        return tf.identity(caption)


def image_fingerprint(encoded_image: tf.Tensor) -> tf.Tensor:
    """A scalar int64 fingerprint of encoded image bytes (to skip known bad images)."""
    return tf.bitcast(tf.fingerprint(tf.reshape(encoded_image, [1]))[0], tf.int64)


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
    mistyped pattern would otherwise silently train on part of the data, and
    InputDataError naming a match that is a folder or an empty file (a shard
    always holds records, so an empty one was cut short in transfer).
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
    for path in sorted(files):
        if tf.io.gfile.isdir(path):
            raise InputDataError(f"input file {path} is a folder, not a TFRecord file")
        if tf.io.gfile.stat(path).length == 0:
            raise InputDataError(
                f"input file {path} is empty (0 bytes): a TFRecord shard holds at least one "
                "record, so it was probably cut short when copied"
            )
    return sorted(files)


def _shuffle_buffer_size(config: ModelConfig) -> int:
    wanted = config.values_per_input_shard * config.input_queue_capacity_factor
    return max(1, min(wanted, _MAX_SHUFFLE_BUFFER))


_Predicate = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def _caption_pair_filter(dropped: tf.Variable | None) -> _Predicate:
    """Keep records whose caption has at least 2 ids, counting the others in `dropped`."""

    def has_caption_pair(_: tf.Tensor, caption: tf.Tensor) -> tf.Tensor:
        keep = tf.size(caption) >= 2
        if dropped is None:
            return keep
        with tf.control_dependencies([dropped.assign_add(tf.cast(~keep, tf.int64))]):
            return tf.identity(keep)

    return has_caption_pair


def _image_filter(skip_images: Sequence[bytes]) -> _Predicate:
    """Leave out records whose encoded image is one of `skip_images`."""
    with tf.init_scope():  # Eager even when a cluster traces the pipeline in a tf.function.
        fingerprints = [image_fingerprint(tf.constant(i)).numpy() for i in skip_images]
    skipped = tf.constant(fingerprints, tf.int64)

    def not_skipped(encoded_image: tf.Tensor, _: tf.Tensor) -> tf.Tensor:
        return ~tf.reduce_any(tf.equal(image_fingerprint(encoded_image), skipped))

    return not_skipped


def build_dataset(
    file_patterns: list[str],
    config: ModelConfig,
    is_training: bool,
    seed: int | None = None,
    repeat: bool = True,
    skip_images: Sequence[bytes] = (),
    dropped_captions: tf.Variable | None = None,
    worker_shard: tuple[int, tf.Tensor] | None = None,
) -> tf.data.Dataset:
    """Build the batched input pipeline from resolved shard glob patterns.

    Training shuffles shards and examples, reads shards in parallel and distorts
    images; evaluation reads shards in sorted order with central crops. Batches
    always hold `config.batch_size` examples except for the last one of a
    non-repeated evaluation pass. Records whose caption has fewer than 2 ids form
    no (input, target) pair and are dropped, counted in the int64 variable
    `dropped_captions` when one is given (every pass over the data counts them
    again). Records whose encoded image is in `skip_images` are left out.

    A JPEG that does not decode, a record that does not parse, or a caption id
    outside `[0, config.vocab_size)` makes the iterator raise a
    `tf.errors.OpError`; `find_bad_records` then names the file and record.
    A repeated dataset whose pass over the data yields no usable record ends
    instead of waiting forever.

    `seed` fixes file order, example shuffle and per-element distortion seeds
    `[seed, element index]`; without one the pipeline is free to reorder for speed.

    `worker_shard=(count, index)` makes a training pipeline read only every
    `count`-th file of the sorted list, starting at `index` (a scalar tensor when
    the cluster's worker index is only known where the pipeline runs).
    """
    files = resolve_files(file_patterns)
    deterministic = seed is not None or not is_training
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    file_seed, example_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))

    if worker_shard is not None and not is_training:
        raise ValueError("worker_shard splits training input only")
    if is_training:
        dataset = tf.data.Dataset.from_tensor_slices(files)
        if worker_shard is not None:
            dataset = dataset.shard(*worker_shard)
        dataset = dataset.shuffle(len(files), seed=file_seed, reshuffle_each_iteration=True)
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

    def parse(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        encoded_image, caption = parse_sequence_example(
            serialized, config.image_feature_name, config.caption_feature_name
        )
        return encoded_image, check_caption_ids(caption, config.vocab_size)

    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.filter(_caption_pair_filter(dropped_captions))
    if skip_images:
        dataset = dataset.filter(_image_filter(skip_images))
    if repeat:
        # Repeating after the filters (not the file list) lets tf.data end a dataset
        # whose pass yields nothing, where an endless file list would spin forever.
        dataset = dataset.repeat()

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


def find_undecodable_image(file_patterns: list[str], config: ModelConfig) -> BadRecord | None:
    """The first record (in sorted file order) that the pipeline would fail on, if any."""
    return next(find_bad_records(file_patterns, config), None)


def find_bad_records(file_patterns: list[str], config: ModelConfig) -> Iterator[BadRecord]:
    """Yield every record the training pipeline would fail on, in sorted file order.

    tf.data's errors name an op, never a file; this scan names the file and the
    record: one that cannot be read (truncated file, not a TFRecord), parsed
    (missing or mistyped feature), holds a caption id outside the vocabulary, or
    whose image does not decode. Each file is checked in parallel first and only
    a file with a problem is walked record by record, so a clean data set costs
    one parallel decoding pass.
    """
    for path in resolve_files(file_patterns):
        yield from _bad_records_in(path, config)


def _bad_records_in(path: str, config: ModelConfig) -> Iterator[BadRecord]:
    records = tf.data.TFRecordDataset(path)

    def check(index: tf.Tensor, serialized: tf.Tensor) -> tuple[tf.Tensor, ...]:
        encoded_image, caption = parse_sequence_example(
            serialized, config.image_feature_name, config.caption_feature_name
        )
        # Outputs, not control dependencies: grappler prunes checks nothing consumes.
        caption = check_caption_ids(caption, config.vocab_size)
        shape = tf.shape(image_processing.decode_image(encoded_image, config.image_format))
        return index, tf.size(caption), shape

    checked = records.enumerate().map(check, num_parallel_calls=tf.data.AUTOTUNE)
    usable = {int(index) for index, *_ in checked.ignore_errors().as_numpy_iterator()}
    try:
        if int(records.reduce(np.int64(0), lambda count, _: count + 1)) == len(usable):
            return
    except tf.errors.OpError:
        pass  # A read error; the walk below finds where.
    iterator = iter(records)
    for index in itertools.count():
        try:
            serialized = next(iterator)
        except StopIteration:
            return
        except tf.errors.OpError as err:
            yield BadRecord(
                path,
                index,
                f"{path}: cannot read record {index} (file truncated, or not a TFRecord "
                f"file?): {tf_error_message(err)}",
            )
            return
        if index not in usable:
            problem = _diagnose(path, index, serialized, config)
            if problem is not None:
                yield problem


def _diagnose(
    path: str, index: int, serialized: tf.Tensor, config: ModelConfig
) -> BadRecord | None:
    """Say what is wrong with one record, in the order the pipeline would fail."""
    where = f"{path} record {index}"
    try:
        encoded_image, caption = parse_sequence_example(
            serialized, config.image_feature_name, config.caption_feature_name
        )
    except tf.errors.OpError as err:
        return BadRecord(
            path,
            index,
            f"{where} is not a SequenceExample with bytes {config.image_feature_name!r} and "
            f"int64 {config.caption_feature_name!r}: {tf_error_message(err)}",
        )
    outside = [int(i) for i in caption.numpy() if not 0 <= i < config.vocab_size]
    if outside:
        return BadRecord(
            path,
            index,
            f"{where}: caption id {outside[0]} is outside the vocabulary of "
            f"--vocab_size={config.vocab_size} (ids 0 to {config.vocab_size - 1}); were the "
            "records built with a larger word_counts.txt?",
        )
    try:
        image_processing.decode_image(encoded_image, config.image_format, source=where)
    except tf.errors.OpError as err:
        return BadRecord(path, index, tf_error_message(err), image=encoded_image.numpy())
    return None
