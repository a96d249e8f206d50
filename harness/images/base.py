"""The base image of the training images: pulled when a registry answers, else built here.

Online, the Dockerfiles start from python:3.11-slim-bookworm. Without a registry the
same Debian bookworm with its Python 3.11 is made locally: `debootstrap --variant=minbase`
from the apt mirror this machine already uses, trimmed, tarred, and `docker import`ed as
uai-harness/base:bookworm-py311. The rootfs tarball is cached, so a fresh daemon only
imports it again; the image carries a label with the recipe's key, so a changed recipe
is rebuilt rather than reused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import docker

from harness import resources
from harness.backends.daemon import DAEMON_ERRORS, DockerError, one_line
from harness.images.errors import ImageBuildError
from harness.images.locks import cache_lock
from harness.images.progress import Progress, run_streamed

PUBLIC_BASE = "python:3.11-slim-bookworm"
OFFLINE_BASE = "uai-harness/base:bookworm-py311"
SUITE = "bookworm"
PYTHON_VERSION = "3.11"
# python-is-python3: /usr/bin/python, which the platform calls; libgomp1: the OpenMP
# runtime some wheels expect from the system; ca-certificates: HTTPS from the job.
PACKAGES = ("python3", "python-is-python3", "ca-certificates", "libgomp1")
RECIPE_VERSION = 1
RECIPE_LABEL = "uai-harness.base-recipe"
FALLBACK_MIRROR = "http://deb.debian.org/debian"
# Kept out of the rootfs, like the official Debian images do.
_DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""


@dataclasses.dataclass(frozen=True)
class BaseImage:
    """The base an image builds on, and whether it is the local offline one."""

    name: str
    offline: bool
    how: str

    def describe(self) -> str:
        kind = "offline base" if self.offline else "base"
        return f"{kind} {self.name} ({self.how})"


def recipe_key() -> str:
    """Names the rootfs tarball and labels the image; changes with the recipe."""
    recipe = "\n".join([str(RECIPE_VERSION), SUITE, ",".join(PACKAGES)]) + "\n"
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def rootfs_tarball() -> Path:
    return resources.cache_dir() / "rootfs" / f"{SUITE}-py311-{recipe_key()}.tar"


def ensure_base_image(
    client: docker.DockerClient, progress: Progress, offline: bool = False
) -> BaseImage:
    """python:3.11-slim-bookworm when present or pullable (unless `offline`), else the
    offline base, imported from the cached rootfs or built with debootstrap first."""
    if not offline and _present(client, PUBLIC_BASE):
        return BaseImage(PUBLIC_BASE, offline=False, how="already present")
    if _offline_base_is_current(client):
        return BaseImage(OFFLINE_BASE, offline=True, how="already present")
    with cache_lock("base image", progress):
        if _offline_base_is_current(client):  # made while this process waited
            return BaseImage(OFFLINE_BASE, offline=True, how="made by another harness process")
        return _make_base_image(client, progress, offline)


def _make_base_image(client: docker.DockerClient, progress: Progress, offline: bool) -> BaseImage:
    if not offline:
        progress.step(f"pulling {PUBLIC_BASE}")
        try:
            _pull(client, PUBLIC_BASE, progress)
            return BaseImage(PUBLIC_BASE, offline=False, how="pulled")
        except DAEMON_ERRORS as err:
            progress.note(f"cannot pull {PUBLIC_BASE} ({one_line(err)}): building {OFFLINE_BASE}")
    tarball = rootfs_tarball()
    how = "imported from the cached rootfs"
    if not tarball.is_file():
        build_rootfs(tarball, progress)
        how = "built with debootstrap"
    import_rootfs(client, tarball, progress)
    return BaseImage(OFFLINE_BASE, offline=True, how=how)


def _pull(client: docker.DockerClient, name: str, progress: Progress) -> None:
    repository, tag = name.rsplit(":", 1)
    for event in client.api.pull(repository, tag=tag, stream=True, decode=True):
        if "error" in event:
            raise docker.errors.APIError(event["error"])
        progress.line(" ".join(str(event.get(k, "")) for k in ("id", "status", "progress")))


def _present(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    except DAEMON_ERRORS as err:
        raise DockerError(f"cannot inspect image {name}: {one_line(err)}") from err
    return True


def _offline_base_is_current(client: docker.DockerClient) -> bool:
    if not _present(client, OFFLINE_BASE):
        return False
    labels = client.images.get(OFFLINE_BASE).labels or {}
    return labels.get(RECIPE_LABEL) == recipe_key()


def debian_mirror(apt: Path = Path("/etc/apt")) -> str:
    """$DEBIAN_MIRROR, else the first apt source of bookworm main on this machine."""
    if explicit := os.environ.get("DEBIAN_MIRROR"):
        return explicit
    for sources in sorted(apt.glob("sources.list.d/*.sources")):
        for stanza in sources.read_text(errors="replace").split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                key, colon, value = line.partition(":")
                if colon and not line.lstrip().startswith("#"):
                    fields[key.strip().lower()] = value.split()
            if (
                "deb" in fields.get("types", [])
                and SUITE in fields.get("suites", [])
                and "main" in fields.get("components", [])
                and fields.get("uris")
            ):
                return fields["uris"][0]
    for listing in [apt / "sources.list", *sorted(apt.glob("sources.list.d/*.list"))]:
        if not listing.is_file():
            continue
        for line in listing.read_text(errors="replace").splitlines():
            words = line.split("#", 1)[0].split()
            if words[:1] != ["deb"]:
                continue
            words = words[1:]
            if words and words[0].startswith("["):  # [arch=amd64 signed-by=...]
                while words and not words[0].endswith("]"):
                    words = words[1:]
                words = words[1:]
            if len(words) >= 2 and words[1] == SUITE:
                return words[0]
    return FALLBACK_MIRROR


def build_rootfs(tarball: Path, progress: Progress) -> None:
    """debootstrap a minimal bookworm with Python into `tarball` (needs root)."""
    if os.geteuid() != 0:
        raise ImageBuildError(
            f"no registry answers, and building the offline base {OFFLINE_BASE} needs root "
            "(debootstrap): run this command once as root, or make "
            f"{PUBLIC_BASE} available to the daemon (docker pull, or docker load)"
        )
    if shutil.which("debootstrap") is None:
        _install_debootstrap(progress)
    tarball.parent.mkdir(parents=True, exist_ok=True)
    mirror = debian_mirror()
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=tarball.parent))
    target = work / "rootfs"
    try:
        progress.step(f"debootstrap {SUITE} (minbase + {', '.join(PACKAGES)}) from {mirror}")
        run_streamed(
            ["debootstrap", "--variant=minbase", "--components=main"]
            + [f"--include={','.join(PACKAGES)}", SUITE, target, mirror],
            progress,
            f"debootstrap from {mirror} (set DEBIAN_MIRROR to use another mirror)",
        )
        _trim(target)
        progress.step(f"packing the rootfs into {tarball.name}")
        partial = work / "rootfs.tar"
        run_streamed(["tar", "--numeric-owner", "-C", target, "-cf", partial, "."], progress, "tar")
        partial.rename(tarball)
    finally:
        _unmount_below(target)
        shutil.rmtree(work, ignore_errors=True)
    for older in tarball.parent.glob(f"{SUITE}-py311-*.tar"):
        if older != tarball:
            older.unlink(missing_ok=True)


def _install_debootstrap(progress: Progress) -> None:
    if shutil.which("apt-get") is None:
        raise ImageBuildError("debootstrap is missing and there is no apt-get to install it")
    progress.step("installing debootstrap with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "debootstrap"],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise ImageBuildError(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")


def _trim(root: Path) -> None:
    """Leave out caches, docs and logs, and what Docker provides at run time."""
    python = root / "usr/bin/python"
    if not python.exists():
        python.symlink_to("python3")
    (root / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/dpkg/dpkg.cfg.d/uai-minimal").write_text(_DPKG_EXCLUDES)
    (root / "etc/apt/apt.conf.d/90uai-no-recommends").write_text(
        'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
    )
    for pattern in (
        "var/cache/apt/*.bin",
        "var/cache/apt/archives/*.deb",
        "var/cache/apt/archives/partial/*",
        "var/lib/apt/lists/*",
        "var/cache/debconf/*-old",
        "var/lib/dpkg/*-old",
        "usr/share/man/*",
        "usr/share/info/*",
        "tmp/*",
        "debootstrap",
    ):
        for path in root.glob(pattern):
            _remove(path)
    for path in sorted((root / "usr/share/doc").rglob("*"), reverse=True):
        if path.is_dir() and not path.is_symlink():
            if not any(path.iterdir()):
                path.rmdir()
        elif path.name != "copyright":
            path.unlink()
    for path in (root / "usr/share/locale").glob("*"):
        if path.name != "locale.alias":
            _remove(path)
    for log in (root / "var/log").rglob("*"):
        if log.is_file() and not log.is_symlink():
            log.write_bytes(b"")
    for provided in ("etc/resolv.conf", "etc/hostname"):
        (root / provided).unlink(missing_ok=True)
    (root / "etc/hosts").write_text("")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _unmount_below(target: Path) -> None:
    """Unmount what a failed debootstrap left mounted inside the target, deepest first."""
    try:
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return
    for point in sorted((m for m in mounts if m.startswith(f"{target}/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def import_rootfs(client: docker.DockerClient, tarball: Path, progress: Progress) -> None:
    """`docker import` the rootfs as the offline base and check its /usr/bin/python."""
    progress.step(f"importing {tarball.name} as {OFFLINE_BASE}")
    repository, tag = OFFLINE_BASE.rsplit(":", 1)
    changes = [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        'CMD ["/bin/bash"]',
        f"LABEL {RECIPE_LABEL}={recipe_key()}",
    ]
    try:
        client.api.import_image_from_file(
            str(tarball), repository=repository, tag=tag, changes=changes
        )
        version = client.containers.run(
            OFFLINE_BASE,
            ["/usr/bin/python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            remove=True,
            network_mode="none",
        )
    except DAEMON_ERRORS as err:
        raise DockerError(f"cannot import {tarball} as {OFFLINE_BASE}: {one_line(err)}") from err
    if version.decode().strip() != PYTHON_VERSION:
        raise ImageBuildError(
            f"{OFFLINE_BASE} has Python {version.decode().strip()}, not {PYTHON_VERSION}: "
            "the wheelhouse would not fit it"
        )
