"""`docker build` through the SDK.

A failing build step reads as one DockerError naming the step, with the build log's
last lines, rather than an SDK traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import docker

from harness.backends import daemon
from harness.backends.daemon import DAEMON_ERRORS, LABEL, DockerError, one_line

_BUILD_TAIL_LINES = 15


def build_image(
    context: Path,
    tag: str,
    buildargs: dict[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
    client: docker.DockerClient | None = None,
    network_mode: str | None = "none",
    dockerfile: str = "Dockerfile",
) -> str:
    """Build `context/<dockerfile>` as `tag`, streaming the log; returns the image id.

    `network_mode` is the RUN steps' network: "none" when everything is in the context,
    "host" to reach a wheelhouse served on this machine's loopback, None (the daemon's
    default network) to install from the index.
    """
    client = client or daemon.client()
    log: list[str] = []
    try:
        for chunk in client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            buildargs=buildargs or {},
            network_mode=network_mode,
            labels={LABEL: "1"},
            rm=True,
            forcerm=True,
            decode=True,
        ):
            for line in chunk.get("stream", "").splitlines():
                log.append(line)
                if on_line is not None:
                    on_line(line)
            if "error" in chunk:
                tail = "\n".join(log[-_BUILD_TAIL_LINES:])
                raise DockerError(
                    f"docker build of {tag} failed: {' '.join(chunk['error'].split())}"
                    f"\nlast build log lines:\n{tail}"
                )
        return client.images.get(tag).id
    except DAEMON_ERRORS as err:
        raise DockerError(f"docker build of {tag} failed: {one_line(err)}") from err
