"""Reading a job's own parameters the way absl reads them (harness/params.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.params import (
    fine_tunes,
    flag_bool,
    flag_value,
    platform_flags_in,
    pretrained_flag,
    split_params,
    step_flag,
    strip_platform_flags,
    with_flag,
)


def test_values_in_both_spellings_last_wins() -> None:
    params = ["--number_of_steps=10", "--seed", "3", "--x=1", "--seed=4"]
    assert flag_value(params, "number_of_steps") == "10"
    assert flag_value(params, "seed") == "4"
    assert flag_value(params, "missing") is None
    assert flag_value(["--flag", "--other=1"], "flag") is None  # a boolean, not a value


def test_with_flag_replaces_every_earlier_setting() -> None:
    params = ["--number_of_steps=10", "--seed", "3", "--x=1"]
    assert with_flag(params, "seed", 5) == ["--number_of_steps=10", "--x=1", "--seed=5"]


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


def test_fine_tuning_is_read_from_the_known_flags() -> None:
    assert fine_tunes(["--train_inception"]) == (True, "--train_inception=true")
    assert fine_tunes(["--train_inception=false"]) == (False, "--train_inception=false")
    assert fine_tunes(["--freeze_backbone=false"]) == (True, "--freeze_backbone=false")
    assert fine_tunes(["--lr=1"]) == (False, "no fine-tuning flag in the parameters")


def test_the_step_target_is_the_first_known_flag() -> None:
    assert step_flag(["--max_steps=50", "--number_of_steps=7"]) == ("number_of_steps", 7)
    assert step_flag(["--train_steps=9", "--steps=3"]) == ("train_steps", 9)
    assert step_flag(["--epochs=3"]) is None
    assert step_flag(["--epochs=3"], name="epochs") == ("epochs", 3)
    with pytest.raises(ValueError, match="--max_steps='ten' is not a whole number"):
        step_flag(["--max_steps=ten"])


def test_the_pretrained_checkpoint_flag_is_found() -> None:
    upstream = ["--inception_checkpoint_file=/inception_v3.ckpt", "--train_dir=/data/output"]
    assert pretrained_flag(upstream) == ("inception_checkpoint_file", "/inception_v3.ckpt")
    assert pretrained_flag(["--backbone_ckpt_file=/b.ckpt"]) == ("backbone_ckpt_file", "/b.ckpt")
    assert pretrained_flag(["--save_checkpoint_steps=5", "--checkpoint_path=/x"]) is None
    assert pretrained_flag(["--weights=/w.ckpt"], name="weights") == ("weights", "/w.ckpt")


def test_platform_flags_are_found_and_stripped() -> None:
    params = ["--data_dir=/x", "--a=1", "--num_gpus=1", "--log_dir_extra=1"]
    assert platform_flags_in(params) == ["--data_dir=/x", "--num_gpus=1"]
    assert strip_platform_flags(params) == ["--a=1", "--log_dir_extra=1"]


def test_unbalanced_quotes_are_named() -> None:
    with pytest.raises(ValueError, match="--train-params cannot be split"):
        split_params("--x='unclosed")
