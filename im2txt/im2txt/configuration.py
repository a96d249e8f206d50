"""Model and training hyperparameters of Show and Tell, with upstream's defaults.

Kept as plain dataclasses so the trainer, the evaluator and the inference
script share one source of truth and a test can pin every default.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class ModelConfig:
    """Wiring of the model and its input pipeline."""

    # Comma-separated glob(s) of sharded SequenceExample TFRecords (resolved paths).
    input_file_pattern: str | None = None
    # Format of the encoded images: "jpeg" or "png".
    image_format: str = "jpeg"
    # Approximate examples per shard; sizes the shuffle buffer as upstream's queue.
    values_per_input_shard: int = 2300
    input_queue_capacity_factor: int = 2
    num_input_reader_threads: int = 1
    # SequenceExample keys, exactly as build_mscoco_data.py writes them.
    image_id_name: str = "image/image_id"
    image_feature_name: str = "image/data"
    caption_text_name: str = "image/caption"
    caption_feature_name: str = "image/caption_ids"
    # Words in the vocabulary; word_counts.txt plus <UNK> must fit below it.
    vocab_size: int = 12000
    num_preprocess_threads: int = 4
    batch_size: int = 32
    # Pretrained Inception v3 checkpoint (resolved path) restored before training.
    inception_checkpoint_file: str | None = None
    image_height: int = 299
    image_width: int = 299
    # Images are resized to this before cropping to image_height x image_width.
    resize_height: int = 346
    resize_width: int = 346
    # Uniform initializer range of the non-Inception variables.
    initializer_scale: float = 0.08
    embedding_size: int = 512
    num_lstm_units: int = 512
    lstm_dropout_keep_prob: float = 0.7


@dataclasses.dataclass
class TrainingConfig:
    """Optimisation schedule and checkpoint retention."""

    num_examples_per_epoch: int = 586363
    optimizer: str = "SGD"
    initial_learning_rate: float = 2.0
    learning_rate_decay_factor: float = 0.5
    num_epochs_per_decay: float = 8.0
    train_inception_learning_rate: float = 0.0005
    clip_gradients: float = 5.0
    max_checkpoints_to_keep: int = 5

    def decay_steps(self, batch_size: int) -> int:
        """Steps between learning-rate halvings (146590 at upstream defaults)."""
        return int(self.num_examples_per_epoch / batch_size * self.num_epochs_per_decay)
