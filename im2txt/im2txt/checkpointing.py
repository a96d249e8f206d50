"""Name-keyed checkpoints that upstream TF1 im2txt tools can read and write.

TF2's object-based checkpoints key values by object paths, which TF1 tools
cannot read. The platform's users hold TF1 checkpoints (and the pretrained
Inception file is one), so this module saves and restores by the TF1 variable
names instead, through the raw SaveV2/RestoreV2 ops, and keeps the `checkpoint`
index file TF1 savers maintain. Saves are atomic: files are written under a
temporary prefix and renamed, and the index is replaced last, so a save cut
short by a kill or a full disk never makes the latest checkpoint unloadable.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from collections.abc import Iterable, Mapping

import tensorflow as tf

# Names earlier TF1 releases gave the LSTM variables, newest generation first.
LSTM_NAME_ALIASES: dict[str, tuple[str, ...]] = {
    "lstm/basic_lstm_cell/kernel": (
        "lstm/basic_lstm_cell/weights",
        "lstm/BasicLSTMCell/Linear/Matrix",
    ),
    "lstm/basic_lstm_cell/bias": ("lstm/basic_lstm_cell/biases", "lstm/BasicLSTMCell/Linear/Bias"),
}

# Upstream im2txt creates `tf.Variable(0, name="global_step")`, an int32, and a TF1
# Saver refuses any other dtype. The model counts in int64; checkpoints store this.
STORED_DTYPES: dict[str, tf.DType] = {"global_step": tf.int32}

STATE_FILE = "checkpoint"
_STEP_RE = re.compile(r"-(\d+)$")
_TEMP_MARK = ".tmp-save-"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not fit the model."""


def checkpoint_exists(prefix: str) -> bool:
    """Whether `prefix` names a V2 checkpoint (prefix.index) or a V1 single file."""
    return tf.io.gfile.exists(prefix + ".index") or (
        tf.io.gfile.exists(prefix) and not tf.io.gfile.isdir(prefix)
    )


def read_checkpoint(path: str) -> tf.train.CheckpointReader:
    """Open a V1 file or V2 prefix, turning TF's errors into one that names the file."""
    if not checkpoint_exists(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return tf.train.load_checkpoint(path)
    except (tf.errors.OpError, ValueError) as err:
        raise CheckpointError(f"checkpoint {path} is unreadable: {err}") from err


def _find_key(available: Mapping[str, list[int]], name: str) -> str | None:
    for candidate in (name, *LSTM_NAME_ALIASES.get(name, ())):
        if candidate in available:
            return candidate
    return None


def restore_variables(path: str, variables: Mapping[str, tf.Variable]) -> int:
    """Assign each variable the checkpoint value stored under its TF1 name.

    Every variable must be present (under its name or a historical LSTM alias)
    with the same shape; otherwise CheckpointError names the first offender and
    nothing is assigned. Extra entries in the checkpoint are ignored. Values are
    cast to the variable's dtype, so an int32 (upstream, ours) or int64 (TF1's
    `get_or_create_global_step`, our older saves) step both load. Returns how
    many variables were restored.
    """
    reader = read_checkpoint(path)
    shapes = reader.get_variable_to_shape_map()
    plan = []
    for name, variable in variables.items():
        key = _find_key(shapes, name)
        if key is None:
            raise CheckpointError(f"checkpoint {path} has no variable {name!r}")
        expected = variable.shape.as_list()
        if list(shapes[key]) != expected:
            raise CheckpointError(
                f"variable {name!r} has shape {list(shapes[key])} in checkpoint {path}, "
                f"but the model expects {expected}"
            )
        plan.append((variable, key))
    values = []
    for _, key in plan:  # Read everything first: a damaged file assigns nothing.
        try:
            values.append(reader.get_tensor(key))
        except (tf.errors.OpError, ValueError, IndexError) as err:  # IndexError: cut short
            raise CheckpointError(
                f"cannot read variable {key!r} from checkpoint {path}: {err}"
            ) from err
    for (variable, _), value in zip(plan, values, strict=True):
        variable.assign(tf.cast(value, variable.dtype))
    return len(plan)


def step_of(prefix: str) -> int:
    """The global step encoded in a `model.ckpt-<step>` prefix."""
    match = _STEP_RE.search(prefix)
    if not match:
        raise CheckpointError(f"checkpoint name {prefix!r} does not end in -<step>")
    return int(match.group(1))


def _atomic_write_text(path: str, text: str) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + _TEMP_MARK)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _parse_state(text: str) -> list[str]:
    """Checkpoint paths listed in a TF1 `checkpoint` text-proto, newest last."""
    latest, listed = None, []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        value = value.strip().strip('"')
        if key.strip() == "model_checkpoint_path":
            latest = value
        elif key.strip() == "all_model_checkpoint_paths":
            listed.append(value)
    if latest and latest not in listed:
        listed.append(latest)
    return listed


@dataclasses.dataclass
class CheckpointManager:
    """Keeps `<directory>/model.ckpt-<step>` checkpoints and the TF1 index file."""

    directory: str
    max_to_keep: int = 5
    basename: str = "model.ckpt"

    def _local(self, listed: str) -> str:
        """Map an index entry to this directory (the platform moves folders around)."""
        if os.path.isabs(listed) and checkpoint_exists(listed):
            return listed
        return os.path.join(self.directory, os.path.basename(listed))

    def checkpoints(self) -> list[str]:
        """Complete checkpoints of this directory, oldest first, by global step."""
        found = set()
        state = os.path.join(self.directory, STATE_FILE)
        if os.path.exists(state):
            with open(state) as handle:
                found.update(self._local(p) for p in _parse_state(handle.read()))
        for index in tf.io.gfile.glob(os.path.join(self.directory, self.basename + "-*.index")):
            found.add(index[: -len(".index")])
        complete = [p for p in found if _STEP_RE.search(p) and checkpoint_exists(p)]
        return sorted(complete, key=step_of)

    def latest(self) -> str | None:
        """The newest checkpoint that opens, skipping ones whose files are damaged."""
        for prefix in reversed(self.checkpoints()):
            try:
                read_checkpoint(prefix)
            except CheckpointError:
                continue
            return prefix
        return None

    def remove_partial_saves(self) -> None:
        """Delete leftovers of saves and prunes that were killed midway.

        Staging files never became a checkpoint; data shards without an index are
        a save killed between its renames or a prune killed after removing the
        index. Neither can ever load, and each may be as large as the model.
        """
        for leftover in tf.io.gfile.glob(os.path.join(self.directory, f"*{_TEMP_MARK}*")):
            tf.io.gfile.remove(leftover)
        pattern = os.path.join(self.directory, f"{self.basename}-*.data-*")
        for data in tf.io.gfile.glob(pattern):
            if not tf.io.gfile.exists(data.rsplit(".data-", 1)[0] + ".index"):
                tf.io.gfile.remove(data)

    def save(self, variables: Mapping[str, tf.Variable], step: int) -> str:
        """Write all variables as `model.ckpt-<step>`, then prune to `max_to_keep`."""
        os.makedirs(self.directory, exist_ok=True)
        prefix = os.path.join(self.directory, f"{self.basename}-{step}")
        staging = os.path.join(self.directory, f"{self.basename}-{step}{_TEMP_MARK}{os.getpid()}")
        names = sorted(variables)
        try:
            tf.raw_ops.SaveV2(
                prefix=staging,
                tensor_names=names,
                shape_and_slices=[""] * len(names),
                tensors=[_stored_value(n, variables[n]) for n in names],
            )
            # Data before index: a prefix counts as present only once its index exists.
            for suffix in _suffixes(staging, index_last=True):
                os.replace(staging + suffix, prefix + suffix)
        finally:
            for leftover in tf.io.gfile.glob(staging + "*"):
                tf.io.gfile.remove(leftover)
        kept = [p for p in self.checkpoints() if p != prefix][-(self.max_to_keep - 1) :]
        kept = kept if self.max_to_keep > 1 else []
        self._write_state(kept + [prefix])
        self._prune(keep=set(kept + [prefix]))
        return prefix

    def _write_state(self, prefixes: Iterable[str]) -> None:
        prefixes = list(prefixes)
        lines = [f'model_checkpoint_path: "{os.path.basename(prefixes[-1])}"']
        lines += [f'all_model_checkpoint_paths: "{os.path.basename(p)}"' for p in prefixes]
        _atomic_write_text(os.path.join(self.directory, STATE_FILE), "\n".join(lines) + "\n")

    def _prune(self, keep: set[str]) -> None:
        for prefix in self.checkpoints():
            if prefix in keep or not prefix.startswith(self.directory):
                continue
            for suffix in _suffixes(prefix, index_last=False):
                tf.io.gfile.remove(prefix + suffix)


def _stored_value(name: str, variable: tf.Variable) -> tf.Tensor:
    """The value as upstream stores it: its dtype where STORED_DTYPES says it differs."""
    value = tf.convert_to_tensor(variable)
    dtype = STORED_DTYPES.get(name, value.dtype)
    if dtype == value.dtype:
        return value
    if tf.reduce_any((value < dtype.min) | (value > dtype.max)):
        raise CheckpointError(
            f"variable {name!r} = {value.numpy()} does not fit {dtype.name}, the dtype "
            "upstream im2txt checkpoints store it in"
        )
    return tf.cast(value, dtype)


def _suffixes(prefix: str, index_last: bool) -> list[str]:
    """The files of a V2 checkpoint: data shards and index, plus a TF1 Saver's `.meta`."""
    data = sorted(path[len(prefix) :] for path in tf.io.gfile.glob(prefix + ".data-*"))
    data += [".meta"] if tf.io.gfile.exists(prefix + ".meta") else []
    return data + [".index"] if index_last else [".index"] + data
