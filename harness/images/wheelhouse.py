"""A wheelhouse of the training image's dependencies, so the image builds without an index.

`pip download` on the host (which reaches PyPI when `docker build --network none`
cannot) fetches every wheel requirements-<variant>.txt resolves to for the base image's
Python - CPython 3.11 on glibc 2.36, Debian bookworm's - plus pip itself, because the
offline base has no pip. A wheelhouse lives in <cache>/wheelhouse/<variant>-<key>, the key
covering the requirements and the target, and is reused without the network once its
manifest is complete; a new resolution reuses the wheels older ones already hold.

The build reaches it over loopback (`serve`, pip's `--find-links URL --no-index`) rather
than through the build context: a context would be copied into the daemon and then into
a layer, twice the wheelhouse (7 GB for gpu) on the disk at the build's peak.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from harness import resources
from harness.images.errors import ImageBuildError
from harness.images.locks import cache_lock
from harness.images.progress import Progress, run_streamed

TARGET_PYTHON = "3.11"
GLIBC_MAX_MINOR = 36
MANIFEST = ".manifest"
# Wheelhouses of older resolutions are deleted once unused for this long.
STALE_AFTER_S = 14 * 24 * 3600
# Loopback ports a wheelhouse is served on: one per wheelhouse, picked from its name.
SERVE_PORTS = range(41000, 49000)


def target_args() -> list[str]:
    """pip options that select wheels for the image's interpreter, not the host's."""
    abi = "cp" + TARGET_PYTHON.replace(".", "")
    args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", TARGET_PYTHON]
    args += ["--abi", abi]
    for minor in range(GLIBC_MAX_MINOR, 16, -1):
        args += ["--platform", f"manylinux_2_{minor}_x86_64"]
    return [*args, "--platform", "manylinux2014_x86_64"]


def wheelhouse_dir(variant: str) -> Path:
    """Where the wheelhouse for the current requirements of `variant` lives."""
    requirements = resources.build_file(resources.requirements_name(variant)).read_text()
    key = hashlib.sha256("\n".join([requirements, *target_args(), "pip"]).encode()).hexdigest()
    return resources.cache_dir() / "wheelhouse" / f"{variant}-{key[:16]}"


def is_complete(folder: Path) -> bool:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return False
    names = manifest.read_text().split()
    return bool(names) and all((folder / name).is_file() for name in names)


def wheels(folder: Path) -> list[Path]:
    """The wheels a complete wheelhouse lists."""
    return [folder / name for name in (folder / MANIFEST).read_text().split()]


def ensure_wheelhouse(variant: str, progress: Progress) -> Path:
    """A complete wheelhouse for `variant`, downloaded (with progress) when missing."""
    folder = wheelhouse_dir(variant)
    if is_complete(folder):
        os.utime(folder / MANIFEST)  # marks it in use for the stale clean-up
        return folder
    with cache_lock(f"{variant} wheelhouse", progress):
        if is_complete(folder):  # downloaded while this process waited
            return folder
        return _download(variant, folder, progress)


def _download(variant: str, folder: Path, progress: Progress) -> Path:
    pip = [sys.executable, "-m", "pip"]
    if subprocess.run([*pip, "--version"], capture_output=True).returncode != 0:
        raise ImageBuildError(
            f"the wheelhouse needs pip in {sys.executable}: run `{sys.executable} -m ensurepip`"
        )
    requirements = resources.build_file(resources.requirements_name(variant))
    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder, ignore_errors=True)  # what an interrupted run left
    older = [
        other for other in folder.parent.glob(f"{variant}-*") if other != folder and other.is_dir()
    ]
    progress.step(f"downloading the {variant} wheelhouse into {folder}")
    with tempfile.TemporaryDirectory(prefix=f".download-{variant}-", dir=folder.parent) as tmp:
        download = Path(tmp) / "wheels"
        reuse = [arg for other in older for arg in ("--find-links", str(other))]
        run_streamed(
            [*pip, "download", "--disable-pip-version-check", "--progress-bar", "off"]
            # The wheelhouse is the cache: pip's own would hold a second copy (3.5 GB for gpu).
            + ["--no-cache-dir"]
            + [*target_args(), *reuse, "--dest", download, "-r", requirements, "pip"],
            progress,
            f"pip download of {requirements.name}",
        )
        # The folder alone must satisfy the requirements, as the offline build will ask.
        run_streamed(
            [*pip, "install", "--disable-pip-version-check", "--dry-run", "--ignore-installed"]
            + ["--no-index", "--find-links", download, "--target", Path(tmp) / "dry-run"]
            + [*target_args(), "-r", requirements, "pip"],
            progress,
            f"offline check of the {variant} wheelhouse",
        )
        names = sorted(path.name for path in download.glob("*.whl"))
        (download / MANIFEST).write_text("".join(f"{name}\n" for name in names))
        try:
            download.rename(folder)
        except OSError:  # a concurrent run finished the same wheelhouse first
            if not is_complete(folder):
                raise
    _remove_stale(older)
    size = sum(path.stat().st_size for path in wheels(folder))
    progress.note(f"wheelhouse {folder}: {len(names)} wheels, {size / 1e9:.2f} GB")
    return folder


def _remove_stale(folders: list[Path]) -> None:
    now = time.time()
    for folder in folders:
        manifest = folder / MANIFEST
        used = manifest.stat().st_mtime if manifest.exists() else folder.stat().st_mtime
        if now - used > STALE_AFTER_S:
            shutil.rmtree(folder, ignore_errors=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Files and the folder listing (pip's --find-links page), without a log line per wheel."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve a complete wheelhouse on 127.0.0.1 while the block runs; yields its URL.

    The port follows from the folder's name, so the URL - a build argument, hence part
    of the build cache's key - is the same from build to build and a warm build stays
    warm; only a taken port moves it to the next one.
    """
    if not is_complete(folder):
        raise ImageBuildError(f"the wheelhouse {folder} is incomplete: download it again")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    first = int(hashlib.sha256(folder.name.encode()).hexdigest()[:8], 16) % len(SERVE_PORTS)
    for offset in range(len(SERVE_PORTS)):
        port = SERVE_PORTS[(first + offset) % len(SERVE_PORTS)]
        try:
            server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
            break
        except OSError:
            continue
    else:
        raise ImageBuildError(f"no free loopback port in {SERVE_PORTS} to serve {folder}")
    thread = threading.Thread(target=server.serve_forever, name="wheelhouse", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
