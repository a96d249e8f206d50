"""What the harness knows about kinds of jobs is data with proofs (harness/jobshapes.py),
and the README's tables say the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import jobshapes

ROOT = Path(__file__).resolve().parents[2]
EVERY_ENTRY = [
    *jobshapes.STEP_FLAGS,
    *jobshapes.PRETRAINED_FLAGS,
    *jobshapes.FINE_TUNE_FLAGS,
    *jobshapes.FREEZE_FLAGS,
    *jobshapes.TRAINABLE_SCOPES_FLAGS,
    *jobshapes.EXCLUDE_SCOPES_FLAGS,
    *jobshapes.LOSS_TAGS,
    *jobshapes.STDOUT_SHAPES,
    jobshapes.KERAS_STDOUT,
    jobshapes.GENERIC_STDOUT,
    jobshapes.METRICS_FILE,
    *jobshapes.STEP_VARIABLES,
    *jobshapes.MODEL_FORMATS,
    *jobshapes.DIAGNOSES,
]


def _test_exists(reference: str) -> bool:
    path, _, name = reference.partition("::")
    source = (ROOT / path).read_text() if (ROOT / path).is_file() else ""
    return bool(source) and (not name or re.search(rf"^(async )?def {name}\b", source, re.M))


@pytest.mark.parametrize("entry", EVERY_ENTRY, ids=lambda e: f"{type(e).__name__}:{e.name}")
def test_every_entry_names_a_proof_that_exists(entry) -> None:
    if entry.proof == jobshapes.TRAINER:
        assert (ROOT / "im2txt" / "train.py").is_file()
    elif entry.proof.startswith(jobshapes.FIXTURES):
        job = ROOT / entry.proof
        assert (job / "train.py").is_file(), f"{entry.name}: no fixture job {entry.proof}"
    else:
        assert _test_exists(entry.proof), f"{entry.name}: no test {entry.proof}"


def _fixture_folders() -> set[str]:
    """Every fixture job folder validated end to end (tests/support/foreign_jobs.py and
    behaviour_jobs.py)."""
    from tests.support.behaviour_jobs import BEHAVIOUR_JOBS
    from tests.support.foreign_jobs import JOBS

    return {job.folder.name for job in [*JOBS.values(), *BEHAVIOUR_JOBS.values()]}


def test_fixture_proofs_are_exercised_by_the_job_shape_tests() -> None:
    named = {e.proof.removeprefix(jobshapes.FIXTURES) for e in EVERY_ENTRY}
    assert {n for n in named if (ROOT / jobshapes.FIXTURES / n).is_dir()} <= _fixture_folders()


def test_the_readme_job_shape_table_lists_every_fixture_job() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Job shapes the harness judges", 1)[1].split("\n### ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == len(_fixture_folders()) + 1  # and our own trainer
    for name in _fixture_folders():
        assert f"`fixtures/jobs/{name}`" in table, name


def test_the_readme_diagnosis_table_lists_every_signature() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Known failures, diagnosed", 1)[1]
    for known in jobshapes.DIAGNOSES:
        assert f"| {known.name} |" in section, known.name


@pytest.mark.parametrize(
    "entry", [*jobshapes.BATCH_FLAGS, *jobshapes.SHAPE_FLAGS], ids=lambda e: f"flag:{e.name}"
)
def test_batch_and_shape_flags_name_a_proof_that_exists(entry) -> None:
    test_every_entry_names_a_proof_that_exists(entry)
