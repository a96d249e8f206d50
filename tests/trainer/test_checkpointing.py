"""Name-keyed checkpoints (im2txt/im2txt/checkpointing.py)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf

from im2txt import checkpointing
from im2txt.checkpointing import CheckpointError, CheckpointManager, restore_variables
from im2txt.configuration import ModelConfig
from im2txt.show_and_tell_model import ShowAndTellModel
from tests.support.upstream_graph import UpstreamGraph, differences


def _variables(seed: int = 0) -> dict[str, tf.Variable]:
    rng = np.random.default_rng(seed)
    return {
        "global_step": tf.Variable(np.int64(7)),
        "lstm/basic_lstm_cell/kernel": tf.Variable(rng.normal(size=(6, 8)).astype(np.float32)),
        "lstm/basic_lstm_cell/bias": tf.Variable(rng.normal(size=(8,)).astype(np.float32)),
    }


def _zeroed(variables: dict[str, tf.Variable]) -> dict[str, tf.Variable]:
    return {name: tf.Variable(tf.zeros_like(v)) for name, v in variables.items()}


def test_save_writes_tf1_layout_and_restores_by_name(tmp_path) -> None:
    manager = CheckpointManager(str(tmp_path))
    source = _variables()
    prefix = manager.save(source, step=7)
    assert prefix == str(tmp_path / "model.ckpt-7")
    assert sorted(os.listdir(tmp_path)) == [
        "checkpoint",
        "model.ckpt-7.data-00000-of-00001",
        "model.ckpt-7.index",
    ]
    state = (tmp_path / "checkpoint").read_text()
    assert 'model_checkpoint_path: "model.ckpt-7"' in state
    assert 'all_model_checkpoint_paths: "model.ckpt-7"' in state
    assert tf.train.latest_checkpoint(str(tmp_path)) == prefix  # TF's own reader agrees
    target = _zeroed(source)
    assert restore_variables(prefix, target) == 3
    for name in source:
        np.testing.assert_array_equal(target[name].numpy(), source[name].numpy())


def test_only_max_to_keep_newest_are_kept(tmp_path) -> None:
    manager = CheckpointManager(str(tmp_path), max_to_keep=2)
    for step in (1, 2, 3):
        manager.save(_variables(), step)
    assert [os.path.basename(p) for p in manager.checkpoints()] == ["model.ckpt-2", "model.ckpt-3"]
    assert not list(tmp_path.glob("model.ckpt-1*"))


def test_failed_save_keeps_previous_checkpoint_loadable(tmp_path, monkeypatch) -> None:
    manager = CheckpointManager(str(tmp_path))
    first = manager.save(_variables(), 1)

    def disk_full(**kwargs):
        with open(kwargs["prefix"] + ".data-00000-of-00001", "wb") as handle:
            handle.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tf.raw_ops, "SaveV2", disk_full)
    with pytest.raises(OSError, match="No space"):
        manager.save(_variables(), 2)
    assert manager.latest() == first
    assert sorted(os.listdir(tmp_path)) == [
        "checkpoint",
        "model.ckpt-1.data-00000-of-00001",
        "model.ckpt-1.index",
    ]


def test_latest_skips_a_damaged_newest_checkpoint(tmp_path) -> None:
    manager = CheckpointManager(str(tmp_path))
    first = manager.save(_variables(), 1)
    second = manager.save(_variables(), 2)
    with open(second + ".index", "wb") as handle:
        handle.write(b"garbage")
    assert manager.latest() == first


def test_index_written_elsewhere_is_mapped_into_this_folder(tmp_path) -> None:
    """The platform copies earlier outputs in; their index may hold foreign absolute paths."""
    manager = CheckpointManager(str(tmp_path))
    prefix = manager.save(_variables(), 5)
    (tmp_path / "checkpoint").write_text(
        'model_checkpoint_path: "/old/machine/output/model.ckpt-5"\n'
        'all_model_checkpoint_paths: "/old/machine/output/model.ckpt-5"\n'
    )
    assert manager.latest() == prefix


def test_leftovers_of_killed_saves_are_removed(tmp_path) -> None:
    manager = CheckpointManager(str(tmp_path))
    leftover = tmp_path / "model.ckpt-9.tmp-save-123.data-00000-of-00001"
    leftover.write_bytes(b"partial")
    manager.remove_partial_saves()
    assert not leftover.exists()


def test_missing_variable_is_named(tmp_path) -> None:
    prefix = CheckpointManager(str(tmp_path)).save(_variables(), 1)
    wanted = {"logits/weights": tf.Variable(tf.zeros([2, 2]))}
    with pytest.raises(CheckpointError, match="no variable 'logits/weights'"):
        restore_variables(prefix, wanted)


def test_shape_mismatch_is_named_and_nothing_is_assigned(tmp_path) -> None:
    prefix = CheckpointManager(str(tmp_path)).save(_variables(), 1)
    wanted = _zeroed(_variables())
    wanted["lstm/basic_lstm_cell/bias"] = tf.Variable(tf.zeros([9]))
    with pytest.raises(CheckpointError, match=r"'lstm/basic_lstm_cell/bias' has shape \[8\]"):
        restore_variables(prefix, wanted)
    assert not wanted["lstm/basic_lstm_cell/kernel"].numpy().any()


def test_missing_and_unreadable_files_are_named(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found: .*nothing.ckpt"):
        restore_variables(str(tmp_path / "nothing.ckpt"), {})
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.ckpt is unreadable"):
        restore_variables(str(junk), {})


@pytest.mark.parametrize(
    ("kernel", "bias"),
    [
        ("lstm/basic_lstm_cell/kernel", "lstm/basic_lstm_cell/bias"),
        ("lstm/basic_lstm_cell/weights", "lstm/basic_lstm_cell/biases"),
        ("lstm/BasicLSTMCell/Linear/Matrix", "lstm/BasicLSTMCell/Linear/Bias"),
    ],
)
@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_upstream_lstm_name_generations_load(tmp_path, kernel, bias, fmt) -> None:
    values = {kernel: np.full((6, 8), 0.5, np.float32), bias: np.arange(8, dtype=np.float32)}
    path = str(tmp_path / "upstream.ckpt")
    names = list(values)
    tensors = [tf.constant(values[n]) for n in names]
    if fmt == "v1":
        tf.raw_ops.Save(filename=path, tensor_names=names, data=tensors)
    else:
        tf.raw_ops.SaveV2(
            prefix=path, tensor_names=names, shape_and_slices=[""] * 2, tensors=tensors
        )
    target = {name: v for name, v in _zeroed(_variables()).items() if name != "global_step"}
    restore_variables(path, target)
    np.testing.assert_array_equal(target["lstm/basic_lstm_cell/kernel"].numpy(), values[kernel])
    np.testing.assert_array_equal(target["lstm/basic_lstm_cell/bias"].numpy(), values[bias])


def test_step_of_reads_the_suffix() -> None:
    assert checkpointing.step_of("/x/model.ckpt-1234") == 1234
    with pytest.raises(CheckpointError):
        checkpointing.step_of("/x/inception_v3.ckpt")


def test_orphan_data_of_killed_saves_and_prunes_is_removed(tmp_path) -> None:
    """A kill between a save's renames, or after a prune removed an index, leaves data alone."""
    manager = CheckpointManager(str(tmp_path))
    kept = manager.save(_variables(), 1)
    orphan = tmp_path / "model.ckpt-2.data-00000-of-00001"
    orphan.write_bytes(b"data whose index never arrived")
    manager.remove_partial_saves()
    assert not orphan.exists()
    assert manager.latest() == kept and checkpoint_files(tmp_path) == {"model.ckpt-1"}


def checkpoint_files(folder) -> set[str]:
    return {name.split(".data-")[0].removesuffix(".index") for name in os.listdir(folder)} - {
        "checkpoint"
    }


def test_damaged_data_file_is_named_and_nothing_is_assigned(tmp_path) -> None:
    prefix = CheckpointManager(str(tmp_path)).save(_variables(), 1)
    data = tmp_path / "model.ckpt-1.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:8])
    wanted = _zeroed(_variables())
    with pytest.raises(CheckpointError, match=r"cannot read variable '.+' from checkpoint .*-1"):
        restore_variables(prefix, wanted)
    assert not any(v.numpy().any() for v in wanted.values())


def test_global_step_is_stored_as_upstreams_int32(tmp_path) -> None:
    prefix = CheckpointManager(str(tmp_path)).save(_variables(), 7)
    reader = tf.train.load_checkpoint(prefix)
    assert reader.get_variable_to_dtype_map()["global_step"] == tf.int32
    assert reader.get_tensor("global_step") == 7


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_int32_and_int64_steps_load_into_the_int64_step(tmp_path, dtype) -> None:
    """int32: upstream and ours; int64: TF1's get_or_create_global_step, our older saves."""
    prefix = str(tmp_path / "model.ckpt-42")
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=["global_step"],
        shape_and_slices=[""],
        tensors=[tf.constant(dtype(42))],
    )
    step = tf.Variable(np.int64(0))
    restore_variables(prefix, {"global_step": step})
    assert step.dtype == tf.int64 and int(step.numpy()) == 42


def test_a_step_beyond_int32_is_refused_before_anything_is_written(tmp_path) -> None:
    variables = {**_variables(), "global_step": tf.Variable(np.int64(2**31))}
    with pytest.raises(CheckpointError, match="'global_step' = 2147483648 does not fit int32"):
        CheckpointManager(str(tmp_path)).save(variables, 2**31)
    assert os.listdir(tmp_path) == []


def test_pruning_removes_the_meta_graph_a_tf1_saver_wrote(tmp_path) -> None:
    manager = CheckpointManager(str(tmp_path), max_to_keep=1)
    first = manager.save(_variables(), 1)
    (tmp_path / "model.ckpt-1.meta").write_bytes(b"upstream's MetaGraphDef")
    manager.save(_variables(), 2)
    assert checkpoint_files(tmp_path) == {"model.ckpt-2"}, first


def test_model_checkpoint_round_trips_through_upstreams_tf1_graph(tmp_path) -> None:
    """Ours -> tf.compat.v1 Saver of upstream's variables -> ours, with nothing lost."""
    vocab_size = 12
    model = ShowAndTellModel(ModelConfig(vocab_size=vocab_size))
    model.global_step.assign(5)
    ours = CheckpointManager(str(tmp_path / "ours")).save(model.checkpoint_variables(), 5)
    assert differences(ours, vocab_size) == []
    with UpstreamGraph(vocab_size) as upstream:
        upstream.restore(ours)
        restored = upstream.values()
        for name, variable in model.checkpoint_variables().items():
            np.testing.assert_array_equal(restored[name], variable.numpy(), err_msg=name)
        changed = {"global_step": 9, "logits/biases": restored["logits/biases"] + 1.0}
        upstream.assign(changed)
        theirs = upstream.save(tmp_path / "theirs")
    assert theirs == str(tmp_path / "theirs" / "model.ckpt-9")
    assert CheckpointManager(str(tmp_path / "theirs")).latest() == theirs
    restore_variables(theirs, model.checkpoint_variables())
    assert int(model.global_step.numpy()) == 9
    np.testing.assert_array_equal(model.logits_biases.numpy(), changed["logits/biases"])
