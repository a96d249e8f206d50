"""Tests of im2txt.ops.inputs: record parsing, dynamic padding, the tf.data pipeline."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
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
    values_per_input_shard=4,
)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Two shards of 6 records each; caption k is [1, k, k+1, ..., 2] of varying length."""
    folder = tmp_path_factory.mktemp("shards")
    for shard in range(2):
        records = []
        for i in range(6):
            k = 10 * shard + i
            records.append(record(jpeg(k), [1, *range(100 + k, 100 + k + i % 3), 2], k))
        write(folder / f"train-{shard:05d}-of-00002", records)
    return str(folder / "train-?????-of-00002")


def test_parse_sequence_example_round_trips() -> None:
    image = jpeg(1)
    encoded, caption = inputs.parse_sequence_example(
        tf.constant(record(image, [1, 5, 6, 2])), "image/data", "image/caption_ids"
    )
    assert encoded.numpy() == image
    assert caption.dtype == tf.int64
    assert caption.numpy().tolist() == [1, 5, 6, 2]


def test_caption_to_sequences_shifts_by_one() -> None:
    sequences = inputs.caption_to_sequences(tf.constant([1, 7, 8, 2], tf.int64))
    assert sequences["input_seqs"].numpy().tolist() == [1, 7, 8]
    assert sequences["target_seqs"].numpy().tolist() == [7, 8, 2]
    assert sequences["input_mask"].numpy().tolist() == [1, 1, 1]
    assert sequences["input_mask"].dtype == tf.int32


def test_batch_with_dynamic_pad_pads_to_longest() -> None:
    captions = [[1, 2], [1, 5, 2], [1, 5, 6, 7, 2]]
    dataset = tf.data.Dataset.from_generator(
        lambda: ((np.zeros((2, 2, 3), np.float32), np.array(c, np.int64)) for c in captions),
        output_signature=(
            tf.TensorSpec([2, 2, 3], tf.float32),
            tf.TensorSpec([None], tf.int64),
        ),
    )
    (batch,) = batches(inputs.batch_with_dynamic_pad(dataset, 3), 1)
    assert batch["images"].shape == (3, 2, 2, 3)
    np.testing.assert_array_equal(batch["input_seqs"], [[1, 0, 0, 0], [1, 5, 0, 0], [1, 5, 6, 7]])
    np.testing.assert_array_equal(batch["target_seqs"], [[2, 0, 0, 0], [5, 2, 0, 0], [5, 6, 7, 2]])
    np.testing.assert_array_equal(batch["input_mask"], [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]])
    assert batch["input_mask"].dtype == np.int32


def test_training_dataset_shapes_and_types(shards: str) -> None:
    dataset = inputs.build_dataset([shards], CONFIG, is_training=True, seed=1)
    assert dataset.element_spec["images"].shape.as_list() == [2, 16, 16, 3]
    assert dataset.element_spec["input_seqs"].shape.as_list() == [2, None]
    for batch in batches(dataset, 8):  # 12 records, so this wraps round (repeat).
        assert batch["images"].dtype == np.float32
        assert batch["images"].min() >= -1 and batch["images"].max() <= 1
        assert batch["input_seqs"].dtype == np.int64 and batch["target_seqs"].dtype == np.int64
        assert batch["input_mask"].dtype == np.int32
        lengths = batch["input_mask"].sum(axis=1)
        assert batch["input_seqs"].shape[1] == lengths.max()
        for row, length in enumerate(lengths):
            assert batch["input_seqs"][row, 0] == 1 and batch["target_seqs"][row, length - 1] == 2
            np.testing.assert_array_equal(
                batch["input_seqs"][row, 1:length], batch["target_seqs"][row, : length - 1]
            )


def test_training_dataset_is_deterministic_given_seed(shards: str) -> None:
    def run(seed: int) -> list[dict[str, np.ndarray]]:
        return batches(inputs.build_dataset([shards], CONFIG, is_training=True, seed=seed), 7)

    first, again, other = run(3), run(3), run(4)
    for a, b in zip(first, again, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert any(
        a["images"].shape != b["images"].shape or not np.array_equal(a["images"], b["images"])
        for a, b in zip(first, other, strict=True)
    )


def test_eval_dataset_reads_every_record_in_order_once(shards: str) -> None:
    dataset = inputs.build_dataset([shards], CONFIG, is_training=False, repeat=False)
    got = batches(dataset, 100)
    assert [len(b["images"]) for b in got] == [2] * 6
    first_words = [row[1] for b in got for row in b["input_seqs"]]
    # Caption k starts [1, 100 + k] unless its i % 3 == 0 ([1, 2], padded with 0).
    expected = [100 + 10 * s + i if i % 3 else 0 for s in range(2) for i in range(6)]
    assert first_words == expected


def test_short_captions_are_dropped(tmp_path: Path) -> None:
    path = write(
        tmp_path / "val-00000-of-00001",
        [record(jpeg(0), []), record(jpeg(1), [1]), record(jpeg(2), [1, 9, 2])],
    )
    config = dataclasses.replace(CONFIG, batch_size=4)
    got = batches(inputs.build_dataset([path], config, False, repeat=False), 10)
    assert len(got) == 1
    np.testing.assert_array_equal(got[0]["target_seqs"], [[9, 2]])


def test_no_matching_files_raise_naming_the_pattern(tmp_path: Path, shards: str) -> None:
    missing = str(tmp_path / "nothing-*")
    with pytest.raises(FileNotFoundError, match="nothing-"):
        inputs.build_dataset([missing], CONFIG, is_training=True)
    with pytest.raises(FileNotFoundError, match="nothing-"):
        inputs.build_dataset([shards, missing], CONFIG, is_training=False)


def test_resolve_files_sorts_and_deduplicates(shards: str) -> None:
    files = inputs.resolve_files([shards, shards.replace("?????", "00000")])
    assert [Path(f).name for f in files] == ["train-00000-of-00002", "train-00001-of-00002"]


def test_corrupt_image_raises_and_is_located(tmp_path: Path) -> None:
    good = write(tmp_path / "train-00000-of-00002", [record(jpeg(0), [1, 4, 2])] * 3)
    bad = write(
        tmp_path / "train-00001-of-00002",
        [record(jpeg(1), [1, 4, 2]), record(b"\xff\xd8broken", [1, 5, 2])],
    )
    pattern = str(tmp_path / "train-*")
    with pytest.raises(tf.errors.InvalidArgumentError):
        batches(inputs.build_dataset([pattern], CONFIG, True, seed=0, repeat=False), 10)
    found = inputs.find_undecodable_image([pattern], CONFIG)
    assert found is not None and (found.path, found.index) == (bad, 1)
    assert f"{bad} record 1" in found.message
    assert inputs.find_undecodable_image([good], CONFIG) is None
