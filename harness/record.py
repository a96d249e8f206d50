"""What one harness run did, stored so that it can be repeated and compared.

A run record is one JSON file: the job (mainfile, flags, seed, backend), the
environment it ran in, hashes of its inputs and outputs, each phase's command,
exit code and loss per global step, and every check's verdict with its evidence.
Records never hold environment variables, and every string passes through
`redact` on its way into the file, so a record can be attached to a bug report.

The file is strict JSON: non-finite floats are written as the strings "nan",
"inf" and "-inf" (losses are read back as floats; elsewhere they stay strings).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import math
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import __version__

SCHEMA = 1
REDACTED = "<redacted>"
LOG_TAIL_LINES = 200
LOG_TAIL_CHARS = 32_000

# --------------------------------------------------------------------------- redaction

_SECRET_WORD = (
    r"(?:secret|password|passwd|passphrase|token|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|public[_-]?key|credentials?)"
)
# A name made of `_`/`-` separated segments, one of which is a secret word:
# `--private_key`, `AWS_SECRET_ACCESS_KEY`, `x-api-key`; not `tokenizer` or `max_tokens2`.
_SECRET_NAME = rf"(?:[A-Za-z0-9.]+[_-])*{_SECRET_WORD}s?(?:[_-][A-Za-z0-9]+)*"
_VALUE = r"(?:\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;&|)]+)"
_SECRET_KEY = re.compile(rf"-{{0,2}}{_SECRET_NAME}", re.IGNORECASE)
_SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    # PEM private keys, whole block.
    re.compile(
        r"(?P<pre>)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
        re.DOTALL,
    ),
    # name=value, name: value, "name": "value", --name=value (`==` is a pip pin, not a secret).
    re.compile(
        rf"(?P<pre>(?<![A-Za-z0-9_.-])-{{0,2}}{_SECRET_NAME}[\"']?[ \t]*(?:=(?!=)|:(?!:))[ \t]*)"
        rf"{_VALUE}",
        re.IGNORECASE,
    ),
    # --name value (command lines joined into one string).
    re.compile(rf"(?P<pre>(?<!\S)-{{1,2}}{_SECRET_NAME}[ \t]+)(?!-){_VALUE}", re.IGNORECASE),
    # Authorization headers and bearer tokens.
    re.compile(
        r"(?P<pre>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)"
        r"[^\s\"',]+",
        re.IGNORECASE,
    ),
    re.compile(r"(?P<pre>\bbearer\s+)[A-Za-z0-9._~+/-]+=*", re.IGNORECASE),
    # user:password@ in URLs.
    re.compile(r"(?P<pre>\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+(?=@)"),
    # Well-known token shapes: AWS key ids, GitHub, Slack, OpenAI-style keys, JWTs.
    re.compile(
        r"(?P<pre>)\b(?:AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,}"
        r"|xox[abposr]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}"
        r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+)"
    ),
)


def redact(text: str) -> str:
    """`text` with anything that looks like a credential replaced by `<redacted>`.

    Commands and log tails end up in records that people share; UAI jobs are
    often given `--public_key`/`--private_key` and cloud keys on their command line.
    """
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda match: match["pre"] + REDACTED, text)
    return text


def is_secret_name(name: str) -> bool:
    """Whether a flag or key name (`--private_key`, `AWS_SECRET_ACCESS_KEY`) names a secret."""
    return _SECRET_KEY.fullmatch(name) is not None


def redact_command(argv: Iterable[str]) -> list[str]:
    """An argument list with secrets redacted, including `--private_key VALUE` split in two."""
    redacted: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next and not arg.startswith("-"):
            redacted.append(REDACTED)
            hide_next = False
            continue
        hide_next = arg.startswith("-") and "=" not in arg and is_secret_name(arg)
        redacted.append(redact(arg))
    return redacted


def _scrub(value: Any) -> Any:
    """Redacts every string of a JSON-ready value; secret-named keys lose their string value."""
    if isinstance(value, dict):
        return {
            key: REDACTED
            if isinstance(item, str) and item and is_secret_name(str(key))
            else _scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        if value and all(isinstance(item, str) for item in value):
            return redact_command(value)
        return [_scrub(item) for item in value]
    if isinstance(value, str):
        return redact(value)
    return value


def jsonable(value: Any) -> Any:
    """A copy of `value` that strict JSON can hold.

    Non-finite floats become "nan"/"inf"/"-inf", paths become strings, numpy
    values become Python ones (checks compute evidence with numpy), tuples lists.
    """
    if isinstance(value, Mapping):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [jsonable(item) for item in items]
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    raise TypeError(f"cannot store a {type(value).__name__} in a run record: {value!r}")


# --------------------------------------------------------------------------- record types


@dataclass
class CheckResult:
    """One named check's verdict; `message` says why, `evidence` holds what proves it."""

    name: str
    passed: bool
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: bool = False

    @property
    def verdict(self) -> str:
        """`passed`, `failed` or `skipped`."""
        if self.skipped:
            return "skipped"
        return "passed" if self.passed else "failed"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        """Inverse of the dict written by `RunRecord.to_dict`."""
        return cls(
            name=str(data["name"]),
            passed=bool(data["passed"]),
            message=str(data["message"]),
            evidence=dict(data.get("evidence") or {}),
            seconds=float(data["seconds"]),
            skipped=bool(data.get("skipped", False)),
        )


@dataclass
class PhaseRecord:
    """One run of the job (a phase such as `train` or `resume`) and what it printed."""

    name: str
    command: list[str]
    exit_code: int
    seconds: float
    losses: dict[int, float]
    log_tail: str
    backend: str
    image: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None

    @classmethod
    def from_output(
        cls,
        name: str,
        command: Iterable[str],
        exit_code: int,
        seconds: float,
        log_text: str,
        backend: str,
        *,
        losses: Mapping[int, float] | None = None,
        image: dict[str, Any] | None = None,
        environment: dict[str, Any] | None = None,
    ) -> PhaseRecord:
        """A phase from its raw output: command and log tail redacted, losses parsed.

        `losses` (e.g. from `read_metrics`) takes precedence over the stdout lines,
        which round losses to four decimals.
        """
        lines = redact(log_text).splitlines()[-LOG_TAIL_LINES:]
        return cls(
            name=name,
            command=redact_command(command),
            exit_code=int(exit_code),
            seconds=float(seconds),
            losses=dict(losses) if losses is not None else parse_losses(log_text),
            log_tail="\n".join(lines)[-LOG_TAIL_CHARS:],
            backend=backend,
            image=image,
            environment=environment,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhaseRecord:
        """Inverse of the dict written by `RunRecord.to_dict` (JSON's string keys back to int)."""
        return cls(
            name=str(data["name"]),
            command=[str(arg) for arg in data["command"]],
            exit_code=int(data["exit_code"]),
            seconds=float(data["seconds"]),
            losses={int(step): float(loss) for step, loss in data["losses"].items()},
            log_tail=str(data["log_tail"]),
            backend=str(data["backend"]),
            image=data.get("image"),
            environment=data.get("environment"),
        )


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunRecord:
    """Everything needed to repeat a harness run and to compare it with another."""

    schema: int = SCHEMA
    harness_version: str = __version__
    trainer_version: str | None = None
    created: str = field(default_factory=_utc_now)
    git: dict[str, Any] | None = None
    host: dict[str, Any] = field(default_factory=dict)
    job: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    phases: list[PhaseRecord] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether every check that ran passed (skipped checks do not count)."""
        return all(check.passed for check in self.checks if not check.skipped)

    def phase(self, name: str) -> PhaseRecord | None:
        """The phase called `name`, if it ran."""
        return next((phase for phase in self.phases if phase.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The record as strict-JSON data with secrets redacted."""
        return _scrub(jsonable(dataclasses.asdict(self)))

    def to_json(self, path: str | os.PathLike[str]) -> Path:
        """Writes the record atomically (temp file + rename), so readers never see half a file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n"
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
            trainer_version=data["trainer_version"],
            created=str(data["created"]),
            git=data["git"],
            host=dict(data["host"]),
            job=dict(data["job"]),
            environment=dict(data["environment"]),
            inputs=dict(data["inputs"]),
            outputs=dict(data["outputs"]),
            phases=[PhaseRecord.from_dict(phase) for phase in data["phases"]],
            checks=[CheckResult.from_dict(check) for check in data["checks"]],
            timings={str(key): float(value) for key, value in data["timings"].items()},
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunRecord:
        """Reads a record written by `to_json`; ValueError naming the file if it is not one."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a run record (not JSON: {error})") from error
        if not isinstance(data, dict) or "schema" not in data or "phases" not in data:
            raise ValueError(f"{path}: not a run record (no 'schema' and 'phases' keys)")
        if data["schema"] != SCHEMA:
            raise ValueError(
                f"{path}: run record schema {data['schema']!r} is not supported "
                f"(this harness reads schema {SCHEMA})"
            )
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(
                f"{path}: malformed run record ({type(error).__name__}: {error})"
            ) from error


# --------------------------------------------------------------------------- collectors


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (checkpoints can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_tree(
    root: str | os.PathLike[str],
    relative_to: str | os.PathLike[str] | None = None,
    exclude: Callable[[Path], bool] | None = None,
) -> dict[str, str]:
    """SHA-256 of every file under `root`, keyed by POSIX path relative to `relative_to`.

    `relative_to` defaults to `root`. `exclude` gets each file and directory path
    (under `root`); True leaves it out (a directory with everything below it).
    `__pycache__` and `*.pyc` are always left out: Python writes them on import,
    so they would make identical inputs look different.
    """
    root = Path(root)
    base = Path(relative_to) if relative_to is not None else root
    if not root.exists():
        raise FileNotFoundError(f"cannot hash {root}: no such file or directory")
    if root.is_file():
        files = [root]
    else:
        files = []
        for directory, subdirectories, names in os.walk(root):
            current = Path(directory)
            subdirectories[:] = [
                name
                for name in subdirectories
                if name != "__pycache__" and not (exclude and exclude(current / name))
            ]
            files.extend(
                current / name
                for name in names
                if not name.endswith(".pyc") and not (exclude and exclude(current / name))
            )
    hashes = {
        Path(os.path.relpath(os.path.abspath(path), os.path.abspath(base))).as_posix(): (
            sha256_file(path)
        )
        for path in files
        if path.is_file()
    }
    return dict(sorted(hashes.items()))


def git_info(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Commit, dirty flag and top directory of the git checkout holding `path`.

    None outside a repository or without git. `commit` is None before the first
    commit; `dirty` counts untracked files, which can change what a job runs.
    """
    path = Path(path)
    where = path if path.is_dir() else path.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(where), *args],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None:
        return None
    commit = git("rev-parse", "--verify", "--quiet", "HEAD")
    status = git("status", "--porcelain")
    return {
        "repo": top.strip(),
        "commit": commit.strip() if commit else None,
        "dirty": bool(status.strip()) if status is not None else None,
    }


def host_info() -> dict[str, Any]:
    """The machine a run happened on: timings are only comparable on the same kind."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "hostname": socket.gethostname(),
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "usable_cpus": usable,
    }


def pip_freeze(python: str = sys.executable) -> list[str]:
    """`python -m pip freeze --all`, redacted; RuntimeError when pip cannot run."""
    try:
        done = subprocess.run(
            [python, "-m", "pip", "freeze", "--all"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"pip freeze failed: {error}") from error
    if done.returncode != 0:
        raise RuntimeError(f"pip freeze exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return [redact(line) for line in done.stdout.splitlines() if line.strip()]


def _tensorflow_info() -> dict[str, Any]:
    try:
        tf = importlib.import_module("tensorflow")
    except ImportError:
        return {}
    info: dict[str, Any] = {"tensorflow": str(tf.__version__)}
    build = tf.sysconfig.get_build_info()
    info.update({k: v for k, v in build.items() if "cuda" in k or "cudnn" in k})
    return info


def local_environment() -> dict[str, Any]:
    """Python, platform, TensorFlow build and installed packages of this interpreter.

    Environment variables are deliberately not collected: they hold credentials.
    """
    environment: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
    }
    environment.update(_tensorflow_info())
    try:
        environment["pip_freeze"] = pip_freeze(sys.executable)
    except RuntimeError as error:
        environment["pip_freeze"] = []
        environment["pip_freeze_error"] = str(error)
    return environment


# --------------------------------------------------------------------------- job output

_STEP_LINE = re.compile(r"global step\s+(\d+)\s*:\s*loss\s*=\s*([^\s(,]+)")


def parse_losses(log_text: str) -> dict[int, float]:
    """Loss per step from `global step N: loss = X (Y sec/step)` lines; X may be nan or inf.

    Lines may carry logging prefixes; other lines are ignored; a repeated step
    keeps its last value.
    """
    losses: dict[int, float] = {}
    for match in _STEP_LINE.finditer(log_text):
        try:
            losses[int(match[1])] = float(match[2])
        except ValueError:
            continue
    return losses


def read_metrics(path: str | os.PathLike[str]) -> dict[int, float]:
    """Loss per step from the trainer's `metrics.jsonl` (full precision, unlike stdout).

    A last line without its newline is a write cut short by a kill and is
    ignored; a bad line anywhere else is a ValueError naming file and line.
    """
    lines = Path(path).read_text(encoding="utf-8", errors="replace").split("\n")
    losses: dict[int, float] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            losses[int(row["step"])] = float(row["loss"])
        except (ValueError, KeyError, TypeError) as error:
            if number == len(lines):
                break
            raise ValueError(f"{path}:{number}: not a metrics line ({error})") from error
    return losses
