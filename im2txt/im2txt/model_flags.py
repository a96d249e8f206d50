"""Flags that shape the model, shared by train.py, evaluate.py and run_inference.py.

A checkpoint only loads into a model of the same shape, so every script that
builds one exposes the same switches with the same defaults.
"""

from __future__ import annotations

from absl import flags

from im2txt.configuration import ModelConfig

FLAGS = flags.FLAGS


def define_model_flags() -> None:
    """Define --batch_size, --image_size, --vocab_size and --image_format."""
    flags.DEFINE_integer("batch_size", ModelConfig.batch_size, "Images per batch.", lower_bound=1)
    flags.DEFINE_integer(
        "image_size",
        ModelConfig.image_height,
        "Square Inception input size (upstream: 299).",
        lower_bound=75,
    )
    flags.DEFINE_integer(
        "vocab_size",
        ModelConfig.vocab_size,
        "Rows of the word embedding and logits (upstream: 12000).",
        lower_bound=3,
    )
    flags.DEFINE_enum(
        "image_format",
        ModelConfig.image_format,
        ["jpeg", "png"],
        "Encoding of the images in the records.",
    )


def model_config_from_flags() -> ModelConfig:
    """A ModelConfig with upstream defaults except what the flags changed.

    The resize before cropping keeps upstream's 346/299 ratio for other sizes.
    """
    size = FLAGS.image_size
    resize = round(size * ModelConfig.resize_height / ModelConfig.image_height)
    return ModelConfig(
        batch_size=FLAGS.batch_size,
        vocab_size=FLAGS.vocab_size,
        image_format=FLAGS.image_format,
        image_height=size,
        image_width=size,
        resize_height=resize,
        resize_width=resize,
    )
