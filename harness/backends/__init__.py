"""Ways to run a job against a platform root: a local subprocess or a container."""

from harness.backends.base import Backend, JobSpec, RunOutcome
from harness.backends.local import LocalBackend

__all__ = ["Backend", "JobSpec", "LocalBackend", "RunOutcome"]
