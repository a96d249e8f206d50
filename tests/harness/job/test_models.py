"""Model files a job saves (harness/job/models.py): TensorFlow checkpoints, Keras HDF5 and
`.keras` files, SavedModels - found under output_dir, read without rebuilding the model,
with the step each carries. Every file here is written by TensorFlow or Keras itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from harness.job import JobOutput, ModelReadError, read_model
from harness.job.models import CHECKPOINT, KERAS_ARCHIVE, KERAS_H5, SAVED_MODEL
from tests.support.adversaries import write_checkpoint


@pytest.fixture(scope="module")
def keras_model():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(4, name="backbone"),
            keras.layers.Dense(3, name="head"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(np.random.rand(16, 6), np.random.randint(0, 3, 16), epochs=1, verbose=0)
    return model


def test_name_keyed_v2_checkpoints_by_step_and_partial_saves_ignored(tmp_path: Path) -> None:
    for step in (5, 40, 12):
        write_checkpoint(tmp_path / f"model.ckpt-{step}", {"w": np.full([2], step, np.float32)})
    write_checkpoint(tmp_path / "model.ckpt-50.tmp-save-123", {"w": np.zeros([2], np.float32)})
    # A sharded save cut short leaves its parts in a `<prefix>_temp/` folder.
    write_checkpoint(tmp_path / "model.ckpt-60_temp" / "part-00000-of-00001", {"w": np.zeros([2])})
    found = JobOutput(tmp_path).checkpoints()
    assert [c.step for c in found] == [5, 12, 40]
    assert found[-1].values()["w"].tolist() == [40.0, 40.0]
    assert found[-1].shapes() == {"w": (2,)} and found[-1].resumable


def test_v1_checkpoint(tmp_path: Path) -> None:
    tf.raw_ops.Save(
        filename=str(tmp_path / "model.ckpt-7"),
        tensor_names=["global_step", "v"],
        data=[tf.constant(7, tf.int32), tf.constant([1.0, 2.0])],
    )
    (tmp_path / "checkpoint").write_text(
        'model_checkpoint_path: "/elsewhere/model.ckpt-7"\n'
        'all_model_checkpoint_paths: "/elsewhere/model.ckpt-7"\n'
    )
    (latest,) = JobOutput(tmp_path).checkpoints()
    assert latest.path == tmp_path / "model.ckpt-7" and latest.step == 7
    assert latest.kind == CHECKPOINT


def test_the_saved_step_wins_over_the_checkpoint_managers_numbering(tmp_path: Path) -> None:
    """CheckpointManager numbers saves 1, 2, ... (`ckpt-6`) whatever the step reached."""
    model = tf.Module()
    model.kernel = tf.Variable(tf.ones([3, 2]))
    step = tf.Variable(30, dtype=tf.int64)
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(model=model, global_step=step), tmp_path / "ckpts", 3
    )
    for _ in range(6):
        manager.save()
    (found,) = [c for c in JobOutput(tmp_path).checkpoints() if c.path.name == "ckpt-6"]
    assert found.step == 30
    assert "model/kernel" in found.shapes()
    assert not any(k.startswith(("_CHECKPOINTABLE", "save_counter")) for k in found.shapes())


@pytest.mark.parametrize(
    ("counters", "step"),
    [
        ({"step": 100}, 100),  # tf.train.Checkpoint(step=...)
        ({"optimizer/_iterations": 90}, 90),  # a Keras 3 optimizer beside it
        ({"step": 100, "optimizer/_iterations": 90}, 100),
        ({"global_step": 7, "step": 100}, 7),
        ({"optimizer/iter": 40}, 40),
        ({"model/layer/step": 3}, 3),  # any depth, when nothing shallower counts
    ],
)
def test_the_saved_step_wins_over_the_name(tmp_path: Path, counters: dict, step: int) -> None:
    """Kind 4 of the foreign-job corpus: `ckpt-1` (save 1) holding `step` = 100."""
    root = tf.Module()
    for key, value in counters.items():
        *path, name = key.split("/")
        holder = root
        for part in path:
            if not hasattr(holder, part):
                setattr(holder, part, tf.Module())
            holder = getattr(holder, part)
        setattr(holder, name, tf.Variable(value, dtype=tf.int64))
    root.save_counter_like = tf.Variable(1, dtype=tf.int64)
    tf.train.CheckpointManager(tf.train.Checkpoint(root=root), tmp_path, 3).save()
    (found,) = JobOutput(tmp_path).checkpoints()
    assert found.path.name == "ckpt-1" and found.step == step


def test_a_number_in_an_export_name_is_no_step(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "resnet-50", {"w": np.zeros([2], np.float32)})
    write_checkpoint(tmp_path / "ckpt-6", {"w": np.zeros([2], np.float32)})
    steps = {c.path.name: c.step for c in JobOutput(tmp_path).checkpoints()}
    assert steps == {"resnet-50": None, "ckpt-6": 6}
    resumable = {c.path.name for c in JobOutput(tmp_path).checkpoints() if c.resumable}
    assert resumable == {"ckpt-6"}


def test_keras_files_whole_model_weights_and_archive(tmp_path: Path, keras_model) -> None:
    keras_model.save(tmp_path / "mnist_model.h5")
    keras_model.save(tmp_path / "mnist_model.keras")
    keras_model.save_weights(tmp_path / "model.weights.h5")
    found = {m.path.name: m for m in JobOutput(tmp_path).models()}
    assert {n: m.kind for n, m in found.items()} == {
        "mnist_model.h5": KERAS_H5,
        "mnist_model.keras": KERAS_ARCHIVE,
        "model.weights.h5": KERAS_H5,
    }
    kernel = keras_model.get_layer("backbone").kernel.numpy()
    for name in ("mnist_model.h5", "mnist_model.keras", "model.weights.h5"):
        values = found[name].values()
        assert set(values) == {"backbone/vars/0", "backbone/vars/1", "head/vars/0", "head/vars/1"}
        np.testing.assert_array_equal(values["backbone/vars/0"], kernel)
    assert not any(m.resumable for m in found.values())


def test_saved_model(tmp_path: Path, keras_model) -> None:
    keras_model.export(tmp_path / "export")
    (model,) = JobOutput(tmp_path).models()
    assert model.kind == SAVED_MODEL and model.path == tmp_path / "export" and not model.resumable
    kernel = keras_model.get_layer("backbone").kernel.numpy()
    assert any(np.array_equal(v, kernel) for v in model.values().values())


def test_files_the_harness_placed_are_not_the_jobs(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "pretrained" / "x.ckpt", {"w": np.zeros([2], np.float32)})
    write_checkpoint(tmp_path / "model.ckpt-3", {"w": np.zeros([2], np.float32)})
    output = JobOutput(tmp_path, placed=[tmp_path / "pretrained" / "x.ckpt"])
    assert [m.path.name for m in output.models()] == ["model.ckpt-3"]


def test_what_is_no_model_is_named(tmp_path: Path) -> None:
    (tmp_path / "notes.h5").write_text("not hdf5")
    (tmp_path / "plain.bin").write_bytes(b"\0" * 8)
    assert JobOutput(tmp_path).models() == []
    with pytest.raises(ModelReadError, match="plain.bin is neither a TensorFlow checkpoint"):
        read_model(tmp_path / "plain.bin")


def test_an_hdf5_file_of_plain_arrays_is_an_output_not_a_model(tmp_path: Path) -> None:
    import h5py

    with h5py.File(tmp_path / "features.h5", "w") as handle:
        handle["embeddings"] = np.zeros([4, 3], np.float32)
    assert JobOutput(tmp_path).models() == []
    with pytest.raises(ModelReadError, match="features.h5 is neither"):
        read_model(tmp_path / "features.h5")


def test_no_output_folder_means_nothing_saved(tmp_path: Path) -> None:
    output = JobOutput(tmp_path / "missing")
    assert output.models() == [] and output.latest_checkpoint() is None
