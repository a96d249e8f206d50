"""A stand-in for the public `inception_v3.ckpt`: real names and shapes, random values.

The real 2016 checkpoint cannot be downloaded on test machines, yet a job must
restore it before training. This writes a file with the same 388 variable names and
shapes (from the manifest) in the same TF1 V1 single-file format, or in the V2
prefix format, with values scaled so activations through the 94 conv+BN+ReLU
layers stay finite and of order one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import tensorflow as tf

from harness import resources
from harness.resources import MANIFEST_NAME
from harness.untrusted import open_regular

CheckpointFormat = Literal["v1", "v2"]


def load_manifest(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Read the manifest: `path`, else the repository's fixture (or a wheel's copy of it)."""
    path = Path(path) if path is not None else resources.repository_file(MANIFEST_NAME)
    manifest = json.loads(path.read_text())
    if not isinstance(manifest.get("variables"), dict) or not manifest["variables"]:
        raise ValueError(f"manifest {path} has no 'variables' mapping")
    return manifest


# Share of the He-normal noise beside the identity ("Dirac") kernel of each conv.
NOISE_SCALE = 0.15


def variable_value(name: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A float32 value for one variable, from (seed, name) alone, so order never matters.

    Conv weights are a Dirac (identity) kernel - the centre tap maps input channel
    `c % in` to output channel `c` - plus He-normal noise scaled by NOISE_SCALE. A
    purely random deep net maps every image to nearly the same feature vector
    (cosine ~0.99 between unrelated scenes), which no captioner can learn from;
    the identity path carries colour and layout through all 94 layers, like real
    pretrained weights do (cosine ~0.7), while activations stay O(1). BatchNorm
    moving variances are ones; betas, moving means and biases are zeros.
    """
    leaf = name.rsplit("/", 1)[-1]
    if leaf == "weights":
        fan_in = int(np.prod(shape[:-1]))
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        weights = rng.standard_normal(shape, dtype=np.float32)
        weights *= np.float32(NOISE_SCALE * np.sqrt(2.0 / fan_in))
        if len(shape) == 4:
            height, width, depth_in, depth_out = shape
            outputs = np.arange(depth_out)
            weights[height // 2, width // 2, outputs % depth_in, outputs] += np.float32(1.0)
        return weights
    if leaf == "moving_variance":
        return np.ones(shape, dtype=np.float32)
    if leaf in ("beta", "moving_mean", "biases"):
        return np.zeros(shape, dtype=np.float32)
    raise ValueError(f"no value rule for variable {name!r}")


@dataclass(frozen=True)
class SyntheticCheckpoint:
    """Where the checkpoint went (V1: the file; V2: the prefix) and how it was made."""

    path: Path
    format: CheckpointFormat
    seed: int
    shapes: dict[str, tuple[int, ...]]

    def values(self) -> dict[str, np.ndarray]:
        """The written values, regenerated from the seed rather than held in memory."""
        return {name: variable_value(name, shape, self.seed) for name, shape in self.shapes.items()}


def write_inception_checkpoint(
    path: str | os.PathLike[str],
    *,
    fmt: CheckpointFormat = "v1",
    seed: int = 0,
    manifest_path: str | os.PathLike[str] | None = None,
) -> SyntheticCheckpoint:
    """Write the synthetic Inception v3 checkpoint at `path` (file for v1, prefix for v2)."""
    if fmt not in ("v1", "v2"):
        raise ValueError(f"checkpoint format must be 'v1' or 'v2', not {fmt!r}")
    if seed < 0:
        raise ValueError("seed must be non-negative")
    shapes = {
        name: tuple(int(d) for d in shape)
        for name, shape in sorted(load_manifest(manifest_path)["variables"].items())
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if manifest_path is None and _copy_cached(path, fmt, seed, shapes):
        return SyntheticCheckpoint(path=path, format=fmt, seed=seed, shapes=shapes)
    _write(path, fmt, seed, shapes)
    return SyntheticCheckpoint(path=path, format=fmt, seed=seed, shapes=shapes)


def _copy_cached(path: Path, fmt: str, seed: int, shapes: dict[str, tuple[int, ...]]) -> bool:
    """Copy the checkpoint from the cache, written there once per format, seed and shapes:
    writing it costs seconds of TF work in every validation, a copy a fraction of one.
    Copies, not links, while a job runs: one that rewrites its input must not reach the
    cache (`link_cached_copies` links them once it has ended). False when
    the cache cannot be used (the caller writes the file itself)."""
    # The values come from this module's code: a changed generator names a new entry.
    key = zlib.crc32(json.dumps(sorted(shapes.items())).encode() + Path(__file__).read_bytes())
    folder = _cache_root() / f"{fmt}-{seed}-{key:08x}"
    try:
        if not folder.is_dir():
            folder.parent.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
            _write(scratch / _CACHED, fmt, seed, shapes)
            for part in scratch.iterdir():  # read-only: a write through a link must fail
                part.chmod(0o444)
            try:
                scratch.rename(folder)  # atomic: a concurrent run sees all of it or none
            except OSError:  # another run cached it first
                shutil.rmtree(scratch, ignore_errors=True)
        for part in folder.iterdir():
            shutil.copyfile(part, path.with_name(path.name + part.name.removeprefix(_CACHED)))
    except OSError:
        return False
    return True


_CACHED = "inception_v3.ckpt"


def link_cached_copies(prefixes: Iterable[Path]) -> int:
    """Swap the parts of the checkpoint copied to each of `prefixes` (byte for byte as
    cached) for hard links to the cache: a finished run keeps the file at no cost on
    disk. Only once no job runs there: a job could write through a link. Looks at those
    names only, each read once at most (the job wrote these folders). Returns the bytes
    freed."""
    cached: dict[str, list[Path]] = {}
    for entry in _cache_root().glob("*-*"):
        with contextlib.suppress(OSError):  # another run may be filling or renaming it
            for part in entry.iterdir():
                cached.setdefault(part.name.removeprefix(_CACHED), []).append(part)
    freed = 0
    for prefix in prefixes:
        for suffix, parts in cached.items():
            copy = prefix.with_name(prefix.name + suffix)
            try:
                info = copy.lstat()
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
                continue
            same = next((part for part in parts if _same_bytes(copy, part, info.st_size)), None)
            if same is not None and _replace_by_link(copy, same):
                freed += info.st_blocks * 512
    return freed


def _same_bytes(copy: Path, cached: Path, size: int) -> bool:
    """Whether `copy` (read through a no-follow descriptor) holds `cached`'s bytes."""
    try:
        if cached.stat().st_size != size:
            return False
        with os.fdopen(open_regular(copy), "rb") as mine, open(cached, "rb") as theirs:
            while chunk := mine.read(1 << 20):
                if chunk != theirs.read(len(chunk)):
                    return False
            return not theirs.read(1)
    except OSError:
        return False


def _replace_by_link(path: Path, source: Path) -> bool:
    """`path` becomes a hard link to `source` in one rename; False (and `path` as it was)
    where the folder does not allow it (another file system, a name the job left)."""
    linking = path.with_name(f".{path.name}.{os.urandom(4).hex()}.linking")
    try:
        os.link(source, linking)
        os.replace(linking, path)
    except OSError:
        with contextlib.suppress(OSError):
            linking.unlink()
        return False
    return True


def _cache_root() -> Path:
    return resources.cache_dir() / "synthetic-inception"


def _write(path: Path, fmt: str, seed: int, shapes: dict[str, tuple[int, ...]]) -> None:
    names = list(shapes)
    tensors = [tf.constant(variable_value(n, shapes[n], seed)) for n in names]
    if fmt == "v1":
        tf.raw_ops.Save(filename=str(path), tensor_names=names, data=tensors)
    else:
        tf.raw_ops.SaveV2(
            prefix=str(path),
            tensor_names=names,
            shape_and_slices=[""] * len(names),
            tensors=tensors,
        )
