"""A committed baseline: the facts of a known-good run that a CI gate judges later runs by.

`uai-harness baseline RUN` writes a small JSON file meant for review and version
control: sorted keys, no absolute paths of the machine, no host names or times but
the job's own speed, no secrets (it is made from the stored, redacted record). It
holds the job's identity (what was run: main file, parameters, profile, step
target), its version (the code folder's digest or the image id), the training loss
per logged step, every check's verdict, the set of files it wrote under output_dir
(event files' and exporters' time-stamped names generalised, so that they compare),
and its training speed - steps/s (epochs/s where the loss counts epochs) and
examples/s, with the GFLOP/s of the machine measured in the same run (`harness.speed`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.checks import registry
from harness.record import RunRecord
from harness.redaction import PATTERNS_ONLY, Redactor

SCHEMA = 1
_OUTPUT_PREFIX = "data/output/"
# Event files carry the writer's time, host and pid in their names.
_EVENT_NAME = re.compile(r"(events\.out\.tfevents)\..*$")
# Estimator exporters write each SavedModel into a folder named by the Unix time.
_EXPORT_TIME = re.compile(r"(?<![^/])\d{10}(?=/)")


def identity(record: RunRecord) -> dict[str, Any]:
    """What was run: a change here means another job, not a regression of this one."""
    job = record.job
    plan = job.get("plan", {})
    return {
        "mainfile": job.get("mainfile"),
        "train_params": list(job.get("train_params", [])),
        "profile": job.get("profile"),
        "step_flag": job.get("step_flag"),
        "steps": job.get("steps"),
        "reproducible": bool(plan.get("reproducible", False)),
        "cluster": plan.get("cluster"),
    }


def version(record: RunRecord) -> dict[str, Any]:
    """Which code ran: the folder's digest, or the image's id."""
    code = record.code
    if code.get("kind") == "image":
        return {"kind": "image", "id": code.get("id")}
    return {"kind": "code path", "sha256": code.get("sha256")}


def output_set(record: RunRecord) -> list[str]:
    """The files written under output_dir, relative to it, run-specific names generalised."""
    names = {
        _EXPORT_TIME.sub("<time>", _EVENT_NAME.sub(r"\1.*", path.removeprefix(_OUTPUT_PREFIX)))
        for path in record.outputs
        if path.startswith(_OUTPUT_PREFIX)
    }
    return sorted(names)


def train_speed(record: RunRecord) -> dict[str, Any] | None:
    train = record.phase("train")
    speed = dict(train.speed) if train is not None and train.speed else None
    gflops = record.host.get("machine_gflops")
    if speed is None:
        return None
    speed["machine_gflops"] = gflops
    return speed


def summarise(record: RunRecord) -> dict[str, Any]:
    """The baseline facts of a run (also used for the current run when judging)."""
    train = record.phase("train")
    return {
        "schema": SCHEMA,
        "identity": identity(record),
        "version": version(record),
        "losses": {
            str(step): loss for step, loss in sorted((train.losses if train else {}).items())
        },
        "loss_source": train.loss_source if train else None,
        "verdicts": {
            check.name: check.status
            for check in record.checks
            if check.name not in registry.names(registry.GATE)
        },
        "outputs": output_set(record),
        "speed": train_speed(record),
    }


def write_baseline(record: RunRecord, path: Path, redactor: Redactor = PATTERNS_ONLY) -> Path:
    """Write the record's baseline to `path`, from the record redacted (again: a stored
    record is, but what is credential-shaped never reaches a committed file)."""
    facts = summarise(record.redacted(redactor))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")
    return path


def load_baseline(path: Path) -> dict[str, Any]:
    """A baseline file; ValueError naming the file when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"--baseline {path} cannot be read as a baseline: {err}") from err
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(
            f"--baseline {path} is not a baseline of schema {SCHEMA} (write one with "
            "`uai-harness baseline RUN`)"
        )
    missing = {"identity", "version", "losses", "verdicts", "outputs"} - set(data)
    if missing:
        raise ValueError(f"--baseline {path} lacks {', '.join(sorted(missing))}")
    return data
