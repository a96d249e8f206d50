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
import stat
from pathlib import Path

from harness import snapshot
from harness.job import ModelReadError, is_checkpoint, read_model
from harness.job.models import CHECKPOINT

LARGE_SAMPLE_BYTES = 2 * 1024**3


@dataclasses.dataclass(frozen=True)
class DataSample:
    """A data folder that passed inspection: its files, total size and their hashes."""

    path: Path
    files: int
    bytes: int
    hashes: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)

    def describe(self) -> str:
        return f"{self.path}: {self.files} files, {self.bytes / 1e6:.1f} MB"

    @property
    def large(self) -> bool:
        return self.bytes > LARGE_SAMPLE_BYTES

    def copy_to(self, data_dir: Path) -> None:
        """Copy the sample's contents into `data_dir` (mounted read-only where the backend
        can). Links stay links, each made relative inside the copy: an absolute one
        would point back at the user's own file, which a job could change through it."""
        shutil.copytree(self.path, data_dir, symlinks=True, dirs_exist_ok=True)
        source = self.path.resolve()
        for link in [p for p in data_dir.rglob("*") if p.is_symlink()]:
            original = self.path / link.relative_to(data_dir)
            target = (original.parent / os.readlink(original)).resolve()
            copy = data_dir / target.relative_to(source)
            link.unlink()
            link.symlink_to(os.path.relpath(copy, link.parent))

    def changed(self) -> list[str]:
        """Files of the user's own sample whose bytes differ from when it was inspected."""
        now = snapshot.hash_tree(self.path)
        return sorted(p for p in set(now) | set(self.hashes) if now.get(p) != self.hashes.get(p))


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
            kind = _special_kind(item)
            if kind:
                raise ValueError(
                    f"--data {path}: {item.relative_to(path)} is a {kind}, not a file or folder "
                    "(the platform uploads files; leave it out of the sample)"
                )
            if not os.access(item, os.R_OK):
                raise ValueError(f"--data {path}: {item.relative_to(path)} is not readable")
            files += 1
            size += item.lstat().st_size
    if files == 0:
        raise ValueError(f"--data {path} holds no files")
    return DataSample(path, files, size, snapshot.hash_tree(path))


def _special_kind(item: Path) -> str | None:
    """What `item` is when it is neither a file, a folder nor a link (a FIFO, a socket, a
    device: reading one blocks or never ends), else None."""
    mode = item.lstat().st_mode
    kinds = {
        stat.S_ISFIFO: "named pipe",
        stat.S_ISSOCK: "socket",
        stat.S_ISCHR: "character device",
        stat.S_ISBLK: "block device",
    }
    return next((kind for test, kind in kinds.items() if test(mode)), None)


@dataclasses.dataclass(frozen=True)
class PretrainedFile:
    """A pretrained model the harness can read: a TensorFlow checkpoint (V1 file or V2
    prefix), a Keras `.h5`/`.keras` file or a SavedModel folder."""

    path: Path
    files: tuple[Path, ...]
    variables: int
    kind: str = CHECKPOINT
    hashes: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)

    def changed(self) -> list[str]:
        """Its files whose bytes differ from when it was inspected."""
        now = _hash_files(self.files)
        return sorted(p for p in set(now) | set(self.hashes) if now.get(p) != self.hashes.get(p))

    def copy_to(self, target: Path) -> Path:
        """Copy it so that `target` becomes the checkpoint's file or prefix (or the folder)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_dir():
            shutil.copytree(self.path, target, dirs_exist_ok=True)
            return target
        for file in self.files:
            shutil.copy2(file, target.with_name(target.name + file.name[len(self.path.name) :]))
        return target


def inspect_pretrained(path: Path) -> PretrainedFile:
    """The model at `path` (a checkpoint file or V2 prefix, a folder holding one, a Keras
    file or a SavedModel folder), or ValueError naming what is wrong with it."""
    if not path.exists() and not path.with_name(path.name + ".index").exists():
        raise ValueError(f"--pretrained {path} does not exist (neither a file nor a V2 prefix)")
    prefix = path
    if path.is_dir() and not (path / "saved_model.pb").is_file():
        prefix = _single_prefix_in(path)
    try:
        model = read_model(prefix)
        variables = len(model.values())
    except (ModelReadError, ValueError, OSError) as err:
        reason = " ".join(str(err).split())[:200]
        raise ValueError(
            f"--pretrained {path} is not a readable TensorFlow checkpoint or Keras model: {reason}"
        ) from err
    if prefix.is_dir():
        files: tuple[Path, ...] = (prefix,)
    else:
        files = tuple(
            sorted(
                p
                for p in prefix.parent.glob(prefix.name + "*")
                if p == prefix or _is_part_of(p, prefix)
            )
        )
    return PretrainedFile(prefix, files, variables, model.kind, _hash_files(files))


def _hash_files(files: tuple[Path, ...]) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for file in files:
        if file.is_dir():
            hashes.update({f"{file}/{k}": v for k, v in snapshot.hash_tree(file).items()})
        elif file.exists():
            hashes[str(file)] = snapshot.sha256_file(file)
    return hashes


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
