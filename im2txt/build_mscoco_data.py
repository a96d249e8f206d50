r"""Convert MSCOCO 2014 captions and images into Show and Tell's sharded TFRecords.

Output (in --output_dir): `train-?????-of-00256`, `val-?????-of-00004`,
`test-?????-of-00008` and `word_counts.txt`, in the record format of
docs/architecture.md. As upstream im2txt did it:

* train = all of train2014 + the first 85% of val2014 images (in the order of the
  captions file), val = the next 5%, test = the last 10%;
* every split is written one record per (image, caption) pair, the pairs
  shuffled with a fixed seed (12345) so reruns produce identical shards;
* captions are lowercased, tokenised and wrapped in --start_word/--end_word
  (upstream's nltk.word_tokenize needs the punkt data download; here sentences
  are split after . ! ? and each goes through NLTK's TreebankWordTokenizer,
  which gives the same tokens for COCO's captions);
* the vocabulary counts training captions only (start/end words included), keeps
  words seen at least --min_word_count times, sorted by count descending; a
  word's id is its line number and unknown words get id len(vocabulary).

Differences from upstream: images are decode-checked once each, before
sharding, so a corrupt JPEG is skipped (with a warning naming it) and its
captions are left out of the vocabulary too; each shard is one work item, so
the shard counts need not be multiples of --num_threads; a missing input is
reported by path with exit status 1 instead of a traceback.

Usage:
  python build_mscoco_data.py --train_image_dir=DIR/train2014 \
    --val_image_dir=DIR/val2014 \
    --train_captions_file=DIR/annotations/captions_train2014.json \
    --val_captions_file=DIR/annotations/captions_val2014.json --output_dir=OUT
"""

from __future__ import annotations

import dataclasses
import os
import random
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf
from absl import flags, logging

from im2txt.mscoco_captions import (
    ImageMetadata,
    create_vocab,
    load_and_process_metadata,
    split_datasets,
    write_word_counts,
)
from im2txt.ops.image_processing import decode_image

_SHUFFLE_SEED = 12345
_MISSING_SHOWN = 5


class Vocabulary:
    """Word to id lookup of the written word_counts.txt; unknown words share one id."""

    def __init__(self, words: list[str]) -> None:
        self._ids = {word: i for i, word in enumerate(words)}
        self.unk_id = len(words)

    def word_to_id(self, word: str) -> int:
        """Id of `word`, or `unk_id` (= vocabulary size) when it was too rare."""
        return self._ids.get(word, self.unk_id)


@dataclasses.dataclass
class ConverterOptions:
    """Everything the conversion needs; mirrors the command-line flags."""

    train_image_dir: str
    val_image_dir: str
    train_captions_file: str
    val_captions_file: str
    output_dir: str
    train_shards: int = 256
    val_shards: int = 4
    test_shards: int = 8
    start_word: str = "<S>"
    end_word: str = "</S>"
    unknown_word: str = "<UNK>"
    word_counts_output_file: str = ""  # Empty: <output_dir>/word_counts.txt.
    min_word_count: int = 4
    num_threads: int = 8

    def word_counts_path(self) -> str:
        """Where word_counts.txt goes: the explicit flag, else inside output_dir."""
        return self.word_counts_output_file or os.path.join(self.output_dir, "word_counts.txt")


def to_sequence_example(
    image_id: int, encoded_image: bytes, caption: list[str], vocab: Vocabulary
) -> tf.train.SequenceExample:
    """Build one record: the image bytes and one caption as words and ids."""
    context = tf.train.Features(
        feature={
            "image/image_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[image_id])),
            "image/data": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded_image])),
        }
    )
    words = tf.train.FeatureList(
        feature=[
            tf.train.Feature(bytes_list=tf.train.BytesList(value=[word.encode("utf-8")]))
            for word in caption
        ]
    )
    ids = tf.train.FeatureList(
        feature=[
            tf.train.Feature(int64_list=tf.train.Int64List(value=[vocab.word_to_id(word)]))
            for word in caption
        ]
    )
    return tf.train.SequenceExample(
        context=context,
        feature_lists=tf.train.FeatureLists(
            feature_list={"image/caption": words, "image/caption_ids": ids}
        ),
    )


def _check_image(filename: str) -> str | None:
    """None if the file decodes as a 3-channel JPEG, else why it cannot be used."""
    try:
        with tf.io.gfile.GFile(filename, "rb") as f:
            encoded_image = f.read()
        decode_image(encoded_image, "jpeg")
    except tf.errors.NotFoundError:
        return "missing"
    except tf.errors.OpError as err:  # Corrupt data, unreadable file.
        return err.message
    return None


def drop_undecodable_images(images: list[ImageMetadata], num_threads: int) -> list[ImageMetadata]:
    """Keep the images that decode, warning about each corrupt one by file name.

    Raises FileNotFoundError naming missing image files: the captions file and
    the image folder do not belong together, which skipping would hide.
    """
    with ThreadPoolExecutor(max_workers=num_threads) as pool:
        problems = list(pool.map(_check_image, [image.filename for image in images]))
    missing = [image.filename for image, p in zip(images, problems, strict=True) if p == "missing"]
    if missing:
        shown = ", ".join(missing[:_MISSING_SHOWN])
        more = f" and {len(missing) - _MISSING_SHOWN} more" if len(missing) > _MISSING_SHOWN else ""
        raise FileNotFoundError(f"Image files not found: {shown}{more}")
    kept = []
    for image, problem in zip(images, problems, strict=True):
        if problem is None:
            kept.append(image)
        else:
            logging.warning(
                "Skipping file with invalid JPEG data: %s (%s)", image.filename, problem
            )
    return kept


def caption_pairs(images: list[ImageMetadata]) -> list[ImageMetadata]:
    """One entry per (image, caption), shuffled reproducibly with upstream's seed."""
    pairs = [
        ImageMetadata(image.image_id, image.filename, [caption])
        for image in images
        for caption in image.captions
    ]
    random.Random(_SHUFFLE_SEED).shuffle(pairs)
    return pairs


def _write_shard(path: str, pairs: list[ImageMetadata], vocab: Vocabulary) -> int:
    with tf.io.TFRecordWriter(path) as writer:
        for pair in pairs:
            with tf.io.gfile.GFile(pair.filename, "rb") as f:
                encoded_image = f.read()
            example = to_sequence_example(pair.image_id, encoded_image, pair.captions[0], vocab)
            writer.write(example.SerializeToString())
    logging.info("Wrote %d image-caption pairs to %s", len(pairs), path)
    return len(pairs)


def write_dataset(
    name: str,
    images: list[ImageMetadata],
    vocab: Vocabulary,
    num_shards: int,
    output_dir: str,
    num_threads: int,
) -> list[str]:
    """Write a split as `name-%05d-of-%05d` shards of nearly equal size; return the paths."""
    pairs = caption_pairs(images)
    bounds = np.linspace(0, len(pairs), num_shards + 1).astype(int)
    paths = [
        os.path.join(output_dir, f"{name}-{shard:05d}-of-{num_shards:05d}")
        for shard in range(num_shards)
    ]
    with ThreadPoolExecutor(max_workers=num_threads) as pool:
        futures = [
            pool.submit(_write_shard, path, pairs[bounds[i] : bounds[i + 1]], vocab)
            for i, path in enumerate(paths)
        ]
        written = sum(future.result() for future in futures)
    logging.info("Finished %d image-caption pairs in %d shards of '%s'", written, num_shards, name)
    return paths


def _require(exists: bool, what: str, path: str) -> None:
    if not exists:
        raise FileNotFoundError(f"{what} not found: {path}")


def convert(options: ConverterOptions) -> dict[str, int]:
    """Run the whole conversion; returns the number of images written per split."""
    for what, path in (
        ("--train_captions_file", options.train_captions_file),
        ("--val_captions_file", options.val_captions_file),
    ):
        _require(tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path), what, path)
    for what, path in (
        ("--train_image_dir", options.train_image_dir),
        ("--val_image_dir", options.val_image_dir),
    ):
        _require(tf.io.gfile.isdir(path), what, path)
    tf.io.gfile.makedirs(options.output_dir)

    coco_train, coco_val = (
        load_and_process_metadata(captions_file, image_dir, options.start_word, options.end_word)
        for captions_file, image_dir in (
            (options.train_captions_file, options.train_image_dir),
            (options.val_captions_file, options.val_image_dir),
        )
    )
    train, val, test = split_datasets(coco_train, coco_val)
    splits = {
        name: drop_undecodable_images(images, options.num_threads)
        for name, images in (("train", train), ("val", val), ("test", test))
    }

    word_counts = create_vocab(
        [caption for image in splits["train"] for caption in image.captions],
        options.min_word_count,
    )
    write_word_counts(word_counts, options.word_counts_path())
    vocab = Vocabulary([word for word, _ in word_counts])
    logging.info(
        "Wrote %s; words outside it map to %s, id %d",
        options.word_counts_path(),
        options.unknown_word,
        vocab.unk_id,
    )

    shards = {"train": options.train_shards, "val": options.val_shards, "test": options.test_shards}
    for name, images in splits.items():
        write_dataset(name, images, vocab, shards[name], options.output_dir, options.num_threads)
    return {name: len(images) for name, images in splits.items()}


# Upstream's path defaults; the other flag defaults are ConverterOptions' own.
_PATH_FLAG_DEFAULTS = {
    "train_image_dir": "/tmp/train2014/",
    "val_image_dir": "/tmp/val2014",
    "train_captions_file": "/tmp/captions_train2014.json",
    "val_captions_file": "/tmp/captions_val2014.json",
    "output_dir": "/tmp/",
}
_FLAG_HELP = {
    "train_image_dir": "Training image directory.",
    "val_image_dir": "Validation image directory.",
    "train_captions_file": "Training captions JSON file.",
    "val_captions_file": "Validation captions JSON file.",
    "output_dir": "Output data directory.",
    "train_shards": "Number of shards in training TFRecord files.",
    "val_shards": "Number of shards in validation TFRecord files.",
    "test_shards": "Number of shards in testing TFRecord files.",
    "start_word": "Special word added to the beginning of each sentence.",
    "end_word": "Special word added to the end of each sentence.",
    "unknown_word": "Special word meaning 'unknown'; never written to the vocabulary file, "
    "readers append it as id len(vocabulary).",
    "word_counts_output_file": "Output vocabulary file of word counts "
    "(default: <output_dir>/word_counts.txt).",
    "min_word_count": "The minimum number of occurrences of each word in the training set "
    "for inclusion in the vocabulary.",
    "num_threads": "Number of threads to check images and write shards.",
}


def define_flags(flag_values: flags.FlagValues) -> None:
    """Define upstream's flags, one per ConverterOptions field, on `flag_values`."""
    for field in dataclasses.fields(ConverterOptions):
        default = _PATH_FLAG_DEFAULTS.get(field.name, field.default)
        if isinstance(default, int):
            flags.DEFINE_integer(
                field.name, default, _FLAG_HELP[field.name], lower_bound=1, flag_values=flag_values
            )
        else:
            flags.DEFINE_string(
                field.name, default, _FLAG_HELP[field.name], flag_values=flag_values
            )
    flags.DEFINE_boolean("help", False, "Show this help.", flag_values=flag_values)


def main(argv: list[str]) -> int:
    """Parse `argv` (program name first) and convert; the exit status.

    Uses its own FlagValues so importing this module never collides with the
    trainer's flags. 0: done, 1: missing or malformed input, 2: bad flags.
    """
    flag_values = flags.FlagValues()
    define_flags(flag_values)
    try:
        unparsed = flag_values(argv)[1:]
        if unparsed:
            raise flags.Error(f"Unexpected arguments: {' '.join(unparsed)}")
    except flags.Error as err:
        print(f"{err}\n\n{flag_values.get_help()}", file=sys.stderr)
        return 2
    if flag_values.help:
        print(__doc__ + "\n" + flag_values.get_help())
        return 0
    options = ConverterOptions(
        **{
            field.name: flag_values[field.name].value
            for field in dataclasses.fields(ConverterOptions)
        }
    )
    try:
        counts = convert(options)
    except (FileNotFoundError, ValueError) as err:
        logging.error("%s", err)
        return 1
    logging.info("Images per split: %s", counts)
    return 0


if __name__ == "__main__":
    logging.use_absl_handler()
    logging.set_verbosity(logging.INFO)
    sys.exit(main(sys.argv))
