"""What every `uai-harness` command shares: user paths resolved once, here at the edge."""

from __future__ import annotations

from pathlib import Path

RECORD_NAME = "run_record.json"


def absolute(path: str | None) -> Path | None:
    """A user-given path as an absolute one (relative to the current folder)."""
    return None if path is None else Path(path).expanduser().resolve()


def code_path(given: str | None) -> Path:
    """The code folder packed at /data: as given, or ./im2txt of the current folder."""
    from harness.resources import default_code_path

    if given is None:
        return default_code_path()
    path = absolute(given)
    if not path.is_dir():
        raise ValueError(f"--code-path {given} is not a folder")
    home = Path.home().resolve()
    if path == home or path in home.parents:
        raise ValueError(
            f"--code-path {given} is {'your home folder' if path == home else 'above it'}: "
            "the run would copy it whole, credentials among it; name the job's own folder"
        )
    return path


def record_path(given: str) -> Path:
    """A run record named directly or by its run folder."""
    path = absolute(given)
    return path / RECORD_NAME if path.is_dir() else path


def newest_runs(parent: str, count: int) -> list[Path]:
    """The `count` newest run records under `parent`, oldest first (run folders are named
    by their start time)."""
    folder = absolute(parent)
    records = sorted(folder.glob(f"*/{RECORD_NAME}")) if folder.is_dir() else []
    if len(records) < count:
        raise ValueError(
            f"{folder} holds {len(records)} run(s) with a {RECORD_NAME}; need {count} "
            "(run `uai-harness validate`, or name the runs)"
        )
    return records[-count:]
