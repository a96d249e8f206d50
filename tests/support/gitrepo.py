"""git for tests: a throw-away identity, no signing, whatever the machine's config says."""

from __future__ import annotations

import subprocess
from pathlib import Path

_GIT = ("git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false")


def git(cwd: Path, *args: str) -> None:
    """Run `git args` in `cwd`; raise on failure."""
    subprocess.run([*_GIT, *args], cwd=cwd, check=True, capture_output=True)
