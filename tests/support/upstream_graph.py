"""Upstream im2txt's variables in a tf.compat.v1 graph: the TF1 side of checkpoint tests.

Upstream's TF1 model creates exactly these global variables (names, shapes and
dtypes are facts taken from its model definition, the Inception ones from the
checkpoint manifest in fixtures/), and its trainer, evaluator and inference
script all load them with a `tf.compat.v1.train.Saver`. A checkpoint that this
graph's Saver restores with nothing missing and nothing left over therefore
loads in upstream's scripts, and one it saves is what upstream's trainer writes.
None of this code comes from the trainer under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

MANIFEST = Path(__file__).resolve().parents[2] / "fixtures/inception_v3_2016_08_28.manifest.json"
# Upstream's image embedding builds inception_v3_base only: no auxiliary or final logits.
NOT_IN_UPSTREAM_MODEL = ("InceptionV3/AuxLogits/", "InceptionV3/Logits/")
EMBEDDING_SIZE = 512  # upstream ModelConfig.embedding_size
NUM_LSTM_UNITS = 512  # upstream ModelConfig.num_lstm_units
INIT_SCALE = 0.08  # upstream ModelConfig.initializer_scale


def upstream_variables(vocab_size: int) -> dict[str, tuple[list[int], tf.DType]]:
    """name -> (shape, dtype) of every variable upstream's model and trainer create."""
    manifest = json.loads(MANIFEST.read_text())["variables"]
    specs = {
        name: (shape, tf.float32)
        for name, shape in manifest.items()
        if not name.startswith(NOT_IN_UPSTREAM_MODEL)
    }
    units, embedding = NUM_LSTM_UNITS, EMBEDDING_SIZE
    specs.update(
        {
            "global_step": ([], tf.int32),
            "image_embedding/weights": ([2048, embedding], tf.float32),
            "seq_embedding/map": ([vocab_size, embedding], tf.float32),
            "lstm/basic_lstm_cell/kernel": ([embedding + units, 4 * units], tf.float32),
            "lstm/basic_lstm_cell/bias": ([4 * units], tf.float32),
            "logits/weights": ([units, vocab_size], tf.float32),
            "logits/biases": ([vocab_size], tf.float32),
        }
    )
    return specs


class UpstreamGraph:
    """A graph-mode session over upstream's variables with a Saver of all of them.

    Variables start as upstream's trainer initialises them: step 0 and, for the
    weights, its uniform initializer; `restore_inception` then loads the
    pretrained Inception file the way upstream's `init_fn` does.
    """

    def __init__(self, vocab_size: int) -> None:
        self.specs = upstream_variables(vocab_size)
        self.graph = tf.Graph()
        with self.graph.as_default():
            self._variables = {
                name: tf.compat.v1.get_variable(
                    name,
                    shape=shape,
                    dtype=dtype,
                    initializer=(
                        tf.compat.v1.zeros_initializer()
                        if dtype.is_integer
                        else tf.compat.v1.random_uniform_initializer(-INIT_SCALE, INIT_SCALE)
                    ),
                    trainable=name != "global_step",
                    use_resource=False,  # TF1's reference variables, as upstream had.
                )
                for name, (shape, dtype) in self.specs.items()
            }
            self.saver = tf.compat.v1.train.Saver(max_to_keep=5)
            self.session = tf.compat.v1.Session(graph=self.graph)
            self.session.run(tf.compat.v1.global_variables_initializer())

    def __enter__(self) -> UpstreamGraph:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.session.close()

    def restore(self, prefix: str) -> None:
        """Saver.restore, which fails on any missing name or dtype or shape mismatch."""
        with self.graph.as_default():
            self.saver.restore(self.session, prefix)

    def restore_inception(self, path: str) -> None:
        """Load only the InceptionV3 variables, from a V1 file or V2 prefix."""
        inception = {n: v for n, v in self._variables.items() if n.startswith("InceptionV3/")}
        with self.graph.as_default():
            tf.compat.v1.train.Saver(inception).restore(self.session, path)

    def save(self, folder: Path) -> str:
        """Save `<folder>/model.ckpt-<global_step>` as upstream's trainer does."""
        with self.graph.as_default():
            return self.saver.save(
                self.session,
                str(folder / "model.ckpt"),
                global_step=self._variables["global_step"],
            )

    def values(self) -> dict[str, np.ndarray]:
        return self.session.run(self._variables)

    def assign(self, values: dict[str, np.ndarray | int]) -> None:
        """Set variables, as training steps would have changed them."""
        with self.graph.as_default():
            feeds = {name: tf.compat.v1.placeholder(self.specs[name][1]) for name in values}
            assigns = [self._variables[name].assign(feeds[name]) for name in values]
        self.session.run(assigns, {feeds[name]: value for name, value in values.items()})


def differences(prefix: str, vocab_size: int) -> list[str]:
    """Every name, dtype or shape by which a checkpoint differs from upstream's variables."""
    reader = tf.train.load_checkpoint(prefix)
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    expected = upstream_variables(vocab_size)
    found = [f"not upstream's: {name}" for name in sorted(set(shapes) - set(expected))]
    for name, (shape, dtype) in sorted(expected.items()):
        if name not in shapes:
            found.append(f"missing: {name}")
        elif (list(shapes[name]), dtypes[name]) != (shape, dtype):
            found.append(
                f"{name}: {dtypes[name].name} {shapes[name]}, upstream {dtype.name} {shape}"
            )
    return found
