"""Bad input data is named, not crashed on (im2txt/im2txt/ops/inputs.py).

tf.data's own errors name an op; these tests pin that the pipeline fails on what
it must (ids outside the vocabulary), leaves out what it may (short captions,
images to skip), ends instead of spinning on data with nothing usable, and that
`find_bad_records` names the file and record index of every kind of fault.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import tensorflow as tf

from im2txt.configuration import ModelConfig
from im2txt.ops import inputs
from tests.support.record_helpers import batches, jpeg, record, write

CONFIG = ModelConfig(
    batch_size=2,
    image_height=16,
    image_width=16,
    resize_height=20,
    resize_width=20,
    vocab_size=10,
    values_per_input_shard=4,
)
BROKEN_JPEG = b"\xff\xd8broken"


def _good(count: int, first_seed: int = 0) -> list[bytes]:
    return [record(jpeg(first_seed + i), [1, 3 + i % 5, 2]) for i in range(count)]


def test_tf_error_message_drops_function_and_op_names() -> None:
    with pytest.raises(tf.errors.OpError) as caught:
        tf.data.TFRecordDataset("/nonexistent/shard").reduce(0, lambda n, _: n + 1)
    message = inputs.tf_error_message(caught.value)
    assert "/nonexistent/shard" in message
    assert "{{function_node" not in message and "[Op:" not in message


@pytest.mark.parametrize(("content", "what"), [(b"", "is empty"), (None, "is a folder")])
def test_empty_shard_or_folder_is_refused_naming_it(tmp_path: Path, content, what) -> None:
    write(tmp_path / "train-00000-of-00002", _good(2))
    culprit = tmp_path / "train-00001-of-00002"
    if content is None:
        culprit.mkdir()
    else:
        culprit.write_bytes(content)
    with pytest.raises(inputs.InputDataError, match=f"{culprit} {what}"):
        inputs.resolve_files([str(tmp_path / "train-*")])


def test_caption_id_outside_vocabulary_fails_in_pipeline_and_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "train-00000-of-00001", [*_good(3), record(jpeg(9), [1, 10, 2])])
    dataset = inputs.build_dataset([path], CONFIG, is_training=False, repeat=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="vocab_size=10"):
        batches(dataset, 10)
    (bad,) = inputs.find_bad_records([path], CONFIG)
    assert (bad.path, bad.index, bad.image) == (path, 3, None)
    assert "caption id 10 is outside the vocabulary of --vocab_size=10" in bad.message
    assert f"{path} record 3" in bad.message


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (record(7, [1, 3, 2]), "image/data"),  # image/data stored as int64
        (tf.train.SequenceExample().SerializeToString(), "image/data"),  # no image/data
        (b"not a serialized proto", "SequenceExample"),
    ],
    ids=["wrong-type", "missing", "not-a-proto"],
)
def test_unparsable_record_is_named_with_its_index(tmp_path: Path, record, expected) -> None:
    path = write(tmp_path / "train-00000-of-00001", [*_good(2), record, *_good(1, 5)])
    (bad,) = inputs.find_bad_records([path], CONFIG)
    assert (bad.path, bad.index, bad.image) == (path, 2, None)
    assert f"{path} record 2" in bad.message and expected in bad.message


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_unreadable_file_is_named_with_the_record_where_reading_fails(
    tmp_path: Path, damage: str
) -> None:
    path = write(tmp_path / "train-00000-of-00001", _good(3))
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: len(data) - 40] if damage == "truncated" else b"x" * 500)
    (bad,) = inputs.find_bad_records([path], CONFIG)
    assert bad.path == path and bad.index == (2 if damage == "truncated" else 0)
    assert f"{path}: cannot read record {bad.index}" in bad.message


def test_every_undecodable_image_is_found_with_its_bytes(tmp_path: Path) -> None:
    first = write(tmp_path / "train-00000-of-00002", [record(BROKEN_JPEG, [1, 3, 2]), *_good(2)])
    second = write(tmp_path / "train-00001-of-00002", [*_good(2), record(b"\x00", [1, 4, 2])])
    found = list(inputs.find_bad_records([str(tmp_path / "train-*")], CONFIG))
    assert [(bad.path, bad.index, bad.image) for bad in found] == [
        (first, 0, BROKEN_JPEG),
        (second, 2, b"\x00"),
    ]
    assert f"{first} record 0" in found[0].message
    assert inputs.find_undecodable_image([str(tmp_path / "train-*")], CONFIG) == found[0]


def test_clean_files_have_no_bad_records(tmp_path: Path) -> None:
    path = write(tmp_path / "train-00000-of-00001", _good(4))
    assert list(inputs.find_bad_records([path], CONFIG)) == []


def test_skip_images_leaves_those_records_out(tmp_path: Path) -> None:
    path = write(tmp_path / "train-00000-of-00001", [record(BROKEN_JPEG, [1, 9, 2]), *_good(3)])
    config = dataclasses.replace(CONFIG, batch_size=8)
    dataset = inputs.build_dataset(
        [path], config, is_training=False, repeat=False, skip_images=[BROKEN_JPEG]
    )
    (batch,) = batches(dataset, 10)
    assert batch["target_seqs"][:, 0].tolist() == [3, 4, 5]


def test_short_captions_are_counted(tmp_path: Path) -> None:
    path = write(
        tmp_path / "train-00000-of-00001",
        [record(jpeg(0), []), record(jpeg(1), [1]), *_good(2)],
    )
    dropped = tf.Variable(0, dtype=tf.int64)
    dataset = inputs.build_dataset(
        [path], CONFIG, is_training=False, repeat=False, dropped_captions=dropped
    )
    assert len(batches(dataset, 10)) == 1
    assert int(dropped.numpy()) == 2


@pytest.mark.parametrize("is_training", [True, False])
def test_repeated_data_with_no_usable_record_ends_instead_of_spinning(
    tmp_path: Path, is_training: bool
) -> None:
    path = write(tmp_path / "train-00000-of-00001", [record(jpeg(0), [1])] * 3)
    dataset = inputs.build_dataset([path], CONFIG, is_training=is_training, seed=0)
    assert batches(dataset, 2) == []
