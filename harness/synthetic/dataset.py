"""One call that lays out a job's data folder: train and eval shards plus `word_counts.txt`."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.synthetic.records import (
    Vocabulary,
    build_vocabulary,
    examples_for_scenes,
    write_sharded_records,
    write_word_counts,
)
from harness.synthetic.scenes import DEFAULT_SIZES, Scene, generate_scenes


@dataclass(frozen=True)
class SyntheticDataset:
    """What `generate_dataset` wrote, with the scenes behind it for later comparison."""

    root: Path
    train_files: list[Path]
    eval_files: list[Path]
    vocab_file: Path
    vocab: Vocabulary
    train_scenes: list[Scene]
    eval_scenes: list[Scene]


def generate_dataset(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    num_images: int = 32,
    captions_per_image: int = 5,
    input_file_pattern: str = "train-?????-of-00256",
    num_shards: int = 2,
    num_eval_images: int = 8,
    eval_file_pattern: str = "val-?????-of-00004",
    eval_shards: int = 1,
    vocab_file: str = "word_counts.txt",
    min_word_count: int = 1,
    sizes: Sequence[tuple[int, int]] = DEFAULT_SIZES,
    max_objects: int = 2,
    distinct_colours: bool = False,
) -> SyntheticDataset:
    """Write records matching the job's patterns and a vocabulary built from train captions.

    Patterns and `vocab_file` are job paths relative to `out_dir` (a leading `/`
    means `out_dir`, as on the platform). Eval images get ids after the train ones;
    `num_eval_images=0` writes no eval split. Same arguments, same bytes.
    """
    root = Path(out_dir)
    train = generate_scenes(
        num_images,
        seed=seed,
        captions_per_image=captions_per_image,
        sizes=sizes,
        max_objects=max_objects,
        distinct_colours=distinct_colours,
    )
    held_out = generate_scenes(
        num_eval_images,
        seed=seed,
        captions_per_image=captions_per_image,
        first_image_id=num_images + 1,
        sizes=sizes,
        max_objects=max_objects,
    )
    vocab = build_vocabulary((c for s in train for c in s.captions), min_count=min_word_count)
    train_files = write_sharded_records(
        root, input_file_pattern, examples_for_scenes(train, vocab, seed), num_shards=num_shards
    )
    eval_files = (
        write_sharded_records(
            root,
            eval_file_pattern,
            examples_for_scenes(held_out, vocab, seed),
            num_shards=eval_shards,
        )
        if held_out
        else []
    )
    vocab_path = write_word_counts(vocab, root / posixpath.normpath("/" + vocab_file).lstrip("/"))
    return SyntheticDataset(root, train_files, eval_files, vocab_path, vocab, train, held_out)
