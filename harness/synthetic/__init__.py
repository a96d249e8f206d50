"""Synthetic inputs for testing a job: scenes, records, vocabulary, COCO json, checkpoints."""

from harness.synthetic.checkpoint import (
    SyntheticCheckpoint,
    load_manifest,
    variable_value,
    write_inception_checkpoint,
)
from harness.synthetic.coco import CocoDataset, generate_coco_dataset, write_coco_dataset
from harness.synthetic.dataset import SyntheticDataset, generate_dataset
from harness.synthetic.records import (
    Vocabulary,
    build_vocabulary,
    caption_tokens,
    examples_for_scenes,
    read_records,
    read_word_counts,
    serialize_example,
    serialize_tokens,
    shard_names_for_pattern,
    tokenize,
    write_records,
    write_sharded_records,
    write_word_counts,
)
from harness.synthetic.scenes import Scene, SceneAttributes, SceneObject, describe, generate_scenes

__all__ = [
    "CocoDataset",
    "Scene",
    "SceneAttributes",
    "SceneObject",
    "SyntheticCheckpoint",
    "SyntheticDataset",
    "Vocabulary",
    "build_vocabulary",
    "caption_tokens",
    "describe",
    "examples_for_scenes",
    "generate_coco_dataset",
    "generate_dataset",
    "generate_scenes",
    "load_manifest",
    "read_records",
    "read_word_counts",
    "serialize_example",
    "serialize_tokens",
    "shard_names_for_pattern",
    "tokenize",
    "variable_value",
    "write_coco_dataset",
    "write_inception_checkpoint",
    "write_records",
    "write_sharded_records",
    "write_word_counts",
]
