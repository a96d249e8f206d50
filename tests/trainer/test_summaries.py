"""TensorBoard scalars are optional (im2txt/im2txt/summaries.py).

The end-to-end run with TensorBoard hidden from a real train.py is in
tests/trainer/scripts/test_trainer_launch.py; here the module that tf.summary.scalar
imports is made unimportable in-process.
"""

from __future__ import annotations

import sys

import tensorflow as tf

from im2txt.summaries import ScalarWriter


def _event_values(log_dir) -> dict[str, float]:
    values = {}
    for path in log_dir.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                values[value.tag] = float(tf.make_ndarray(value.tensor))
    return values


def test_scalars_become_tensorboard_events(tmp_path, capsys) -> None:
    writer = ScalarWriter(str(tmp_path), still_written="metrics.jsonl")
    writer.write(3, {"learning_rate": 2.0, "losses/batch_loss": 4.5})
    writer.close()
    assert _event_values(tmp_path) == {"learning_rate": 2.0, "losses/batch_loss": 4.5}
    assert "TensorBoard" not in capsys.readouterr().err


def test_without_tensorboard_one_warning_and_no_events(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard.summary.v2", None)  # import now fails
    writer = ScalarWriter(str(tmp_path), still_written="metrics.jsonl and checkpoints")
    for step in (1, 2):
        writer.write(step, {"learning_rate": 2.0})
    writer.close()
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1
    assert warning[0].startswith("warning: TensorBoard is not installed")
    assert f"no TensorBoard events are written to {tmp_path}" in warning[0]
    assert "metrics.jsonl and checkpoints still are" in warning[0]
    assert list(tmp_path.iterdir()) == []
