"""Keras CSVLogger files as candidate series (harness/job/csvlog.py, JobOutput.losses):
the rows CSVLogger writes, read untrusted, a phase's own rows only."""

from __future__ import annotations

from pathlib import Path

from harness.job import JobOutput, LossSettings
from harness.job.csvlog import read_csv_series
from harness.jobshapes import EPOCH_INDEX

# What keras.callbacks.CSVLogger writes (columns sorted, epochs from 0).
ROWS = "epoch,accuracy,loss,val_accuracy,val_loss\n" + "".join(
    f"{e},{0.3 + 0.1 * e},{1.5 - 0.2 * e},{0.3 + 0.1 * e},{1.6 - 0.2 * e}\n" for e in range(5)
)


def test_csvlogger_loss_is_chosen_with_its_accuracy(tmp_path: Path) -> None:
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "training.csv").write_text(ROWS)
    losses = JobOutput(tmp_path).losses("")
    assert losses.source == "csv:log/training.csv:loss"
    assert losses.steps == EPOCH_INDEX
    assert losses.values[4] == 1.5 - 0.8
    assert set(losses.accuracies) == {"csv:log/training.csv:accuracy"}
    assert not any("val_" in c for c in losses.candidates)  # validation is no training loss


def test_a_phase_reads_only_the_rows_appended_after_its_mark(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text(ROWS)
    output = JobOutput(tmp_path)
    mark = output.mark()
    with log.open("a") as handle:
        handle.write("5,0.85,0.4,0.8,0.5\n6,0.9,0.3,0.8,0.4\n")
    assert output.losses("", mark).values == {5: 0.4, 6: 0.3}


def test_a_file_rewritten_during_the_phase_is_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text(ROWS)
    output = JobOutput(tmp_path)
    mark = output.mark()
    log.write_text("epoch,loss\n0,2.5\n1,2.0\n")
    assert output.losses("", mark).values == {0: 2.5, 1: 2.0}


def test_a_link_or_a_csv_without_an_epoch_column_is_no_series(tmp_path: Path) -> None:
    (tmp_path / "outside.csv").write_text(ROWS)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "linked.csv").symlink_to(tmp_path / "outside.csv")
    (tmp_path / "out" / "table.csv").write_text("a,loss\n1,2\n2,3\n")
    assert JobOutput(tmp_path / "out").losses("").candidates == {}
    assert read_csv_series(tmp_path / "out" / "table.csv") == {}


def test_loss_tag_names_a_csv_column(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_text("epoch,objective\n0,3.0\n1,2.0\n2,1.5\n3,1.0\n")
    losses = JobOutput(tmp_path, LossSettings(tags=("objective",))).losses("")
    assert losses.source == "csv:log.csv:objective"


def test_a_diverged_row_keeps_its_nan(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_text("epoch,loss\n0,3.0\n1,nan\n")
    values = JobOutput(tmp_path).losses("").values
    assert values[0] == 3.0 and values[1] != values[1]
