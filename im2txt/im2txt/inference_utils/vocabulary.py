"""Word <-> id mapping read from the `word_counts.txt` that build_mscoco_data.py writes.

Ids are line numbers (from 0) because that is how the training records were
encoded; `<UNK>` is appended after the last line unless the file already lists it.
The file is read through tf.io.gfile so remote paths (gs://, hdfs://) work too.
"""

from __future__ import annotations

import tensorflow as tf


class Vocabulary:
    """Maps words to the integer ids used in the training records and back."""

    def __init__(
        self,
        vocab_file: str,
        start_word: str = "<S>",
        end_word: str = "</S>",
        unk_word: str = "<UNK>",
    ) -> None:
        """Loads `vocab_file`; raises early on anything that would give wrong ids later."""
        if not tf.io.gfile.exists(vocab_file):
            raise FileNotFoundError(f"Vocabulary file not found: {vocab_file}")
        with tf.io.gfile.GFile(vocab_file, "r") as f:
            text = f.read()

        self._words: list[str] = []
        self._ids: dict[str, int] = {}
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # The newline that ends the last line does not start another one.
        for line_number, line in enumerate(lines, start=1):
            word = _parse_line(line, vocab_file, line_number)
            if word in self._ids:
                raise ValueError(
                    f"{vocab_file}, line {line_number}: duplicate word {word!r} "
                    f"(first on line {self._ids[word] + 1})"
                )
            self._ids[word] = len(self._words)
            self._words.append(word)

        for name, word in (("start", start_word), ("end", end_word)):
            if word not in self._ids:
                raise ValueError(f"{vocab_file} has no {name} word {word!r}")
        if unk_word not in self._ids:
            self._ids[unk_word] = len(self._words)
            self._words.append(unk_word)

        self.start_id: int = self._ids[start_word]
        self.end_id: int = self._ids[end_word]
        self.unk_id: int = self._ids[unk_word]
        self._unk_word = unk_word

    def word_to_id(self, word: str) -> int:
        """Returns the id of `word`, or the unknown-word id so any text can be encoded."""
        return self._ids.get(word, self.unk_id)

    def id_to_word(self, word_id: int) -> str:
        """Returns the word of `word_id`, or the unknown word for ids outside the vocabulary."""
        if 0 <= word_id < len(self._words):
            return self._words[word_id]
        return self._unk_word

    def __len__(self) -> int:
        """Number of ids, `<UNK>` included (the size the model's softmax must cover)."""
        return len(self._words)


def _parse_line(line: str, vocab_file: str, line_number: int) -> str:
    """Returns the word of one `word count` line, rejecting anything else."""
    fields = line.split()
    count = None
    if len(fields) == 2:
        try:
            count = int(fields[1])
        except ValueError:
            pass
    if count is None or count < 0:
        raise ValueError(f"{vocab_file}, line {line_number}: expected 'word count', got {line!r}")
    return fields[0]
