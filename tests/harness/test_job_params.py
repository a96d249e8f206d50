"""The one form of a job's parameters (harness/params.py JobParams): words and typed text
kept in step, so the shell line and the harness read the same parameters."""

from __future__ import annotations

from harness.backends.base import PhaseCommand
from harness.params import JobParams
from harness.plan import Plan


def test_with_flag_sets_the_words_and_the_typed_text_alike() -> None:
    typed = JobParams.typed("--seed 3 --caption='a b'  --number_of_steps=10")
    changed = typed.with_flag("number_of_steps", 4).with_flag("seed", 5)
    assert changed.words == ("--caption=a b", "--number_of_steps=4", "--seed=5")
    assert changed.text == "--seed=5 --caption='a b'  --number_of_steps=4"
    assert changed.value("number_of_steps") == "4"


def test_words_stay_words_and_are_quoted_into_the_shell_line() -> None:
    params = JobParams(("--x=$HOME",)).with_flag("y", 1)
    assert params.text is None and params.shell_specials() == []
    assert "'--x=$HOME' --y=1" in PhaseCommand(train_params=params).shell()


def test_typed_text_is_pasted_as_typed() -> None:
    params = JobParams.typed("--x=$HOME --flag")
    assert params.shell_specials() == ["--x=$HOME"] and params.boolean("flag") is True
    assert "train.py --x=$HOME --flag --work_dir" in PhaseCommand(train_params=params).shell()


def test_plan_takes_words_or_text() -> None:
    assert Plan(train_params=["--a=1"]).train_params == JobParams(("--a=1",))
    plan = Plan(train_params="--a='1 2'")
    assert plan.train_params == JobParams(("--a=1 2",), "--a='1 2'")
    plan.train_params = ["--b=2"]
    assert plan.train_params.platform_flags() == [] and list(plan.train_params) == ["--b=2"]


def test_the_plan_reads_back_the_record_section_it_writes(tmp_path) -> None:
    from harness.distributed_mode import ClusterSpec

    plan = Plan(
        train_params="--number_of_steps=5 --x='a b'",
        data=tmp_path,
        profile="none",
        cluster=ClusterSpec.parse("ps=1,worker=2"),
    )
    recorded = plan.to_record()
    assert recorded["train_params"] == ["--number_of_steps=5", "--x=a b"]
    assert list(recorded["plan"])[:3] == ["raw_params", "mainfile", "profile"]
    assert "train_params" not in recorded["plan"]
    assert Plan.from_record(recorded) == plan
