"""Keras CSVLogger files: an `epoch` column and one column per metric, each a series.

`keras.callbacks.CSVLogger` writes `epoch,loss,accuracy,...` rows, numbered from 0 by
epoch, wherever the job points it (`output_dir/training_log.csv`, `log_dir/log.csv`).
Any regular `.csv` under output_dir with an `epoch` column is read that way - untrusted
(`harness.untrusted`: no link followed, at most `TEXT_LIMIT` bytes) - and its numeric
columns become candidates like any other series; rows a phase mark says were there
before are left out, so a rerun's appended rows are its own. Validation columns
(`val_...`) are an evaluation, never the training loss.
"""

from __future__ import annotations

import csv
import io
import stat
from pathlib import Path

from harness.untrusted import read_bounded, walk

EPOCH_COLUMN = "epoch"


def csv_files(output_dir: Path) -> list[Path]:
    """The regular `.csv` files under output_dir (links, pipes and devices skipped)."""
    return sorted(
        path
        for path, info in walk(output_dir)
        if path.suffix.lower() == ".csv" and stat.S_ISREG(info.st_mode)
    )


def read_csv_series(path: Path, offset: int = 0) -> dict[str, dict[int, float]]:
    """column -> epoch -> value of a CSVLogger file, rows after byte `offset` (its header
    is always read from the start); {} for a file without an `epoch` column."""
    try:
        data, _ = read_bounded(path)
    except OSError:
        return {}
    text = data.decode("utf-8", errors="replace")
    header, _, body = text.partition("\n")
    columns = next(csv.reader([header]), [])
    if EPOCH_COLUMN not in columns:
        return {}
    skip = max(0, offset - len(header) - 1)
    rows = body.encode("utf-8")[skip:].decode("utf-8", errors="replace")
    found: dict[str, dict[int, float]] = {}
    for row in csv.DictReader(io.StringIO(rows), fieldnames=columns):
        epoch = _number(row.get(EPOCH_COLUMN))
        if epoch is None or epoch != int(epoch):
            continue  # a header again, or a row cut short by a kill
        for name, cell in row.items():
            value = _number(cell) if isinstance(cell, str) else None
            if name and name != EPOCH_COLUMN and not name.startswith("val_") and value is not None:
                found.setdefault(name, {})[int(epoch)] = value
    return {name: values for name, values in found.items() if values}


def _number(text: str | None) -> float | None:
    """A cell's number (`nan` and `inf` too: a diverged loss is evidence); None for text."""
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
