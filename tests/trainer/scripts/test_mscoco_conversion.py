"""build_mscoco_data.py end to end on the harness's synthetic COCO-format dataset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.backends.local import LocalBackend
from harness.params import JobParams
from harness.record import NOT_APPLICABLE, PASSED
from harness.scenario import QUICK_PARAMS, Plan, validate
from harness.synthetic import (
    generate_coco_dataset,
    generate_scenes,
    read_records,
    read_word_counts,
    write_coco_dataset,
)

pytestmark = pytest.mark.slow


def _convert(repo_root: Path, coco, out: Path, train_shards: int = 2) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(repo_root / "im2txt" / "build_mscoco_data.py"),
            f"--train_image_dir={coco.train_image_dir}",
            f"--val_image_dir={coco.val_image_dir}",
            f"--train_captions_file={coco.train_captions_file}",
            f"--val_captions_file={coco.val_captions_file}",
            f"--output_dir={out}",
            f"--train_shards={train_shards}",
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


def test_converter_turns_synthetic_coco_into_trainable_shards(repo_root, tmp_path) -> None:
    coco = generate_coco_dataset(tmp_path / "coco", num_train=6, num_val=20, captions_per_image=2)
    out = tmp_path / "records"
    _convert(repo_root, coco, out)
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


def test_the_converters_output_validates_as_user_data(repo_root, tmp_path, im2txt_sample) -> None:
    """The converter's shards and word_counts.txt, given to `validate --data` as a user
    would, train our trainer and pass every platform check (the model checks read the
    same record format, proven on the harness's own records by the default job)."""
    # One large shape per image, each its own colour, as the harness's own samples.
    scenes = generate_scenes(5, captions_per_image=2, max_objects=1, distinct_colours=True)
    coco = write_coco_dataset(tmp_path / "coco", scenes[:4], scenes[4:])
    out = tmp_path / "records"
    _convert(repo_root, coco, out, train_shards=1)
    _, pretrained = im2txt_sample
    params = JobParams.of(QUICK_PARAMS).with_flag("input_file_pattern", "/train-?????-of-00001")
    plan = Plan(train_params=params, profile="none", data=out, pretrained=pretrained, steps=30)
    result = validate(LocalBackend(repo_root / "im2txt"), plan, tmp_path / "run")
    table = {check.name: check.status for check in result.record.checks}
    assert table == {
        "image_contract": NOT_APPLICABLE,
        "path_contract": PASSED,
        "pretrained_restore": PASSED,
        "loss_decrease": PASSED,
        "resume": PASSED,
        "reproducible": NOT_APPLICABLE,
    }, {c.name: c.message for c in result.record.checks}
    assert any(path.startswith("data/data/train-00000-of-00001") for path in result.record.inputs)
