"""Where a run happened: the machine, the code's git state, and the job's Python.

Kept apart from the record schema: these probe the live system (git, pip,
TensorFlow), while records only store what they found. Environment variables
are deliberately never collected: they hold credentials.
"""

from __future__ import annotations

import importlib
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any


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
    """`python -m pip freeze --all`; RuntimeError when pip cannot run."""
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
    return [line for line in done.stdout.splitlines() if line.strip()]


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
