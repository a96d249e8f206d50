"""pretrained_restore variable by variable (harness/checks/restore.py).

Each case builds a pretrained file and a saved model by hand: frozen variables equal
the file, fine-tuned ones are the file plus a little noise, unrestored ones are a
fresh draw. Expected verdicts follow the module's stated thresholds.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.checks import pretrained_restore as restore
from harness.params import FreezingRules, freezing_rules
from harness.record import FAILED, PASSED, WARNING

RNG = np.random.default_rng(0)
PRETRAINED = {f"Backbone/conv{i}/weights": RNG.standard_normal([3, 3, 4, 8]) for i in range(4)}
PRETRAINED["Backbone/conv0/biases"] = RNG.standard_normal([8])
UNSAID = FreezingRules()
FROZEN = freezing_rules(["--train_inception=false"])


def _restore(saved, rules: FreezingRules = UNSAID, pretrained=PRETRAINED):
    return restore.check_pretrained_restore(
        pretrained, "backbone.ckpt", saved, "model.ckpt-9", rules
    )


def _tuned(value: np.ndarray, scale: float = 0.1) -> np.ndarray:
    return value + scale * np.std(value) * RNG.standard_normal(value.shape)


def test_frozen_variables_equal_bit_for_bit_pass() -> None:
    result = _restore({**PRETRAINED, "head/w": np.zeros(3)}, FROZEN)
    assert result.status == PASSED
    assert result.evidence["judged"] == {restore.FROZEN: 5}
    assert "5 restored, frozen" in result.message


def test_one_frozen_variable_off_by_one_ulp_fails_naming_it() -> None:
    saved = dict(PRETRAINED)
    name = "Backbone/conv2/weights"
    saved[name] = np.nextafter(saved[name], np.inf)
    result = _restore(saved, FROZEN)
    assert result.status == FAILED and name in result.message
    assert "moved although --train_inception=false keeps them frozen" in result.message


def test_without_freezing_flags_frozen_and_fine_tuned_variables_both_pass() -> None:
    saved = {n: (_tuned(v) if "conv1" in n or "conv3" in n else v) for n, v in PRETRAINED.items()}
    result = _restore(saved)
    assert result.status == PASSED, result.message
    assert result.evidence["judged"] == {restore.FROZEN: 3, restore.FINE_TUNED: 2}


def test_a_kernel_restored_and_its_bias_left_fresh_fails_naming_the_bias() -> None:
    saved = {n: _tuned(v) for n, v in PRETRAINED.items()}
    saved["Backbone/conv0/biases"] = 0.01 * RNG.standard_normal([8])  # zeros, then trained
    result = _restore(saved)
    assert result.status == FAILED
    assert "1 of 5 shared variables of backbone.ckpt look freshly initialised" in result.message
    assert "Backbone/conv0/biases" in result.message
    assert result.evidence["variables"]["Backbone/conv0/weights"] == restore.FINE_TUNED


def test_unrelated_values_mean_the_restore_was_skipped() -> None:
    saved = {n: RNG.standard_normal(v.shape) for n, v in PRETRAINED.items()}
    result = _restore(saved)
    assert result.status == FAILED and "look freshly initialised, not restored" in result.message


def test_shape_mismatch_and_exclude_scopes_are_listed_never_failed() -> None:
    pretrained = {**PRETRAINED, "Net/Logits/weights": RNG.standard_normal([8, 10])}
    pretrained["Net/Aux/weights"] = RNG.standard_normal([8, 3])
    saved = {**PRETRAINED, "Net/Logits/weights": RNG.standard_normal([8, 5])}
    saved["Net/Aux/weights"] = RNG.standard_normal([8, 3])  # same shape, fresh: excluded
    rules = freezing_rules(["--checkpoint_exclude_scopes=Net/Aux"])
    result = _restore(saved, rules, pretrained)
    assert result.status == PASSED, result.message
    assert result.evidence["excluded"] == {
        "Net/Aux/weights": "under --checkpoint_exclude_scopes Net/Aux",
        "Net/Logits/weights": "shape [8, 5], the file's [8, 10]",
    }
    assert "2 excluded" in result.message


def test_trainable_scopes_freeze_the_rest() -> None:
    rules = freezing_rules(["--trainable_scopes=Backbone/conv3"])
    saved = {**PRETRAINED, "Backbone/conv3/weights": _tuned(PRETRAINED["Backbone/conv3/weights"])}
    assert _restore(saved, rules).status == PASSED
    saved["Backbone/conv1/weights"] = _tuned(PRETRAINED["Backbone/conv1/weights"])
    moved = _restore(saved, rules)
    assert moved.status == FAILED and "Backbone/conv1/weights" in moved.message


def test_batch_norm_statistics_may_move_where_the_scope_is_frozen() -> None:
    pretrained = {"Net/Conv1/BatchNorm/moving_mean": RNG.standard_normal([32])}
    saved = {
        "Net/Conv1/BatchNorm/moving_mean": _tuned(pretrained["Net/Conv1/BatchNorm/moving_mean"])
    }
    result = _restore(saved, freezing_rules(["--trainable_scopes=Net/Logits"]), pretrained)
    assert result.status == PASSED and result.evidence["judged"] == {restore.FINE_TUNED: 1}


def test_declared_fine_tuning_that_changed_nothing_is_a_warning() -> None:
    result = _restore(dict(PRETRAINED), freezing_rules(["--train_inception=true"]))
    assert result.status == WARNING and "nothing was fine-tuned" in result.message


def test_no_shared_variable_cannot_be_judged_and_says_so() -> None:
    result = _restore({"head/kernel": np.zeros([3, 3, 4, 8])})
    assert result.status == WARNING
    assert "could not judge the restore" in result.message
    assert "Backbone/conv0/biases" in result.message


def test_no_saved_model_at_all_fails() -> None:
    assert "saved no model" in _restore(None).message


@pytest.mark.parametrize(
    ("pretrained", "saved"),
    [
        ("backbone/kernel", "model/backbone/_kernel"),  # Keras 3 in a tf.train.Checkpoint
        ("sequential/conv1/kernel", "conv1/kernel"),  # a model's name before its layers
        ("conv1/kernel:0", "conv1/kernel"),  # Keras 2's :0
    ],
)
def test_names_map_by_their_normalised_ending(pretrained: str, saved: str) -> None:
    assert restore.match_names({pretrained: 0}, {saved: 0, "other/bias": 0}) == {pretrained: saved}


def test_an_ambiguous_ending_maps_nothing() -> None:
    assert restore.match_names({"kernel": 0}, {"a/kernel": 0, "b/kernel": 0}) == {}


def test_correlation_and_distance_thresholds() -> None:
    x = RNG.standard_normal(10_000)
    noise = RNG.standard_normal(10_000)
    # corr(x, x + k * noise) = 1 / sqrt(1 + k^2): 0.55 for k=1.52, 0.45 for k=1.99
    assert restore.correlation(x, x + 1.52 * noise) > restore.MIN_CORRELATION
    assert restore.correlation(x, x + 1.99 * noise) < restore.MIN_CORRELATION
    assert restore.correlation(np.ones(100), x[:100]) is None
    small = np.array([1.0, -2.0, 0.5])  # too small to correlate: judged by projection
    assert restore.projection(small, 0.51 * small) > restore.MIN_PROJECTION
    assert restore.judge_variable(small, 0.51 * small, must_stay=False) == restore.FINE_TUNED
    assert restore.judge_variable(small, 0.49 * small, must_stay=False) == restore.NOT_RESTORED
    orthogonal = np.array([2.0, 1.0, 0.0])  # unrelated to `small`: projects to 0
    assert restore.judge_variable(small, orthogonal, must_stay=False) == restore.NOT_RESTORED
    assert restore.judge_variable(np.zeros(3), np.ones(3), must_stay=False) == restore.UNJUDGED


def test_a_strong_fine_tuning_that_decorrelates_a_variable_still_reads_as_restored() -> None:
    """Adam moves each value by about its learning rate per step, whatever its size: after
    enough steps a small-valued variable no longer correlates with the file, but it still
    holds the file's values plus the drift."""
    rng = np.random.default_rng(11)  # its own: the module's RNG depends on test order
    p = 0.05 * rng.standard_normal(4096)
    drifted = p + 0.1 * rng.standard_normal(4096)
    assert restore.correlation(p, drifted) < restore.MIN_CORRELATION
    assert restore.judge_variable(p, drifted, must_stay=False) == restore.FINE_TUNED
    fresh = 0.08 * rng.standard_normal(4096)
    assert restore.judge_variable(p, fresh, must_stay=False) == restore.NOT_RESTORED


def test_a_long_fine_tuning_is_judged_at_the_earliest_checkpoint() -> None:
    """Adam moves a small bias by up to its learning rate every step: after many steps it
    no longer correlates with the file, but the job's first checkpoint still does."""
    bias = PRETRAINED["Backbone/conv0/biases"]
    early = {**PRETRAINED, "Backbone/conv0/biases": _tuned(bias)}
    late = {**PRETRAINED, "Backbone/conv0/biases": RNG.standard_normal(bias.shape)}
    assert _restore(late).status == FAILED
    result = restore.check_pretrained_restore(
        PRETRAINED, "backbone.ckpt", late, "model.ckpt-90", UNSAID, early=early, early_name="c-1"
    )
    assert result.status == PASSED, result.message
    assert result.evidence["variables"]["Backbone/conv0/biases"] == restore.FINE_TUNED
    fresh_early = {**PRETRAINED, "Backbone/conv0/biases": RNG.standard_normal(bias.shape)}
    fresh = restore.check_pretrained_restore(
        PRETRAINED, "backbone.ckpt", late, "model.ckpt-90", UNSAID, early=fresh_early
    )
    assert fresh.status == FAILED and "Backbone/conv0/biases" in fresh.message


def test_step_and_optimizer_state_are_bookkeeping_not_weights() -> None:
    pretrained = {**PRETRAINED, "global_step": np.int64(12000), "Backbone/conv1/weights/Adam": 1.0}
    saved = {**PRETRAINED, "global_step": np.int64(60), "Backbone/conv1/weights/Adam": 0.0}
    result = _restore(saved, FROZEN, pretrained)
    assert result.status == PASSED
    assert set(result.evidence["excluded"]) == {"global_step", "Backbone/conv1/weights/Adam"}
