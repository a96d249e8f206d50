"""`uai-harness prune`: remove old run folders, keeping the newest (runs/ grows by a few
hundred MB a run and nothing else removes them)."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from harness.cli.common import absolute
from harness.untrusted import folder_bytes, remove_tree

# What new_run_dir names a run folder: its start time, then a random suffix.
RUN_FOLDER = re.compile(r"^\d{8}-\d{6}-")


def run_folders(parent: Path) -> list[Path]:
    """The run folders under `parent`, oldest first; other files and folders are never
    touched."""
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if p.is_dir() and RUN_FOLDER.match(p.name))


def to_prune(parent: Path, keep: int, older_than_days: float | None) -> list[Path]:
    """All but the newest `keep` run folders; with `older_than_days`, only those older."""
    folders = run_folders(parent)
    old = folders[: max(len(folders) - keep, 0)]
    if older_than_days is None:
        return old
    cutoff = time.time() - older_than_days * 86400
    return [p for p in old if p.stat().st_mtime < cutoff]


def cmd_prune(args: argparse.Namespace) -> int:
    if args.keep < 0:
        raise ValueError(f"--keep {args.keep}: give 0 or more run folders to keep")
    parent = absolute(args.runs)
    doomed = to_prune(parent, args.keep, args.older_than)
    kept = len(run_folders(parent)) - len(doomed)
    freed = 0
    for folder in doomed:
        freed += folder_bytes(folder)
        if not args.dry_run:
            remove_tree(folder)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {len(doomed)} run folder(s) under {parent} ({freed / 1e6:.0f} MB), kept {kept}")
    return 0


def add_parser(sub) -> None:
    prune = sub.add_parser("prune", help="remove old run folders, keeping the newest")
    prune.add_argument("--runs", default="runs", help="the parent folder of run folders")
    prune.add_argument("--keep", type=int, default=5, help="how many of the newest to keep")
    prune.add_argument(
        "--older-than",
        type=float,
        default=None,
        metavar="DAYS",
        help="remove only run folders older than this (beyond the kept ones)",
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="say what would be removed, remove nothing"
    )
    prune.set_defaults(func=cmd_prune)
