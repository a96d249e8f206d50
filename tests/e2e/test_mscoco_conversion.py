"""build_mscoco_data.py end to end on the harness's synthetic COCO-format dataset."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.synthetic import generate_coco_dataset, read_records, read_word_counts

pytestmark = pytest.mark.slow


def test_converter_turns_synthetic_coco_into_trainable_shards(repo_root, tmp_path) -> None:
    coco = generate_coco_dataset(tmp_path / "coco", num_train=6, num_val=20, captions_per_image=2)
    out = tmp_path / "records"
    done = subprocess.run(
        [
            sys.executable,
            str(repo_root / "im2txt" / "build_mscoco_data.py"),
            f"--train_image_dir={coco.train_image_dir}",
            f"--val_image_dir={coco.val_image_dir}",
            f"--train_captions_file={coco.train_captions_file}",
            f"--val_captions_file={coco.val_captions_file}",
            f"--output_dir={out}",
            "--train_shards=2",
            "--val_shards=1",
            "--test_shards=1",
            "--num_threads=2",
            "--min_word_count=1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = sorted(p.name for p in out.iterdir())
    assert {
        "train-00000-of-00002",
        "train-00001-of-00002",
        "val-00000-of-00001",
        "test-00000-of-00001",
        "word_counts.txt",
    } <= set(names)
    vocab = read_word_counts(out / "word_counts.txt")
    words = [word for word, _ in vocab.word_counts]
    assert "<UNK>" not in words and {"<S>", "</S>"} <= set(words)
    records = [r for shard in out.glob("train-*") for r in read_records(shard)]
    # train = 6 train2014 images + 85% of the 20 val2014 images (17), 2 captions each.
    assert len(records) == (6 + 17) * 2
    for record in records:
        assert record["caption"][0] == "<S>" and record["caption"][-1] == "</S>"
        assert record["caption_ids"] == [
            vocab.word_to_id.get(t, vocab.unk_id) for t in record["caption"]
        ]
        assert record["jpeg"][:2] == b"\xff\xd8"
