"""A user's own inputs - a data sample (`--data`) and a pretrained checkpoint (`--pretrained`) -
checked before anything is written, then copied into a platform root.

The platform mounts the data read-only at /data/data and would not mount what a
symbolic link points to outside it, so such links are refused. The user's files
are only ever read: the run works on copies, hashed before and after it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from harness.job import is_checkpoint

LARGE_SAMPLE_BYTES = 2 * 1024**3


@dataclasses.dataclass(frozen=True)
class DataSample:
    """A data folder that passed inspection: its files and total size."""

    path: Path
    files: int
    bytes: int

    def describe(self) -> str:
        return f"{self.path}: {self.files} files, {self.bytes / 1e6:.1f} MB"

    @property
    def large(self) -> bool:
        return self.bytes > LARGE_SAMPLE_BYTES

    def copy_to(self, data_dir: Path) -> None:
        """Copy the sample's contents into `data_dir` (links inside it stay links)."""
        shutil.copytree(self.path, data_dir, symlinks=True, dirs_exist_ok=True)


def inspect_data(path: Path) -> DataSample:
    """The sample at `path`, or ValueError naming what is wrong with it."""
    if not path.exists():
        raise ValueError(f"--data {path} does not exist")
    if not path.is_dir():
        raise ValueError(
            f"--data {path} is not a folder (the platform mounts a folder at /data/data)"
        )
    if not os.access(path, os.R_OK | os.X_OK):
        raise ValueError(f"--data {path} is not readable")
    root = path.resolve()
    files = size = 0
    for directory, subdirectories, names in os.walk(path):
        for name in [*subdirectories, *names]:
            item = Path(directory, name)
            if item.is_symlink():
                target = (item.parent / os.readlink(item)).resolve()
                if target != root and root not in target.parents:
                    raise ValueError(
                        f"--data {path}: {item.relative_to(path)} links to {target}, outside the "
                        "sample; the platform would not mount it (copy the file in instead)"
                    )
        for name in names:
            item = Path(directory, name)
            if not os.access(item, os.R_OK):
                raise ValueError(f"--data {path}: {item.relative_to(path)} is not readable")
            files += 1
            size += item.lstat().st_size
    if files == 0:
        raise ValueError(f"--data {path} holds no files")
    return DataSample(path, files, size)


@dataclasses.dataclass(frozen=True)
class PretrainedFile:
    """A checkpoint that `tf.train.load_checkpoint` reads: a V1 file or a V2 prefix."""

    prefix: Path
    files: tuple[Path, ...]
    variables: int

    def copy_to(self, target: Path) -> Path:
        """Copy its files so that `target` becomes the checkpoint's file (V1) or prefix (V2)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        for file in self.files:
            shutil.copy2(file, target.with_name(target.name + file.name[len(self.prefix.name) :]))
        return target


def inspect_pretrained(path: Path) -> PretrainedFile:
    """The checkpoint at `path` (a V1 file, a V2 prefix, or a folder holding one), or
    ValueError naming what is wrong with it."""
    import tensorflow as tf

    prefix = path
    if path.is_dir():
        prefix = _single_prefix_in(path)
    elif not path.exists() and not path.with_name(path.name + ".index").exists():
        raise ValueError(f"--pretrained {path} does not exist (neither a file nor a V2 prefix)")
    try:
        reader = tf.train.load_checkpoint(str(prefix))
    except (tf.errors.OpError, ValueError) as err:
        reason = " ".join(str(err).split())[:200]
        raise ValueError(
            f"--pretrained {path} is not a readable TensorFlow checkpoint: {reason}"
        ) from err
    files = sorted(
        p for p in prefix.parent.glob(prefix.name + "*") if p == prefix or _is_part_of(p, prefix)
    )
    return PretrainedFile(prefix, tuple(files), len(reader.get_variable_to_shape_map()))


def _is_part_of(path: Path, prefix: Path) -> bool:
    suffix = path.name[len(prefix.name) :]
    return suffix == ".index" or suffix.startswith(".data-")


def _single_prefix_in(folder: Path) -> Path:
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(folder))
    if latest:
        return Path(latest)
    prefixes = sorted(p.with_suffix("") for p in folder.glob("*.index"))
    if not prefixes:  # V1 single files: whatever the reader opens
        prefixes = [p for p in sorted(folder.iterdir()) if p.is_file() and is_checkpoint(p)]
    if len(prefixes) == 1:
        return prefixes[0]
    if not prefixes:
        raise ValueError(f"--pretrained {folder} is a folder without a checkpoint")
    raise ValueError(
        f"--pretrained {folder} holds {len(prefixes)} checkpoints; name one prefix "
        f"(e.g. {prefixes[-1]})"
    )
