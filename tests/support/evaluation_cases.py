"""The evaluation corpus (fixtures/evaluation/): jobs this project did not design, each with
the verdict it must get.

Each folder holds `train.py` (the job; its data sample, and its pretrained file when it
has one, come from the corpus's one `make_inputs.py` with the case's arguments) and
`case.json`:

- `source`: what it imitates; `pattern`: the training pattern; `defect`: `correct` or
  the defect class; `why`: why the platform punishes it (or why it is correct);
- `train_params`, `step_flag`, optionally `pretrained` (the job path of its pretrained
  file, e.g. `/pretrained.h5`) with `make_inputs_flag` (the make_inputs.py flag that
  writes it) and `make_inputs_args` (more make_inputs.py arguments);
- `expected`: a verdict for every generic check (`path_contract`, `pretrained_restore`,
  `loss_decrease`, `resume`; `reproducible` only when `reproducible` is true): `pass`,
  `warning`, `fail`, `n/a`, `not_run` (the job crashes before the check can judge it),
  `fail|not_run` (either makes the run fail, and both are true of a job that crashes),
  `ok` (pass or warning: both are true) or `any` (the truth is not defined).

The expected verdicts say what is TRUE of the job - what breaks or wastes a paid run on
UAI-Train - never what some version of the harness happens to answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from harness.checks import registry
from harness.record import FAILED, NOT_APPLICABLE, NOT_RUN, PASSED, WARNING

CORPUS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "evaluation"
# Every job's sample (and pretrained file) comes from this one script, with its arguments.
MAKE_INPUTS = CORPUS_DIR / "make_inputs.py"
CORRECT = "correct"
# What a case may expect, and the harness statuses each accepts.
ACCEPTS = {
    "pass": {PASSED},
    "warning": {WARNING},
    "fail": {FAILED},
    "n/a": {NOT_APPLICABLE},
    "not_run": {NOT_RUN},
    "fail|not_run": {FAILED, NOT_RUN},
    "ok": {PASSED, WARNING},
    "any": {PASSED, WARNING, FAILED, NOT_RUN, NOT_APPLICABLE},
}
BROKEN = ("fail", "not_run", "fail|not_run")  # expectations that make the whole run fail
CHECKS = registry.names(registry.GENERIC)  # path_contract ... reproducible
REQUIRED = ("source", "pattern", "defect", "why", "train_params", "step_flag", "expected")


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    pattern: str
    defect: str
    why: str
    train_params: str
    step_flag: str
    expected: dict[str, str]
    pretrained: str | None = None
    make_inputs_flag: str | None = None
    make_inputs_args: tuple[str, ...] = ()
    reproducible: bool = False
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return CORPUS_DIR / self.name

    @property
    def broken(self) -> bool:
        """The platform punishes it: the whole run must fail."""
        return any(v in BROKEN for v in self.expected.values())

    def accepts(self, check: str, status: str) -> bool:
        return status in ACCEPTS[self.expected.get(check, "n/a")]


class CaseError(ValueError):
    pass


def load_case(folder: Path) -> Case:
    """One case, checked: every required key, an existing train.py and make_inputs.py, a
    known verdict for every generic check."""
    try:
        data = json.loads((folder / "case.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CaseError(f"{folder.name}: case.json does not parse: {error}") from None
    missing = [key for key in REQUIRED if key not in data]
    unknown = (
        set(data)
        - set(REQUIRED)
        - {
            "pretrained",
            "make_inputs_flag",
            "make_inputs_args",
            "reproducible",
            "notes",
        }
    )
    if missing or unknown:
        raise CaseError(f"{folder.name}: missing keys {missing}, unknown keys {sorted(unknown)}")
    if not (folder / "train.py").is_file():
        raise CaseError(f"{folder.name}: no train.py")
    expected = data["expected"]
    wanted = [c for c in CHECKS if c != "reproducible" or data.get("reproducible")]
    if sorted(expected) != sorted(wanted):
        raise CaseError(
            f"{folder.name}: expected must name exactly {wanted}, got {sorted(expected)}"
        )
    for check, verdict in expected.items():
        if verdict not in ACCEPTS:
            raise CaseError(f"{folder.name}: {check}: unknown verdict {verdict!r}")
    if bool(data.get("pretrained")) != bool(data.get("make_inputs_flag")):
        raise CaseError(f"{folder.name}: pretrained and make_inputs_flag go together")
    if (data["defect"] == CORRECT) == any(v in BROKEN for v in expected.values()):
        raise CaseError(f"{folder.name}: a correct job expects no failure, a broken one some")
    if f"--{data['step_flag']}=" not in data["train_params"]:
        raise CaseError(f"{folder.name}: train_params do not set --{data['step_flag']}")
    return Case(
        name=folder.name,
        **{k: v for k, v in data.items() if k != "make_inputs_args"},
        make_inputs_args=tuple(data.get("make_inputs_args", ())),
    )


def load_cases(names: list[str] | None = None) -> list[Case]:
    folders = sorted(p.parent for p in CORPUS_DIR.glob("*/case.json"))
    if names:
        folders = [f for f in folders if f.name in names]
    return [load_case(folder) for folder in folders]
