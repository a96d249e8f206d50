"""The one error image building raises for its own steps (debootstrap, pip, staging)."""

from __future__ import annotations

from harness.backends.base import BackendError


class ImageBuildError(BackendError):
    """An image or one of its inputs could not be made; the message names the step."""
