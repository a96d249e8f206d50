"""Repeating a recorded run from its `run_record.json`, and saying whether it came out the same.

The record holds what is needed: the job's parameters and the whole plan (seeds of the
synthetic inputs among them), the code (a folder and its digest, or an image id), and
the hashes of every input. `rerun` refuses, before anything runs, a code folder whose
digest changed or an image id that is gone (unless changed code is allowed), a user's
`--data` whose files differ from the recorded hashes, and parameters the record only
holds redacted; synthetic inputs are regenerated from the recorded seed and checked
against the recorded hashes after the run. The new record is compared with the old
one as `uai-harness compare` does.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness import snapshot
from harness.compare import Comparison, compare
from harness.plan import Plan
from harness.record import RunRecord
from harness.redaction import REDACTED

_DATA_PREFIX = "data/data/"


@dataclasses.dataclass
class Rerun:
    """The repeated run's record and its comparison with the recorded one."""

    record: RunRecord
    run_dir: Path
    comparison: Comparison
    inputs_differ: list[str]

    @property
    def same(self) -> bool:
        return self.comparison.identical_losses and not self.inputs_differ


def plan_from_record(record: RunRecord) -> Plan:
    """The recorded plan, as validate got it; ValueError when it cannot be rebuilt."""
    plan = Plan.from_record(record.job)
    hidden = [p.split("=", 1)[0] for p in plan.train_params if REDACTED in p]
    if hidden or REDACTED in (plan.train_params.text or ""):
        named = ", ".join(hidden) or "some, in the typed text"
        raise ValueError(
            f"the record holds parameters only redacted ({named}): run `uai-harness validate` "
            "with them again instead"
        )
    return plan


def check_code(record: RunRecord, allow_changed: bool) -> tuple[str, str]:
    """("local", code folder) or ("docker", image id) to rerun with; ValueError when the
    code is not the recorded one."""
    code = record.code
    if code.get("kind") == "image":
        return "docker", str(code["id"])
    folder = Path(str(code.get("path", "")))
    if not folder.is_dir():
        raise ValueError(f"the recorded code folder {folder} is gone")
    from harness.backends.local import code_digest

    digest = code_digest(folder)
    if digest != code.get("sha256") and not allow_changed:
        raise ValueError(
            f"the code in {folder} changed since the run (sha256 {str(code.get('sha256'))[:12]} "
            f"-> {digest[:12]}); pass --allow-changed-code to rerun it anyway"
        )
    return "local", str(folder)


def check_data(record: RunRecord, plan: Plan) -> None:
    """The user's --data must be the bytes the run read; ValueError naming the files."""
    if plan.data is None:
        return
    if not plan.data.is_dir():
        raise ValueError(f"the recorded --data {plan.data} is gone")
    now = {_DATA_PREFIX + k: v for k, v in snapshot.hash_tree(plan.data).items()}
    was = {k: v for k, v in record.inputs.items() if k.startswith(_DATA_PREFIX)}
    changed = sorted(k for k in set(now) | set(was) if now.get(k) != was.get(k))
    if changed:
        shown = ", ".join(k.removeprefix(_DATA_PREFIX) for k in changed[:5])
        raise ValueError(f"--data {plan.data} is not what the run read: {shown} differ")


def differing_inputs(old: RunRecord, new: RunRecord) -> list[str]:
    """Inputs whose hashes differ between the two runs (regenerated synthetic data too)."""
    keys = set(old.inputs) | set(new.inputs)
    return sorted(k for k in keys if old.inputs.get(k) != new.inputs.get(k))


def compare_runs(old: RunRecord, new: RunRecord, run_dir: Path) -> Rerun:
    return Rerun(new, run_dir, compare(old, new), differing_inputs(old, new))
