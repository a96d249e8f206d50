"""A wheelhouse of the training image's dependencies, so the image builds without an index.

`pip download` on the host (which reaches PyPI when `docker build --network none`
cannot) fetches every wheel requirements-<variant>.txt resolves to for the base image's
Python - CPython 3.11 on glibc 2.36, Debian bookworm's - plus pip itself, because the
offline base has no pip. A wheelhouse lives in <cache>/wheelhouse/<variant>-<key>, the key
covering the requirements and the target, and is reused without the network once its
manifest is complete; a new resolution reuses the wheels older ones already hold.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import resources
from harness.images.errors import ImageBuildError
from harness.images.progress import Progress, run_streamed

TARGET_PYTHON = "3.11"
GLIBC_MAX_MINOR = 36
MANIFEST = ".manifest"
# Wheelhouses of older resolutions are deleted once unused for this long.
STALE_AFTER_S = 14 * 24 * 3600


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


def stage(folder: Path, into: Path) -> int:
    """Put the wheelhouse's wheels into `into` (a build context's .wheelhouse/): hard
    links when on the same file system, copies otherwise. Returns the wheel count."""
    into.mkdir(parents=True, exist_ok=True)
    listed = wheels(folder)
    for old in into.glob("*.whl"):  # another resolution's wheels would mislead pip
        old.unlink()
    staged = 0
    for wheel in listed:
        target = into / wheel.name
        try:
            os.link(wheel, target)
        except OSError:
            shutil.copy2(wheel, target)
        staged += 1
    return staged
