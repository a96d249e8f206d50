"""Local stand-ins for the images docs/ci.md's recipes name, and for the places they
install from, where the named images (Docker Hub, GitHub's runner) cannot be pulled.

- `python:3.11-bookworm` (the GitLab job's image) stands in as the offline base
  (Debian bookworm's own Python 3.11) + pip + git, with Debian's "externally managed"
  marker removed, since the official image's Python has none. The GitLab recipe's
  `before_script:` then runs on it as a build step (cached with its text).
- GitHub's `ubuntu-latest` + `actions/setup-python` (Python 3.11, pip, git, the docker
  CLI) stands in as the same image + this machine's docker CLI binary.
- The team's git server: a bare repository of this checkout's files, tagged with the ref
  the recipe pins, mounted read-only and named by a `file://` URL.
- PyPI: the harness's dependencies come from the test environment's site-packages
  (mounted, put on the path by a .pth file), and pip's build requirements (setuptools,
  wheel) from a folder downloaded once (`PIP_NO_INDEX`, `PIP_FIND_LINKS`).

Images are built through the daemon's layer cache and untagged without pruning, like
the job images: a warm session rebuilds them in seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from tests.support.gitrepo import git

# What the GitLab job's image has beside the base: pip and git. socat serves the dind
# service's stand-in (the recipe's tcp://docker:2375 forwarded to this machine's daemon).
COMMON_DOCKERFILE = """\
FROM {base}
RUN apt-get update -qq \\
 && apt-get install -y -qq --no-install-recommends git python3-pip socat \\
 && rm -rf /var/lib/apt/lists/* \\
 && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED
"""
BUILD_REQUIREMENTS = ("setuptools>=68", "wheel")


def build(client, context: Path, dockerfile: str, name: str) -> str:
    """Build `dockerfile` in `context` with the daemon's default network (the Debian
    mirror for apt); returns a session-unique tag."""
    from harness.images.build import build_image

    context.mkdir(parents=True, exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile)
    tag = f"uai-harness/ci-stand-in:{name}-{uuid.uuid4().hex[:10]}"
    build_image(context, tag, client=client, network_mode=None)
    return tag


def github_dockerfile(common: str) -> str:
    return f"FROM {common}\nCOPY docker /usr/bin/docker\n"


def gitlab_dockerfile(common: str, before_script: list[str]) -> str:
    lines = "\n".join(f"RUN {line}" for line in before_script)
    return f"FROM {common}\n{lines}\n"


def docker_cli(context: Path) -> None:
    """Copy this machine's docker client binary into the build context."""
    cli = shutil.which("docker")
    if cli is None:
        raise RuntimeError("no docker CLI on this machine to copy into the stand-in")
    context.mkdir(parents=True, exist_ok=True)
    shutil.copy2(Path(cli).resolve(), context / "docker")


def bare_repository(checkout: Path, ref: str, target: Path) -> Path:
    """A bare git repository of `checkout`'s tracked and untracked-but-not-ignored files,
    one commit tagged `ref`: the team's git server, as pip clones it."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "-co", "--exclude-standard"],
        cwd=checkout,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    source = target.parent / f"{target.name}-source"
    for name in filter(None, listed):
        path = checkout / name.decode()
        if path.is_file():
            (source / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, source / name.decode())
    git(source, "init", "-q")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "the harness")
    git(source, "tag", ref)
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(target)], check=True)
    shutil.rmtree(source)
    return target


def build_requirements(cache: Path) -> Path:
    """setuptools and wheel for pip's isolated build, downloaded once into `cache`."""
    done = cache / ".complete"
    if not done.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:"]
            + ["--dest", str(cache), *BUILD_REQUIREMENTS],
            check=True,
        )
        done.write_text("")
    return cache


def dependencies_view(site_packages: Path, target: Path) -> Path:
    """A folder of links to `site_packages`' entries but the harness's own install (an
    editable one pip would try to uninstall): its dependencies, for the stand-in's path."""
    target.mkdir(parents=True)
    for entry in site_packages.iterdir():
        name = entry.name.lower()
        if "uai_train_harness" in name or name.startswith("__editable__"):
            continue
        (target / entry.name).symlink_to(entry)
    return target
