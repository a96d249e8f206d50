"""Tiny drawn scenes whose captions say what is drawn.

A captioning model trained on these can actually learn something (colour and shape
words follow from pixels), so a short training run shows a falling loss and
inference can be judged against known answers. Everything is derived from a seed:
the same seed gives byte-identical JPEGs and captions.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
    "orange": (245, 140, 20),
    "purple": (140, 40, 170),
}
# The palette split into colours far apart from each other, then the ones close to those.
_COLOUR_GROUPS = (("red", "green", "blue", "yellow"), ("orange", "purple"))
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
}
# (width, height): several sizes and aspect ratios, since the job must resize any image.
DEFAULT_SIZES: tuple[tuple[int, int], ...] = ((96, 96), (128, 160), (200, 150), (299, 299))

# Plain lowercase words only, so any tokenizer (NLTK Treebank included) splits them alike.
_TEMPLATES: tuple[str, ...] = (
    "{objects} on a {background} background",
    "there {be} {objects}",
    "a picture of {objects}",
    "a {background} background with {objects}",
    "an image showing {objects}",
    "{objects} drawn on a plain {background} background",
)
MAX_CAPTIONS_PER_IMAGE = len(_TEMPLATES)


@dataclass(frozen=True)
class SceneObject:
    """One drawn shape; `box` is (left, top, right, bottom) in pixels."""

    shape: str
    colour: str
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class SceneAttributes:
    """What a scene shows; objects are ordered left to right, as captions name them."""

    background: str
    objects: tuple[SceneObject, ...]


@dataclass(frozen=True)
class Scene:
    """One synthetic image with its captions, ready to be written as records or COCO."""

    image_id: int
    filename: str
    jpeg: bytes
    captions: list[str]
    width: int
    height: int
    attributes: SceneAttributes


def _with_article(words: str) -> str:
    return ("an " if words[0] in "aeiou" else "a ") + words


def _objects_phrase(objects: Sequence[SceneObject]) -> str:
    """'a red circle', 'a red circle and an orange square' or 'two red circles'."""
    if len(objects) == 2 and (objects[0].shape, objects[0].colour) == (
        objects[1].shape,
        objects[1].colour,
    ):
        return f"two {objects[0].colour} {objects[0].shape}s"
    return " and ".join(_with_article(f"{o.colour} {o.shape}") for o in objects)


def describe(attributes: SceneAttributes) -> list[str]:
    """All caption variants for a scene, in template order (the grammar's full output)."""
    objects = _objects_phrase(attributes.objects)
    be = "are" if len(attributes.objects) > 1 else "is"
    return [t.format(objects=objects, background=attributes.background, be=be) for t in _TEMPLATES]


def _random_attributes(
    rng: np.random.Generator, width: int, height: int, max_objects: int, colour: str | None
) -> SceneAttributes:
    background = str(rng.choice(list(BACKGROUNDS)))
    count = int(rng.integers(1, max_objects + 1))
    column = width // count
    objects = []
    for i in range(count):
        side = int(rng.uniform(0.45, 0.75) * min(column, height))
        left = i * column + int(rng.integers(0, column - side + 1))
        top = int(rng.integers(0, height - side + 1))
        objects.append(
            SceneObject(
                shape=str(rng.choice(SHAPES)),
                colour=colour or str(rng.choice(list(OBJECT_COLOURS))),
                box=(left, top, left + side - 1, top + side - 1),
            )
        )
    return SceneAttributes(background=background, objects=tuple(objects))


def render(attributes: SceneAttributes, width: int, height: int, quality: int = 90) -> bytes:
    """Draw the scene and encode it as a baseline RGB JPEG."""
    image = Image.new("RGB", (width, height), BACKGROUNDS[attributes.background])
    draw = ImageDraw.Draw(image)
    for obj in attributes.objects:
        fill = OBJECT_COLOURS[obj.colour]
        left, top, right, bottom = obj.box
        if obj.shape == "circle":
            draw.ellipse(obj.box, fill=fill)
        elif obj.shape == "square":
            draw.rectangle(obj.box, fill=fill)
        else:
            draw.polygon([(left, bottom), (right, bottom), ((left + right) / 2, top)], fill=fill)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def generate_scenes(
    num_images: int,
    *,
    seed: int = 0,
    captions_per_image: int = 5,
    first_image_id: int = 1,
    sizes: Sequence[tuple[int, int]] = DEFAULT_SIZES,
    max_objects: int = 2,
    quality: int = 90,
    distinct_colours: bool = False,
) -> list[Scene]:
    """Make `num_images` scenes with ids from `first_image_id`, sizes cycling through `sizes`.

    Each image draws from its own generator seeded by (seed, image_id), so a longer
    run starts with the same images as a shorter one. With `distinct_colours`, image i
    takes the i-th colour of a seeded shuffle of the palette (cycling after six), the four
    most distinct colours first: colour is what a frozen random-weight image tower passes
    on best, so a short run can tell such images apart.
    """
    if min(num_images, seed, first_image_id) < 0:
        raise ValueError("num_images, seed and first_image_id must be non-negative")
    if not 1 <= captions_per_image <= MAX_CAPTIONS_PER_IMAGE:
        raise ValueError(f"captions_per_image must be in 1..{MAX_CAPTIONS_PER_IMAGE}")
    if max_objects not in (1, 2):
        raise ValueError("max_objects must be 1 or 2")
    if not sizes or min(min(s) for s in sizes) < 16:
        raise ValueError("sizes must be non-empty, each side at least 16 pixels")
    shuffle = np.random.default_rng([seed]).permutation
    palette = [str(c) for group in _COLOUR_GROUPS for c in shuffle(list(group))]
    scenes = []
    for i in range(num_images):
        image_id = first_image_id + i
        width, height = sizes[i % len(sizes)]
        rng = np.random.default_rng([seed, image_id])
        colour = palette[i % len(palette)] if distinct_colours else None
        attributes = _random_attributes(rng, width, height, max_objects, colour)
        variants = describe(attributes)
        order = rng.permutation(len(variants))[:captions_per_image]
        scenes.append(
            Scene(
                image_id=image_id,
                filename=f"scene_{image_id:06d}.jpg",
                jpeg=render(attributes, width, height, quality),
                captions=[variants[j] for j in order],
                width=width,
                height=height,
                attributes=attributes,
            )
        )
    return scenes
