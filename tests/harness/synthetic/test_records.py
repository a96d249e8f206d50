"""Records, vocabulary and shard names in upstream im2txt's formats."""

from __future__ import annotations

import fnmatch
import io
import posixpath
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from harness.synthetic.dataset import generate_dataset
from harness.synthetic.records import (
    Vocabulary,
    build_vocabulary,
    read_records,
    read_word_counts,
    serialize_example,
    shard_names_for_pattern,
    tokenize,
    write_records,
    write_sharded_records,
    write_word_counts,
)

WORDS = st.from_regex(r"[a-z]{1,8}", fullmatch=True)


def _jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def test_tokenize_lowercases_and_splits_punctuation() -> None:
    assert tokenize("A Red circle, on grass.") == ["a", "red", "circle", ",", "on", "grass", "."]


def test_vocabulary_counts_start_and_end_once_per_caption_and_sorts(tmp_path: Path) -> None:
    vocab = build_vocabulary(["a b", "B c", "a b"])
    assert vocab.word_counts == (("</S>", 3), ("<S>", 3), ("b", 3), ("a", 2), ("c", 1))
    path = write_word_counts(vocab, tmp_path / "sub" / "word_counts.txt")
    assert path.read_text() == "</S> 3\n<S> 3\nb 3\na 2\nc 1\n"
    assert read_word_counts(path) == vocab
    assert vocab.unk_id == 5
    assert vocab.ids(["<S>", "c", "zebra"]) == [1, 4, 5]
    assert build_vocabulary(["a b", "b c", "a b"], min_count=2).word_counts[-1] == ("a", 2)


def test_read_word_counts_rejects_malformed_lines(tmp_path: Path) -> None:
    path = tmp_path / "word_counts.txt"
    path.write_text("a 3\nb three\n")
    with pytest.raises(ValueError, match=":2:"):
        read_word_counts(path)


@settings(max_examples=20, deadline=None)
@given(
    captions=st.lists(st.lists(WORDS, min_size=1, max_size=12), min_size=1, max_size=4),
    image_id=st.integers(0, 2**62),
    size=st.tuples(st.integers(1, 64), st.integers(1, 64)),
)
def test_records_round_trip(captions: list[list[str]], image_id: int, size: tuple) -> None:
    texts = [" ".join(words) for words in captions]
    vocab = build_vocabulary(texts[:1])
    jpeg = _jpeg(*size)
    with tempfile.TemporaryDirectory() as folder:
        path = write_records(
            Path(folder, "r"), [serialize_example(image_id, jpeg, t, vocab) for t in texts]
        )
        parsed = read_records(path)
    assert len(parsed) == len(texts)
    # Ids worked out here, not by the Vocabulary under test: words of the first caption
    # (plus <S> and </S>) by count, then alphabetically; anything else is <UNK>, next id.
    counts = Counter(["<S>", *captions[0], "</S>"])
    order = sorted(counts, key=lambda word: (-counts[word], word))
    for record, words in zip(parsed, captions, strict=True):
        tokens = ["<S>", *words, "</S>"]
        assert record == {
            "image_id": image_id,
            "jpeg": jpeg,
            "caption": tokens,
            "caption_ids": [order.index(t) if t in order else len(order) for t in tokens],
        }


def test_records_parse_with_the_trainers_tf_spec(tmp_path: Path) -> None:
    vocab = build_vocabulary(["a red circle"])
    jpeg = _jpeg(40, 30)
    write_records(tmp_path / "r", [serialize_example(42, jpeg, "a red circle", vocab)])
    raw = next(iter(tf.data.TFRecordDataset(str(tmp_path / "r"))))
    context, sequence = tf.io.parse_single_sequence_example(
        raw,
        context_features={
            "image/image_id": tf.io.FixedLenFeature([], tf.int64),
            "image/data": tf.io.FixedLenFeature([], tf.string),
        },
        sequence_features={
            "image/caption": tf.io.FixedLenSequenceFeature([], tf.string),
            "image/caption_ids": tf.io.FixedLenSequenceFeature([], tf.int64),
        },
    )
    assert int(context["image/image_id"]) == 42
    assert tf.io.decode_jpeg(context["image/data"]).shape == (30, 40, 3)
    assert [t.decode() for t in sequence["image/caption"].numpy()] == [
        "<S>", "a", "red", "circle", "</S>",
    ]  # fmt: skip
    # word_counts order: "</S>", "<S>", "a", "circle", "red" (one each, then by word).
    assert sequence["image/caption_ids"].numpy().tolist() == [1, 2, 4, 3, 0]


def test_read_records_names_a_missing_key(tmp_path: Path) -> None:
    example = tf.train.SequenceExample()
    example.context.feature["image/image_id"].int64_list.value.append(1)
    write_records(tmp_path / "bad", [example.SerializeToString()])
    with pytest.raises(ValueError, match="record 0: missing 'image/data'"):
        read_records(tmp_path / "bad")


@pytest.mark.parametrize(
    ("pattern", "limit", "expected"),
    [
        ("/train-?????-of-00256", 2, ["train-00000-of-00256", "train-00001-of-00256"]),
        ("train-*", 1, ["train-00000-of-00007"]),
        ("*", 1, ["train-00000-of-00007"]),
        ("mydata/train-?????-of-00008", 1, ["mydata/train-00000-of-00008"]),
        (
            "//a//b/my-data-?????-of-00003",
            None,
            [f"a/b/my-data-{i:05d}-of-00003" for i in range(3)],
        ),
        (" a/val-?????-of-00004 , b/x-*", 1, ["a/val-00000-of-00004"]),
        ("train-0000[3-4]-of-00008", 5, ["train-00003-of-00008", "train-00004-of-00008"]),
        ("train-00005-of-00008", 5, ["train-00005-of-00008"]),
        ("*-?????-of-00002", None, ["train-00000-of-00002", "train-00001-of-00002"]),
    ],
)
def test_shard_names_for_examples(pattern: str, limit: int | None, expected: list[str]) -> None:
    assert shard_names_for_pattern(pattern, default_total=7, limit=limit) == expected


@pytest.mark.parametrize(
    "pattern",
    ["", " , ", "../train-*", "a/../../train-*", "*/train-*", "train-?????-of-256", "x.tfrecord"],
)
def test_unmatchable_patterns_raise_naming_the_pattern(pattern: str) -> None:
    with pytest.raises(ValueError, match="pattern") as error:
        shard_names_for_pattern(pattern)
    assert repr(pattern) in str(error.value)


@settings(max_examples=60, deadline=None)
@given(
    name=st.from_regex(r"[a-z][a-z0-9_]{0,8}(-[a-z0-9]{1,4})?", fullmatch=True),
    folder=st.sampled_from(["", "/", "data/", "/data/sub/"]),
    total=st.integers(1, 99999),
    limit=st.integers(1, 5),
)
def test_shard_names_match_their_pattern(name: str, folder: str, total: int, limit: int) -> None:
    pattern = f"{folder}{name}-?????-of-{total:05d}"
    names = shard_names_for_pattern(pattern, limit=limit)
    assert names == [
        posixpath.join(folder.strip("/"), f"{name}-{i:05d}-of-{total:05d}")
        for i in range(min(total, limit))
    ]
    for shard in names:
        assert fnmatch.fnmatchcase(shard, pattern.lstrip("/"))


def test_sharded_writer_spreads_records_without_empty_shards(tmp_path: Path) -> None:
    examples = [bytes([i]) for i in range(5)]
    paths = write_sharded_records(tmp_path, "d/train-?????-of-00016", examples, num_shards=3)
    assert [p.name for p in paths] == [f"train-{i:05d}-of-00016" for i in range(3)]
    read = [r.numpy() for p in paths for r in tf.data.TFRecordDataset(str(p))]
    assert read == examples
    assert len(write_sharded_records(tmp_path / "few", "t-*", examples[:1], num_shards=4)) == 1
    with pytest.raises(ValueError):
        write_sharded_records(tmp_path, "t-*", examples, num_shards=0)


def test_generate_dataset_is_deterministic_and_complete(tmp_path: Path) -> None:
    kwargs = {"num_images": 6, "captions_per_image": 3, "num_eval_images": 2}
    one = generate_dataset(tmp_path / "one", seed=3, **kwargs)
    two = generate_dataset(tmp_path / "two", seed=3, **kwargs)
    other = generate_dataset(tmp_path / "other", seed=4, **kwargs)

    def contents(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    assert contents(one.root) == contents(two.root)
    assert contents(one.root) != contents(other.root)
    assert sorted(contents(one.root)) == [
        "train-00000-of-00256", "train-00001-of-00256", "val-00000-of-00004", "word_counts.txt",
    ]  # fmt: skip

    train = [r for p in one.train_files for r in read_records(p)]
    assert len(train) == 6 * 3
    by_id = {s.image_id: s for s in one.train_scenes}
    assert sorted((r["image_id"], " ".join(r["caption"][1:-1])) for r in train) == sorted(
        (s.image_id, c) for s in one.train_scenes for c in s.captions
    )
    assert all(r["jpeg"] == by_id[r["image_id"]].jpeg for r in train)
    assert read_word_counts(one.vocab_file) == one.vocab
    lines = [line.split()[0] for line in one.vocab_file.read_text().splitlines()]
    assert all(r["caption_ids"] == [lines.index(t) for t in r["caption"]] for r in train)

    held_out = read_records(one.eval_files[0])
    assert len(held_out) == 2 * 3
    assert {r["image_id"] for r in held_out} == {7, 8}


def test_generate_dataset_follows_job_patterns(tmp_path: Path) -> None:
    data = generate_dataset(
        tmp_path,
        num_images=2,
        captions_per_image=1,
        input_file_pattern="/mine/train-*",
        num_eval_images=0,
        vocab_file="/mine/vocab.txt",
    )
    assert [p.relative_to(tmp_path).as_posix() for p in data.train_files] == [
        "mine/train-00000-of-00256", "mine/train-00001-of-00256",
    ]  # fmt: skip
    assert data.eval_files == [] and data.vocab_file == tmp_path / "mine" / "vocab.txt"
    assert isinstance(data.vocab, Vocabulary)
