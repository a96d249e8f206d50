"""A gate cannot pass by omission (finding 3): --strict without a step flag (resume would
be 'not applicable' and the run pass), --require of a check whose input is missing, and a
code folder without its main file are refused before a run folder exists: exit 2, one
error line naming the input to give, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.plan import Plan


@pytest.fixture
def job(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text("print('step 1 loss 1.0')\n")
    (tmp_path / "sample").mkdir()
    (tmp_path / "sample" / "a.csv").write_text("x\n")
    return tmp_path


def _validate(*extra: str) -> list[str]:
    return ["validate", "--code-path", "code", "--data", "sample", "--no-sandbox", *extra]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--train-params=--lr=0.1", "--strict"], "check resume is required (--strict)"),
        (["--train-params=--lr=0.1", "--require", "resume"], "check resume is required"),
        (
            ["--train-params=--max_steps=5", "--require", "pretrained_restore"],
            "check pretrained_restore is required (--require)",
        ),
        (["--train-params=--max_steps=5", "--require", "resum"], "--require resum: no such"),
        (["--train-params=--max_steps=5", "--mainfile", "main.py"], "--mainfile main.py is"),
    ],
)
def test_a_missing_input_is_refused_before_anything_is_written(
    job: Path, capsys, extra: list[str], says: str
) -> None:
    assert main(_validate(*extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {says}") and err.count("\n") == 1, err
    assert not (job / "runs").exists()


def test_strict_names_the_step_flags_to_give(job: Path, capsys) -> None:
    main(_validate("--train-params=--lr=0.1", "--strict"))
    assert "--max_steps" in capsys.readouterr().err


def test_strict_requires_resume_and_the_record_keeps_the_list() -> None:
    plan = Plan(train_params=["--max_steps=5"], profile="none", strict=True, require=["x"])
    assert plan.required() == ("x", "resume")
    assert Plan.from_record(plan.to_record()).require == ("x",)


@pytest.mark.slow
def test_a_required_check_still_not_applicable_after_the_run_fails_naming_why(
    tmp_path: Path,
) -> None:
    """The pretrained flag is given but its file is neither shipped nor --pretrained:
    only the run can tell, and the required check fails instead of being skipped."""
    from harness.backends.local import LocalBackend
    from harness.scenario import validate
    from tests.support.plain_jobs import write_plain_job

    body = "for step in range(1, args.number_of_steps + 1):\n"
    body += "    print(f'global step {step}: loss = {4.0 / step:.4f}', flush=True)\n"
    code, sample = write_plain_job(tmp_path, body)
    plan = Plan(
        train_params=["--number_of_steps=5", "--init_checkpoint=/ckpt/model.ckpt"],
        profile="none",
        data=sample,
        require=["pretrained_restore"],
        resume_steps=2,
    )
    result = validate(LocalBackend(code, sandbox_mode=False), plan, tmp_path / "run")
    check = result.record.check("pretrained_restore")
    assert check.status == "failed" and not result.passed
    assert check.message == (
        "required, but --init_checkpoint=/ckpt/model.ckpt is neither in the code nor given "
        "with --pretrained"
    )
