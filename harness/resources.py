"""Where the harness finds what is not its own code: the repository files it needs (image
build files, the Inception manifest), the job's code path and its download cache.

The Dockerfiles and the image requirements live once, at the top of the repository, so
that `docker build -f Dockerfile.cpu .` works from a checkout; the manifest lives once, in
`fixtures/`. A wheel carries copies in `harness/_repository_files/` (setup.py's build_py
puts them there); a checkout or an editable install reads the originals.
"""

from __future__ import annotations

import os
from pathlib import Path

VARIANTS = ("cpu", "gpu")
PACKAGED_FILES = Path(__file__).resolve().parent / "_repository_files"
CHECKOUT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CODE_FOLDER = "im2txt"
MANIFEST_NAME = "inception_v3_2016_08_28.manifest.json"
# Repository files besides the build files that a wheel carries: name -> place in a checkout.
OTHER_FILES = {MANIFEST_NAME: f"fixtures/{MANIFEST_NAME}"}


def dockerfile_name(variant: str) -> str:
    return f"Dockerfile.{_checked(variant)}"


def requirements_name(variant: str) -> str:
    return f"requirements-{_checked(variant)}.txt"


def _checked(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"image variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    return variant


def build_files_dir() -> Path:
    """The folder holding Dockerfile.<variant> and requirements-<variant>.txt."""
    names = [name(v) for v in VARIANTS for name in (dockerfile_name, requirements_name)]
    for folder in (PACKAGED_FILES, CHECKOUT_ROOT):
        if all((folder / name).is_file() for name in names):
            return folder
    raise FileNotFoundError(
        f"the image build files ({', '.join(names)}) are neither packaged in "
        f"{PACKAGED_FILES} nor in a checkout at {CHECKOUT_ROOT}: reinstall uai-train-harness"
    )


def build_file(name: str) -> Path:
    return build_files_dir() / name


def repository_file(name: str) -> Path:
    """One of OTHER_FILES: the wheel's copy, else the checkout's original."""
    for candidate in (PACKAGED_FILES / name, CHECKOUT_ROOT / OTHER_FILES[name]):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{name} is neither packaged in {PACKAGED_FILES} nor in a checkout at "
        f"{CHECKOUT_ROOT / OTHER_FILES[name]}: reinstall uai-train-harness"
    )


def default_code_path(cwd: Path | None = None) -> Path:
    """`./im2txt` of the current folder: the code path the README's commands pack."""
    folder = (cwd or Path.cwd()) / DEFAULT_CODE_FOLDER
    if not folder.is_dir():
        raise ValueError(
            f"no code path given and {folder} is not a folder: pass --code-path "
            "(the folder the platform packs at /data, holding your main file)"
        )
    return folder


def cache_dir() -> Path:
    """${UAI_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/uai-harness}: base rootfs, wheelhouses."""
    if explicit := os.environ.get("UAI_CACHE_DIR"):
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "uai-harness"
