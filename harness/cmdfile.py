"""The pack tool's `uaitrain_cmd.txt`: the deploy command and the local test commands."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

from harness.contract import CONTAINER_WORK_DIR, PLATFORM_PYTHON
from harness.params import strip_platform_flags


@dataclasses.dataclass(frozen=True)
class PackedCommand:
    """What the pack tool's `uaitrain_cmd.txt` says about a packed job."""

    deploy: str
    image: str | None
    mainfile: str
    train_params: list[str]

    @property
    def train_params_string(self) -> str:
        return " ".join(shlex.quote(p) for p in self.train_params)


_CMD_LINES = {
    "deploy": "CMD Used for deploying:",
    "cpu": "CMD for CPU local test:",
    "gpu": "CMD for GPU local test:",
}


def _split_line(path: Path, key: str, command: str) -> list[str]:
    """A command line's words; unbalanced quotes name the file and line instead of shlex."""
    try:
        return shlex.split(command)
    except ValueError as err:
        raise ValueError(f"{path}: cannot split the {_CMD_LINES[key]!r} line: {err}") from err


def read_cmd_file(path: Path) -> PackedCommand:
    """Parse `uaitrain_cmd.txt` (lines `CMD Used for deploying: ...`, `CMD for CPU local
    test: ...`, `CMD for GPU local test: ...`), refusing what the platform would refuse."""
    if not path.is_file():
        raise FileNotFoundError(f"cmd file {path} does not exist")
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text file ({err.reason} at byte {err.start})") from err
    found = {}
    for line in text.splitlines():
        for key, prefix in _CMD_LINES.items():
            if line.startswith(prefix):
                found[key] = line[len(prefix) :].strip()
    if "deploy" not in found:
        raise ValueError(f"{path}: no line starting with {_CMD_LINES['deploy']!r}")
    words = _split_line(path, "deploy", found["deploy"])
    if words and words[0] == PLATFORM_PYTHON:  # the platform's interpreter may be spelled out
        words = words[1:]
    if not words or not words[0].startswith(f"{CONTAINER_WORK_DIR}/"):
        raise ValueError(
            f"{path}: the deploy command must run a file under /data with {PLATFORM_PYTHON} "
            f"(the platform's interpreter), got {found['deploy'][:80]!r}"
        )
    image = None
    if "cpu" in found:
        local = _split_line(path, "cpu", found["cpu"])
        if "/bin/bash" in local:
            image = local[local.index("/bin/bash") - 1]
    return PackedCommand(
        deploy=found["deploy"],
        image=image,
        mainfile=words[0][len(CONTAINER_WORK_DIR) + 1 :],
        train_params=strip_platform_flags(words[1:]),
    )
