"""Fuzzing both record readers: whatever a shard holds, parsing succeeds or fails clearly.

The trainer's path (`parse_sequence_example` in a tf.data pipeline) may only raise
InvalidArgumentError or DataLossError with a message; the harness's `read_records`
only ValueError naming the file. Inputs: random bytes as records, real records with
bits flipped or cut short, records whose features have the wrong type or count, and
TFRecord files whose framing is damaged. A crash of the process fails the run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.synthetic import (
    build_vocabulary,
    generate_scenes,
    read_records,
    serialize_example,
    write_records,
)
from im2txt.ops.inputs import parse_sequence_example

FUZZ = settings(max_examples=50, deadline=None, database=None)
# The kind each key holds in a good record; the fuzzer favours it so some examples parse.
KINDS_OF = {
    "image/image_id": "int64",
    "image/data": "bytes",
    "image/caption": "bytes",
    "image/caption_ids": "int64",
}
CONTEXT_KEYS = ("image/image_id", "image/data")
KINDS = ("int64", "bytes", "float", "missing")


def _real_record() -> bytes:
    (scene,) = generate_scenes(1, seed=0, captions_per_image=1, sizes=[(24, 24)])
    vocab = build_vocabulary(scene.captions)
    return serialize_example(scene.image_id, scene.jpeg, scene.captions[0], vocab)


REAL = _real_record()


@pytest.fixture(scope="module")
def shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file every example overwrites (a module-scoped path suits hypothesis)."""
    return tmp_path_factory.mktemp("fuzz") / "train-00000-of-00001"


@pytest.fixture(scope="module")
def pipeline(shard: Path) -> tf.data.Dataset:
    """The trainer's parse over `shard`, traced once; each iteration rereads the file."""
    return tf.data.TFRecordDataset(str(shard)).map(
        lambda serialized: parse_sequence_example(serialized, "image/data", "image/caption_ids")
    )


def _assert_trainer_parses_or_fails_clearly(pipeline: tf.data.Dataset) -> None:
    try:
        for image, caption in pipeline:
            assert image.dtype == tf.string and image.shape == ()
            assert caption.dtype == tf.int64 and caption.shape.rank == 1
    except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as err:
        assert err.message.strip()


def _assert_harness_parses_or_names_the_file(shard: Path) -> None:
    try:
        records = read_records(shard)
    except ValueError as err:
        assert str(shard) in str(err)
        return
    for record in records:
        assert isinstance(record["jpeg"], bytes) and isinstance(record["image_id"], int)
        assert all(isinstance(token, str) for token in record["caption"])


def _check_both(shard: Path, pipeline: tf.data.Dataset) -> None:
    _assert_trainer_parses_or_fails_clearly(pipeline)
    _assert_harness_parses_or_names_the_file(shard)


def _feature(kind: str, count: int, draw) -> tf.train.Feature:
    if kind == "int64":
        values = draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=count, max_size=count))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    if kind == "bytes":
        values = draw(st.lists(st.binary(max_size=8), min_size=count, max_size=count))
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
    values = draw(st.lists(st.floats(width=32), min_size=count, max_size=count))
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


@st.composite
def retyped_records(draw) -> bytes:
    """SequenceExamples with the right keys holding any kind and number of values."""
    example = tf.train.SequenceExample()
    for key, right_kind in KINDS_OF.items():
        kind = draw(st.one_of(st.just(right_kind), st.sampled_from(KINDS)))
        if kind == "missing":
            continue
        if key in CONTEXT_KEYS:
            count = draw(st.integers(0, 3))
            example.context.feature[key].CopyFrom(_feature(kind, count, draw))
        else:
            steps = draw(st.integers(0, 4))
            features = [_feature(kind, draw(st.integers(0, 2)), draw) for _ in range(steps)]
            example.feature_lists.feature_list[key].feature.extend(features)
    return example.SerializeToString()


@st.composite
def mutated_records(draw) -> bytes:
    """The real record with a few bits flipped, then possibly cut short."""
    data = bytearray(REAL)
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] ^= 1 << draw(st.integers(0, 7))
    return bytes(data[: draw(st.integers(0, len(data)))])


@FUZZ
@given(records=st.lists(st.binary(max_size=200), min_size=1, max_size=4))
def test_random_bytes_as_records(shard, pipeline, records: list[bytes]) -> None:
    write_records(shard, records)
    _check_both(shard, pipeline)


@FUZZ
@given(record=mutated_records())
def test_mutated_real_records(shard, pipeline, record: bytes) -> None:
    write_records(shard, [REAL, record])
    _check_both(shard, pipeline)


@FUZZ
@given(record=retyped_records())
def test_records_with_swapped_feature_types(shard, pipeline, record: bytes) -> None:
    write_records(shard, [record])
    _check_both(shard, pipeline)


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)), max_size=4),
    keep=st.floats(0.0, 1.0),
)
def test_damaged_tfrecord_framing(shard, pipeline, flips, keep: float) -> None:
    write_records(shard, [REAL, REAL])
    data = bytearray(shard.read_bytes())
    for position, bit in flips:
        data[position % len(data)] ^= 1 << bit
    shard.write_bytes(bytes(data[: int(len(data) * keep)]))
    _check_both(shard, pipeline)


def test_clean_records_parse(shard, pipeline) -> None:
    """The fuzzers' baseline: the unmutated record parses on both paths."""
    write_records(shard, [REAL])
    ((image, caption),) = list(pipeline)
    assert image.numpy().startswith(b"\xff\xd8") and caption.shape[0] > 2
    (record,) = read_records(shard)
    assert record["caption"][0] == "<S>"
