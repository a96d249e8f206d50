"""Finding a job's loss (harness/job/losses.py and JobOutput.losses): summary tags by
their names, stdout shapes with ANSI styling, metrics.jsonl, and the choice between them.

Event files are written with TensorFlow's own writers and protos, stdout lines copied
from what the libraries print, so the reader is tested against the real formats.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.job import JobOutput, LossSettings, parse_stdout_losses, read_metrics
from harness.jobshapes import EPOCH_INDEX, GLOBAL_STEPS, loss_tag
from tests.support.events import write_events

# --------------------------------------------------------------------------- tag names


@pytest.mark.parametrize(
    ("tag", "tier"),
    [
        ("loss", 1),
        ("total_loss", 1),
        ("total_loss_1", 1),  # slim: the op `total_loss` exists, so its summary is uniquified
        ("losses/total_loss", 1),
        ("TotalLoss", 1),
        ("OptimizeLoss/loss", 1),
        ("model_0/total_loss", 1),
        ("epoch_loss", 1),  # Keras TensorBoard, in train/ and validation/
        ("batch_loss", 1),
        ("Losses/clone_loss", 1),  # slim's model_deploy
        ("Cost", 1),  # names are matched without regard to case
        ("objective", 1),
        ("cost", 1),
        ("cross_entropy", 2),
        ("cross_entropy_1", 2),  # mnist_summary: the name scope `cross_entropy` exists
        ("cross_entropy__raw_", 2),
        ("xent", 2),
        ("losses/softmax_cross_entropy_loss/value", 2),
        ("losses/batch_loss", 2),
        ("Losses/regularization_loss", None),
        ("local3/weight_loss_1", None),
        ("losses/aux_loss/value", None),
        ("val_loss", None),
        ("accuracy_1", None),
        ("learning_rate", None),
        ("global_step/sec", None),
    ],
)
def test_loss_tag_tiers(tag: str, tier: int | None) -> None:
    known = loss_tag(tag)
    assert (known.tier if known else None) == tier


# --------------------------------------------------------------------------- events


def test_tf1_simple_values_under_a_loss_tag(tmp_path: Path) -> None:
    write_events(
        tmp_path / "events.out.tfevents.1.host", [(1, "total_loss", 2.5), (2, "total_loss", 2.0)]
    )
    series = JobOutput(tmp_path).losses("")
    assert series.values == {1: 2.5, 2: 2.0}
    assert series.source == "events:total_loss"


def test_tf2_scalar_tensors_in_a_subfolder(tmp_path: Path) -> None:
    write_events(
        tmp_path / "log" / "train" / "events.out.tfevents.2.h", [(3, "loss", 1.25)], tensor=True
    )
    assert JobOutput(tmp_path).losses("").values == {3: 1.25}


def test_a_total_loss_wins_over_its_parts_and_other_tags_are_only_listed(tmp_path: Path) -> None:
    write_events(
        tmp_path / "events.out.tfevents.1.h",
        [
            *[(s, "learning_rate", 2.0) for s in range(1, 4)],
            *[(s, "Losses/regularization_loss", 0.1) for s in range(1, 4)],
            *[(s, "losses/softmax_cross_entropy_loss/value", 3.0) for s in range(1, 4)],
            *[(s, "total_loss_1", 4.0 - s) for s in range(1, 4)],
        ],
    )
    series = JobOutput(tmp_path).losses("")
    assert series.source == "events:total_loss_1"
    assert series.candidates == {
        "events:learning_rate": 3,
        "events:Losses/regularization_loss": 3,
        "events:losses/softmax_cross_entropy_loss/value": 3,
        "events:total_loss_1": 3,
    }
    assert "events:losses/softmax_cross_entropy_loss/value (3)" in series.describe()


def test_a_cross_entropy_alone_is_found(tmp_path: Path) -> None:
    write_events(
        tmp_path / "log" / "train" / "events.out.tfevents.1.h",
        [(s, "cross_entropy_1", 1.0 / (s + 1)) for s in range(10)],
    )
    write_events(
        tmp_path / "log" / "test" / "events.out.tfevents.1.h",
        [(s, "cross_entropy_1", 9.0) for s in range(0, 10, 5)],
    )
    series = JobOutput(tmp_path).losses("")
    assert series.source == "events:cross_entropy_1" and len(series.values) == 10
    assert 9.0 not in series.values.values()  # the test folder is never merged in


@pytest.mark.parametrize("folder", ["eval", "validation", "test", "eval_coco", "val"])
def test_evaluation_folders_are_never_the_training_series(tmp_path: Path, folder: str) -> None:
    write_events(tmp_path / "events.out.tfevents.1.h", [(10, "loss", 2.0), (20, "loss", 1.0)])
    write_events(
        tmp_path / folder / "events.out.tfevents.1.h", [(s, "loss", 5.0) for s in range(30)]
    )
    assert JobOutput(tmp_path).losses("").values == {10: 2.0, 20: 1.0}


def test_a_user_tag_replaces_the_automatic_choice(tmp_path: Path) -> None:
    write_events(
        tmp_path / "events.out.tfevents.1.h",
        [(1, "learning_rate", 2.0), (1, "losses/total_loss", 4.0), (1, "objective", 3.0)],
    )
    custom = JobOutput(tmp_path, LossSettings(tags=("objective",)))
    assert custom.losses("global step 1: loss = 8.0").values == {1: 3.0}
    nothing = JobOutput(tmp_path, LossSettings(tags=("nope",)))
    assert nothing.losses("global step 1: loss = 8.0").values == {}


def test_only_events_written_after_the_phase_started(tmp_path: Path) -> None:
    """By records, not clocks: the first run's last events may be seconds old or less."""
    first = [(1, "loss", 5.0), (2, "loss", 4.0)]
    write_events(tmp_path / "events.out.tfevents.1.h", first)
    output = JobOutput(tmp_path)
    mark = output.mark()
    write_events(tmp_path / "events.out.tfevents.1.h", [*first, (3, "loss", 3.5)])  # appended
    write_events(tmp_path / "events.out.tfevents.2.h", [(11, "loss", 1.0)])  # a new process
    assert output.losses("", mark).values == {3: 3.5, 11: 1.0}
    assert output.losses("").values == {1: 5.0, 2: 4.0, 3: 3.5, 11: 1.0}


def test_an_event_file_cut_short_by_a_kill_yields_what_was_complete(tmp_path: Path) -> None:
    path = write_events(tmp_path / "events.out.tfevents.1.h", [(1, "loss", 3.0), (2, "loss", 2.0)])
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    assert JobOutput(tmp_path).losses("").values == {1: 3.0}


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
        "4/4 - 0s - 3ms/step - loss: 0.9000 - val_loss: 3.0\n"
    )
    assert parse_stdout_losses(log).values == {1: 1.5, 2: 1.4, 4: 1.2, 8: 0.9}


def test_keras_3_lines_styled_with_ansi_escapes_count() -> None:
    bold, green, reset = "\x1b[1m", "\x1b[32m", "\x1b[0m"
    log = (
        f"{bold}Epoch 1/2{reset}\n"
        f"{bold}8/8{reset} {green}━━━━━━━━━━━━━━━━━━━━{reset}{bold} 0s{reset} 4ms/step - "
        f"accuracy: 0.30 - loss: 1.3862 - val_accuracy: 0.25 - val_loss: 1.38\n"
        f"{bold}Epoch 2/2{reset}\n"
        f"{bold}8/8{reset} {green}━━━━{reset} 0s 4ms/step - accuracy: 0.5 - loss: 1.0520\n"
    )
    series = parse_stdout_losses(log)
    assert series.source == "stdout:keras" and series.values == {8: 1.3862, 16: 1.052}


def test_a_resumed_keras_run_numbers_steps_from_its_first_epoch() -> None:
    log = "Epoch 6/8\n10/10 - 0s - loss: 0.3\nEpoch 7/8\n10/10 - 0s - loss: 0.2\n"
    assert parse_stdout_losses(log).values == {60: 0.3, 70: 0.2}


def test_a_user_regex_with_named_groups() -> None:
    log = (
        "it=5 objective 0.25\nit=6 objective 0.5\nglobal step 7: loss = 1.0\n"
        "Epoch 1/1\n8/8 - 0s - loss: 9.0\n"  # a Keras progress line: not the user's series
    )
    series = parse_stdout_losses(log, r"it=(?P<step>\d+) objective (?P<loss>\S+)")
    assert series.values == {5: 0.25, 6: 0.5} and series.source == "stdout:--loss-regex"


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


def test_metrics_written_before_the_phase_are_not_its_losses(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 9.0}\n')
    output = JobOutput(tmp_path)
    mark = output.mark()
    with open(tmp_path / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 2, "loss": 8.0}\n')
    assert output.losses("", mark).values == {2: 8.0}


def test_a_metrics_file_rewritten_by_the_phase_is_read_from_its_start(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 9.0}\n{"step": 2, "loss": 8.5}\n')
    output = JobOutput(tmp_path)
    mark = output.mark()
    rewritten = "".join(json.dumps({"step": s, "loss": 8.0 - s}) + "\n" for s in range(3, 7))
    (tmp_path / "metrics.jsonl").write_text(rewritten)  # mode "w": longer, new content
    assert output.losses("", mark).values == {3: 5.0, 4: 4.0, 5: 3.0, 6: 2.0}


def test_an_unreadable_metrics_file_is_a_named_candidate_not_an_abort(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\nnot json\n{"step": 2, "loss": 1}\n')
    series = JobOutput(tmp_path).losses("global step 1: loss = 8.0\nglobal step 2: loss = 7.0")
    assert series.source == "stdout:slim"
    assert any(name.startswith("metrics.jsonl (unreadable") for name in series.candidates)


# --------------------------------------------------------------------------- the choice


def test_the_source_with_the_most_points_wins_ties_go_to_the_most_precise(tmp_path: Path) -> None:
    output = JobOutput(tmp_path)
    mark = output.mark()
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "metrics.jsonl").write_text('{"step": 1, "loss": 9.0}\n')
    assert output.losses("", mark).source == "metrics.jsonl"
    # a tie of one point each: metrics.jsonl is read at full precision, stdout rounded
    assert output.losses("global step 1: loss = 8.0", mark).source == "metrics.jsonl"
    every_step = "".join(f"global step {s}: loss = {9 - s}\n" for s in range(1, 6))
    assert output.losses(every_step, mark).source == "stdout:slim"
    write_events(tmp_path / "log" / "events.out.tfevents.1.h", [(1, "loss", 7.0)])
    assert output.losses("global step 1: loss = 8.0", mark).values == {1: 7.0}
    assert output.losses(every_step, mark).source == "stdout:slim"  # 5 points beat 1


def test_summaries_every_100_steps_lose_to_a_loss_line_every_step(tmp_path: Path) -> None:
    write_events(tmp_path / "events.out.tfevents.1.h", [(1, "losses/total_loss", 8.8)])
    log = "".join(f"INFO:tensorflow:global step {s}: loss = {8.85 / s:.4f}\n" for s in range(1, 61))
    series = JobOutput(tmp_path).losses(log)
    assert series.source == "stdout:slim" and len(series.values) == 60
    assert series.candidates == {"events:losses/total_loss": 1, "stdout:slim": 60}


def test_no_output_folder_means_no_losses(tmp_path: Path) -> None:
    output = JobOutput(tmp_path / "missing")
    assert output.losses("").values == {} and output.losses("").source == "none"


# --------------------------------------------------------------------------- discovery


def test_a_loss_named_cost_is_found_in_summaries_and_on_stdout(tmp_path: Path) -> None:
    """Kind 1 of the foreign-job corpus: `Cost` summaries and `Epoch: 0001 cost= 12.3`."""
    log = "".join(f"Epoch: {e:04d} cost= {12.3 / e:.9f}\n" for e in range(1, 9))
    stdout_only = JobOutput(tmp_path).losses(log)
    assert stdout_only.source == "stdout:cost" and stdout_only.steps == EPOCH_INDEX
    assert list(stdout_only.values) == list(range(1, 9))
    write_events(
        tmp_path / "events.out.tfevents.1.h", [(8 * e, "Cost", 12.3 / e) for e in range(1, 9)]
    )
    assert JobOutput(tmp_path).losses(log).source == "events:Cost"  # global steps first


def test_a_dense_step_line_beats_sparse_summaries(tmp_path: Path) -> None:
    """Kind 2: a `loss` summary every 30 steps, `step N, loss = X` every 2."""
    write_events(tmp_path / "events.out.tfevents.1.h", [(0, "loss", 1.4), (30, "loss", 0.5)])
    log = "".join(f"step {s}, loss = {1.4 - s / 100:.4f}\n" for s in range(2, 62, 2))
    log += "I1207 07:20:01.628 1396 basic_session_run_hooks.py:627] Saving checkpoints for 60\n"
    log += "oneDNN custom operations are on. To turn them off, set TF_ENABLE_ONEDNN_OPTS=0.\n" * 2
    log += "NodeDef mentions attr=a:list(type),min=0; attr=b:list(type),min=1; attr=c,min=1\n"
    series = JobOutput(tmp_path).losses(log)
    assert series.source == "stdout:loss" and len(series.values) == 30
    assert series.steps == GLOBAL_STEPS
    assert series.candidates == {"events:loss": 2, "stdout:loss": 30}


def test_accuracies_ride_along_and_evaluation_lines_are_skipped(tmp_path: Path) -> None:
    log = "".join(
        f"step {s}: cross_entropy = {2 - s / 20:.3f}, accuracy = {0.25 + s / 100:.3f}\n"
        for s in range(1, 21)
    )
    log += "Test loss: 0.1\nTest accuracy: 0.99\n" * 3
    write_events(tmp_path / "train" / "events.out.tfevents.1.h", [(1, "epoch_accuracy", 0.3)])
    series = JobOutput(tmp_path).losses(log)
    assert series.source == "stdout:cross_entropy"
    assert set(series.accuracies) == {"stdout:accuracy", "events:epoch_accuracy"}
    assert series.accuracies["stdout:accuracy"][20] == pytest.approx(0.45)


def test_a_loss_tag_names_a_printed_series_too(tmp_path: Path) -> None:
    log = "".join(f"iter={s} objective_value: {5 - s / 10}\n" for s in range(1, 11))
    unnamed = JobOutput(tmp_path).losses(log)  # the one falling series: chosen by behaviour
    assert (unnamed.source, unnamed.chosen_by) == ("stdout:objective_value", "behaviour")
    named = JobOutput(tmp_path, LossSettings(tags=("objective_value",))).losses(log)
    assert named.source == "stdout:objective_value" and named.values[10] == 4.0
    assert named.chosen_by == "name"
