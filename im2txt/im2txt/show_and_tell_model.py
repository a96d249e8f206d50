"""The Show and Tell captioning model as a TF2 module with upstream's variables.

"Show and Tell: Lessons learned from the 2015 MSCOCO Image Captioning
Challenge", Vinyals et al. An Inception v3 image embedding is fed to an LSTM
once, at step -1, as its initial input; the LSTM then reads the caption's word
embeddings and predicts each next word. Variables are created under the TF1
names upstream checkpoints use, so checkpoints move between the two.
"""

from __future__ import annotations

import tensorflow as tf

from im2txt.configuration import ModelConfig
from im2txt.ops.image_embedding import InceptionV3

LSTM_FORGET_BIAS = 1.0


class BasicLSTM(tf.Module):
    """TF1 BasicLSTMCell arithmetic: one kernel over concat(x, h), gates i, j, f, o."""

    def __init__(self, input_size: int, num_units: int, initializer) -> None:
        super().__init__(name="lstm")
        self.num_units = num_units
        self.kernel = tf.Variable(
            initializer([input_size + num_units, 4 * num_units]),
            name="lstm/basic_lstm_cell/kernel",
        )
        self.bias = tf.Variable(tf.zeros([4 * num_units]), name="lstm/basic_lstm_cell/bias")

    def zero_state(self, batch_size) -> tuple[tf.Tensor, tf.Tensor]:
        zeros = tf.zeros([batch_size, self.num_units])
        return zeros, zeros

    def __call__(self, inputs: tf.Tensor, state: tuple[tf.Tensor, tf.Tensor]):
        """One step; returns (output h, new state (c, h))."""
        c, h = state
        gates = tf.matmul(tf.concat([inputs, h], axis=1), self.kernel) + self.bias
        i, j, f, o = tf.split(gates, 4, axis=1)
        new_c = c * tf.sigmoid(f + LSTM_FORGET_BIAS) + tf.sigmoid(i) * tf.tanh(j)
        new_h = tf.tanh(new_c) * tf.sigmoid(o)
        return new_h, (new_c, new_h)


class ShowAndTellModel(tf.Module):
    """Image embedding + word embedding + LSTM + logits, as in upstream im2txt."""

    def __init__(
        self,
        config: ModelConfig,
        train_inception: bool = False,
        image_compute_dtype: tf.DType | None = None,
    ) -> None:
        super().__init__(name="show_and_tell")
        self.config = config
        self.train_inception = train_inception
        scale = config.initializer_scale
        initializer = tf.keras.initializers.RandomUniform(-scale, scale)
        self.inception = InceptionV3(trainable=train_inception, compute_dtype=image_compute_dtype)
        self.image_embedding = tf.Variable(
            initializer([2048, config.embedding_size]), name="image_embedding/weights"
        )
        self.seq_embedding = tf.Variable(
            initializer([config.vocab_size, config.embedding_size]), name="seq_embedding/map"
        )
        self.lstm = BasicLSTM(config.embedding_size, config.num_lstm_units, initializer)
        self.logits_weights = tf.Variable(
            initializer([config.num_lstm_units, config.vocab_size]), name="logits/weights"
        )
        self.logits_biases = tf.Variable(tf.zeros([config.vocab_size]), name="logits/biases")
        self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")

    # -- variables by their TF1 names: the checkpoint contract --------------------
    def caption_variables(self) -> dict[str, tf.Variable]:
        """The non-Inception variables that training always updates."""
        return {
            "image_embedding/weights": self.image_embedding,
            "seq_embedding/map": self.seq_embedding,
            "lstm/basic_lstm_cell/kernel": self.lstm.kernel,
            "lstm/basic_lstm_cell/bias": self.lstm.bias,
            "logits/weights": self.logits_weights,
            "logits/biases": self.logits_biases,
        }

    def model_variables(self) -> dict[str, tf.Variable]:
        """Everything a trained model consists of (no global step)."""
        return {**self.inception.variables_by_name(), **self.caption_variables()}

    def checkpoint_variables(self) -> dict[str, tf.Variable]:
        """What a training checkpoint holds: the model plus `global_step`."""
        return {**self.model_variables(), "global_step": self.global_step}

    def variables_to_train(self) -> list[tf.Variable]:
        """Caption variables, plus Inception's weights and betas when it trains."""
        train = list(self.caption_variables().values())
        if self.train_inception:
            train += [v for v in self.inception.variables_by_name().values() if v.trainable]
        return train

    # -- forward pass -------------------------------------------------------------
    def embed_images(self, images: tf.Tensor, training: bool) -> tf.Tensor:
        """[B, H, W, 3] in [-1, 1] -> [B, embedding_size] (no bias, as upstream)."""
        features = self.inception(images, training=training)
        return tf.matmul(features, self.image_embedding)

    def _dropout(self, x: tf.Tensor, seed: tf.Tensor | None, salt: int | tf.Tensor) -> tf.Tensor:
        """LSTM input/output dropout; stateless when seeded, so runs repeat exactly."""
        rate = 1.0 - self.config.lstm_dropout_keep_prob
        if seed is None:
            return tf.nn.dropout(x, rate=rate)
        salted = tf.random.experimental.stateless_fold_in(seed, tf.cast(salt, tf.int64))
        return tf.nn.experimental.stateless_dropout(x, rate=rate, seed=salted)

    def sequence_logits(
        self,
        image_embeddings: tf.Tensor,
        input_seqs: tf.Tensor,
        training: bool,
        dropout_seed: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """Run the LSTM from the image over the input words; -> logits [B, T, V].

        Dropout applies only in training; `dropout_seed` ([2] int64) makes its masks
        a function of the seed alone (the trainer folds in the global step).
        """

        def dropout(x, salt):
            return self._dropout(x, dropout_seed, salt) if training else x

        batch = tf.shape(input_seqs)[0]
        state = self.lstm.zero_state(batch)
        # Step -1: the image primes the state; its output is discarded.
        _, state = self.lstm(dropout(image_embeddings, 0), state)
        words = tf.nn.embedding_lookup(self.seq_embedding, input_seqs)
        words_by_time = tf.transpose(words, [1, 0, 2])
        steps = tf.shape(words_by_time)[0]
        outputs = tf.TensorArray(tf.float32, size=steps)
        for t in tf.range(steps):
            output, state = self.lstm(dropout(words_by_time[t], 2 * t + 1), state)
            outputs = outputs.write(t, dropout(output, 2 * t + 2))
        hidden = tf.transpose(outputs.stack(), [1, 0, 2])
        return tf.einsum("btu,uv->btv", hidden, self.logits_weights) + self.logits_biases

    def losses(
        self, batch: dict[str, tf.Tensor], training: bool, dropout_seed: tf.Tensor | None = None
    ):
        """Per-token cross-entropy and mask weights for a batch from ops.inputs."""
        embeddings = self.embed_images(batch["images"], training)
        logits = self.sequence_logits(embeddings, batch["input_seqs"], training, dropout_seed)
        token_losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=batch["target_seqs"], logits=logits
        )
        weights = tf.cast(batch["input_mask"], tf.float32)
        return token_losses, weights

    def batch_loss(
        self, batch: dict[str, tf.Tensor], training: bool, dropout_seed: tf.Tensor | None = None
    ) -> tf.Tensor:
        """Cross-entropy averaged over the mask (upstream's `batch_loss`)."""
        token_losses, weights = self.losses(batch, training, dropout_seed)
        return tf.math.divide_no_nan(tf.reduce_sum(token_losses * weights), tf.reduce_sum(weights))

    # -- inference: the interface CaptionGenerator drives ---------------------------
    def initial_state(self, images: tf.Tensor) -> tf.Tensor:
        """LSTM state [B, 2 * units] (c then h) after feeding the image."""
        embeddings = self.embed_images(images, training=False)
        _, (c, h) = self.lstm(embeddings, self.lstm.zero_state(tf.shape(images)[0]))
        return tf.concat([c, h], axis=1)

    def step(self, input_feed: tf.Tensor, state_feed: tf.Tensor):
        """One word per beam: -> (softmax [N, V], new state [N, 2 * units])."""
        c, h = tf.split(state_feed, 2, axis=1)
        words = tf.nn.embedding_lookup(self.seq_embedding, input_feed)
        output, (new_c, new_h) = self.lstm(words, (c, h))
        logits = tf.matmul(output, self.logits_weights) + self.logits_biases
        return tf.nn.softmax(logits), tf.concat([new_c, new_h], axis=1)
