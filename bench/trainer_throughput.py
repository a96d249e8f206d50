"""Benchmark: trainer images/sec against the bare Inception v3 forward pass.

Both are measured in the same run on the same machine, so the ratio says how
much the caption model, loss, gradients and SGD update cost on top of the frozen
image tower (upstream's default configuration: batch 32, 299x299, Inception
frozen). Prints one table; nothing is asserted.

    python bench/trainer_throughput.py [--batch 32] [--size 299] [--steps 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "im2txt"))

import tensorflow as tf  # noqa: E402

from im2txt.configuration import ModelConfig, TrainingConfig  # noqa: E402
from im2txt.show_and_tell_model import ShowAndTellModel  # noqa: E402


def _rate(step, batch: int, steps: int) -> float:
    step()  # trace and warm up
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=299)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()

    config = ModelConfig(batch_size=args.batch, image_height=args.size, image_width=args.size)
    training = TrainingConfig()
    model = ShowAndTellModel(config)
    images = tf.random.uniform([args.batch, args.size, args.size, 3], -1.0, 1.0, seed=1)
    words = tf.random.uniform([args.batch, 15], 1, config.vocab_size, tf.int64, seed=2)
    batch = {
        "images": images,
        "input_seqs": words,
        "target_seqs": words,
        "input_mask": tf.ones([args.batch, 15], tf.int32),
    }
    variables = model.variables_to_train()

    @tf.function
    def forward_only():
        return model.inception(images, training=False)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss = model.batch_loss(
                batch, training=True, dropout_seed=tf.constant([1, 2], tf.int64)
            )
        grads = tape.gradient(loss, variables)
        grads, _ = tf.clip_by_global_norm(
            [tf.convert_to_tensor(g) for g in grads], training.clip_gradients
        )
        for variable, grad in zip(variables, grads, strict=True):
            variable.assign_sub(training.initial_learning_rate * grad)
        return loss

    forward = _rate(lambda: forward_only().numpy(), args.batch, args.steps)
    trainer = _rate(lambda: train_step().numpy(), args.batch, args.steps)
    print(
        f"device: {tf.config.list_logical_devices()[-1].device_type}, "
        f"batch {args.batch}, {args.size}x{args.size}, Inception frozen, {args.steps} steps"
    )
    print(f"{'Inception v3 forward only':32s} {forward:8.2f} images/sec")
    print(f"{'trainer step (full model + SGD)':32s} {trainer:8.2f} images/sec")
    print(f"{'ratio trainer / forward':32s} {trainer / forward:8.3f}")


if __name__ == "__main__":
    main()
