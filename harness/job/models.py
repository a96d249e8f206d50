"""Model files a job saves, read as variable name -> array without rebuilding the model.

Formats (`harness.jobshapes.MODEL_FORMATS`): TensorFlow checkpoints (V2 prefixes and
V1 files a `checkpoint` index lists, through `tf.train.load_checkpoint`), Keras HDF5
files (whole models and weights, Keras 2 and 3 layouts, through h5py), Keras 3
`.keras` archives (the `model.weights.h5` inside them) and SavedModel folders (their
`variables/` checkpoint). Names are shown without TensorFlow's object-graph suffix
(`/.ATTRIBUTES/VARIABLE_VALUE`); Keras files name each weight `<layer>/vars/<i>`, its
place in the layer (kernel 0, bias 1 for Dense), whichever format holds it.

A file's step is the global step (or optimizer iteration count) saved in it; only a
checkpoint without one takes the `-N` of a checkpoint-like name (`model.ckpt-200`).
Only a TensorFlow checkpoint that carries a step is one a job can resume from.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import os
import re
import stat
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from harness.jobshapes import STEP_SUFFIX, STEP_VARIABLES
from harness.untrusted import read_bounded, regular_files, walk

CHECKPOINT = "TF checkpoint"
KERAS_H5 = "Keras HDF5"
KERAS_ARCHIVE = "Keras archive"
SAVED_MODEL = "SavedModel"
KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")

_OBJECT_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
# Entries of object-based checkpoints that are bookkeeping, not model state.
_BOOKKEEPING = re.compile(r"^_CHECKPOINTABLE_OBJECT_GRAPH$|^save_counter(/|$)")
# Leftovers of interrupted saves (ours, tf.train.Saver's, CheckpointManager's).
_PARTIAL = re.compile(r"\.tmp-save-|_temp[/_]|\.tempstate|-tmp\d*$")


class ModelReadError(ValueError):
    """A file looked like a model but could not be read; the message names it."""


@dataclasses.dataclass(frozen=True)
class ModelFile:
    """One saved model: where (a prefix, a file or a folder), its format and its step."""

    path: Path
    kind: str = CHECKPOINT
    step: int | None = None

    @property
    def resumable(self) -> bool:
        """Whether a job can resume from it: a TensorFlow checkpoint carrying a step."""
        return self.kind == CHECKPOINT and self.step is not None

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Variable name -> shape, bookkeeping and optimizer state left out."""
        return {name: tuple(np.shape(v)) for name, v in self.values().items()}

    def values(self, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Numeric variable values by name (all of them, or `names`)."""
        found = _read(self.path, self.kind)
        if names is None:
            return dict(found)
        return {name: found[name] for name in names if name in found}


def read_model(path: Path) -> ModelFile:
    """`path` as a model file of whichever format it is; ModelReadError when none."""
    kind = _kind(path)
    if kind is None:
        raise ModelReadError(
            f"{path} is neither a TensorFlow checkpoint, a Keras .h5/.keras file nor a "
            "SavedModel folder"
        )
    return ModelFile(path, kind, _step(path, kind))


def _kind(path: Path) -> str | None:
    if path.is_dir():
        return SAVED_MODEL if _saved_model_variables(path) is not None else None
    if path.suffix.lower() == ".keras" and zipfile.is_zipfile(path):
        return KERAS_ARCHIVE
    if path.suffix.lower() in (".h5", ".hdf5") and _is_keras_h5(path):
        return KERAS_H5
    return CHECKPOINT if is_checkpoint(path) else None


def find_models(folder: Path, exclude: Iterable[Path] = ()) -> list[ModelFile]:
    """Every complete model file under `folder`, oldest step first (no step first).

    The folder is the job's, so it is walked untrusted (`harness.untrusted`): only
    regular files count, and a model with a link, pipe or device among its files (a
    checkpoint's data file linked to a host file) is not read at all.
    """
    if not folder.is_dir():
        return []
    skipped = {Path(p) for p in exclude}
    entries = dict(walk(folder))
    regular = {p for p, info in entries.items() if stat.S_ISREG(info.st_mode)}
    unsafe = [p for p in entries if p not in regular]
    saved_models = {p.parent for p in regular if p.name.startswith("saved_model.pb")}
    candidates: set[Path] = set(saved_models)
    for index in (p for p in regular if p.name.endswith(".index")):
        if not any(index.is_relative_to(saved) for saved in saved_models):
            candidates.add(index.with_suffix(""))
    for state in (p for p in regular if p.name == "checkpoint"):
        candidates.update(_listed_v1_files(state, regular))
    candidates.update(p for p in regular if p.name.endswith(KERAS_SUFFIXES))
    found = []
    for path in candidates:
        if (
            _PARTIAL.search(path.relative_to(folder).as_posix())
            or path in skipped
            or any(s in path.parents for s in skipped)
            or any(_part_of(u, path) for u in unsafe)
        ):
            continue
        kind = _kind(path)
        if kind is not None:
            found.append(ModelFile(path, kind, _step(path, kind)))
    return sorted(found, key=_age)


def _part_of(file: Path, model: Path) -> bool:
    """Whether `file` is one of a model's files: below its folder or beside its prefix."""
    same_prefix = file.parent == model.parent and file.name.startswith(model.name + ".")
    return file == model or same_prefix or model in file.parents


def _age(model: ModelFile) -> tuple:
    mtime = model.path.stat().st_mtime if model.path.exists() else 0.0
    return (model.step is not None, model.step or 0, mtime, str(model.path))


# --------------------------------------------------------------------------- readers


def _read(path: Path, kind: str) -> dict[str, np.ndarray]:
    stamp = _stamp(path, kind)
    return _read_cached(path, kind, stamp)


def _stamp(path: Path, kind: str) -> tuple:
    """What changes when the file is rewritten: re-read then, never otherwise."""
    files = [path] if path.is_file() else sorted(path.parent.glob(path.name + ".*"))
    if kind == SAVED_MODEL:
        files = list(regular_files(path))
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.exists())


@functools.lru_cache(maxsize=16)
def _read_cached(path: Path, kind: str, stamp: tuple) -> dict[str, np.ndarray]:
    del stamp  # part of the cache key only
    if kind == CHECKPOINT:
        return _checkpoint_values(path)
    if kind == SAVED_MODEL:
        return _checkpoint_values(_saved_model_variables(path))
    if kind == KERAS_ARCHIVE:
        with zipfile.ZipFile(path) as archive:
            inner = next((n for n in archive.namelist() if n.endswith(".weights.h5")), None)
            if inner is None:
                raise ModelReadError(f"{path}: a .keras archive without model.weights.h5")
            return _h5_values(io.BytesIO(archive.read(inner)), path)
    return _h5_values(path, path)


def _checkpoint_values(prefix: Path) -> dict[str, np.ndarray]:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    values = {}
    for key in sorted(reader.get_variable_to_shape_map()):
        if _BOOKKEEPING.search(key) or "/.OPTIMIZER_SLOT/" in key:
            continue
        value = np.asarray(reader.get_tensor(key))
        if value.dtype.kind in "biuf":
            values[key.removesuffix(_OBJECT_SUFFIX)] = value
    return values


def _is_keras_h5(path: Path) -> bool:
    """An HDF5 file laid out as Keras weights: a job's other HDF5 files (features, arrays
    written with h5py) are outputs like any other, not a saved model."""
    with open(path, "rb") as handle:
        if handle.read(8) != b"\x89HDF\r\n\x1a\n":
            return False
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return _keras_layout(handle) is not None
    except OSError:
        return False


def _keras_layout(handle) -> tuple[str, object] | None:
    """Which Keras layout an open HDF5 file holds, and the group its weights are read
    from: ("legacy", `model_weights` or the root) or ("keras3", the root); None if none."""
    weights = handle["model_weights"] if "model_weights" in handle else handle
    if "layer_names" in weights.attrs:
        return "legacy", weights
    if "layers" in handle or "vars" in handle:
        return "keras3", handle
    return None


def _h5_values(source, shown: Path) -> dict[str, np.ndarray]:
    """Keras weights from an HDF5 file: the Keras 2 / legacy layout (`layer_names` and
    `weight_names` attributes, under `model_weights` for a whole model) or Keras 3's
    (`layers/<layer>/vars/<i>`, named by each `vars` group's `name`)."""
    import h5py

    try:
        with h5py.File(source, "r") as handle:
            layout = _keras_layout(handle)
            if layout is not None:
                kind, weights = layout
                return _legacy_h5(weights) if kind == "legacy" else _keras3_h5(weights)
    except OSError as err:
        raise ModelReadError(f"{shown}: not a readable HDF5 file ({err})") from err
    raise ModelReadError(f"{shown}: an HDF5 file without Keras weights")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _legacy_h5(weights) -> dict[str, np.ndarray]:
    """Named like Keras 3's files, `<layer>/vars/<i>` in the layer's weight order, so a
    model saved as `.h5` compares with the same model saved as `.keras`."""
    values = {}
    for layer in weights.attrs["layer_names"]:
        layer = _text(layer)
        group = weights[layer]
        for index, name in enumerate(group.attrs.get("weight_names", [])):
            values[f"{layer}/vars/{index}"] = np.asarray(group[_text(name)])
    return values


def _keras3_h5(handle) -> dict[str, np.ndarray]:
    import h5py

    values: dict[str, np.ndarray] = {}

    def visit(group, names: tuple[str, ...]) -> None:
        for key, item in group.items():
            if key == "optimizer" and not names:
                continue
            if not isinstance(item, h5py.Group):
                continue
            if key == "vars":
                for index in sorted(item, key=int):
                    values["/".join([*names, "vars", index])] = np.asarray(item[index])
                continue
            named = _text(item["vars"].attrs.get("name", key)) if "vars" in item else key
            visit(item, names if key == "layers" else (*names, named))

    visit(handle, ())
    return values


def _saved_model_variables(folder: Path) -> Path | None:
    prefix = folder / "variables" / "variables"
    has_graph = (folder / "saved_model.pb").is_file() or (folder / "saved_model.pbtxt").is_file()
    return prefix if has_graph and prefix.with_suffix(".index").is_file() else None


def is_checkpoint(path: Path) -> bool:
    """Whether `tf.train.load_checkpoint` opens `path` (a V1 file or a V2 prefix)."""
    import tensorflow as tf

    try:
        tf.train.load_checkpoint(str(path))
    except (tf.errors.OpError, ValueError):
        return False
    return True


def _listed_v1_files(state: Path, regular: set[Path]) -> set[Path]:
    """Files a TF1 `checkpoint` index lists that are single V1 checkpoint files, among the
    `regular` files found under the folder: a listed path elsewhere (a host file) never is."""
    listed: set[Path] = set()
    try:
        text = read_bounded(state)[0].decode("utf-8", errors="replace")
    except OSError:  # unreadable (the job's own permissions): lists nothing
        return listed
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() not in ("model_checkpoint_path", "all_model_checkpoint_paths"):
            continue
        path = Path(os.path.normpath(state.parent / value.strip().strip('"')))
        if path not in regular:  # an absolute path from another machine: same name, this folder
            path = state.parent / path.name
        if path in regular and path.with_name(path.name + ".index") not in regular:
            listed.add(path)
    return listed


# ----------------------------------------------------------------------------- steps


def _step(path: Path, kind: str) -> int | None:
    """The saved global step (or optimizer iterations); else a checkpoint-like `-N`."""
    if kind in (CHECKPOINT, SAVED_MODEL):
        saved = _saved_step(_saved_model_variables(path) if kind == SAVED_MODEL else path)
        if saved is not None or kind == SAVED_MODEL:
            return saved
        match = STEP_SUFFIX.search(path.name)
        return int(match["step"]) if match else None
    return None


def _saved_step(prefix: Path) -> int | None:
    """The saved step counter (`STEP_VARIABLES`, shallowest key first), whatever the file
    is named: a CheckpointManager numbers its files by save, not by step."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    keys = sorted(reader.get_variable_to_shape_map(), key=lambda k: (k.count("/"), k))
    names = [v.name for v in STEP_VARIABLES]
    found = {}
    for key in keys:
        last = key.removesuffix(_OBJECT_SUFFIX).rsplit("/", 1)[-1]
        if last in names and "/.OPTIMIZER_SLOT/" not in key and last not in found:
            value = np.asarray(reader.get_tensor(key))
            if value.size == 1 and value.dtype.kind in "iuf" and math.isfinite(float(value)):
                found[last] = int(value)
    return next((found[n] for n in names if n in found), None)
