"""Tests of build_mscoco_data.py: tokenising, vocabulary, splits, shards end to end."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
from pathlib import Path

import build_mscoco_data as bmd
import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from im2txt import mscoco_captions

SCRIPT = Path(bmd.__file__)

# Captions drawn from few words, so several pass min_word_count=2 and some do not.
WORDS = ["a", "dog", "cat", "on", "the", "grass", "red", "bus", "zebra", "man"]


def _jpeg_file(path: Path, seed: int) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 10, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, "JPEG")


def _coco(folder: Path, name: str, first_id: int, count: int, corrupt: set[int]) -> Path:
    """A COCO-format captions file of `count` images, two captions each."""
    image_dir = folder / name
    image_dir.mkdir()
    images, annotations = [], []
    rng = np.random.default_rng(first_id)
    for image_id in range(first_id, first_id + count):
        file_name = f"COCO_{name}_{image_id:012d}.jpg"
        if image_id in corrupt:
            (image_dir / file_name).write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
        else:
            _jpeg_file(image_dir / file_name, image_id)
        images.append({"id": image_id, "file_name": file_name})
        for n in range(2):
            words = rng.choice(WORDS, size=3 + n).tolist()
            annotations.append(
                {"id": 10 * image_id + n, "image_id": image_id, "caption": " ".join(words) + "."}
            )
    captions_file = folder / f"captions_{name}.json"
    captions_file.write_text(json.dumps({"images": images, "annotations": annotations}))
    return captions_file


@pytest.fixture()
def coco(tmp_path: Path) -> bmd.ConverterOptions:
    """3 train2014 images (one corrupt) and 20 val2014 images: splits 3+17 / 1 / 2."""
    train_captions = _coco(tmp_path, "train2014", 1, 3, corrupt={2})
    val_captions = _coco(tmp_path, "val2014", 100, 20, corrupt=set())
    return bmd.ConverterOptions(
        train_image_dir=str(tmp_path / "train2014"),
        val_image_dir=str(tmp_path / "val2014"),
        train_captions_file=str(train_captions),
        val_captions_file=str(val_captions),
        output_dir=str(tmp_path / "out"),
        train_shards=3,
        val_shards=1,
        test_shards=2,
        min_word_count=2,
        num_threads=2,
    )


def _read_records(pattern: str) -> list[dict]:
    records = []
    for path in sorted(tf.io.gfile.glob(pattern)):
        for serialized in tf.data.TFRecordDataset(path).as_numpy_iterator():
            example = tf.train.SequenceExample.FromString(serialized)
            lists = example.feature_lists.feature_list
            records.append(
                {
                    "image_id": example.context.feature["image/image_id"].int64_list.value[0],
                    "data": example.context.feature["image/data"].bytes_list.value[0],
                    "words": [
                        f.bytes_list.value[0].decode() for f in lists["image/caption"].feature
                    ],
                    "ids": [f.int64_list.value[0] for f in lists["image/caption_ids"].feature],
                }
            )
    return records


def test_tokenize_caption_treebank_without_nltk_data() -> None:
    assert mscoco_captions.tokenize_caption("A man's dog, running.") == [
        "<S>", "a", "man", "'s", "dog", ",", "running", ".", "</S>",
    ]  # fmt: skip
    assert mscoco_captions.tokenize_caption("Two dogs. One cat!\n", "<s>", "</s>") == [
        "<s>", "two", "dogs", ".", "one", "cat", "!", "</s>",
    ]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="aBcXyZ019 .,!?;:-()&$%\t\n", max_size=60))
def test_tokenize_caption_keeps_every_character(caption: str) -> None:
    tokens = mscoco_captions.tokenize_caption(caption)
    assert tokens[0] == "<S>" and tokens[-1] == "</S>"
    assert all(token and not any(c.isspace() for c in token) for token in tokens)
    assert "".join(tokens[1:-1]) == "".join(caption.lower().split())


@settings(max_examples=25, deadline=None)
@given(
    image_id=st.integers(0, 2**62),
    image=st.binary(max_size=64),
    words=st.lists(st.text(min_size=1, max_size=8).filter(lambda w: not w.isspace()), max_size=8),
)
def test_any_caption_record_round_trips(image_id: int, image: bytes, words: list[str]) -> None:
    vocab = bmd.Vocabulary(["<S>", "</S>", *WORDS])
    caption = ["<S>", *words, "</S>"]
    serialized = bmd.to_sequence_example(image_id, image, caption, vocab).SerializeToString()
    context, sequence = tf.io.parse_single_sequence_example(
        serialized,
        context_features={
            "image/image_id": tf.io.FixedLenFeature([], tf.int64),
            "image/data": tf.io.FixedLenFeature([], tf.string),
        },
        sequence_features={
            "image/caption": tf.io.FixedLenSequenceFeature([], tf.string),
            "image/caption_ids": tf.io.FixedLenSequenceFeature([], tf.int64),
        },
    )
    assert context["image/image_id"].numpy() == image_id
    assert context["image/data"].numpy() == image
    assert [w.decode() for w in sequence["image/caption"].numpy()] == caption
    expected_ids = [vocab.word_to_id(w) for w in caption]
    assert sequence["image/caption_ids"].numpy().tolist() == expected_ids
    assert expected_ids[0] == 0 and expected_ids[-1] == 1
    unknown = [i for w, i in zip(words, expected_ids[1:-1], strict=True) if w not in WORDS]
    assert all(i == vocab.unk_id == len(WORDS) + 2 for i in unknown if i > 1)


def test_create_vocab_counts_sorts_and_applies_min_count() -> None:
    captions = [
        mscoco_captions.tokenize_caption(c) for c in ["a dog", "a cat", "a dog runs", "the dog"]
    ]
    word_counts = bmd.create_vocab(captions, min_word_count=2)
    assert word_counts == [("<S>", 4), ("</S>", 4), ("a", 3), ("dog", 3)]


@pytest.mark.parametrize(("val_images", "sizes"), [(20, (17, 1, 2)), (100, (85, 5, 10))])
def test_split_fractions(val_images: int, sizes: tuple[int, int, int]) -> None:
    train = [bmd.ImageMetadata(i, f"t{i}", []) for i in range(7)]
    val = [bmd.ImageMetadata(1000 + i, f"v{i}", []) for i in range(val_images)]
    splits = bmd.split_datasets(train, val)
    assert [len(s) for s in splits] == [7 + sizes[0], sizes[1], sizes[2]]
    assert splits[0][:7] == train and splits[0][7:] + splits[1] + splits[2] == val


def test_convert_end_to_end(
    coco: bmd.ConverterOptions, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    with caplog.at_level(logging.WARNING):
        counts = bmd.convert(coco)
    assert counts == {"train": 2 + 17, "val": 1, "test": 2}
    corrupt = str(Path(coco.train_image_dir) / "COCO_train2014_000000000002.jpg")
    assert any(corrupt in message for message in caplog.messages)

    out = Path(coco.output_dir)
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "test-00000-of-00002", "test-00001-of-00002",
        "train-00000-of-00003", "train-00001-of-00003", "train-00002-of-00003",
        "val-00000-of-00001", "word_counts.txt",
    ]  # fmt: skip

    lines = (out / "word_counts.txt").read_text().splitlines()
    word_counts = [(w, int(c)) for w, c in (line.split(" ") for line in lines)]
    counts_only = [c for _, c in word_counts]
    assert counts_only == sorted(counts_only, reverse=True)
    assert min(counts_only) >= 2
    assert dict(word_counts)["<S>"] == dict(word_counts)["</S>"] == 2 * 19
    assert "<UNK>" not in dict(word_counts)
    ids = {word: i for i, (word, _) in enumerate(word_counts)}

    sources = {}
    for captions_file, image_dir in (
        (coco.train_captions_file, coco.train_image_dir),
        (coco.val_captions_file, coco.val_image_dir),
    ):
        data = json.loads(Path(captions_file).read_text())
        files = {i["id"]: Path(image_dir) / i["file_name"] for i in data["images"]}
        for a in data["annotations"]:
            sources.setdefault(a["image_id"], (files[a["image_id"]], []))[1].append(a["caption"])

    splits = {name: _read_records(str(out / f"{name}-*")) for name in ("train", "val", "test")}
    assert [len(splits[n]) for n in ("train", "val", "test")] == [2 * 19, 2, 4]
    assert {r["image_id"] for r in splits["val"]} == {117}
    assert {r["image_id"] for r in splits["test"]} == {118, 119}
    for record in (r for split in splits.values() for r in split):
        path, captions = sources[record["image_id"]]
        assert record["image_id"] != 2
        assert record["data"] == path.read_bytes()
        assert record["words"] in [mscoco_captions.tokenize_caption(c) for c in captions]
        assert record["ids"] == [ids.get(w, len(ids)) for w in record["words"]]
    train_pairs = {(r["image_id"], tuple(r["words"])) for r in splits["train"]}
    assert len(train_pairs) == 2 * 19  # One record per (image, caption).

    # Reproducible, and independent of the number of threads.
    again = bmd.ConverterOptions(**{**vars(coco), "output_dir": str(tmp_path / "again")})
    again.num_threads = 1
    bmd.convert(again)
    for name in names:
        assert (Path(again.output_dir) / name).read_bytes() == (out / name).read_bytes()


def test_missing_image_file_is_an_error_naming_it(coco: bmd.ConverterOptions) -> None:
    missing = Path(coco.val_image_dir) / "COCO_val2014_000000000105.jpg"
    missing.unlink()
    with pytest.raises(FileNotFoundError, match=missing.name):
        bmd.convert(coco)


def test_main_parses_flags_and_defaults_word_counts_into_output_dir(
    coco: bmd.ConverterOptions,
) -> None:
    argv = [
        "build_mscoco_data.py",
        f"--train_image_dir={coco.train_image_dir}",
        f"--val_image_dir={coco.val_image_dir}",
        f"--train_captions_file={coco.train_captions_file}",
        f"--val_captions_file={coco.val_captions_file}",
        f"--output_dir={coco.output_dir}",
        "--train_shards=2",
        "--val_shards=1",
        "--test_shards=1",
        "--num_threads=3",
    ]
    assert bmd.main(argv) == 0
    out = Path(coco.output_dir)
    assert (out / "train-00001-of-00002").exists() and (out / "test-00000-of-00001").exists()
    # min_word_count defaults to 4.
    assert all(
        int(line.split()[1]) >= 4
        for line in (out / "word_counts.txt").read_text().split("\n")
        if line
    )
    assert bmd.main(["build_mscoco_data.py", "--train_shards=0"]) == 2


def test_main_reports_missing_input_by_path(
    coco: bmd.ConverterOptions, caplog: pytest.LogCaptureFixture
) -> None:
    missing = str(Path(coco.train_image_dir).parent / "no_such_dir")
    argv = [
        "build_mscoco_data.py",
        f"--train_image_dir={missing}",
        f"--val_image_dir={coco.val_image_dir}",
        f"--train_captions_file={coco.train_captions_file}",
        f"--val_captions_file={coco.val_captions_file}",
        f"--output_dir={coco.output_dir}",
    ]
    with caplog.at_level(logging.ERROR):
        assert bmd.main(argv) == 1
    assert any(missing in message for message in caplog.messages)


def test_script_exits_non_zero_naming_missing_captions_file(tmp_path: Path) -> None:
    missing = tmp_path / "captions_train2014.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), f"--train_captions_file={missing}"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert str(missing) in result.stderr


def test_malformed_captions_file_is_value_error(tmp_path: Path) -> None:
    captions = tmp_path / "captions.json"
    captions.write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match="annotations"):
        bmd.load_and_process_metadata(str(captions), str(tmp_path))
    captions.write_text("{not json")
    with pytest.raises(ValueError, match="JSON"):
        bmd.load_and_process_metadata(str(captions), str(tmp_path))


def test_flag_defaults_are_upstreams() -> None:
    flag_values = flags.FlagValues()
    bmd.define_flags(flag_values)
    flag_values(["build_mscoco_data.py", "--output_dir=/data/coco"])
    assert (
        flag_values.train_shards,
        flag_values.val_shards,
        flag_values.test_shards,
        flag_values.min_word_count,
        flag_values.num_threads,
    ) == (256, 4, 8, 4, 8)
    assert (flag_values.start_word, flag_values.end_word, flag_values.unknown_word) == (
        "<S>",
        "</S>",
        "<UNK>",
    )
    options = bmd.ConverterOptions(
        **{f.name: flag_values[f.name].value for f in dataclasses.fields(bmd.ConverterOptions)}
    )
    assert options.word_counts_path() == "/data/coco/word_counts.txt"
