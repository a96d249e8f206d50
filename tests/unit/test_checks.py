"""Each check on crafted inputs, at and around its thresholds (harness/checks/*).

Expected verdicts here are worked out by hand from each check's stated rule, not by
calling the check's own helpers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from harness.checks import captioning, image, learning, paths, reproducible, restore, resume
from harness.record import FAILED, PASSED

# --------------------------------------------------------------------------- loss_decrease


def _curve(first: float, last: float, n: int = 10) -> dict[int, float]:
    """n losses: the first fifth at `first`, the last fifth at `last`, linear between."""
    values = np.linspace(first, last, n)
    window = max(2, n // 5)
    values[:window], values[-window:] = first, last
    return {step + 1: float(v) for step, v in enumerate(values)}


def test_loss_exactly_at_the_required_drop_passes_and_just_above_fails() -> None:
    assert learning.check_loss_decrease(_curve(4.0, 3.0), "s", 0.25).status == PASSED
    assert learning.check_loss_decrease(_curve(4.0, 3.001), "s", 0.25).status == FAILED


def test_the_verdict_states_means_threshold_and_source() -> None:
    result = learning.check_loss_decrease(_curve(2.0, 1.0), "events:loss", 0.25)
    assert "from 2.0000" in result.message and "to 1.0000" in result.message
    assert "required <= 1.5000, a 25% drop" in result.message
    assert "events:loss" in result.message


@settings(max_examples=50, deadline=None)
@given(first=st.floats(0.1, 100), ratio=st.floats(0.0, 2.0), scale=st.floats(0.01, 100))
def test_the_verdict_follows_the_ratio_whatever_the_loss_scale(first, ratio, scale) -> None:
    assume(abs(ratio - 0.75) > 1e-6)  # exactly at the threshold, rounding decides
    expected = PASSED if ratio < 0.75 else FAILED
    for factor in (1.0, scale):
        curve = _curve(first * factor, first * ratio * factor)
        assert learning.check_loss_decrease(curve, "s").status == expected


def test_non_finite_and_too_few_losses_fail_with_the_reason() -> None:
    nan = learning.check_loss_decrease({1: 1.0, 2: float("nan"), 3: 0.5, 4: 0.1}, "s")
    assert nan.status == FAILED and "not finite at step 2" in nan.message
    few = learning.check_loss_decrease({1: 1.0, 2: 0.5, 3: 0.1}, "stdout:slim")
    assert few.status == FAILED and "found 3 logged losses" in few.message


def test_a_negative_loss_that_falls_passes() -> None:
    assert learning.check_loss_decrease(_curve(-1.0, -2.0), "s").status == PASSED


# --------------------------------------------------------------------------- path_contract


def _paths(added=(), modified=(), removed=(), inputs_changed=(), checkpoints=("c",), **kw):
    return paths.check_path_contract(
        list(added),
        list(modified),
        list(removed),
        "data/output",
        "data/output/log",
        list(inputs_changed),
        list(checkpoints),
        **kw,
    )


def test_writes_under_output_and_log_dir_pass() -> None:
    result = _paths(added=["data/output/model.ckpt-1.index", "data/output/log/events.x"])
    assert result.status == PASSED and not result.warnings


@pytest.mark.parametrize(
    "written", ["data/output_backup/model.ckpt-1.index", "data/tmp_ckpt/x", "data/stray.txt", "x"]
)
def test_writes_beside_output_fail_by_component_not_prefix(written: str) -> None:
    result = _paths(added=["data/output/a", written])
    assert result.status == FAILED and written in result.message


def test_container_paths_are_compared_by_component_and_ignored_ones_listed() -> None:
    outside, ignored = paths.classify_container_changes(
        [
            "/data",
            "/data/output",
            "/data/output_backup",
            "/data/output_backup/model.ckpt-1.index",
            "/data/tmp_ckpt/x",
            "/tmp/scratch",
            "/tmpdata/x",
            "/root/.keras/keras.json",
            "/data/im2txt/__pycache__/m.pyc",
            "/data/inception_v3.ckpt",
        ],
        "/data/output",
        ["/data/data", "/data/output", "/data/inception_v3.ckpt"],
    )
    assert outside == [
        "/data/output_backup",
        "/data/output_backup/model.ckpt-1.index",
        "/data/tmp_ckpt/x",
        "/tmpdata/x",
    ]
    assert ignored == ["/data/im2txt/__pycache__/m.pyc", "/root/.keras/keras.json", "/tmp/scratch"]
    result = _paths(container_outside=outside, ignored=ignored)
    assert result.status == FAILED
    assert result.evidence["ignored"] == ignored


def test_interpreter_caches_in_the_code_folder_are_ignored_and_shown() -> None:
    result = _paths(added=["data/output/a", "data/im2txt/__pycache__/x.pyc", "data/output/log/e"])
    assert result.status == PASSED
    assert result.evidence["ignored"] == ["data/im2txt/__pycache__/x.pyc"]


def test_deleted_or_changed_inputs_and_no_checkpoint_fail() -> None:
    assert "deleted files it was given: data/data/a" in _paths(removed=["data/data/a"]).message
    changed = _paths(inputs_changed=["data/data/train-00000"])
    assert changed.status == FAILED and "changed its inputs" in changed.message
    none = _paths(added=["data/output/log/events"], checkpoints=())
    assert none.status == FAILED and "no checkpoint" in none.message


def test_only_keras_weight_files_are_named_as_unreadable_not_as_nothing() -> None:
    written = ["data/output/ckpt-03.weights.h5", "data/output/log/events.out.x"]
    result = _paths(added=written, checkpoints=())
    assert result.status == FAILED
    assert "only Keras weight files (data/output/ckpt-03.weights.h5)" in result.message
    assert "save a tf.train.Checkpoint as well" in result.message
    assert "the platform would upload none" not in result.message


def test_nothing_in_log_dir_is_a_warning_not_a_failure() -> None:
    result = _paths(added=["data/output/model.ckpt-1.index", "data/output/events.out.x"])
    assert result.status == PASSED
    assert result.warnings and "TensorBoard view" in result.warnings[0]


# --------------------------------------------------------------------------- pretrained_restore

RNG = np.random.default_rng(0)
PRETRAINED = {f"Backbone/conv{i}/weights": RNG.standard_normal([3, 3, 4, 8]) for i in range(4)}


def _restore(checkpoint, fine_tune=False):
    return restore.check_pretrained_restore(
        PRETRAINED, "backbone.ckpt", checkpoint, "model.ckpt-9", fine_tune, "test"
    )


def test_frozen_variables_equal_bit_for_bit_pass() -> None:
    job = {**PRETRAINED, "head/w": np.zeros(3)}
    result = _restore(job)
    assert result.status == PASSED and "all 4 variables" in result.message


def test_one_frozen_variable_off_by_one_ulp_fails_naming_it() -> None:
    job = dict(PRETRAINED)
    name = "Backbone/conv2/weights"
    job[name] = np.nextafter(job[name], np.inf)
    result = _restore(job)
    assert result.status == FAILED and name in result.message


def test_no_shared_variable_names_a_few_on_each_side() -> None:
    result = _restore({"model/layer/kernel/.ATTRIBUTES/VARIABLE_VALUE": np.zeros([3, 3, 4, 8])})
    assert result.status == FAILED
    assert "Backbone/conv0/weights" in result.message and "model/layer/kernel" in result.message


def test_a_shape_mismatch_is_not_a_shared_variable() -> None:
    result = _restore({name: np.zeros([1]) for name in PRETRAINED})
    assert result.status == FAILED and "same name and shape" in result.message


def test_fine_tuned_variables_close_to_the_pretrained_pass() -> None:
    job = {n: v + 0.1 * RNG.standard_normal(v.shape) for n, v in PRETRAINED.items()}
    result = _restore(job, fine_tune=True)
    assert result.status == PASSED and result.evidence["median_correlation"] > 0.9


def test_fine_tuned_but_unrelated_values_mean_the_restore_was_skipped() -> None:
    job = {n: RNG.standard_normal(v.shape) for n, v in PRETRAINED.items()}
    result = _restore(job, fine_tune=True)
    assert result.status == FAILED and "restore skipped?" in result.message


def test_fine_tuning_that_changed_nothing_fails() -> None:
    result = _restore(dict(PRETRAINED), fine_tune=True)
    assert result.status == FAILED and "did not train" in result.message


def test_correlation_threshold() -> None:
    x = RNG.standard_normal(10_000)
    noise = RNG.standard_normal(10_000)
    # corr(x, x + k * noise) = 1 / sqrt(1 + k^2): 0.55 for k=1.52, 0.45 for k=1.99
    assert restore.correlation(x, x + 1.52 * noise) > restore.MIN_CORRELATION
    assert restore.correlation(x, x + 1.99 * noise) < restore.MIN_CORRELATION
    assert restore.correlation(np.ones(100), x[:100]) is None


def test_no_checkpoint_at_all_fails() -> None:
    assert "left no checkpoint" in _restore(None).message


# --------------------------------------------------------------------------- resume

FIRST = {s: 3.0 - s / 50 for s in range(1, 101)}  # 2.98 -> 1.0


def test_a_rerun_that_continues_passes() -> None:
    result = resume.check_resume(100, FIRST, {101: 0.99, 110: 0.9, 120: 0.85}, 120, 120)
    assert result.status == PASSED and "first logged step 101" in result.message


def test_a_rerun_that_starts_over_fails() -> None:
    result = resume.check_resume(100, FIRST, {1: 2.98, 120: 0.9}, 120, 120)
    assert result.status == FAILED and "it started over" in result.message


def test_a_rerun_whose_loss_goes_back_to_the_start_fails_even_with_continued_steps() -> None:
    result = resume.check_resume(100, FIRST, {101: 2.9, 120: 2.5}, 120, 120)
    assert result.status == FAILED and "did not continue" in result.message


def test_a_second_resume_is_held_to_the_whole_training_not_a_plateau() -> None:
    # Losses from a cluster run: trained 1-60 from scratch, resumed 61-70 on its plateau,
    # then resumed single-node at 71. Against the plateau alone its noise reads as "back
    # to the start"; against the whole training the rerun plainly continued.
    plateau = {61: 0.464, 62: 0.471, 63: 0.324, 64: 0.468, 65: 0.445}
    plateau |= {66: 0.337, 67: 0.304, 68: 0.398, 69: 0.362, 70: 0.296}
    scratch = {s: 6.6 * 0.95**s for s in range(1, 61)}  # 6.27 -> 0.30
    rerun = {71: 0.433, 80: 0.290}
    noisy = resume.check_resume(70, plateau, rerun, 80, 80)
    assert noisy.status == FAILED and "did not continue" in noisy.message
    whole = resume.check_resume(70, {**scratch, **plateau}, rerun, 80, 80)
    assert whole.status == PASSED, whole.message


def test_a_rerun_short_of_the_target_or_silent_fails() -> None:
    short = resume.check_resume(100, FIRST, {101: 1.0}, 110, 120)
    assert short.status == FAILED and "not the target 120" in short.message
    silent = resume.check_resume(100, FIRST, {}, 120, 120)
    assert "logged no loss" in silent.message


def test_a_rerun_that_restores_the_pretrained_file_again_fails() -> None:
    pretrained = {"b": np.zeros(50)}
    before = {"b": np.ones(50)}
    again = resume.check_resume(
        100, FIRST, {101: 1.0}, 120, 120, pretrained, before, {"b": np.full(50, 0.1)}
    )
    assert again.status == FAILED and "restored the pretrained file again" in again.message
    kept = resume.check_resume(
        100, FIRST, {101: 1.0}, 120, 120, pretrained, before, {"b": np.full(50, 1.05)}
    )
    assert kept.status == PASSED


# --------------------------------------------------------------------------- image, captioning


def test_image_probe_failure_and_an_interpreter_in_the_deploy_command() -> None:
    broken = image.check_image_contract(
        10, "no /usr/bin/python in the image\n", "train.py", "/data/train.py"
    )
    assert broken.status == FAILED and broken.message == "no /usr/bin/python in the image"
    python_first = image.check_image_contract(
        0, "tensorflow 2.21.0", "train.py", "/usr/bin/python /data/train.py"
    )
    assert python_first.status == FAILED and "starts with an interpreter" in python_first.message
    fine = image.check_image_contract(0, "tensorflow 2.21.0\n", "train.py", "/data/train.py --x=1")
    assert fine.status == PASSED and "tensorflow 2.21.0" in fine.message


def test_uses_image_at_the_margin() -> None:
    at = captioning.check_image_dependence(2.0, 2.0 * math.exp(0.1))
    below = captioning.check_image_dependence(2.0, 2.0 * math.exp(0.0999))
    assert at.status == PASSED and below.status == FAILED
    missing = captioning.check_image_dependence(None, 2.0)
    assert missing.status == FAILED and "Perplexity" in missing.message


def test_inference_reads_upstreams_output_format() -> None:
    output = (
        "Captions for image image-1.jpg:\n  0) a red circle (p=0.600000)\n  1) a circle (p=0.1)\n"
        "Captions for image image-2.jpg:\n  0) a blue square (p=0.500000)\n"
    )
    expected = {"image-1.jpg": ["a red circle"], "image-2.jpg": ["a green square"]}
    result = captioning.check_inference(output, expected)
    assert result.status == FAILED
    assert (
        result.message
        == "image-2.jpg: best caption 'a blue square' is none of its training captions"
    )
    assert captioning.parse_perplexity("Perplexity = 3.5\nPerplexity = 1.25\n") == 1.25


# --------------------------------------------------------------------------- reproducible


def test_identical_losses_are_reproducible_and_a_one_ulp_change_is_not() -> None:
    same = reproducible.check_reproducible({1: 0.5, 2: 0.25}, {1: 0.5, 2: 0.25})
    assert same.status == PASSED
    drift = reproducible.check_reproducible({1: 0.5, 2: 0.25}, {1: 0.5, 2: np.nextafter(0.25, 1)})
    assert drift.status == FAILED and "diverge at step 2" in drift.message
    loose = reproducible.check_reproducible({1: 0.5}, {1: 0.5000001}, rtol=1e-5)
    assert loose.status == PASSED
