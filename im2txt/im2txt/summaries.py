"""TensorBoard scalars when TensorBoard is installed, and a one-line warning when not.

`pip install tensorflow` no longer brings TensorBoard (since 2.20), and
tf.summary.scalar then raises TBNotInstalledError because its implementation is
imported from `tensorboard.summary.v2` at each call. Training must not die of a
missing dashboard: without that module the writer says once what is missing and
what is still written, and records nothing itself.
"""

from __future__ import annotations

import sys

import tensorflow as tf


def _tensorboard_missing() -> str | None:
    """Why tf.summary cannot write scalars here (the import error), or None when it can."""
    try:
        import tensorboard.summary.v2  # noqa: F401  # What tf.summary.scalar imports.
    except ImportError as err:
        return str(err)
    return None


class ScalarWriter:
    """Scalars as TensorBoard events in `log_dir`, or nothing without TensorBoard."""

    def __init__(self, log_dir: str, still_written: str) -> None:
        """`still_written` names what the job records anyway, for the warning."""
        missing = _tensorboard_missing()
        self._writer = None if missing else tf.summary.create_file_writer(log_dir)
        if missing:
            print(
                f"warning: TensorBoard is not installed ({missing}), so no TensorBoard events "
                f"are written to {log_dir}; {still_written} still are. "
                "`pip install tensorboard` to get them",
                file=sys.stderr,
                flush=True,
            )

    def write(self, step: int, scalars: dict[str, float]) -> None:
        if self._writer is None:
            return
        with self._writer.as_default(step=step):
            for name, value in scalars.items():
                tf.summary.scalar(name, value)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
