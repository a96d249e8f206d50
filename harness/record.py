"""What one harness run did, stored so that it can be repeated and compared.

A run record is one JSON file: the job (mainfile, parameters, profile, backend),
the code and environment it ran with, hashes of its inputs and outputs, each
phase's command, exit code and loss per global step, and the verdict of every
check the scenario planned - `passed`, `failed`, `not run` (a phase it needed
failed) or `not applicable` (with the reason). Records never hold environment
variables; serialisation passes everything through the run's `Redactor`.

The file is strict JSON: non-finite floats are written as the strings "nan",
"inf" and "-inf" (losses are read back as floats; elsewhere they stay strings).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import __version__
from harness.redaction import PATTERNS_ONLY, Redactor

SCHEMA = 2
LOG_TAIL_LINES = 200
LOG_TAIL_CHARS = 32_000

PASSED = "passed"
# Ran, and found only advice: what the platform does not punish (a job that cannot
# resume, an empty log_dir). A run passes with warnings unless it is judged strictly.
WARNING = "warning"
FAILED = "failed"
NOT_RUN = "not run"
NOT_APPLICABLE = "not applicable"
STATUSES = (PASSED, WARNING, FAILED, NOT_RUN, NOT_APPLICABLE)


def jsonable(value: Any) -> Any:
    """A copy of `value` that strict JSON can hold.

    Non-finite floats become "nan"/"inf"/"-inf", paths become strings, numpy
    values become Python ones (checks compute evidence with numpy), tuples lists.
    """
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [jsonable(item) for item in items]
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    raise TypeError(f"cannot store a {type(value).__name__} in a run record: {value!r}")


def dumps(value: Any, redactor: Redactor = PATTERNS_ONLY, indent: int | None = 2) -> str:
    """Strict JSON of `value`, redacted: what `--json` prints and records hold."""
    return json.dumps(
        redactor.data(jsonable(value)), indent=indent, sort_keys=True, allow_nan=False
    )


@dataclass
class CheckResult:
    """One planned check's verdict; `message` says why, `evidence` holds what proves it.

    `seconds` is the time of the phases the check needed plus its own; `warnings`
    are the advice it found (status `warning` when nothing failed).
    """

    name: str
    status: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"check {self.name}: unknown status {self.status!r}")

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def ran(self) -> bool:
        return self.status in (PASSED, WARNING, FAILED)

    @classmethod
    def judged(cls, name: str, passed: bool, message: str, **kwargs: Any) -> CheckResult:
        return cls(name, PASSED if passed else FAILED, message, **kwargs)

    @classmethod
    def from_findings(
        cls, name: str, problems: list[str], advice: list[str], message: str, **kwargs: Any
    ) -> CheckResult:
        """Failed when there are problems (the message is them), a warning when there is only
        advice (the message is `message` and the advice), else passed with `message`."""
        status = FAILED if problems else WARNING if advice else PASSED
        text = "; ".join(problems) if problems else "; ".join(filter(None, [message, *advice]))
        return cls(name, status, text, warnings=list(advice), **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(
            name=str(data["name"]),
            status=str(data["status"]),
            message=str(data["message"]),
            evidence=dict(data.get("evidence") or {}),
            seconds=float(data["seconds"]),
            warnings=[str(w) for w in data.get("warnings") or []],
        )


@dataclass
class PhaseRecord:
    """One run of the job (a phase such as `train` or `resume`) and what it printed."""

    name: str
    command: list[str]
    exit_code: int
    seconds: float
    losses: dict[int, float]
    loss_source: str
    log_tail: str
    backend: str
    timed_out: bool = False
    error: str | None = None
    image: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None
    # One task of a distributed run: its name, TF_CONFIG (addresses as task names), and
    # whether the harness stopped it after the chief ended.
    task: dict[str, Any] | None = None
    # Every loss source seen in the phase and its number of points (the chosen one too).
    loss_candidates: dict[str, int] = field(default_factory=dict)
    # A known failure signature found in the log of a failed phase: meaning and fix.
    diagnosis: str | None = None
    # Steps/s (and examples/s) over the logged steps, and whose clock timed them.
    speed: dict[str, Any] | None = None

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.error is None

    @staticmethod
    def tail(log_text: str) -> str:
        """The end of a log, bounded in lines and characters."""
        return "\n".join(log_text.splitlines()[-LOG_TAIL_LINES:])[-LOG_TAIL_CHARS:]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhaseRecord:
        """Inverse of the dict written by `RunRecord.to_dict` (JSON's string keys back to int)."""
        return cls(
            name=str(data["name"]),
            command=[str(arg) for arg in data["command"]],
            exit_code=int(data["exit_code"]),
            seconds=float(data["seconds"]),
            losses={int(step): float(loss) for step, loss in data["losses"].items()},
            loss_source=str(data["loss_source"]),
            log_tail=str(data["log_tail"]),
            backend=str(data["backend"]),
            timed_out=bool(data.get("timed_out", False)),
            error=data.get("error"),
            image=data.get("image"),
            environment=data.get("environment"),
            task=data.get("task"),
            loss_candidates={
                str(k): int(v) for k, v in (data.get("loss_candidates") or {}).items()
            },
            diagnosis=data.get("diagnosis"),
            speed=data.get("speed"),
        )


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunRecord:
    """Everything needed to repeat a harness run and to compare it with another."""

    schema: int = SCHEMA
    harness_version: str = __version__
    created: str = field(default_factory=_utc_now)
    code: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)
    job: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    output_bytes: int | None = None  # apparent size of output_dir (None: an older record)
    phases: list[PhaseRecord] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # Judged strictly (`--strict`, for CI gates): a warning fails the run.
    strict: bool = False
    # Stopped by the user (Ctrl-C): the phases and checks are those that had finished.
    interrupted: bool = False

    @property
    def passed(self) -> bool:
        """At least one check ran, none failed (nor warned, when strict), and none was left
        unrun by a failed phase."""
        statuses = [check.status for check in self.checks]
        blocking = (FAILED, NOT_RUN, WARNING) if self.strict else (FAILED, NOT_RUN)
        ran = PASSED in statuses or WARNING in statuses
        return ran and not self.interrupted and not any(s in blocking for s in statuses)

    def counts(self) -> dict[str, int]:
        return {status: sum(c.status == status for c in self.checks) for status in STATUSES}

    def warnings(self) -> dict[str, list[str]]:
        """Check name -> its advice, for every check that has some."""
        return {c.name: list(c.warnings) for c in self.checks if c.warnings}

    def summary(self) -> str:
        """`PASSED: 5 of 6 checks passed, 1 warning (2 not applicable)`-style one-liner."""
        counts = self.counts()
        ran = counts[PASSED] + counts[WARNING] + counts[FAILED]
        extra = [f"{counts[s]} {s}" for s in (NOT_RUN, NOT_APPLICABLE) if counts[s]]
        word = "INTERRUPTED" if self.interrupted else "PASSED" if self.passed else "FAILED"
        text = f"{word}: {counts[PASSED]} of {ran} checks passed"
        if counts[WARNING]:
            plural = "s" if counts[WARNING] > 1 else ""
            text += f", {counts[WARNING]} warning{plural}" + (" (strict)" if self.strict else "")
        if not ran:
            text = f"{word}: no check ran"
        return text + (f" ({', '.join(extra)})" if extra else "")

    def phase(self, name: str) -> PhaseRecord | None:
        """The phase called `name`, if it ran."""
        return next((phase for phase in self.phases if phase.name == name), None)

    def check(self, name: str) -> CheckResult | None:
        return next((check for check in self.checks if check.name == name), None)

    def to_dict(self, redactor: Redactor = PATTERNS_ONLY) -> dict[str, Any]:
        """The record as strict-JSON data with secrets redacted."""
        return redactor.data(jsonable(dataclasses.asdict(self)))

    def redacted(self, redactor: Redactor = PATTERNS_ONLY) -> RunRecord:
        """A copy with secrets redacted, as it is stored: what every document is written from."""
        return RunRecord.from_dict(json.loads(json.dumps(self.to_dict(redactor))))

    def to_json(self, path: str | os.PathLike[str], redactor: Redactor = PATTERNS_ONLY) -> Path:
        """Writes the record atomically (temp file + rename), so readers never see half a file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = dumps(dataclasses.asdict(self), redactor) + "\n"
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """Inverse of `to_dict`; raises KeyError/TypeError/ValueError on malformed data."""
        return cls(
            schema=int(data["schema"]),
            harness_version=str(data["harness_version"]),
            created=str(data["created"]),
            code=dict(data["code"]),
            host=dict(data["host"]),
            job=dict(data["job"]),
            environment=dict(data["environment"]),
            inputs=dict(data["inputs"]),
            outputs=dict(data["outputs"]),
            output_bytes=None if data.get("output_bytes") is None else int(data["output_bytes"]),
            phases=[PhaseRecord.from_dict(phase) for phase in data["phases"]],
            checks=[CheckResult.from_dict(check) for check in data["checks"]],
            timings={str(key): float(value) for key, value in data["timings"].items()},
            strict=bool(data.get("strict", False)),
            interrupted=bool(data.get("interrupted", False)),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunRecord:
        """Reads a record written by `to_json`; ValueError naming the file if it is not one."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(
                f"{path}: no run record (the run was interrupted before it wrote one, or is "
                "still running)"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a run record (not JSON: {error})") from error
        if not isinstance(data, dict) or "schema" not in data or "phases" not in data:
            raise ValueError(f"{path}: not a run record (no 'schema' and 'phases' keys)")
        if data["schema"] != SCHEMA:
            raise ValueError(
                f"{path}: run record schema {data['schema']!r} is not supported "
                f"(this harness reads schema {SCHEMA}; rerun `uai-harness validate`)"
            )
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(
                f"{path}: malformed run record ({type(error).__name__}: {error})"
            ) from error
