"""The evaluation corpus (fixtures/evaluation/, run by `tox -e evaluation`) stays well formed:
every case parses, names an existing train.py, gives a known verdict
for exactly the generic checks, and a correct job expects no failure. No TensorFlow: a
malformed case is caught here, not half-way through a slow evaluation run."""

from __future__ import annotations

import pytest

from tests.support.evaluation_cases import (
    ACCEPTS,
    CHECKS,
    CORPUS_DIR,
    CORRECT,
    CaseError,
    load_case,
    load_cases,
)


def test_every_case_parses_and_names_its_job() -> None:
    cases = load_cases()
    assert len(cases) == len(list(CORPUS_DIR.glob("*/train.py"))) >= 24
    for case in cases:
        assert (case.folder / "train.py").is_file()
        assert set(case.expected) <= set(CHECKS)
        assert all(verdict in ACCEPTS for verdict in case.expected.values())
    broken = [c for c in cases if c.broken]
    correct = [c for c in cases if c.defect == CORRECT]
    assert len(broken) + len(correct) == len(cases)
    assert broken and correct


def test_a_malformed_case_is_refused(tmp_path) -> None:
    folder = tmp_path / "bad_job"
    folder.mkdir()
    (folder / "train.py").write_text("")
    (folder / "case.json").write_text(
        '{"source": "s", "pattern": "p", "defect": "correct", "why": "w",'
        ' "train_params": "--epochs=2", "step_flag": "epochs",'
        ' "expected": {"path_contract": "passes", "pretrained_restore": "n/a",'
        ' "loss_decrease": "pass", "resume": "pass"}}'
    )
    with pytest.raises(CaseError, match="unknown verdict 'passes'"):
        load_case(folder)
