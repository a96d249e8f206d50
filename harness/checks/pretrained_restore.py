"""Pretrained restore: the job really started from the pretrained checkpoint it was given.

Judged variable by variable, from values alone, for any job. Each variable the job's
saved model shares with the pretrained file (the same name, or the one name its
normalised form maps to - see `match_names` - and the same shape) is

- equal to the file, bit for bit, at the end of training: restored, and kept frozen;
- moved, but recognisably the file's values in the earliest model the job saved:
  correlated with them (r >= 0.5), or still holding more than half of them (its
  projection on the file's values, v.p / p.p > 0.5: a fresh initialisation, trained or
  not, is unrelated to the file and projects to ~0): restored, then fine-tuned -
  judged early where the job kept several, before a long fine-tuning drifted far;
- neither: not restored - a fresh initialisation trained from scratch. FAIL.

Variables whose shape differs from the file's, or that the job's exclude flag names
(`--checkpoint_exclude_scopes`), are listed as excluded and never fail. Freezing flags
make it stricter: with `--train_inception=false` (or `--frozen`) every shared variable,
and with `--trainable_scopes` every one outside those scopes, must stay equal; batch-norm
statistics, which follow the data, may move where they are frozen.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.checks.phases import TRAIN
from harness.job import ModelFile, read_model
from harness.jobshapes import BOOKKEEPING, MOVING_STATISTICS
from harness.params import FreezingRules
from harness.record import CheckResult

if TYPE_CHECKING:
    from harness.checks.registry import Situation
    from harness.scenario.evidence import Evidence

NAME = "pretrained_restore"
PHASES = (TRAIN,)
# Fine-tuned values keep a clear linear relation to the pretrained ones; a fresh
# random initialisation has none (correlation ~0).
MIN_CORRELATION = 0.5
# ... or while it still holds more than this share of the pretrained values (projection).
MIN_PROJECTION = 0.5
_MIN_SIZE_FOR_CORRELATION = 16

FROZEN = "restored, frozen"
FINE_TUNED = "restored, fine-tuned"
NOT_RESTORED = "not restored"
MOVED_THOUGH_FROZEN = "moved, though frozen"
UNJUDGED = "moved; too small or constant to tell"


def correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation of two same-shaped arrays; None when either is constant or tiny."""
    x, y = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if x.size < _MIN_SIZE_FOR_CORRELATION or x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def projection(pretrained: np.ndarray, value: np.ndarray) -> float | None:
    """How much of the pretrained values `value` still holds: v.p / p.p (1 for the file
    itself, ~0 for anything unrelated to it); None when the file's values are all 0."""
    p = np.asarray(pretrained, np.float64).ravel()
    v = np.asarray(value, np.float64).ravel()
    norm = float(p @ p)
    return None if norm == 0 else float(v @ p) / norm


def _normalised(name: str) -> tuple[str, ...]:
    """A variable name's components without Keras's `:0` and leading underscores
    (Keras 3 keeps a Dense kernel as `_kernel`)."""
    return tuple(part.lstrip("_") for part in name.removesuffix(":0").split("/") if part)


def match_names(pretrained: Mapping[str, object], saved: Mapping[str, object]) -> dict[str, str]:
    """Pretrained name -> the saved model's name for it: the same name; else the one saved
    name whose normalised components end with the pretrained name's (or the reverse), so
    `backbone/kernel` maps to `model/backbone/_kernel` and a Keras file's
    `sequential/conv1/kernel` to `conv1/kernel`."""
    mapping = {name: name for name in pretrained if name in saved}
    rest = [name for name in saved if name not in mapping.values()]
    for name in pretrained:
        if name in mapping:
            continue
        wanted = _normalised(name)
        hits = [
            other
            for other in rest
            if (n := _normalised(other))[-len(wanted) :] == wanted or wanted[-len(n) :] == n
        ]
        if len(hits) == 1:
            mapping[name] = hits[0]
            rest.remove(hits[0])
    return mapping


def _recognisable(pretrained: np.ndarray, value: np.ndarray) -> bool | None:
    """Whether `value` is still recognisably `pretrained` (None: it cannot be told)."""
    r = correlation(pretrained, value)
    share = projection(pretrained, value)
    if r is None and share is None:
        return None
    return (r is not None and r >= MIN_CORRELATION) or (
        share is not None and share > MIN_PROJECTION
    )


def judge_variable(
    pretrained: np.ndarray, value: np.ndarray, must_stay: bool, early: np.ndarray | None = None
) -> str:
    """One shared variable's verdict (one of the constants above), from its value at the
    end and, when the job saved an earlier model, its value there."""
    if np.array_equal(pretrained, value):
        return FROZEN
    seen = early if early is not None else value
    restored = np.array_equal(pretrained, seen) or _recognisable(pretrained, seen)
    if restored is None:
        return UNJUDGED
    if not restored:
        return NOT_RESTORED
    return MOVED_THOUGH_FROZEN if must_stay else FINE_TUNED


def judge_all(
    pretrained: Mapping[str, np.ndarray],
    saved: Mapping[str, np.ndarray],
    rules: FreezingRules,
    early: Mapping[str, np.ndarray] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """(pretrained name -> verdict, pretrained name -> why it is excluded)."""
    mapping = match_names(pretrained, saved)
    early = early or {}
    verdicts, excluded = {}, {}
    for name, saved_name in sorted(mapping.items()):
        value = saved[saved_name]
        if BOOKKEEPING.search(name):
            excluded[name] = "training bookkeeping (step, optimizer state), not a model weight"
        elif scope := rules.excluded(name):
            excluded[name] = f"under --checkpoint_exclude_scopes {scope}"
        elif np.shape(value) != np.shape(pretrained[name]):
            excluded[name] = (
                f"shape {list(np.shape(value))}, the file's {list(np.shape(pretrained[name]))}"
            )
        else:
            must_stay = rules.must_stay(name) and not MOVING_STATISTICS.search(name)
            first = early.get(saved_name)
            first = first if first is not None and np.shape(first) == np.shape(value) else None
            verdicts[name] = judge_variable(pretrained[name], value, must_stay, first)
    return verdicts, excluded


def check_pretrained_restore(
    pretrained: Mapping[str, np.ndarray],
    pretrained_name: str,
    saved: Mapping[str, np.ndarray] | None,
    saved_name: str,
    rules: FreezingRules,
    early: Mapping[str, np.ndarray] | None = None,
    early_name: str | None = None,
) -> CheckResult:
    """Compare the pretrained file's variables with the job's last saved model of the run
    (and with its earliest one, `early`, when it kept more than one)."""
    evidence: dict = {
        "pretrained": pretrained_name,
        "checkpoint": saved_name,
        "rules": rules.source,
    }
    if early_name:
        evidence["earliest_checkpoint"] = early_name

    def result(problems: list[str], advice: list[str], message: str) -> CheckResult:
        return CheckResult.from_findings(NAME, problems, advice, message, evidence=evidence)

    if saved is None:
        return result(["the job saved no model to compare with the pretrained file"], [], "")
    verdicts, excluded = judge_all(pretrained, saved, rules, early)
    by_verdict: dict[str, list[str]] = {}
    for name, verdict in verdicts.items():
        by_verdict.setdefault(verdict, []).append(name)
    evidence.update(
        pretrained_variables=len(pretrained),
        judged={verdict: len(names) for verdict, names in by_verdict.items()},
        variables=verdicts,
        excluded=excluded,
    )
    if not verdicts:
        return result(
            [],
            [
                f"could not judge the restore: {saved_name} holds none of the "
                f"{len(pretrained)} variables of {pretrained_name} with their shapes "
                f"(e.g. the file has {', '.join(sorted(pretrained)[:2])}; "
                f"{len(excluded)} excluded), so whether the job restored it cannot be told"
            ],
            "",
        )
    problems = []
    for verdict, why in (
        (NOT_RESTORED, "look freshly initialised, not restored"),
        (MOVED_THOUGH_FROZEN, f"moved although {rules.source} keeps them frozen"),
    ):
        if names := by_verdict.get(verdict):
            problems.append(
                f"{len(names)} of {len(verdicts)} shared variables of {pretrained_name} {why} "
                f"in {saved_name}: {', '.join(names[:4])}{', ...' if len(names) > 4 else ''}"
            )
    advice = []
    if rules.frozen is False and set(by_verdict) == {FROZEN}:
        advice.append(
            f"{rules.source} says the job fine-tunes them, yet all {len(verdicts)} still equal "
            f"{pretrained_name}: nothing was fine-tuned"
        )
    counts = ", ".join(f"{len(n)} {v}" for v, n in sorted(by_verdict.items()))
    skipped = f"; {len(excluded)} excluded" if excluded else ""
    return result(
        problems,
        advice,
        f"{len(verdicts)} variables of {pretrained_name} judged in {saved_name}: {counts}"
        f"{skipped} ({rules.source})",
    )


def shared_variables(
    pretrained: Mapping[str, np.ndarray], saved: Mapping[str, np.ndarray]
) -> dict[str, str]:
    """Pretrained name -> saved name, for the variables the two hold with the same shape."""
    return {
        name: other
        for name, other in match_names(pretrained, saved).items()
        if np.shape(saved[other]) == np.shape(pretrained[name])
    }


def not_applicable(situation: Situation) -> str | None:
    if situation.pretrained_placed:
        return None
    if situation.pretrained_flag is None:
        return "the job's parameters name no pretrained checkpoint (give --pretrained-flag)"
    flag, value = situation.pretrained_flag
    return f"--{flag}={value} is neither in the code nor given with --pretrained"


def judge(evidence: Evidence) -> CheckResult:
    values = evidence.restore_values
    return check_pretrained_restore(
        values.pretrained,
        evidence.pretrained_host.name,
        values.trained,
        values.subject_name,
        evidence.preflight.freezing,
        early=values.early_values(),
        early_name=values.early.path.name if values.early else None,
    )


class RestoreValues:
    """The pretrained file's values, those of the first run's model that shares the most
    variables with it (its last step checkpoint, or a Keras file or SavedModel), and of
    the earliest checkpoint it kept (nearest the restore, before fine-tuning drifted).
    Read right after training: a rerun may rotate those checkpoints away."""

    def __init__(self, pretrained: Path | None, models: list[ModelFile]) -> None:
        self.pretrained = read_model(pretrained).values() if pretrained is not None else {}
        self.subject: ModelFile | None = None
        self.trained: dict[str, np.ndarray] | None = None
        self.mapping: dict[str, str] = {}
        self.early: ModelFile | None = None
        checkpoints = [m for m in models if m.kind == "TF checkpoint"]
        candidates = [m for m in models if m.kind != "TF checkpoint"] + checkpoints[-1:]
        for model in candidates:
            model_values = model.values()
            mapping = shared_variables(self.pretrained, model_values) if self.pretrained else {}
            if self.subject is None or len(mapping) >= len(self.mapping):
                self.subject, self.trained, self.mapping = model, model_values, mapping
        stepped = [m for m in checkpoints if m.step is not None]
        if self.subject in checkpoints and stepped and stepped[0] is not self.subject:
            self.early = stepped[0]

    @property
    def subject_name(self) -> str:
        return self.subject.path.name if self.subject else "no saved model"

    def early_values(self) -> dict[str, np.ndarray] | None:
        return self.early.values() if self.early is not None and self.pretrained else None

    def for_resume(self, final: ModelFile | None) -> dict:
        """The shared pretrained variables before and after a rerun, by pretrained name."""
        if not (self.mapping and self.trained and final is not None):
            return {}
        after = final.values()
        names = {p: s for p, s in self.mapping.items() if s in after}
        return {
            "pretrained": {p: self.pretrained[p] for p in names},
            "before": {p: self.trained[s] for p, s in names.items()},
            "after": {p: after[s] for p, s in names.items()},
        }
