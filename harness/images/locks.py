"""One harness process at a time makes a given cached thing (a base image, a wheelhouse);
the others wait for it and then find it made. CI starts the downloads early, in the
background, and the container tests that need them simply wait."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator

from harness import resources
from harness.images.progress import Progress


@contextlib.contextmanager
def cache_lock(name: str, progress: Progress) -> Iterator[None]:
    """Hold the cache's lock `name` (a file under <cache>/locks) while the block runs."""
    folder = resources.cache_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress.note(f"waiting for another harness process making the {name}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
