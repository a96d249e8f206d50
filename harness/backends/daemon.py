"""The Docker daemon as the harness uses it: where it is, and containers that never leak.

Every container and network the harness creates carries labels naming the harness,
this session and a deadline. `managed_container` owns create, use and removal, so
a container is removed on every path - created but never started, a start that
fails (an image without /usr/bin/python), a timeout, a daemon error, Ctrl-C. What a
crashed harness left behind is removed at the next start once its deadline passed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import requests
import urllib3

from harness.backends.base import BackendError

# What the SDK raises when the daemon fails or vanishes (APIError is a RequestException too).
DAEMON_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)
LABEL = "uai-harness"
SESSION_LABEL = f"{LABEL}.session"
DEADLINE_LABEL = f"{LABEL}.deadline"
# Tests set this so that a session-level check can find everything a test session made.
SESSION_ENV = "UAI_HARNESS_SESSION"
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
START_HINT = "start one with `sudo bash .ci/docker-up.sh` (or `sudo dockerd &`), or set DOCKER_HOST"


class DockerError(BackendError):
    """The Docker daemon, image or container failed; the message says which."""


def one_line(err: BaseException) -> str:
    """An exception as one line (type and message), fit for a verdict or a CLI error."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def is_read_timeout(err: BaseException) -> bool:
    """Whether `wait(timeout=...)` expired: over a unix socket the SDK reports that as a
    ConnectionError wrapping urllib3's ReadTimeoutError, over TCP as ReadTimeout."""
    if isinstance(err, requests.exceptions.ReadTimeout):
        return True
    return isinstance(err, requests.exceptions.ConnectionError) and any(
        isinstance(arg, urllib3.exceptions.ReadTimeoutError) for arg in err.args
    )


def session_id() -> str:
    """This process's session id (from UAI_HARNESS_SESSION when set, else a fresh one)."""
    if not os.environ.get(SESSION_ENV):
        os.environ[SESSION_ENV] = uuid.uuid4().hex[:12]
    return os.environ[SESSION_ENV]


def labels(deadline_s: float, **extra: str) -> dict[str, str]:
    """Labels for a container or network that may live `deadline_s` seconds."""
    return {
        LABEL: "1",
        SESSION_LABEL: session_id(),
        DEADLINE_LABEL: str(int(time.time() + deadline_s)),
        **extra,
    }


# --------------------------------------------------------------------------- the daemon


def docker_config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker"))


def docker_host() -> tuple[str, dict | None]:
    """The daemon address the docker CLI would use - DOCKER_HOST, else the active docker
    context (DOCKER_CONTEXT or `currentContext` in config.json), else the default socket -
    and the context's TLS files, if any."""
    if host := os.environ.get("DOCKER_HOST"):
        return host, None
    config = docker_config_dir()
    context = os.environ.get("DOCKER_CONTEXT")
    if not context:
        try:
            context = json.loads((config / "config.json").read_text()).get("currentContext")
        except (OSError, ValueError):
            context = None
    if not context or context == "default":
        return DEFAULT_SOCKET, None
    digest = hashlib.sha256(context.encode()).hexdigest()
    try:
        meta = json.loads((config / "contexts" / "meta" / digest / "meta.json").read_text())
        endpoint = meta["Endpoints"]["docker"]
    except (OSError, ValueError, KeyError) as err:
        raise DockerError(f"docker context {context!r} cannot be read ({one_line(err)})") from err
    tls_dir = config / "contexts" / "tls" / digest / "docker"
    tls = None
    if (tls_dir / "cert.pem").exists():
        tls = {
            "client_cert": (str(tls_dir / "cert.pem"), str(tls_dir / "key.pem")),
            "ca_cert": str(tls_dir / "ca.pem") if (tls_dir / "ca.pem").exists() else None,
            "verify": not endpoint.get("SkipTLSVerify", False),
        }
    return endpoint["Host"], tls


def client(timeout: int = 120) -> docker.DockerClient:
    """A client of the daemon `docker_host()` names, proven to answer."""
    host, tls = docker_host()
    try:
        tls_config = docker.tls.TLSConfig(**tls) if tls else False
        made = docker.DockerClient(base_url=host, timeout=timeout, tls=tls_config)
        made.ping()
    except DAEMON_ERRORS as err:
        raise DockerError(
            f"no Docker daemon answers at {host} ({one_line(err)}); {START_HINT}"
        ) from err
    return made


# --------------------------------------------------------------------------- containers


@contextlib.contextmanager
def managed_container(
    api: docker.DockerClient, image: str, command, problems: list[str], **kwargs
) -> Iterator:
    """A container created for the `with` block and removed after it, whatever happens.

    The container gets a unique name, so that one the daemon made but whose creation
    call failed (a timeout) is still found and removed. Removal problems are appended
    to `problems`, never raised: they must not hide why a job failed.
    """
    name = f"{LABEL}-{session_id()}-{uuid.uuid4().hex[:8]}"
    created = None
    try:
        created = api.containers.create(image, command, name=name, **kwargs)
        yield created
    finally:
        if created is None:
            with contextlib.suppress(*DAEMON_ERRORS):
                created = api.containers.get(name)
        if created is not None and (problem := remove(created)):
            problems.append(problem)


def remove(container) -> str | None:
    """Force-remove a container; a failure is described, not raised."""
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        return None
    except DAEMON_ERRORS as err:
        return f"could not remove container {container.short_id}: {one_line(err)}"
    return None


def remove_stale(api: docker.DockerClient, now: float | None = None) -> list[str]:
    """Remove containers and networks of crashed harness runs: labelled by the harness,
    past their deadline. Returns what was removed (short ids and names)."""
    now = time.time() if now is None else now
    removed = []
    with contextlib.suppress(*DAEMON_ERRORS):
        for container in api.containers.list(all=True, filters={"label": LABEL}):
            if _expired(container.labels, now) and remove(container) is None:
                removed.append(container.short_id)
        for network in api.networks.list(filters={"label": LABEL}):
            if _expired(network.attrs.get("Labels") or {}, now):
                with contextlib.suppress(*DAEMON_ERRORS):
                    network.remove()
                    removed.append(network.name)
    return removed


def _expired(found: dict, now: float) -> bool:
    try:
        return float(found.get(DEADLINE_LABEL, "inf")) < now
    except ValueError:
        return False
