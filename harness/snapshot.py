"""Before/after pictures of a platform root, to see exactly what a job wrote."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

IGNORED_PARTS = ("__pycache__",)


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def take(root: Path) -> dict[str, str]:
    """sha256 of every file under `root`, keyed by its path relative to `root`."""
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not any(part in IGNORED_PARTS for part in relative.parts):
            files[relative.as_posix()] = _digest(path)
    return files


@dataclasses.dataclass
class Change:
    """Files a job added, modified and removed between two snapshots."""

    added: list[str]
    modified: list[str]
    removed: list[str]

    @property
    def touched(self) -> list[str]:
        return sorted(self.added + self.modified + self.removed)


def diff(before: dict[str, str], after: dict[str, str]) -> Change:
    return Change(
        added=sorted(set(after) - set(before)),
        modified=sorted(p for p in set(before) & set(after) if before[p] != after[p]),
        removed=sorted(set(before) - set(after)),
    )
