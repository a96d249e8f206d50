"""Cluster input: each worker's pipeline reads its own files (im2txt.ops.inputs.build_dataset).

In a cluster the pipeline is traced once on the chief inside a tf.function and
runs on every worker, so the worker index arrives as a tensor.
"""

from __future__ import annotations

import pytest
import tensorflow as tf

from im2txt.configuration import ModelConfig
from im2txt.ops import inputs
from tests.support.record_helpers import jpeg, record, write

CONFIG = ModelConfig(
    batch_size=2,
    image_height=16,
    image_width=16,
    resize_height=20,
    resize_width=20,
    values_per_input_shard=4,
)
NUM_FILES = 5


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Five files; every caption of file f is [1, 100 + f, 2], so a batch tells its file."""
    folder = tmp_path_factory.mktemp("worker-shards")
    for shard in range(NUM_FILES):
        records = [record(jpeg(10 * shard + i), [1, 100 + shard, 2]) for i in range(3)]
        write(folder / f"train-{shard:05d}-of-{NUM_FILES:05d}", records)
    return str(folder / f"train-?????-of-{NUM_FILES:05d}")


def _files_read(dataset: tf.data.Dataset, batches: int = 12) -> set[int]:
    return {
        int(word) - 100
        for batch in dataset.take(batches)
        for word in batch["input_seqs"].numpy()[:, 1]
    }


@pytest.mark.parametrize(("count", "index"), [(2, 0), (2, 1), (3, 2)])
def test_worker_reads_every_count_th_file_from_its_index(
    shards: str, count: int, index: int
) -> None:
    dataset = inputs.build_dataset(
        [shards],
        CONFIG,
        is_training=True,
        seed=1,
        worker_shard=(count, tf.constant(index, tf.int64)),
    )
    assert _files_read(dataset) == set(range(index, NUM_FILES, count))


def test_worker_index_may_be_a_tensor_known_only_when_the_pipeline_runs(shards: str) -> None:
    """As on a cluster: traced in a tf.function, with the index fed at call time."""

    @tf.function
    def first_words(worker: tf.Tensor) -> tf.Tensor:
        dataset = inputs.build_dataset(
            [shards],
            CONFIG,
            is_training=True,
            seed=1,
            skip_images=[jpeg(0)],  # Fingerprinted eagerly even while tracing.
            worker_shard=(2, worker),
        )
        return dataset.take(8).reduce(
            tf.zeros([0], tf.int64),
            lambda seen, batch: tf.concat([seen, batch["input_seqs"][:, 1]], 0),
        )

    for worker in range(2):
        files = {int(word) - 100 for word in first_words(tf.constant(worker, tf.int64)).numpy()}
        assert files == set(range(worker, NUM_FILES, 2))


def test_worker_shard_is_refused_for_evaluation(shards: str) -> None:
    with pytest.raises(ValueError, match="worker_shard splits training input only"):
        inputs.build_dataset([shards], CONFIG, is_training=False, worker_shard=(2, 0))
