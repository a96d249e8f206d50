"""resume on crafted runs (harness/checks/resume.py)."""

from __future__ import annotations

import dataclasses

import numpy as np

from harness.checks import resume
from harness.checks.resume import ResumeFacts
from harness.jobshapes import EPOCH_INDEX, PER_RUN
from harness.record import FAILED, PASSED, WARNING

FIRST = {s: 3.0 - s / 50 for s in range(1, 101)}  # 2.98 -> 1.0


def _rerun(losses, final=120, target=120, first_step=100, **kw) -> ResumeFacts:
    return ResumeFacts(first_step, 100, kw.pop("first_losses", FIRST), losses, final, target, **kw)


def test_a_rerun_that_continues_passes() -> None:
    result = resume.check_resume(_rerun({101: 0.99, 110: 0.9, 120: 0.85}))
    assert result.status == PASSED and "first logged step 101" in result.message


def test_a_rerun_that_starts_over_fails() -> None:
    result = resume.check_resume(_rerun({1: 2.98, 120: 0.9}))
    assert result.status == FAILED and "it started over" in result.message


def test_a_rerun_whose_loss_goes_back_to_the_start_fails_even_with_continued_steps() -> None:
    result = resume.check_resume(_rerun({101: 2.9, 120: 2.5}))
    assert result.status == FAILED and "did not continue" in result.message


def test_a_second_resume_is_held_to_the_whole_training_not_a_plateau() -> None:
    # Losses from a cluster run: trained 1-60 from scratch, resumed 61-70 on its plateau,
    # then resumed single-node at 71. Against the plateau alone its noise reads as "back
    # to the start"; against the whole training the rerun plainly continued.
    plateau = {61: 0.464, 62: 0.471, 63: 0.324, 64: 0.468, 65: 0.445}
    plateau |= {66: 0.337, 67: 0.304, 68: 0.398, 69: 0.362, 70: 0.296}
    scratch = {s: 6.6 * 0.95**s for s in range(1, 61)}  # 6.27 -> 0.30
    rerun = {71: 0.433, 80: 0.290}
    noisy = resume.check_resume(ResumeFacts(70, 70, plateau, rerun, 80, 80))
    assert noisy.status == FAILED and "did not continue" in noisy.message
    whole = resume.check_resume(ResumeFacts(70, 70, {**scratch, **plateau}, rerun, 80, 80))
    assert whole.status == PASSED, whole.message


def test_a_rerun_short_of_the_target_fails_and_a_silent_one_only_warns() -> None:
    short = resume.check_resume(_rerun({101: 1.0}, final=110))
    assert short.status == FAILED and "not the target 120" in short.message
    silent = resume.check_resume(_rerun({}))
    assert silent.status == WARNING and "logged no loss" in silent.message
    assert "--loss-tag" in silent.message


# ------------------------------------------- no checkpoint carrying a step: behaviour


def _stepless(losses, **kw) -> ResumeFacts:
    kw.setdefault("saved", ("model.keras",))
    return _rerun(losses, final=None, first_step=None, **kw)


def test_a_job_reloading_its_keras_model_continues_by_its_loss_level() -> None:
    """Kind 5: a .keras reload numbers its epochs from 1 again, yet continues the weights."""
    result = resume.check_resume(_stepless({1: 1.02, 20: 0.9}))
    assert result.status == PASSED, result.message
    assert "near the first run's final level" in result.message


def test_a_job_that_starts_over_warns_and_fails_beside_a_backup_folder() -> None:
    over = resume.check_resume(_stepless({1: 2.95, 20: 1.0}))
    assert over.status == WARNING and "no resume logic" in over.message
    assert "back near the first run's starting level" in over.message
    backup = resume.check_resume(_stepless({1: 2.95, 20: 1.0}, backups=("backup",)))
    assert backup.status == FAILED and "backup/" in backup.message


def test_starting_over_beside_model_files_numbered_by_epoch_fails() -> None:
    """ModelCheckpoint('model-{epoch:02d}.keras') saves every epoch to go on from; one
    final model, or a single number (`resnet-50.h5`), claims nothing."""
    numbered = ("model-01.keras", "model-02.keras", "model-03.keras")
    over = resume.check_resume(_stepless({1: 2.95, 20: 1.0}, saved=numbered))
    assert over.status == FAILED and "numbered by epoch: model-01.keras" in over.message
    weights = ("weights.01-0.52.h5", "weights.02-0.40.h5")
    assert resume.check_resume(_stepless({1: 2.95}, saved=weights)).status == FAILED
    single = resume.check_resume(_stepless({1: 2.95, 20: 1.0}, saved=("resnet-50.h5",)))
    assert single.status == WARNING
    resumed = resume.check_resume(_stepless({1: 1.02, 20: 0.9}, saved=numbered))
    assert resumed.status == PASSED


def test_starting_over_beside_checkpoints_outside_output_dir_fails() -> None:
    tmp = ("/tmp/training_checkpoints/checkpoint", "/tmp/training_checkpoints/ckpt-1.index")
    result = resume.check_resume(_stepless({1: 2.95, 20: 1.0}, elsewhere=tmp))
    assert result.status == FAILED and "outside output_dir, lost on a restart" in result.message


def test_a_rerun_that_wiped_the_first_runs_output_and_started_over_fails() -> None:
    wiped = _stepless({1: 2.95, 20: 1.0}, deleted=("log/train/events.out.tfevents.1.h",))
    result = resume.check_resume(wiped)
    assert result.status == FAILED and "deleted what the first run wrote" in result.message
    kept = _stepless({1: 1.02, 20: 0.9}, deleted=("log/train/events.out.tfevents.1.h",))
    assert resume.check_resume(kept).status == PASSED  # a job's own rotation, resumed


def test_without_a_clear_fall_the_numbering_tells() -> None:
    flat = {s: 1.0 for s in range(1, 101)}
    again = resume.check_resume(_stepless({1: 1.0, 20: 1.0}, first_losses=flat))
    assert again.status == WARNING and "logged step 1 first" in again.message
    on = resume.check_resume(_stepless({101: 1.0, 120: 1.0}, first_losses=flat))
    assert on.status == PASSED and "logged step 101 first" in on.message
    per_run = _stepless({0: 1.0}, first_losses=flat, loss_steps=PER_RUN, first_loss_steps=PER_RUN)
    unknown = resume.check_resume(per_run)
    assert unknown.status == WARNING and "could not judge resume" in unknown.message
    assert "--loss-tag" in unknown.message and "--step-flag" in unknown.message


def test_a_first_run_short_of_its_target_fails() -> None:
    result = resume.check_resume(_rerun({91: 1.0, 120: 0.9}, first_step=90))
    assert result.status == FAILED
    assert "last checkpoint is at step 90, short of its target 100" in result.message


def test_non_finite_losses_or_variables_after_resuming_fail_naming_them() -> None:
    nan = resume.check_resume(_rerun({101: float("nan"), 120: float("nan")}, non_finite=["w/b"]))
    assert nan.status == FAILED
    assert "not finite from step 101" in nan.message
    assert "non-finite values: w/b" in nan.message


def test_a_rerun_that_crashes_fails_with_its_reason() -> None:
    crashed = resume.check_resume(_rerun({}, final=None, failure="exited with status 1"))
    assert crashed.status == FAILED
    assert "the rerun on its own checkpoints exited with status 1" in crashed.message


def test_no_checkpoint_carrying_a_step_is_a_warning_unless_the_rerun_crashes() -> None:
    facts = _rerun({1: 2.9, 120: 1.0}, first_step=None, final=None, saved=["model.ckpt"])
    warned = resume.check_resume(facts)
    assert warned.status == WARNING
    assert "no resume logic" in warned.message and "model.ckpt" in warned.message
    assert "starts over" in warned.message
    crashed = resume.check_resume(
        _rerun({}, first_step=None, final=None, failure="exited with status 2")
    )
    assert crashed.status == FAILED and "exited with status 2" in crashed.message


def test_epochs_are_scaled_to_steps_by_the_first_run() -> None:
    # 4 epochs took 100 steps; the rerun's 6 epochs must end at step 150.
    facts = ResumeFacts(100, 4, FIRST, {101: 0.99, 150: 0.8}, 150, 6, unit="epochs")
    assert resume.check_resume(facts).status == PASSED
    short = ResumeFacts(100, 4, FIRST, {101: 0.99, 125: 0.8}, 125, 6, unit="epochs")
    assert "not the target 150" in resume.check_resume(short).message


# A Keras fit logging only `epoch_loss` (verbose=0 and a TensorBoard callback): the loss is
# numbered by epoch (0, 1, ...) while the checkpoint's step counts iterations.
EPOCH_LOSSES = {0: 2.3, 1: 1.6, 2: 1.2, 3: 1.0}  # 4 epochs, 25 steps each


def _keras_rerun(losses, **kw) -> ResumeFacts:
    steps = dict(loss_steps=EPOCH_INDEX, first_loss_steps=EPOCH_INDEX)
    return ResumeFacts(100, 4, EPOCH_LOSSES, losses, 150, 6, unit="epochs", **steps, **kw)


def test_a_keras_fit_logging_epochs_is_judged_in_epochs() -> None:
    resumed = resume.check_resume(_keras_rerun({4: 0.9, 5: 0.8}))
    assert resumed.status == PASSED, resumed.message
    assert "first logged epoch 4" in resumed.message
    over = resume.check_resume(_keras_rerun({0: 2.3, 5: 0.8}))
    assert over.status == FAILED
    assert "logged epoch 0, the first run's first epoch: it started over" in over.message
    repeated = resume.check_resume(_keras_rerun({2: 1.1, 5: 0.8}))
    assert repeated.status == FAILED and "trained epochs 2-3 again" in repeated.message


def test_a_loss_counter_restarting_in_every_run_is_judged_by_its_level() -> None:
    # Keras's batch_loss starts at 0 in every fit: step 0 is no sign of starting over.
    first = {s: 3.0 - s / 50 for s in range(0, 100)}
    per_run = dict(loss_steps=PER_RUN, first_loss_steps=PER_RUN)
    kept = resume.check_resume(ResumeFacts(100, 100, first, {0: 1.0, 19: 0.9}, 120, 120, **per_run))
    assert kept.status == PASSED, kept.message
    again = resume.check_resume(
        ResumeFacts(100, 100, first, {0: 2.9, 19: 2.5}, 120, 120, **per_run)
    )
    assert again.status == FAILED and "did not continue" in again.message


def test_a_rerun_that_restores_the_pretrained_file_again_fails() -> None:
    pretrained = {"b": np.zeros(50)}
    before = {"b": np.ones(50)}
    facts = _rerun({101: 1.0})
    again = resume.check_resume(facts, pretrained, before, {"b": np.full(50, 0.1)})
    assert again.status == FAILED and "restored the pretrained file again" in again.message
    kept = resume.check_resume(facts, pretrained, before, {"b": np.full(50, 1.05)})
    assert kept.status == PASSED


def test_a_loss_numbered_by_epoch_beside_step_checkpoints_continues_its_numbering() -> None:
    """TF1 tutorials: summary `Cost` at epoch N, model.ckpt-<global step> (8 steps an
    epoch): the rerun logging epoch 21 after 20 continued, though 21 < step 160."""
    first = {e: 4.0 * 0.8**e for e in range(1, 21)}
    rerun = _rerun({21: first[20] * 0.99, 25: first[20] * 0.95}, final=200, target=200)
    rerun = dataclasses.replace(rerun, first_step=160, first_target=160, first_losses=first)
    assert resume.check_resume(rerun).status == PASSED
    again = dataclasses.replace(rerun, losses={1: 4.0, 25: 1.0})
    assert resume.check_resume(again).status == FAILED


def test_what_cannot_be_judged_never_fails() -> None:
    """Every 'could not judge' path warns, naming the flag that settles it."""
    silent = resume.check_resume(_stepless({}))
    assert silent.status == WARNING and "--step-flag" in silent.message
    no_rerun_loss = resume.check_resume(_rerun({}, final=120))
    assert no_rerun_loss.status == WARNING and "--loss-regex" in no_rerun_loss.message
    no_target = resume.not_applicable(type("Situation", (), {"step_target": False})())
    assert no_target is not None and "--step-flag" in no_target
