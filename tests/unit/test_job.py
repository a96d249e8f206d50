"""The job protocol (harness/job.py): losses, checkpoints and summaries from what a job wrote.

Event files, stdout and checkpoints here are written the way TF1, TF2/Keras and our
own trainer write them, with TensorFlow's own writers and protos, so the reader is
tested against the real formats rather than against itself.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.util import event_pb2

from harness.job import JobOutput, LossSettings, parse_stdout_losses, read_metrics


def write_events(
    path: Path, scalars: list[tuple[int, str, float]], wall_time: float = 0.0, tensor: bool = False
) -> Path:
    """An event file holding scalars as TF1 `simple_value`s or TF2 scalar tensors."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(
            event_pb2.Event(wall_time=wall_time, file_version="brain.Event:2").SerializeToString()
        )
        for step, tag, value in scalars:
            summary_value = tf.compat.v1.Summary.Value(tag=tag)
            if tensor:
                summary_value.tensor.CopyFrom(tf.make_tensor_proto(np.float32(value)))
            else:
                summary_value.simple_value = value
            event = event_pb2.Event(
                wall_time=wall_time or time.time(),
                step=step,
                summary=tf.compat.v1.Summary(value=[summary_value]),
            )
            writer.write(event.SerializeToString())
    return path


# --------------------------------------------------------------------------- events


def test_tf1_simple_values_under_a_known_tag(tmp_path: Path) -> None:
    write_events(
        tmp_path / "events.out.tfevents.1.host", [(1, "total_loss", 2.5), (2, "total_loss", 2.0)]
    )
    series = JobOutput(tmp_path).event_losses()
    assert series.values == {1: 2.5, 2: 2.0}
    assert series.source == "events:total_loss"


def test_tf2_scalar_tensors_in_a_subfolder(tmp_path: Path) -> None:
    write_events(
        tmp_path / "log" / "train" / "events.out.tfevents.2.h", [(3, "loss", 1.25)], tensor=True
    )
    assert JobOutput(tmp_path).event_losses().values == {3: 1.25}


def test_tag_order_decides_and_other_tags_are_ignored(tmp_path: Path) -> None:
    write_events(
        tmp_path / "events.out.tfevents.1.h",
        [(1, "learning_rate", 2.0), (1, "losses/total_loss", 4.0), (1, "loss", 3.0)],
    )
    assert JobOutput(tmp_path).event_losses().source == "events:loss"
    custom = JobOutput(tmp_path, LossSettings(tags=("losses/total_loss",)))
    assert custom.event_losses().values == {1: 4.0}
    assert JobOutput(tmp_path, LossSettings(tags=("nope",))).event_losses().values == {}


def test_only_events_written_after_the_phase_started(tmp_path: Path) -> None:
    """By records, not clocks: the first run's last events may be seconds old or less."""
    first = [(1, "loss", 5.0), (2, "loss", 4.0)]
    write_events(tmp_path / "events.out.tfevents.1.h", first)
    output = JobOutput(tmp_path)
    mark = output.mark()
    write_events(tmp_path / "events.out.tfevents.1.h", [*first, (3, "loss", 3.5)])  # appended
    write_events(tmp_path / "events.out.tfevents.2.h", [(11, "loss", 1.0)])  # a new process
    assert output.event_losses(mark).values == {3: 3.5, 11: 1.0}
    assert output.event_losses().values == {1: 5.0, 2: 4.0, 3: 3.5, 11: 1.0}


def test_an_event_file_cut_short_by_a_kill_yields_what_was_complete(tmp_path: Path) -> None:
    path = write_events(tmp_path / "events.out.tfevents.1.h", [(1, "loss", 3.0), (2, "loss", 2.0)])
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    assert JobOutput(tmp_path).event_losses().values == {1: 3.0}


# --------------------------------------------------------------------------- stdout


def test_slim_lines_with_logging_prefixes() -> None:
    log = (
        "I1130 22:09:54 training.py:10] global step 1: loss = 2.5000 (0.100 sec/step)\n"
        "global step 2: loss = nan (0.1 sec/step)\nunrelated line\n"
    )
    series = parse_stdout_losses(log)
    assert series.source == "stdout:slim"
    assert series.values[1] == 2.5 and np.isnan(series.values[2])


def test_estimator_logging_tensor_hook_lines() -> None:
    log = (
        "INFO:tensorflow:loss = 0.6931, step = 1\nINFO:tensorflow:loss = 0.5, step = 11 (0.3 sec)\n"
    )
    assert parse_stdout_losses(log).values == {1: 0.6931, 11: 0.5}
    assert parse_stdout_losses(log).source == "stdout:estimator"


def test_keras_progress_counts_global_steps_across_epochs_and_carriage_returns() -> None:
    log = (
        "Epoch 1/2\n"
        "1/4 ━━━━━ 0s 5ms/step - loss: 1.5000\r2/4 ━━━━━ 0s 5ms/step - loss: 1.4000\r"
        "4/4 ━━━━━ 0s 5ms/step - loss: 1.2000\n"
        "Epoch 2/2\n"
        "4/4 - 0s - 3ms/step - loss: 0.9000\n"
    )
    assert parse_stdout_losses(log).values == {1: 1.5, 2: 1.4, 4: 1.2, 8: 0.9}


def test_a_resumed_keras_run_numbers_steps_from_its_first_epoch() -> None:
    log = "Epoch 6/8\n10/10 - 0s - loss: 0.3\nEpoch 7/8\n10/10 - 0s - loss: 0.2\n"
    assert parse_stdout_losses(log).values == {60: 0.3, 70: 0.2}


def test_a_user_regex_with_named_groups() -> None:
    log = "it=5 objective 0.25\nit=6 objective 0.5\n"
    series = parse_stdout_losses(log, r"it=(?P<step>\d+) objective (?P<loss>\S+)")
    assert series.values == {5: 0.25, 6: 0.5}


@pytest.mark.parametrize(
    ("regex", "message"),
    [("(unclosed", "is not a regex"), (r"(?P<step>\d+)", "needs the named groups")],
)
def test_bad_user_regexes_are_named(regex: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LossSettings(regex=regex)


# --------------------------------------------------------------------------- metrics.jsonl


def test_metrics_from_an_offset_and_a_cut_last_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    first = json.dumps({"step": 1, "loss": 0.1234567890123}) + "\n"
    path.write_text(first + json.dumps({"step": 2, "loss": 0.5}) + "\n" + '{"step": 3, "lo')
    assert read_metrics(path) == {1: 0.1234567890123, 2: 0.5}
    assert read_metrics(path, offset=len(first)) == {2: 0.5}


def test_a_bad_metrics_line_in_the_middle_is_named(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 1}\nnot json\n{"step": 2, "loss": 1}\n')
    with pytest.raises(ValueError, match="metrics.jsonl: line 2"):
        read_metrics(path)


def test_sources_in_order_events_then_stdout_then_metrics(tmp_path: Path) -> None:
    output = JobOutput(tmp_path)
    mark = output.mark()
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "metrics.jsonl").write_text('{"step": 1, "loss": 9.0}\n')
    assert output.losses("", mark).source == "metrics.jsonl"
    assert output.losses("global step 1: loss = 8.0", mark).source == "stdout:slim"
    write_events(tmp_path / "log" / "events.out.tfevents.1.h", [(1, "loss", 7.0)])
    assert output.losses("global step 1: loss = 8.0", mark).values == {1: 7.0}
    assert output.losses("", None).source == "events:loss"


def test_metrics_written_before_the_phase_are_not_its_losses(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 9.0}\n')
    output = JobOutput(tmp_path)
    mark = output.mark()
    with open(tmp_path / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 2, "loss": 8.0}\n')
    assert output.losses("", mark).values == {2: 8.0}


# --------------------------------------------------------------------------- checkpoints


def _save_by_name(prefix: Path, values: dict[str, np.ndarray]) -> None:
    names = sorted(values)
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(values[n]) for n in names],
    )


def test_name_keyed_v2_checkpoints_by_step_and_partial_saves_ignored(tmp_path: Path) -> None:
    for step in (5, 40, 12):
        _save_by_name(tmp_path / f"model.ckpt-{step}", {"w": np.full([2], step, np.float32)})
    _save_by_name(tmp_path / "model.ckpt-50.tmp-save-123", {"w": np.zeros([2], np.float32)})
    found = JobOutput(tmp_path).checkpoints()
    assert [c.step for c in found] == [5, 12, 40]
    assert found[-1].values()["w"].tolist() == [40.0, 40.0]
    assert found[-1].shapes() == {"w": [2]}


def test_v1_file_named_in_the_checkpoint_index(tmp_path: Path) -> None:
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


def test_object_based_checkpoints_of_tf2_and_the_global_step_variable(tmp_path: Path) -> None:
    model = tf.Module()
    model.kernel = tf.Variable(tf.ones([3, 2]))
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), tmp_path / "ckpts", 3)
    manager.save(checkpoint_number=30)
    _save_by_name(tmp_path / "named", {"global_step": np.int64(17), "b": np.zeros(1, np.float32)})
    found = {c.path.name: c for c in JobOutput(tmp_path).checkpoints()}
    assert found["ckpt-30"].step == 30
    assert found["named"].step == 17
    keys = set(found["ckpt-30"].shapes())
    assert "model/kernel/.ATTRIBUTES/VARIABLE_VALUE" in keys
    assert not any(k.startswith(("_CHECKPOINTABLE", "save_counter")) for k in keys)


def test_no_output_folder_means_nothing_written(tmp_path: Path) -> None:
    output = JobOutput(tmp_path / "missing")
    assert output.checkpoints() == [] and output.latest_checkpoint() is None
    assert output.losses("").values == {}
