"""The README as a new user meets it: its command lines, run literally from the root of
a fresh clone, in a fresh virtual environment, with their default (relative) arguments.

The README's first block is the contract: its first line runs the main job, its second
the tests (which is what CI runs, so it is not repeated here). The "Everyday use"
block is run line by line after it. Both validations of the default job are paid for
once, here, and the rest of the module reads what they wrote: the platform layout
our trainer left, its run record and reports, and `compare`'s bitwise verdict.

The fresh venv sees the test environment's installed packages (a `.pth` line), so
`pip install -e .` installs the project alone: that the declared dependencies install
on a fresh machine is what tox's own environment build shows, from the same
pyproject.toml.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.defaults import QUICK_STEPS
from harness.record import NOT_APPLICABLE, PASSED, RunRecord
from tests.support.markdown import bash_blocks

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("readme")]

EXPECTED = {
    "image_contract": NOT_APPLICABLE,  # the local backend runs no image
    "path_contract": PASSED,
    "pretrained_restore": PASSED,
    "loss_decrease": PASSED,
    "uses_image": PASSED,
    "resume": PASSED,
    "inference": PASSED,
    "reproducible": NOT_APPLICABLE,  # not asked for
}


def readme_section(readme: Path, title: str) -> str:
    text = readme.read_text()
    return text[text.index(title) :] if title else text


@pytest.fixture(scope="module")
def user_shell(fresh_clone: Path, tmp_path_factory: pytest.TempPathFactory):
    """Runs a command line with bash from the clone's root, where `python3` is a fresh venv's."""
    venv = tmp_path_factory.mktemp("user") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (own,) = (venv / "lib").glob("python3*/site-packages")
    (own / "_test_environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        in ("HOME", "LANG", "TMPDIR", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CACHE_DIR")
        or key.startswith(("DOCKER_", "XDG_"))
    }
    env["PATH"] = f"{venv / 'bin'}:{os.environ['PATH']}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    def run(line: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=fresh_clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        print(f"$ {line}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    return run


@dataclass
class Walk:
    """What the README's lines did: each line's result, and the run folders they made."""

    first: subprocess.CompletedProcess[str]
    everyday: dict[str, subprocess.CompletedProcess[str]]
    runs: list[Path]


@pytest.fixture(scope="module")
def walk(repo_root: Path, fresh_clone: Path, user_shell) -> Walk:
    main_job, test_command = bash_blocks(readme_section(repo_root / "README.md", ""))[0][:2]
    assert main_job == "python3 -m pip install -e . && python3 -m harness validate"
    assert test_command.endswith("python3 -m tox")
    first = user_shell(main_job)
    everyday = {}
    if first.returncode == 0:
        for line in bash_blocks(readme_section(repo_root / "README.md", "## Everyday use"))[0]:
            everyday[line] = user_shell(line)
    runs = sorted((fresh_clone / "runs").iterdir()) if (fresh_clone / "runs").is_dir() else []
    return Walk(first, everyday, runs)


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout[-3000:] + done.stderr[-3000:]


def test_the_first_line_runs_the_main_job_from_a_fresh_clone(walk: Walk) -> None:
    assert walk.first.returncode == 0, _output(walk.first)
    assert "PASSED: 6 of 6 checks passed (2 not applicable)" in walk.first.stdout
    run = walk.runs[0]  # the default, relative ./runs
    assert (run / "run_record.json").is_file() and (run / "report.html").is_file()


def test_the_everyday_lines_run_as_written(walk: Walk, fresh_clone: Path) -> None:
    assert walk.everyday, "the first line failed, so the rest was not run"
    for line, done in walk.everyday.items():
        assert done.returncode == 0, f"{line}\n{_output(done)}"
        if line.startswith("uai-harness compare"):  # two runs of the default job, bitwise
            assert "Losses: identical (bitwise)" in done.stdout
    assert len(walk.runs) >= 2
    assert (walk.runs[-1] / "report.md").is_file()
    assert (fresh_clone / "sample" / "inception_v3.ckpt").is_file()
    assert list((fresh_clone / "sample" / "data").glob("train-*"))


def test_every_planned_check_of_the_default_job_has_its_verdict(walk: Walk) -> None:
    record = RunRecord.load(walk.runs[0] / "run_record.json")
    assert {c.name: c.status for c in record.checks} == EXPECTED, record.summary()
    assert record.passed


def test_the_trainer_honours_the_platform_layout(walk: Walk) -> None:
    (root,) = walk.runs[0].glob("platform-*")
    output, log_dir = root / "data" / "output", root / "data" / "output" / "log"
    assert (output / "checkpoint").exists()
    assert sorted(p.name for p in output.glob("model.ckpt-*.index"))
    assert list(log_dir.glob("events.out.tfevents.*"))
    metrics = [json.loads(line) for line in (log_dir / "metrics.jsonl").read_text().splitlines()]
    assert {"step", "loss", "total_loss", "learning_rate", "sec_per_step", "images_per_sec"} <= set(
        metrics[0]
    )
    assert metrics[-1]["step"] == QUICK_STEPS + 10  # the quick job's steps, then 10 on resume


def test_evaluation_and_inference_ran(walk: Walk) -> None:
    logs = walk.runs[0] / "logs"
    assert "Perplexity = " in (logs / "evaluate_true.log").read_text()
    captions = (logs / "inference.log").read_text()
    assert "Captions for image image-" in captions
    assert "  0) " in captions and "(p=" in captions


def test_the_run_record_and_reports_say_what_ran(walk: Walk) -> None:
    run = walk.runs[0]
    record = RunRecord.load(run / "run_record.json")
    assert [p.name for p in record.phases] == [
        "train",
        "evaluate_true",
        "evaluate_shuffled",
        "resume",
        "inference",
    ]
    train = record.phase("train")
    assert len(train.losses) == QUICK_STEPS and train.exit_code == 0
    # Upstream's summary tag, at the loss's own (float32) precision.
    assert train.loss_source == "events:losses/total_loss"
    assert train.speed and train.speed["steps_per_s"] > 0
    assert any(path.endswith("inception_v3.ckpt") for path in record.inputs)
    assert any(path.endswith(".index") for path in record.outputs)
    assert record.environment["tensorflow"].startswith("2.")
    assert record.environment["pip_freeze"]
    assert record.code["kind"] == "code path" and len(record.code["sha256"]) == 64
    assert record.job["steps"] == QUICK_STEPS and record.job["step_flag"] == "number_of_steps"
    assert "/data/train.py" in " ".join(train.command)
    for name in ("report.md", "report.html", "loss.png", "verdict.json"):
        assert (run / name).stat().st_size > 0
