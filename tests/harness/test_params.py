"""Reading a job's own parameters the way absl reads them (harness/params.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.jobshapes import STEP_FLAGS
from harness.params import (
    FreezingRules,
    JobParams,
    StepTarget,
    flag_bool,
    flag_value,
    freezing_rules,
    platform_flags_in,
    pretrained_flag,
    spelled,
    split_params,
    step_flag,
    strip_platform_flags,
)


def test_values_in_both_spellings_last_wins() -> None:
    params = ["--number_of_steps=10", "--seed", "3", "--x=1", "--seed=4"]
    assert flag_value(params, "number_of_steps") == "10"
    assert flag_value(params, "seed") == "4"
    assert flag_value(params, "missing") is None
    assert flag_value(["--flag", "--other=1"], "flag") is None  # a boolean, not a value


def test_with_flag_replaces_every_earlier_setting() -> None:
    params = ["--number_of_steps=10", "--seed", "3", "--x=1"]
    assert list(JobParams.of(params).with_flag("seed", 5)) == [
        "--number_of_steps=10",
        "--x=1",
        "--seed=5",
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (["--train_inception"], True),
        (["--notrain_inception"], False),
        (["--train_inception=true"], True),
        (["--train_inception=True"], True),
        (["--train_inception=1"], True),
        (["--train_inception=t"], True),
        (["--train_inception=false"], False),
        (["--train_inception=0"], False),
        (["--train_inception=F"], False),
        (["-train_inception"], True),
        (["--train_inception", "--notrain_inception"], False),
        ([], None),
        (["--train_inception_rate=1"], None),
    ],
)
def test_booleans_read_like_absl(params, expected) -> None:
    assert flag_bool(params, "train_inception") is expected


def test_a_boolean_with_a_bad_value_is_named() -> None:
    with pytest.raises(ValueError, match="--train_inception='yes please' is not a boolean"):
        flag_bool(["--train_inception=yes please"], "train_inception")


@given(st.booleans(), st.sampled_from(["{}", "{}=true", "{}=false", "no{}"]))
def test_the_last_boolean_spelling_wins(first: bool, spelling: str) -> None:
    name = "fine_tune"
    params = [f"--{name}" if first else f"--no{name}", "--" + spelling.format(name)]
    expected = not spelling.startswith("no") and not spelling.endswith("false")
    assert flag_bool(params, name) is expected


def test_freezing_rules() -> None:
    assert freezing_rules(["--train_inception"]).frozen is False
    frozen = freezing_rules(["--train_inception=false"])
    assert frozen.frozen is True and frozen.source == "--train_inception=false"
    assert frozen.must_stay("InceptionV3/Conv2d_1a_3x3/weights")
    assert freezing_rules(["--freeze_backbone=false"]).frozen is False
    assert freezing_rules(["--freeze"]).frozen is True
    assert freezing_rules(["--finetune=1"]).frozen is False
    assert freezing_rules(["--train_backbone=0"]).frozen is True
    assert freezing_rules(["--trainable"]).frozen is False
    unsaid = freezing_rules(["--lr=1"])
    assert unsaid == FreezingRules() and not unsaid.must_stay("anything")
    assert freezing_rules(["--train_inception=false"], override=True).frozen is False
    assert freezing_rules([], override=False).source == "--frozen"


def test_slim_scopes_make_some_variables_frozen_and_some_excluded() -> None:
    rules = freezing_rules(
        [
            "--checkpoint_exclude_scopes=Net/Logits, Net/Aux",
            "--trainable_scopes=Net/Logits,Net/Conv2",
        ]
    )
    assert rules.trainable_scopes == ("Net/Logits", "Net/Conv2")
    assert rules.must_stay("Net/Conv1/weights") and not rules.must_stay("Net/Conv2/weights")
    assert rules.excluded("Net/Logits/biases") == "Net/Logits"
    assert rules.excluded("Net/AuxLogits/w") == "Net/Aux"  # slim's plain prefix match
    assert rules.excluded("Net/Conv1/weights") is None
    assert "--trainable_scopes=Net/Logits,Net/Conv2" in rules.source
    unused = freezing_rules(["--exclude_scopes=head"])
    assert unused.excluded("head/kernel") == "head"


def test_the_step_target_is_the_first_known_flag() -> None:
    assert step_flag(["--max_steps=50", "--number_of_steps=7"]) == StepTarget("number_of_steps", 7)
    assert step_flag(["--train_steps=9", "--steps=3"]) == StepTarget("train_steps", 9)
    assert step_flag(["--epochs=3"]) == StepTarget("epochs", 3, "epochs")
    assert step_flag(["--lr=3"]) is None
    with pytest.raises(ValueError, match="--max_steps='ten' is not a whole number"):
        step_flag(["--max_steps=ten"])


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (["--train-steps=40"], StepTarget("train-steps", 40)),
        (["--max-steps", "12"], StepTarget("max-steps", 12)),
        (["--max_number_of_steps=60"], StepTarget("max_number_of_steps", 60)),
        (["--num_train_steps=5"], StepTarget("num_train_steps", 5)),
        (["--max_step=8"], StepTarget("max_step", 8)),
        (["--steps=3"], StepTarget("steps", 3)),
        (["--num_epochs=2"], StepTarget("num_epochs", 2, "epochs")),
        (["--train-epochs=4"], StepTarget("train-epochs", 4, "epochs")),
        (["--train_epochs=4"], StepTarget("train_epochs", 4, "epochs")),
        (["--num_train_epochs=3"], StepTarget("num_train_epochs", 3, "epochs")),
    ],
)
def test_step_flag_spellings(params, expected) -> None:
    assert step_flag(params) == expected


def test_a_named_step_flag_takes_either_spelling() -> None:
    assert step_flag(["--train-steps=40"], name="train_steps") == StepTarget("train-steps", 40)
    assert step_flag(["--train_steps=40"], name="train-steps") == StepTarget("train_steps", 40)
    assert step_flag(["--iters=40"], name="iters") == StepTarget("iters", 40)
    assert spelled(["--a-b=1", "--a_b=2"], "a_b") == "a_b"  # the last one set
    assert spelled(["--ab=1"], "a_b") is None


def test_every_known_step_flag_is_found() -> None:
    for known in STEP_FLAGS:
        assert step_flag([f"--{known.name}=7"]) == StepTarget(known.name, 7, known.unit)


def test_pretrained_flags() -> None:
    upstream = ["--inception_checkpoint_file=/inception_v3.ckpt", "--train_dir=/data/output"]
    assert pretrained_flag(upstream) == ("inception_checkpoint_file", "/inception_v3.ckpt")
    assert pretrained_flag(["--backbone_ckpt_file=/b.ckpt"]) == ("backbone_ckpt_file", "/b.ckpt")
    assert pretrained_flag(["--save_checkpoint_steps=5", "--checkpoint_dir=/x"]) is None
    assert pretrained_flag(["--weights=/w.ckpt"], name="weights") == ("weights", "/w.ckpt")
    # slim fine-tunes from --checkpoint_path; BERT from --init_checkpoint; the object
    # detection API from fine_tune_checkpoint.
    assert pretrained_flag(["--checkpoint_path=/data/p.ckpt"]) == (
        "checkpoint_path",
        "/data/p.ckpt",
    )
    assert pretrained_flag(["--init_checkpoint=/b"]) == ("init_checkpoint", "/b")
    assert pretrained_flag(["--fine_tune_checkpoint=/f"]) == ("fine_tune_checkpoint", "/f")
    assert pretrained_flag(["--pretrained_model=/m.h5"]) == ("pretrained_model", "/m.h5")
    assert pretrained_flag(["--init-checkpoint=/b"], name="init_checkpoint") == (
        "init-checkpoint",
        "/b",
    )


def test_platform_flags_are_found_and_stripped() -> None:
    params = ["--data_dir=/x", "--a=1", "--num_gpus=1", "--log_dir_extra=1"]
    assert platform_flags_in(params) == ["--data_dir=/x", "--num_gpus=1"]
    assert strip_platform_flags(params) == ["--a=1", "--log_dir_extra=1"]


def test_unbalanced_quotes_are_named() -> None:
    with pytest.raises(ValueError, match="--train-params cannot be split"):
        split_params("--x='unclosed")
