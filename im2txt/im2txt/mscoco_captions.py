"""MSCOCO captions for Show and Tell: tokenised, split as upstream im2txt split them, and
counted into its vocabulary (`build_mscoco_data.py` writes them as records)."""

from __future__ import annotations

import collections
import json
import os
import re
from typing import NamedTuple

import tensorflow as tf
from absl import logging
from nltk.tokenize import TreebankWordTokenizer

_TRAIN_FRACTION_OF_VAL = 0.85
_VAL_END_FRACTION_OF_VAL = 0.90
# Treebank only splits the final period of a string; split sentences first so
# "two dogs. one cat." tokenises like nltk.word_tokenize, without its punkt data.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")
_TOKENIZER = TreebankWordTokenizer()


class ImageMetadata(NamedTuple):
    """One image and its tokenised captions."""

    image_id: int
    filename: str
    captions: list[list[str]]


def tokenize_caption(caption: str, start_word: str = "<S>", end_word: str = "</S>") -> list[str]:
    """Lowercase and tokenise a caption, wrapped in the start and end words."""
    words = [
        word
        for sentence in _SENTENCE_BREAK.split(caption.lower().strip())
        for word in _TOKENIZER.tokenize(sentence)
    ]
    return [start_word, *words, end_word]


def load_and_process_metadata(
    captions_file: str, image_dir: str, start_word: str = "<S>", end_word: str = "</S>"
) -> list[ImageMetadata]:
    """Read a COCO captions JSON into images (in file order) with tokenised captions.

    Images without any caption cannot form a record and are skipped; captions of
    ids missing from "images" are ignored. Both are logged.
    """
    with tf.io.gfile.GFile(captions_file, "r") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{captions_file} is not valid JSON: {err}") from err
    try:
        id_to_filename = [(entry["id"], entry["file_name"]) for entry in data["images"]]
        id_to_captions: dict[int, list[str]] = collections.defaultdict(list)
        for annotation in data["annotations"]:
            id_to_captions[annotation["image_id"]].append(annotation["caption"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"{captions_file} is not a COCO captions file (missing {err})") from err

    known_ids = {image_id for image_id, _ in id_to_filename}
    orphans = sum(len(c) for image_id, c in id_to_captions.items() if image_id not in known_ids)
    if orphans:
        logging.warning("%s: ignoring %d captions of unknown image ids", captions_file, orphans)
    uncaptioned = [image_id for image_id in known_ids if not id_to_captions.get(image_id)]
    if uncaptioned:
        logging.warning("%s: skipping %d images without captions", captions_file, len(uncaptioned))

    images = [
        ImageMetadata(
            image_id,
            os.path.join(image_dir, filename),
            [tokenize_caption(c, start_word, end_word) for c in id_to_captions[image_id]],
        )
        for image_id, filename in id_to_filename
        if id_to_captions.get(image_id)
    ]
    logging.info(
        "Loaded %d captions for %d images from %s",
        sum(len(image.captions) for image in images),
        len(images),
        captions_file,
    )
    return images


def split_datasets(
    train_images: list[ImageMetadata], val_images: list[ImageMetadata]
) -> tuple[list[ImageMetadata], list[ImageMetadata], list[ImageMetadata]]:
    """Upstream's split: train2014 + 85% of val2014, then 5% val and 10% test."""
    train_cutoff = int(_TRAIN_FRACTION_OF_VAL * len(val_images))
    val_cutoff = int(_VAL_END_FRACTION_OF_VAL * len(val_images))
    return (
        train_images + val_images[:train_cutoff],
        val_images[train_cutoff:val_cutoff],
        val_images[val_cutoff:],
    )


def create_vocab(captions: list[list[str]], min_word_count: int) -> list[tuple[str, int]]:
    """Count words of tokenised captions, keep the frequent ones, most frequent first.

    Ties keep first-appearance order (a stable sort, as upstream) so the output
    is reproducible for a given input order.
    """
    counter = collections.Counter(word for caption in captions for word in caption)
    word_counts = [(word, count) for word, count in counter.items() if count >= min_word_count]
    word_counts.sort(key=lambda item: item[1], reverse=True)
    logging.info("Total words: %d, in vocabulary: %d", len(counter), len(word_counts))
    return word_counts


def write_word_counts(word_counts: list[tuple[str, int]], path: str) -> None:
    """Write `word count` lines; the line number is the word id."""
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("".join(f"{word} {count}\n" for word, count in word_counts))
