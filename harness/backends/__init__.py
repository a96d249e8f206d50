"""Ways to run a job against a platform root: a local subprocess or a container."""

from harness.backends.base import Backend, BackendError, PhaseCommand, RunOutcome
from harness.backends.local import LocalBackend

__all__ = ["Backend", "BackendError", "PhaseCommand", "LocalBackend", "RunOutcome"]
