"""Vocabulary: ids by line number, <UNK> handling and clear errors on bad files."""

from __future__ import annotations

import os
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from im2txt.inference_utils.vocabulary import Vocabulary


def write_counts(path, words, counts=None) -> str:
    """Writes `word count` lines as build_mscoco_data.py does; returns the path."""
    counts = counts or [100 - i for i in range(len(words))]
    with open(path, "w", encoding="utf-8") as f:
        for word, count in zip(words, counts, strict=True):
            f.write(f"{word} {count}\n")
    return str(path)


@pytest.fixture
def vocab_file(tmp_path) -> str:
    return write_counts(tmp_path / "word_counts.txt", ["a", "<S>", "</S>", "dog", "."])


def test_ids_are_line_numbers_and_unk_is_appended(vocab_file):
    vocab = Vocabulary(vocab_file)
    assert [vocab.word_to_id(w) for w in ["a", "<S>", "</S>", "dog", "."]] == [0, 1, 2, 3, 4]
    assert (vocab.start_id, vocab.end_id, vocab.unk_id) == (1, 2, 5)
    assert vocab.id_to_word(5) == "<UNK>"
    assert len(vocab) == 6


def test_unknown_word_maps_to_unk_id(vocab_file):
    vocab = Vocabulary(vocab_file)
    assert vocab.word_to_id("cat") == vocab.unk_id
    assert vocab.word_to_id("<UNK>") == vocab.unk_id


@pytest.mark.parametrize("word_id", [6, 100, -1])
def test_out_of_range_id_maps_to_unk_word(vocab_file, word_id):
    assert Vocabulary(vocab_file).id_to_word(word_id) == "<UNK>"


def test_unk_already_in_file_is_not_appended(tmp_path):
    path = write_counts(tmp_path / "wc.txt", ["<S>", "<UNK>", "</S>"])
    vocab = Vocabulary(path)
    assert vocab.unk_id == 1
    assert len(vocab) == 3
    assert vocab.word_to_id("zebra") == 1


def test_custom_special_words(tmp_path):
    path = write_counts(tmp_path / "wc.txt", ["BOS", "x", "EOS"])
    vocab = Vocabulary(path, start_word="BOS", end_word="EOS", unk_word="???")
    assert (vocab.start_id, vocab.end_id, vocab.unk_id) == (0, 2, 3)
    assert vocab.id_to_word(99) == "???"


def test_crlf_and_missing_final_newline_are_accepted(tmp_path):
    path = tmp_path / "wc.txt"
    path.write_bytes(b"<S> 5\r\n</S> 5\r\nhi 1")
    vocab = Vocabulary(str(path))
    assert vocab.word_to_id("hi") == 2
    assert len(vocab) == 4


def test_missing_file_names_the_path(tmp_path):
    missing = str(tmp_path / "nope" / "word_counts.txt")
    with pytest.raises(FileNotFoundError, match="nope"):
        Vocabulary(missing)


@pytest.mark.parametrize(
    "content, line_number",
    [
        ("<S> 1\n</S> 1\nlonely\n", 3),
        ("<S> 1\nbad count\n</S> 1\n", 2),
        ("<S> 1\n\n</S> 1\n", 2),
        ("<S> 1\n</S> 1\ntoo many 3\n", 3),
        ("<S> -1\n</S> 1\n", 1),
        ("<S> 1\n</S> 1\n<S> 2\n", 3),
    ],
    ids=["no-count", "non-int-count", "blank", "three-fields", "negative", "duplicate"],
)
def test_malformed_line_names_file_and_line(tmp_path, content, line_number):
    path = tmp_path / "broken_counts.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=rf"broken_counts\.txt, line {line_number}\b"):
        Vocabulary(str(path))


@pytest.mark.parametrize("present, missing", [(["<S>", "a"], "</S>"), (["a", "</S>"], "<S>")])
def test_missing_start_or_end_word_is_named(tmp_path, present, missing):
    path = write_counts(tmp_path / "wc.txt", present)
    with pytest.raises(ValueError, match=missing):
        Vocabulary(path)


# Words as word_tokenize produces them: no whitespace, no control characters.
WORDS = st.text(
    alphabet=st.characters(exclude_categories=("Zs", "Zl", "Zp", "Cc", "Cs")),
    min_size=1,
    max_size=8,
).filter(lambda w: w not in ("<S>", "</S>", "<UNK>"))


@settings(max_examples=50, deadline=None)
@given(words=st.lists(WORDS, unique=True, max_size=30), data=st.data())
def test_round_trip_every_word(words, data):
    start_at = data.draw(st.integers(0, len(words)), label="start position")
    words.insert(start_at, "<S>")
    end_at = data.draw(st.integers(0, len(words)), label="end position")
    words.insert(end_at, "</S>")
    with tempfile.TemporaryDirectory() as tmp:
        vocab = Vocabulary(write_counts(os.path.join(tmp, "word_counts.txt"), words))
    assert len(vocab) == len(words) + 1
    for i, word in enumerate(words):
        assert vocab.word_to_id(word) == i
        assert vocab.id_to_word(vocab.word_to_id(word)) == word
    assert vocab.start_id == words.index("<S>")
    assert vocab.end_id == words.index("</S>")
    assert vocab.unk_id == len(words)
    assert vocab.id_to_word(vocab.unk_id) == "<UNK>"
