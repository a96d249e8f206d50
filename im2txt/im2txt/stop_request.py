"""SIGTERM, the platform's stop, as a flag the trainer polls.

UAI-Train (like Kubernetes underneath it) sends SIGTERM and, after a grace period,
SIGKILL. Python's default would kill the job mid-step without a checkpoint, so the
handler only records the request and the trainer acts on it at safe points: before
training starts (nothing to save) and after each step (save, then exit 0). This
module imports no TensorFlow, so train.py can install the handler before the
seconds-long TensorFlow import.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType, TracebackType

_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


class StopRequest:
    """Context manager that turns SIGTERM into `requested` while it is active."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: _Handler = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def __enter__(self) -> StopRequest:
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # None: the previous handler was not installed from Python; the default is.
        signal.signal(signal.SIGTERM, signal.SIG_DFL if self._previous is None else self._previous)
