"""Small jobs with one deliberate bug each, for the adversarial tests - fast, no training.

Each job is a plain Python `train.py` (no TensorFlow import: it starts in a tenth of
a second) built from a common prelude and a scenario body. It "trains" by printing
slim-shaped loss lines and "saves" by copying real TensorFlow checkpoints that the
test wrote beforehand into the code folder's `templates/` (one folder per template:
`ckpt.index` + `ckpt.data-00000-of-00001`), so the harness reads real files.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

PRELUDE = textwrap.dedent(
    """\
    import json, math, os, shutil, sys
    flags = {}
    for arg in sys.argv[1:]:
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            flags[key] = value
    print("argv:", " ".join(sys.argv[1:]), flush=True)
    steps = int(flags.get("number_of_steps", "3"))
    out = flags.get("output_dir", "/data/output")
    here = os.path.dirname(os.path.abspath(__file__))


    def save(template, where=None, prefix=None):
        log_dir = flags.get("log_dir", out + "/log")
        os.makedirs(log_dir, exist_ok=True)
        with open(os.path.join(log_dir, "progress.txt"), "a") as progress:
            progress.write(f"saved {template}\\n")
        where = where or out
        os.makedirs(where, exist_ok=True)
        source = os.path.join(here, "templates", template)
        for name in os.listdir(source):
            target = name.replace("ckpt", prefix or f"model.ckpt-{steps}", 1)
            shutil.copy(os.path.join(source, name), os.path.join(where, target))


    def saved_steps(where=None):
        where = where or out
        names = os.listdir(where) if os.path.isdir(where) else []
        found = [n for n in names if n.startswith("model.ckpt-") and n.endswith(".index")]
        return sorted(int(n[len("model.ckpt-") : -len(".index")]) for n in found)


    def falling(count, start=4.0, end=1.0):
        return [start + (end - start) * i / max(1, count - 1) for i in range(count)]


    def log(first, losses):
        for step, loss in enumerate(losses, start=first):
            print(f"global step {step}: loss = {loss:.4f} (0.01 sec/step)", flush=True)
    """
)


def write_job(code: Path, body: str, templates: dict[str, dict[str, np.ndarray]]) -> Path:
    """A code folder: train.py = PRELUDE + `body`, and the checkpoint templates."""
    import tensorflow as tf

    code.mkdir(parents=True, exist_ok=True)
    (code / "train.py").write_text(PRELUDE + "\n" + textwrap.dedent(body))
    for name, values in templates.items():
        folder = code / "templates" / name
        folder.mkdir(parents=True, exist_ok=True)
        names = sorted(values)
        tf.raw_ops.SaveV2(
            prefix=str(folder / "ckpt"),
            tensor_names=names,
            shape_and_slices=[""] * len(names),
            tensors=[tf.constant(values[n]) for n in names],
        )
    return code


def write_checkpoint(prefix: Path, values: dict[str, np.ndarray]) -> Path:
    """A V2 checkpoint at `prefix` (a user's pretrained file)."""
    import tensorflow as tf

    prefix.parent.mkdir(parents=True, exist_ok=True)
    names = sorted(values)
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(values[n]) for n in names],
    )
    return prefix


def weights(step: int, seed: int = 0, **arrays: np.ndarray) -> dict[str, np.ndarray]:
    """A checkpoint's values: a `global_step` and a weight, plus `arrays`."""
    rng = np.random.default_rng(seed)
    return {
        "global_step": np.int64(step),
        "head/w": rng.standard_normal([4, 4]).astype(np.float32),
        **arrays,
    }
