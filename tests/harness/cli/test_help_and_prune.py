"""What a person reads at the command line (finding 8: bare `uai-harness` printed no help,
--help had no defaults, examples or exit codes, the space form of --train-params got 20
lines of usage) and `prune` (finding 9: nothing removed old run folders)."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pytest

from harness.cli import build_parser, main


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


def test_bare_uai_harness_prints_help_and_runs_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "usage: uai-harness" in out and "exit codes:" in out and "prune" in out
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_help_has_defaults_an_example_and_exit_codes(name: str) -> None:
    command = _commands()[name]
    text = command.format_help()
    assert f"uai-harness {name}" in text.split("example:")[1]
    assert "exit codes:" in text and "130" in text
    for action in command._actions:
        if action.help != argparse.SUPPRESS and action.dest != "help":
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_validate_help_shows_defaults() -> None:
    text = " ".join(_commands()["validate"].format_help().split())
    assert "(default: train.py)" in text and "(default: runs)" in text


def test_the_space_form_with_several_flags_is_still_taken() -> None:
    args = build_parser().parse_args(["validate", "--train-params", "--a=1 --b=2"])
    assert args.train_params == "--a=1 --b=2"


def test_the_space_form_of_train_params_gets_one_line(capsys) -> None:
    assert main(["validate", "--train-params", "--x=1"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        'error: write --train-params="--x=1" (with =): a value that starts with - after a '
        "space is read as an option"
    )


def _run_folder(parent: Path, name: str, age_days: float) -> Path:
    folder = parent / name
    (folder / "logs").mkdir(parents=True)
    (folder / "logs" / "train.log").write_bytes(b"x" * 1000)
    stamp = time.time() - age_days * 86400
    os.utime(folder, (stamp, stamp))
    return folder


def test_prune_keeps_the_newest_and_touches_nothing_else(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    names = [f"2026120{d}-100000-ab{d}" for d in range(1, 6)]
    for age, name in zip((5, 4, 3, 2, 1), names, strict=True):
        _run_folder(runs, name, age)
    (runs / "baseline.json").write_text("{}")
    (runs / "notes").mkdir()
    assert main(["prune", "--runs", str(runs), "--keep", "2", "--dry-run"]) == 0
    assert "would remove 3 run folder(s)" in capsys.readouterr().out
    assert len(list(runs.iterdir())) == 7
    assert main(["prune", "--runs", str(runs), "--keep", "2", "--older-than", "3.5"]) == 0
    assert sorted(p.name for p in runs.iterdir()) == sorted(["baseline.json", "notes", *names[2:]])
    assert main(["prune", "--runs", str(runs), "--keep", "2"]) == 0
    assert "removed 1 run folder(s)" in capsys.readouterr().out.splitlines()[-1]
    assert sorted(p.name for p in runs.iterdir()) == sorted(["baseline.json", "notes", *names[3:]])


def test_prune_refuses_a_negative_keep(tmp_path: Path, capsys) -> None:
    assert main(["prune", "--runs", str(tmp_path), "--keep", "-1"]) == 2
    assert "--keep -1" in capsys.readouterr().err
