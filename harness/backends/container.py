"""Run the job inside its image, mounted and launched exactly as the platform does.

`docker run -v <data>:/data/data -v <output>:/data/output IMAGE /bin/bash -c
"cd /data && /usr/bin/python /data/train.py <params> --work_dir=/data ..."`,
plus what a careful platform adds: no network, data read-only, no privileges,
only the harness's own environment variables. The container is always removed;
`docker diff` tells what it wrote outside /data/output; files it wrote as root
are handed back to the invoking user. A daemon that fails mid-run ends the
phase with a message naming the failure instead of an exception.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import threading
import time
from pathlib import Path
from typing import IO

import docker
import requests
import urllib3

from harness.backends.base import Backend, BackendError, JobSpec, LogSink, RunOutcome
from harness.contract import (
    CONTAINER_OUTPUT_DIR,
    CONTAINER_PATHS,
    CONTAINER_WORK_DIR,
    PlatformPaths,
    PlatformRoot,
    container_shell_command,
)

# What the SDK raises when the daemon fails or vanishes (APIError is a RequestException too).
DAEMON_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)
# The whole environment a job container gets besides the image's own ENV: nothing of the host's.
HARNESS_ENV = {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "TF_CPP_MIN_LOG_LEVEL": "1"}
LABEL = "uai-harness"
_PROBE_TIMEOUT_S = 300
_KILLED_WAIT_S = 60
_LOG_DRAIN_S = 10
# Paths a Python job may touch without breaking the contract (byte-code caches).
_IGNORED_DIFF = ("__pycache__", ".pyc", "/tmp", "/root/.cache", "/root/.keras")
_ENVIRONMENT_PROBE = (
    "import json, platform, importlib.metadata as m\n"
    "info = {'python': platform.python_version(), 'platform': platform.platform()}\n"
    "try:\n"
    "    import tensorflow as tf\n"
    "    info['tensorflow'] = tf.__version__\n"
    "    info.update({k: v for k, v in tf.sysconfig.get_build_info().items()"
    " if 'cuda' in k or 'cudnn' in k})\n"
    "except Exception as err:\n"
    "    info['tensorflow_error'] = repr(err)\n"
    "info['pip_freeze'] = sorted(\n"
    "    {f\"{d.metadata['Name']}=={d.version}\" for d in m.distributions()})\n"
    "print(json.dumps(info))\n"
)


class DockerError(BackendError):
    """The Docker daemon, image or container failed; the message says which."""


def one_line(err: BaseException) -> str:
    """An exception as one line (type and message), fit for a verdict or a CLI error."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _is_read_timeout(err: BaseException) -> bool:
    """Whether `wait(timeout=...)` expired: over a unix socket the SDK reports that as a
    ConnectionError wrapping urllib3's ReadTimeoutError, over TCP as ReadTimeout."""
    if isinstance(err, requests.exceptions.ReadTimeout):
        return True
    return isinstance(err, requests.exceptions.ConnectionError) and any(
        isinstance(arg, urllib3.exceptions.ReadTimeoutError) for arg in err.args
    )


def _client() -> docker.DockerClient:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DAEMON_ERRORS as err:
        raise DockerError(
            f"no Docker daemon answers at {host} ({one_line(err)}); "
            "start dockerd or set DOCKER_HOST"
        ) from err
    return client


class DockerBackend(Backend):
    """Runs phases as containers of `image`; the code lives in the image at /data."""

    name = "docker"

    def __init__(
        self, image: str, gpu: bool = False, client: docker.DockerClient | None = None
    ) -> None:
        self.client = client or _client()
        self.gpu = gpu
        try:
            self.image = self.client.images.get(image)
        except docker.errors.ImageNotFound as err:
            raise DockerError(
                f"image {image!r} is not available to the local Docker daemon: "
                "build it (uai-harness pack) or pull it first"
            ) from err
        except DAEMON_ERRORS as err:
            raise DockerError(f"cannot inspect image {image!r}: {one_line(err)}") from err
        self.image_name = image
        self._mounts: dict[str, dict] = {}
        self._labels = {LABEL: "1"}

    @classmethod
    def for_args(cls, args) -> DockerBackend:
        if not args.image:
            raise DockerError("--backend docker needs --image (build one with `uai-harness pack`)")
        return cls(args.image, gpu=args.gpu)

    def image_info(self) -> dict:
        return {
            "name": self.image_name,
            "id": self.image.id,
            "tags": self.image.tags,
            "digests": self.image.attrs.get("RepoDigests", []),
        }

    def paths(self, root: PlatformRoot) -> PlatformPaths:
        return CONTAINER_PATHS

    def prepare(self, root: PlatformRoot) -> None:
        """The code is in the image; only data and output are mounted. Containers are
        labelled with the root, so concurrent runs can tell theirs apart."""
        self._mounts = {
            str(root.data_dir): {"bind": CONTAINER_PATHS.data_dir, "mode": "ro"},
            str(root.output_dir): {"bind": CONTAINER_OUTPUT_DIR, "mode": "rw"},
        }
        self._labels = {LABEL: "1", f"{LABEL}.root": str(root.root)}

    def _hardened(self) -> dict:
        """Settings every container of the harness gets: no network, no privileges,
        and the GPUs (the platform's `--gpus`) when this backend runs GPU jobs."""
        gpus = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])] if self.gpu else []
        return {
            "network_mode": "none",
            "privileged": False,
            "security_opt": ["no-new-privileges"],
            "labels": dict(self._labels),
            "device_requests": gpus,
        }

    def image_file(self, path: str) -> bytes | None:
        """A file's bytes from inside the image, or None when it is not there."""
        try:
            container = self.client.containers.create(
                self.image.id, command=["true"], **self._hardened()
            )
        except DAEMON_ERRORS as err:
            raise DockerError(
                f"cannot create a container of {self.image_name}: {one_line(err)}"
            ) from err
        try:
            stream, _ = container.get_archive(path)
            archive = tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
            handle = archive.extractfile(archive.getmembers()[0])
            return handle.read() if handle else None
        except docker.errors.NotFound:
            return None
        except (*DAEMON_ERRORS, tarfile.TarError) as err:
            raise DockerError(
                f"cannot read {path} from {self.image_name}: {one_line(err)}"
            ) from err
        finally:
            _remove(container)

    def pretrained_checkpoint(self, root: PlatformRoot, relative: str) -> Path | None:
        """Use the image's own checkpoint when it has one; else mount the synthetic one."""
        inside = f"{CONTAINER_WORK_DIR}/{relative.lstrip('/')}"
        content = self.image_file(inside)
        if content is not None:
            copy = root.root / "image-checkpoint" / Path(inside).name
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(content)
            return copy
        host = root.work_dir / relative.lstrip("/")
        for part in sorted(host.parent.glob(host.name + "*")):
            self._mounts[str(part)] = {"bind": f"{CONTAINER_WORK_DIR}/{part.name}", "mode": "ro"}
        return host if host.exists() else None

    def probe(self, command: list[str]) -> tuple[int, str]:
        """Run a short command in a fresh container of the image: (exit code, output).

        A daemon failure comes back as exit code -1 with a last line naming it, which
        the image check shows as its verdict.
        """
        container = None
        try:
            container = self.client.containers.create(self.image.id, command, **self._hardened())
            container.start()
            code = int(container.wait(timeout=_PROBE_TIMEOUT_S)["StatusCode"])
            return code, container.logs().decode(errors="replace")
        except DAEMON_ERRORS as err:
            if _is_read_timeout(err):
                return -1, f"image probe timed out after {_PROBE_TIMEOUT_S} s"
            return -1, f"image probe failed: the Docker daemon failed: {one_line(err)}"
        finally:
            if container is not None:
                _remove(container)

    def environment(self) -> dict:
        """The image's versions and `pip freeze`; a failed probe is recorded, not raised."""
        try:
            output = self.client.containers.run(
                self.image.id,
                ["/usr/bin/python", "-c", _ENVIRONMENT_PROBE],
                remove=True,
                stdout=True,
                stderr=False,
                **self._hardened(),
            )
            lines = output.decode(errors="replace").strip().splitlines()
            environment = json.loads(lines[-1]) if lines else {"error": "the probe printed nothing"}
        except (*DAEMON_ERRORS, ValueError) as err:
            environment = {"error": f"environment probe failed: {one_line(err)}"}
        environment["image"] = self.image_info()
        return environment

    def run(
        self, job: JobSpec, root: PlatformRoot, log_path: Path, on_line: LogSink | None = None
    ) -> RunOutcome:
        shell = container_shell_command(
            job.mainfile,
            list(job.train_params),
            job.num_gpus,
            append_platform_flags=job.append_platform_flags,
        )
        command = ["/bin/bash", "-c", shell]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        exit_code, timed_out, error, outside = -1, False, None, []
        container = pump = None
        with open(log_path, "w") as log:
            try:
                container = self.client.containers.create(
                    self.image.id,
                    command,
                    volumes=self._mounts,
                    environment={**HARNESS_ENV, **dict(job.env)},
                    **self._hardened(),
                )
                container.start()
                pump = threading.Thread(target=_pump, args=(container, log, on_line), daemon=True)
                pump.start()
                exit_code, timed_out = _wait(container, job.timeout_s)
                outside = _outside_output(
                    container.diff() or [], {mount["bind"] for mount in self._mounts.values()}
                )
            except DAEMON_ERRORS as err:
                error = f"the Docker daemon failed: {one_line(err)}"
            finally:
                if pump is not None:
                    pump.join(timeout=_LOG_DRAIN_S)
                problems = self._clean_up(container, root)
            for problem in problems:
                log.write(f"\n[uai-harness] {problem}\n")
        if error and problems:
            error += "; then " + "; ".join(problems)
        return RunOutcome(
            command=command,
            exit_code=exit_code,
            seconds=time.monotonic() - started,
            log_path=log_path,
            timed_out=timed_out,
            backend=self.name,
            image=self.image_info(),
            written_outside_output=outside,
            error=error,
        )

    def _clean_up(self, container, root: PlatformRoot) -> list[str]:
        """Remove the container and hand the output back, whatever happened before.

        Problems are returned, never raised: they must not hide why the job failed.
        """
        problems = []
        if container is not None and (problem := _remove(container)):
            problems.append(problem)
        try:
            self._hand_back(root)
        except (*DAEMON_ERRORS, OSError) as err:
            problems.append(
                f"could not hand {root.output_dir} back to uid {os.getuid()}: {one_line(err)}"
            )
        return problems

    def _hand_back(self, root: PlatformRoot) -> None:
        """Give the invoking user the files the container wrote as root; a user who may not
        chown them has a root container of the same image do it over the output mount."""
        try:
            root.hand_back()
        except PermissionError:
            self.client.containers.run(
                self.image.id,
                ["chown", "-R", f"{os.getuid()}:{os.getgid()}", CONTAINER_OUTPUT_DIR],
                volumes={str(root.output_dir): {"bind": CONTAINER_OUTPUT_DIR, "mode": "rw"}},
                user="0:0",
                remove=True,
                **self._hardened(),
            )
            root.hand_back()


def _remove(container) -> str | None:
    """Force-remove a container; a failure is described, not raised."""
    try:
        container.remove(force=True)
    except DAEMON_ERRORS as err:
        return f"could not remove container {container.short_id}: {one_line(err)}"
    return None


def _wait(container, timeout_s: float) -> tuple[int, bool]:
    """(exit code, timed out): a container still running after `timeout_s` is killed."""
    try:
        return int(container.wait(timeout=timeout_s)["StatusCode"]), False
    except requests.exceptions.RequestException as err:
        if not _is_read_timeout(err):
            raise
    try:
        container.kill()
    except docker.errors.APIError as err:
        if err.status_code != 409:  # 409: it exited by itself in the meantime
            raise
    return int(container.wait(timeout=_KILLED_WAIT_S)["StatusCode"]), True


def _pump(container, log: IO[str], on_line: LogSink | None) -> None:
    """Copy the container's output to the log as it comes.

    A broken stream is noted in the log, not raised: run() reports the daemon's
    failure from its wait. A write after run() closed the log (the stream outlived
    the drain timeout) ends the copy.
    """
    buffer = ""
    try:
        for chunk in container.logs(stream=True, follow=True):
            text = chunk.decode(errors="replace")
            log.write(text)
            log.flush()
            buffer += text
            *lines, buffer = buffer.split("\n")
            for line in lines:
                if on_line is not None:
                    on_line(line)
    except DAEMON_ERRORS as err:
        log.write(f"\n[uai-harness] the log stream broke: {one_line(err)}\n")
    except ValueError:  # I/O operation on closed file
        return


def _outside_output(changes: list[dict], mount_points: set[str]) -> list[str]:
    """Paths `docker diff` reports outside /data/output, less the mount points (Docker
    lists every bind destination, e.g. a mounted checkpoint file, and its parents)."""
    outside = []
    for change in changes:
        path = change["Path"]
        if path.startswith(CONTAINER_OUTPUT_DIR) or path in mount_points:
            continue
        if any(point.startswith(path + "/") for point in mount_points):
            continue
        if any(marker in path for marker in _IGNORED_DIFF):
            continue
        outside.append(path)
    return sorted(outside)
