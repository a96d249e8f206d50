"""Captions to upstream im2txt records: tokens, `word_counts.txt` and sharded TFRecords.

The harness writes these formats itself (it never imports the trainer) so that a
job's own reader is tested against files made independently, the way
`build_mscoco_data.py` makes them: one `tf.train.SequenceExample` per (image,
caption) pair, shards named `{name}-{i:05d}-of-{n:05d}`.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError

from harness.synthetic.scenes import Scene

START_WORD = "<S>"
END_WORD = "</S>"
IMAGE_ID_KEY = "image/image_id"
IMAGE_DATA_KEY = "image/data"
CAPTION_KEY = "image/caption"
CAPTION_IDS_KEY = "image/caption_ids"
_GLOB_CHARS = "*?["
_FALLBACK_NAME = "train"


def tokenize(caption: str) -> list[str]:
    """Lowercase words and single punctuation marks (Treebank agrees on plain words)."""
    return re.findall(r"\w+|[^\w\s]", caption.lower())


def caption_tokens(caption: str) -> list[str]:
    """The token sequence a record stores: start word, words, end word."""
    return [START_WORD, *tokenize(caption), END_WORD]


@dataclass(frozen=True)
class Vocabulary:
    """`word_counts.txt` contents; ids are line numbers and `<UNK>` is `len(word_counts)`."""

    word_counts: tuple[tuple[str, int], ...]

    @cached_property
    def word_to_id(self) -> dict[str, int]:
        return {word: i for i, (word, _) in enumerate(self.word_counts)}

    @property
    def unk_id(self) -> int:
        return len(self.word_counts)

    def ids(self, tokens: Iterable[str]) -> list[int]:
        """Token ids as the converter assigns them, unknown words mapping to `unk_id`."""
        return [self.word_to_id.get(token, self.unk_id) for token in tokens]


def build_vocabulary(captions: Iterable[str], min_count: int = 1) -> Vocabulary:
    """Count tokens (start and end words once per caption), keeping those seen `min_count`+.

    Sorted by count descending, then by word, so the file is the same whatever the
    caption order.
    """
    counter: Counter[str] = Counter()
    for caption in captions:
        counter.update(caption_tokens(caption))
    kept = sorted(
        ((word, count) for word, count in counter.items() if count >= min_count),
        key=lambda item: (-item[1], item[0]),
    )
    return Vocabulary(tuple(kept))


def write_word_counts(vocab: Vocabulary, path: str | os.PathLike[str]) -> Path:
    """Write `word count` lines, upstream's `word_counts.txt` format (no `<UNK>` line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{word} {count}\n" for word, count in vocab.word_counts))
    return path


def read_word_counts(path: str | os.PathLike[str]) -> Vocabulary:
    """Read a `word_counts.txt` back, for checks on files a user brings."""
    pairs = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        parts = line.split(" ")
        if len(parts) != 2 or not parts[1].isdigit():
            raise ValueError(f"{path}:{number}: expected 'word count', got {line!r}")
        pairs.append((parts[0], int(parts[1])))
    return Vocabulary(tuple(pairs))


def serialize_example(image_id: int, jpeg: bytes, caption: str, vocab: Vocabulary) -> bytes:
    """One upstream SequenceExample for a caption sentence, serialized deterministically."""
    tokens = caption_tokens(caption)
    return serialize_tokens(image_id, jpeg, tokens, vocab.ids(tokens))


def serialize_tokens(
    image_id: int, jpeg: bytes, tokens: Sequence[str], caption_ids: Sequence[int]
) -> bytes:
    """One upstream SequenceExample from caption tokens (with `<S>`/`</S>`) and their ids."""
    context = tf.train.Features(
        feature={
            IMAGE_ID_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[image_id])),
            IMAGE_DATA_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[jpeg])),
        }
    )
    feature_lists = tf.train.FeatureLists(
        feature_list={
            CAPTION_KEY: tf.train.FeatureList(
                feature=[
                    tf.train.Feature(bytes_list=tf.train.BytesList(value=[t.encode()]))
                    for t in tokens
                ]
            ),
            CAPTION_IDS_KEY: tf.train.FeatureList(
                feature=[
                    tf.train.Feature(int64_list=tf.train.Int64List(value=[i])) for i in caption_ids
                ]
            ),
        }
    )
    example = tf.train.SequenceExample(context=context, feature_lists=feature_lists)
    return example.SerializeToString(deterministic=True)


def examples_for_scenes(
    scenes: Sequence[Scene], vocab: Vocabulary, shuffle_seed: int | None = None
) -> list[bytes]:
    """One record per (image, caption), shuffled like upstream unless `shuffle_seed` is None."""
    pairs = [(scene, caption) for scene in scenes for caption in scene.captions]
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(pairs))
        pairs = [pairs[i] for i in order]
    return [serialize_example(s.image_id, s.jpeg, caption, vocab) for s, caption in pairs]


def _climbs_above(path: str) -> bool:
    depth = 0
    for part in path.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _candidate_names(base: str) -> list[str]:
    """Shard base names to try: the structured `{name}-X-of-Y` part, the literal prefix."""
    candidates = []
    structured = re.fullmatch(r"(.+)-[^-]+-of-[^-]+", base)
    if structured and not any(c in structured[1] for c in _GLOB_CHARS):
        candidates.append(structured[1])
    prefix = re.split(r"[*?\[]", base, maxsplit=1)[0]
    candidates.append(re.sub(r"-[0-9]*$", "", prefix))
    candidates.append(_FALLBACK_NAME)
    return list(dict.fromkeys(c for c in candidates if c))


def shard_names_for_pattern(
    pattern: str, default_total: int = 256, limit: int | None = None
) -> list[str]:
    """Shard paths, relative to the data folder, that a job's file pattern will glob.

    Takes the first item of a comma-separated list; a leading `/` means the data
    folder, as on the platform. The shard count `n` comes from a literal `-of-NNNNN`
    suffix, else `default_total`. Returns the names `{name}-{i:05d}-of-{n:05d}` (in
    the pattern's folder) that match, in index order, at most `limit` of them.
    """
    first = next((item.strip() for item in pattern.split(",") if item.strip()), "")
    if not first:
        raise ValueError(f"input file pattern {pattern!r} is empty")
    if _climbs_above(first):
        raise ValueError(f"input file pattern {pattern!r} climbs above the data folder")
    relative = posixpath.normpath("/" + first).lstrip("/")
    folder, base = posixpath.split(relative)
    if not base or any(c in folder for c in _GLOB_CHARS):
        raise ValueError(
            f"input file pattern {pattern!r}: need a plain folder and a file-name glob"
        )
    literal_total = re.search(r"-of-([0-9]+)$", base)
    total = int(literal_total[1]) if literal_total else default_total
    if not 1 <= total <= 99999:
        raise ValueError(f"input file pattern {pattern!r}: shard count {total} not in 1..99999")
    matcher = re.compile(fnmatch.translate(base))
    for name in _candidate_names(base):
        names = []
        for index in range(total):
            if limit is not None and len(names) >= limit:
                break
            candidate = f"{name}-{index:05d}-of-{total:05d}"
            if matcher.match(candidate):
                names.append(posixpath.join(folder, candidate))
        if names:
            return names
    raise ValueError(
        f"input file pattern {pattern!r}: no shard name of the form "
        f"NAME-NNNNN-of-{total:05d} matches {base!r}"
    )


def write_records(path: str | os.PathLike[str], examples: Iterable[bytes]) -> Path:
    """Write serialized examples as one uncompressed TFRecord file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for example in examples:
            writer.write(example)
    return path


def write_sharded_records(
    out_dir: str | os.PathLike[str],
    input_file_pattern: str,
    examples: Sequence[bytes],
    *,
    num_shards: int = 2,
    default_total: int = 256,
) -> list[Path]:
    """Spread examples over the first few shards the pattern names (no empty shards).

    Writing fewer than the `-of-NNNNN` count is enough because the job globs.
    """
    if num_shards < 1:
        raise ValueError("num_shards must be at least 1")
    names = shard_names_for_pattern(
        input_file_pattern, default_total, limit=max(1, min(num_shards, len(examples)))
    )
    bounds = np.linspace(0, len(examples), len(names) + 1).astype(int)
    return [
        write_records(Path(out_dir, name), examples[start:stop])
        for name, start, stop in zip(names, bounds[:-1], bounds[1:], strict=True)
    ]


def _single(feature: tf.train.Feature, kind: str, where: str) -> object:
    values = getattr(feature, kind).value
    if len(values) != 1:
        raise ValueError(f"{where}: expected one {kind} value, found {len(values)}")
    return values[0]


def read_records(path: str | os.PathLike[str]) -> list[dict[str, object]]:
    """Parse records back to dicts with image_id, jpeg, caption (tokens) and caption_ids.

    Raises ValueError naming the file (and the record, when one is at fault) for a
    corrupt or truncated file, bytes that are no SequenceExample, a missing key or a
    wrong number of values, so a check can point at what is broken.
    """
    parsed = []
    try:
        for index, raw in enumerate(tf.data.TFRecordDataset(str(path)).as_numpy_iterator()):
            parsed.append(_parse_record(raw, f"{path} record {index}"))
    except tf.errors.DataLossError as err:
        # TensorFlow's message carries graph noise around e.g. "corrupted record at 12".
        reason = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:.*$", "", err.message, flags=re.DOTALL)
        raise ValueError(
            f"{path}: corrupt TFRecord file after {len(parsed)} records: {reason}"
        ) from err
    return parsed


def _parse_record(raw: bytes, where: str) -> dict[str, object]:
    """One record's fields; `where` (file and index) prefixes every error."""
    try:
        example = tf.train.SequenceExample.FromString(raw)
    except DecodeError as err:
        raise ValueError(f"{where}: not a SequenceExample ({err})") from err
    context = example.context.feature
    lists = example.feature_lists.feature_list
    for key, present in (
        (IMAGE_ID_KEY, IMAGE_ID_KEY in context),
        (IMAGE_DATA_KEY, IMAGE_DATA_KEY in context),
        (CAPTION_KEY, CAPTION_KEY in lists),
        (CAPTION_IDS_KEY, CAPTION_IDS_KEY in lists),
    ):
        if not present:
            raise ValueError(f"{where}: missing {key!r}")
    tokens = [_single(f, "bytes_list", where) for f in lists[CAPTION_KEY].feature]
    try:
        caption = [token.decode() for token in tokens]
    except UnicodeDecodeError as err:
        raise ValueError(f"{where}: a caption token is not UTF-8 ({err.reason})") from err
    return {
        "image_id": _single(context[IMAGE_ID_KEY], "int64_list", where),
        "jpeg": _single(context[IMAGE_DATA_KEY], "bytes_list", where),
        "caption": caption,
        "caption_ids": [_single(f, "int64_list", where) for f in lists[CAPTION_IDS_KEY].feature],
    }
