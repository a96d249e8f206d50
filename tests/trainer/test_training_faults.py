"""The trainer's own failure handling, without a training run (im2txt/im2txt/training.py,
train_options.py, local_training.py).

The end-to-end matrix is tests/trainer/scripts/test_trainer_faults.py; these pin the pieces
that turn OS and TensorFlow errors into messages naming the folder or step.
"""

from __future__ import annotations

import os
import signal

import pytest
import tensorflow as tf

from im2txt import local_training, train_options, training
from im2txt.checkpointing import CheckpointManager
from im2txt.stop_request import StopRequest


class _Model:
    """The one method of ShowAndTellModel that saving needs."""

    def checkpoint_variables(self) -> dict[str, tf.Variable]:
        return {"global_step": tf.Variable(tf.constant(3, tf.int64))}


def test_failed_save_names_output_dir_and_the_intact_checkpoint(tmp_path, monkeypatch) -> None:
    manager = CheckpointManager(str(tmp_path))
    first = training.save_checkpoint(manager, _Model(), 1, "output_dir")

    def disk_full(**kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tf.raw_ops, "SaveV2", disk_full)
    with pytest.raises(train_options.TrainingError) as caught:
        training.save_checkpoint(manager, _Model(), 2, "output_dir")
    message = str(caught.value)
    assert f"global step 2 in output_dir {tmp_path}" in message
    assert "No space left on device" in message and f"{first}, is intact" in message


def test_folder_under_a_file_is_named(tmp_path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("")
    with pytest.raises(train_options.TrainingError, match=f"log_dir {blocker}/log is not writable"):
        train_options.ensure_writable(str(blocker / "log"), "log_dir")


def test_stale_write_probe_of_a_killed_job_is_removed(tmp_path) -> None:
    (tmp_path / ".write-probe-99999").write_text("ok")
    train_options.ensure_writable(str(tmp_path), "output_dir")
    assert os.listdir(tmp_path) == []


def test_stop_request_records_sigterm_and_restores_the_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopRequest() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested
    assert signal.getsignal(signal.SIGTERM) == before


def test_train_stopped_before_it_starts_touches_nothing(tmp_path, capsys) -> None:
    options = train_options.TrainOptions(
        file_patterns=[str(tmp_path / "missing-*")],
        inception_checkpoint=None,
        output_dir=str(tmp_path / "output"),
        log_dir=str(tmp_path / "log"),
        target_step=10,
    )
    with StopRequest() as stop:
        stop.requested = True
        assert local_training.train(options, None, None, stop) == 0
    assert "SIGTERM received before training started" in capsys.readouterr().out
    assert os.listdir(tmp_path) == []
