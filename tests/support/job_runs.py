"""Running the code path's scripts as the platform does, tiny, for end-to-end tests."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

from harness.contract import PlatformPaths, job_command

CODE = Path(__file__).resolve().parents[2] / "im2txt"
VOCAB_SIZE = 32
# Tiny batches, images and vocabulary; the Inception and LSTM shapes stay upstream's.
SMALL_MODEL = ["--batch_size=2", "--image_size=75", f"--vocab_size={VOCAB_SIZE}"]
TIMEOUT = 300

# A sitecustomize that makes `import tensorboard` fail as if it were not installed,
# the way a plain `pip install tensorflow` (2.20+) leaves an environment.
_HIDE_TENSORBOARD = """\
import importlib.abc
import sys


class _NoTensorBoard(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorboard" or name.startswith("tensorboard."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoTensorBoard())
"""


def run_job(
    script: str,
    params: list[str],
    paths: PlatformPaths,
    env: dict[str, str] | None = None,
    platform_flags: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`python <code>/<script> <params> [platform flags]` against `paths`."""
    command = job_command(
        script, params, paths, sys.executable, append_platform_flags=platform_flags
    )
    command[1] = str(CODE / script)
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
        check=False,
    )


def with_output_dir(paths: PlatformPaths, output_dir: Path) -> PlatformPaths:
    """The same platform folders with another output_dir (and log_dir under it)."""
    return dataclasses.replace(paths, output_dir=str(output_dir), log_dir=str(output_dir / "log"))


def without_tensorboard(folder: Path) -> dict[str, str]:
    """Environment variables under which a Python process cannot import tensorboard."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(_HIDE_TENSORBOARD)
    inherited = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": os.pathsep.join([str(folder), *([inherited] if inherited else [])])}


def output(result: subprocess.CompletedProcess[str]) -> str:
    """Both streams' tails, for assertion messages."""
    return result.stdout[-3000:] + result.stderr[-3000:]
