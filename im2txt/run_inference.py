"""Caption images with a trained Show and Tell checkpoint (beam search).

  python run_inference.py --checkpoint_path=/data/output \
      --vocab_file=/data/data/word_counts.txt --input_files=/data/data/img/*.jpg
Prints, for each image, upstream's format:
  Captions for image COCO_val2014_000000224477.jpg:
    0) a man riding a wave on top of a surfboard . (p=0.040413)
"""

from __future__ import annotations

import math
import os
import sys

from absl import app, flags, logging

from im2txt import model_flags

FLAGS = flags.FLAGS

flags.DEFINE_string(
    "checkpoint_path", "", "Checkpoint prefix or file, or a folder whose latest checkpoint is used."
)
flags.DEFINE_string("vocab_file", "", "word_counts.txt written by build_mscoco_data.py.")
flags.DEFINE_string("input_files", "", "Comma-separated globs of JPEG images to caption.")
flags.DEFINE_integer("beam_size", 3, "Beam width.", lower_bound=1)
flags.DEFINE_integer("max_caption_length", 20, "Longest caption considered.", lower_bound=2)
flags.DEFINE_float(
    "length_normalization_factor",
    0.0,
    "Score = logprob / length**factor; 0 ranks by log-probability.",
)
model_flags.define_model_flags()


def main(argv: list[str]) -> int:
    del argv
    import tensorflow as tf

    from im2txt.checkpointing import CheckpointError
    from im2txt.inference_utils.caption_generator import CaptionGenerator
    from im2txt.inference_utils.inference_wrapper import InferenceWrapper
    from im2txt.inference_utils.vocabulary import Vocabulary

    for name in ("checkpoint_path", "vocab_file", "input_files"):
        if not FLAGS[name].value:
            print(f"error: --{name} is required", file=sys.stderr)
            return 2
    filenames = []
    for pattern in FLAGS.input_files.split(","):
        matched = tf.io.gfile.glob(pattern.strip())
        if not matched:
            print(f"error: --input_files pattern {pattern!r} matches no file", file=sys.stderr)
            return 2
        filenames.extend(sorted(matched))
    config = model_flags.model_config_from_flags()
    try:
        vocab = Vocabulary(FLAGS.vocab_file)
        model = InferenceWrapper(config, FLAGS.checkpoint_path)
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    logging.info(
        "Running caption generation on %d files from %s", len(filenames), model.checkpoint_path
    )
    generator = CaptionGenerator(
        model,
        vocab,
        beam_size=FLAGS.beam_size,
        max_caption_length=FLAGS.max_caption_length,
        length_normalization_factor=FLAGS.length_normalization_factor,
    )
    for filename in filenames:
        with tf.io.gfile.GFile(filename, "rb") as handle:
            image = handle.read()
        try:
            captions = generator.beam_search(image)
        except tf.errors.InvalidArgumentError as err:
            print(f"error: cannot decode image {filename}: {err.message}", file=sys.stderr)
            return 1
        print(f"Captions for image {os.path.basename(filename)}:")
        for rank, caption in enumerate(captions):
            ids = caption.sentence[1:]
            ids = ids[:-1] if ids and ids[-1] == vocab.end_id else ids
            words = [vocab.id_to_word(w) for w in ids]
            print(f"  {rank}) {' '.join(words)} (p={math.exp(caption.logprob):f})")
    return 0


if __name__ == "__main__":
    app.run(main)
