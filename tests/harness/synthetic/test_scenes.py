"""Synthetic scenes: deterministic, real JPEGs, captions that say what is drawn."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from harness.synthetic.records import tokenize
from harness.synthetic.scenes import (
    BACKGROUNDS,
    DEFAULT_SIZES,
    OBJECT_COLOURS,
    SceneAttributes,
    SceneObject,
    describe,
    generate_scenes,
)


def _pixels(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=int)


def test_same_seed_same_bytes_and_other_seed_differs() -> None:
    first = generate_scenes(6, seed=7)
    assert first == generate_scenes(6, seed=7)
    assert [s.jpeg for s in first] != [s.jpeg for s in generate_scenes(6, seed=8)]


def test_a_longer_run_starts_with_the_shorter_one() -> None:
    assert generate_scenes(3, seed=1) == generate_scenes(5, seed=1)[:3]


def test_images_are_rgb_jpegs_of_the_declared_sizes() -> None:
    scenes = generate_scenes(len(DEFAULT_SIZES), seed=0, first_image_id=10)
    assert [(s.width, s.height) for s in scenes] == list(DEFAULT_SIZES)
    assert [s.image_id for s in scenes] == list(range(10, 10 + len(DEFAULT_SIZES)))
    for scene in scenes:
        image = Image.open(io.BytesIO(scene.jpeg))
        assert (image.format, image.mode, image.size) == (
            "JPEG",
            "RGB",
            (scene.width, scene.height),
        )


def test_drawn_colours_are_where_the_attributes_say() -> None:
    for scene in generate_scenes(12, seed=2):
        pixels = _pixels(scene.jpeg)
        for obj in scene.attributes.objects:
            left, top, right, bottom = obj.box
            centre = pixels[(top + bottom) // 2, (left + right) // 2]
            assert np.abs(centre - OBJECT_COLOURS[obj.colour]).max() < 40
        covered = np.zeros(pixels.shape[:2], dtype=bool)
        for left, top, right, bottom in (o.box for o in scene.attributes.objects):
            covered[max(top - 3, 0) : bottom + 4, max(left - 3, 0) : right + 4] = True
        free = pixels[~covered]
        assert free.size
        assert np.abs(free.mean(axis=0) - BACKGROUNDS[scene.attributes.background]).max() < 12


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), per_image=st.integers(1, 6))
def test_captions_name_every_object_and_come_from_the_grammar(seed: int, per_image: int) -> None:
    for scene in generate_scenes(2, seed=seed, captions_per_image=per_image):
        assert len(scene.captions) == per_image == len(set(scene.captions))
        assert set(scene.captions) <= set(describe(scene.attributes))
        for caption in scene.captions:
            words = caption.split()
            for obj in scene.attributes.objects:
                assert obj.colour in words
                assert obj.shape in words or f"{obj.shape}s" in words
            if "background" in words:
                assert scene.attributes.background in words


def test_captions_are_plain_lowercase_words() -> None:
    for scene in generate_scenes(8, seed=4):
        for caption in scene.captions:
            assert re.fullmatch(r"[a-z]+( [a-z]+)*", caption)
            assert tokenize(caption) == caption.split()


def test_treebank_tokenizer_agrees_with_ours() -> None:
    treebank = pytest.importorskip("nltk.tokenize").TreebankWordTokenizer()
    for scene in generate_scenes(8, seed=5):
        for caption in describe(scene.attributes):
            assert treebank.tokenize(caption.lower()) == tokenize(caption)


def test_grammar_articles_and_plurals() -> None:
    one = SceneObject("circle", "orange", (0, 0, 9, 9))
    two = SceneObject("square", "red", (20, 0, 29, 9))
    assert describe(SceneAttributes("white", (one,)))[:2] == [
        "an orange circle on a white background",
        "there is an orange circle",
    ]
    assert "there are an orange circle and a red square" in describe(
        SceneAttributes("black", (one, two))
    )
    assert "two orange circles on a gray background" in describe(
        SceneAttributes("gray", (one, one))
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_images": -1},
        {"num_images": 1, "seed": -1},
        {"num_images": 1, "captions_per_image": 0},
        {"num_images": 1, "captions_per_image": 7},
        {"num_images": 1, "max_objects": 3},
        {"num_images": 1, "sizes": ()},
        {"num_images": 1, "sizes": ((8, 8),)},
    ],
)
def test_bad_arguments_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate_scenes(**kwargs)


def test_distinct_colours_give_every_image_its_own_colour() -> None:
    scenes = generate_scenes(6, seed=3, captions_per_image=1, max_objects=1, distinct_colours=True)
    colours = [scene.attributes.objects[0].colour for scene in scenes]
    assert sorted(colours) == sorted(OBJECT_COLOURS)
    again = generate_scenes(6, seed=3, captions_per_image=1, max_objects=1, distinct_colours=True)
    assert [s.jpeg for s in scenes] == [s.jpeg for s in again]
    assert all(colour in scene.captions[0] for colour, scene in zip(colours, scenes, strict=True))
