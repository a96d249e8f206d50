"""Run the job inside its image, mounted and launched exactly as the platform does.

`docker run -v <data>:/data/data -v <output>:/data/output IMAGE /bin/bash -c
"cd /data && /usr/bin/python /data/train.py <params> --work_dir=/data ..."`,
plus what a careful platform adds: no network, data read-only, no privileges,
only the harness's own environment variables. Every container goes through
`daemon.managed_container`, so it is removed whatever happens; `docker diff`
reports what the job changed outside its mounts; files it wrote as root are
handed back to the invoking user. A daemon that fails mid-run ends the phase with
a message naming the failure instead of an exception.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import tarfile
import time
import uuid
from pathlib import Path

import docker

from harness.backends import daemon
from harness.backends.base import (
    Backend,
    FinishedJob,
    LogSink,
    PhaseCommand,
    RunningJob,
    TaskSpec,
)
from harness.backends.container_job import KILLED_WAIT_S, ContainerJob
from harness.backends.daemon import DAEMON_ERRORS, DockerError, one_line
from harness.contract import (
    CONTAINER_DATA_DIR,
    CONTAINER_OUTPUT_DIR,
    CONTAINER_PATHS,
    CONTAINER_WORK_DIR,
    HARNESS_ENV,
    PlatformPaths,
    PlatformRoot,
)
from harness.defaults import PHASE_TIMEOUT_S

_PROBE_TIMEOUT_S = 300
# Every task of a cluster listens on this port, each on its own container address.
CLUSTER_PORT = 2222
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


class DockerBackend(Backend):
    """Runs phases as containers of `image`; the code lives in the image at /data."""

    name = "docker"
    runs_image = True
    isolation = (
        "container: the image's /data, data mounted read-only, no network, writes outside "
        "output_dir read from `docker diff`"
    )

    def __init__(
        self,
        image: str,
        gpu: bool = False,
        client: docker.DockerClient | None = None,
        timeout_s: float = PHASE_TIMEOUT_S,
    ) -> None:
        self.client = client or daemon.client()
        self.gpu = gpu
        self.timeout_s = timeout_s
        self.stale_removed = daemon.remove_stale(self.client)
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
        # Per platform root: host path -> mount (data, output, exposed pretrained files).
        self._mounts: dict[Path, dict[str, dict]] = {}
        self._network = None

    def image_info(self) -> dict:
        return {
            "name": self.image_name,
            "id": self.image.id,
            "tags": self.image.tags,
            "digests": self.image.attrs.get("RepoDigests", []),
        }

    def describe_code(self) -> dict:
        return {"kind": "image", **self.image_info()}

    def paths(self, root: PlatformRoot) -> PlatformPaths:
        return CONTAINER_PATHS

    def prepare(self, root: PlatformRoot) -> list[str]:
        """The code is in the image; only data (read-only) and output are mounted."""
        self._mounts[root.root] = {
            str(root.data_dir): {"bind": CONTAINER_DATA_DIR, "mode": "ro"},
            str(root.output_dir): {"bind": CONTAINER_OUTPUT_DIR, "mode": "rw"},
        }
        return []

    def mount_points(self, root: PlatformRoot) -> list[str]:
        return sorted(mount["bind"] for mount in self._mounts.get(root.root, {}).values())

    def _settings(self, seconds: float, root: PlatformRoot | None = None) -> dict:
        """Settings every container of the harness gets: no network, no privileges, labels
        with a deadline (and the root, so concurrent runs tell theirs apart), and the GPUs
        (the platform's `--gpus`) for GPU jobs."""
        gpus = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])] if self.gpu else []
        extra = {f"{daemon.LABEL}.root": str(root.root)} if root is not None else {}
        return {
            "network_mode": "none",
            "privileged": False,
            "security_opt": ["no-new-privileges"],
            "labels": daemon.labels(seconds + KILLED_WAIT_S, **extra),
            "device_requests": gpus,
        }

    def _image_files(self, path: str) -> dict[str, bytes]:
        """Files of the image at `path` (a file, or a folder's files), by name; {} if absent."""
        problems: list[str] = []
        try:
            with daemon.managed_container(
                self.client, self.image.id, ["true"], problems, **self._settings(60)
            ) as container:
                stream, _ = container.get_archive(path)
                archive = tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
                return {
                    posixpath.basename(member.name): handle.read()
                    for member in archive.getmembers()
                    if member.isfile() and (handle := archive.extractfile(member)) is not None
                }
        except docker.errors.NotFound:
            return {}
        except (*DAEMON_ERRORS, tarfile.TarError) as err:
            raise DockerError(
                f"cannot read {path} from {self.image_name}: {one_line(err)}"
            ) from err

    def read_code(self, relative: str) -> str | None:
        found = self._image_files(f"{CONTAINER_WORK_DIR}/{relative}")
        content = found.get(posixpath.basename(relative))
        return content.decode(errors="replace") if content is not None else None

    def shipped_file(self, root: PlatformRoot, container_path: str) -> Path | None:
        """A checkpoint the image brings at `container_path` (V1 file or V2 prefix), copied
        out so the checks can compare against exactly what the job restores."""
        folder, name = posixpath.split(container_path)
        copies = root.root / "image-files"
        found = False
        for suffix in ("", ".index", ".data-00000-of-00001"):
            for file_name, content in self._image_files(f"{folder}/{name}{suffix}").items():
                copies.mkdir(parents=True, exist_ok=True)
                (copies / file_name).write_bytes(content)
                found = True
        return copies / name if found else None

    def expose(self, root: PlatformRoot, container_path: str) -> None:
        """Mount the files written for `container_path` read-only where the job looks
        (files under data_dir are in the data mount already)."""
        if container_path.startswith(CONTAINER_DATA_DIR + "/"):
            return
        host = root.host_path(container_path)
        for part in sorted(host.parent.glob(host.name + "*")):
            bind = posixpath.join(posixpath.dirname(container_path), part.name)
            self._mounts[root.root][str(part)] = {"bind": bind, "mode": "ro"}

    def probe(self, command: list[str]) -> tuple[int, str]:
        """Run a short command in a fresh container of the image: (exit code, output).

        A daemon failure, or a command the container cannot start, comes back as exit
        code -1 with a last line naming it, which the image check shows as its verdict.
        """
        problems: list[str] = []
        try:
            with daemon.managed_container(
                self.client, self.image.id, command, problems, **self._settings(_PROBE_TIMEOUT_S)
            ) as container:
                container.start()
                code = int(container.wait(timeout=_PROBE_TIMEOUT_S)["StatusCode"])
                return code, container.logs().decode(errors="replace")
        except DAEMON_ERRORS as err:
            if daemon.is_read_timeout(err):
                return -1, f"image probe timed out after {_PROBE_TIMEOUT_S} s"
            return -1, f"image probe failed: {one_line(err)}"

    def environment(self) -> dict:
        """The image's versions and `pip freeze`; a failed probe is recorded, not raised."""
        code, output = self.probe(["/usr/bin/python", "-c", _ENVIRONMENT_PROBE])
        lines = output.strip().splitlines()
        try:
            environment = json.loads(lines[-1]) if code == 0 and lines else None
        except ValueError:
            environment = None
        if environment is None:
            tail = lines[-1] if lines else "no output"
            environment = {"error": f"environment probe failed (exit {code}): {tail}"}
        environment["image"] = self.image_info()
        return environment

    def start(
        self,
        job: PhaseCommand,
        root: PlatformRoot,
        log_path: Path,
        on_line: LogSink | None = None,
        task: TaskSpec | None = None,
    ) -> RunningJob:
        command = ["/bin/bash", "-c", job.shell()]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        settings = self._settings(job.timeout_s, root)
        environment = dict(HARNESS_ENV)
        if task is not None:  # on the cluster's own network, reachable by its task name
            environment["TF_CONFIG"] = task.tf_config
            del settings["network_mode"]
            settings.update(
                network=self._network.name,
                networking_config={
                    self._network.name: self.client.api.create_endpoint_config(aliases=[task.name])
                },
                hostname=task.name,
            )
        job_run = ContainerJob(self, root, command, log_path, on_line, started, job.redact)
        try:
            job_run.container = job_run.stack.enter_context(
                daemon.managed_container(
                    self.client,
                    self.image.id,
                    command,
                    job_run.problems,
                    volumes=self._mounts[root.root],
                    environment=environment,
                    **settings,
                )
            )
            job_run.container.start()
        except DAEMON_ERRORS as err:
            job_run.error = f"the Docker daemon failed: {one_line(err)}"
            return FinishedJob(job_run.finish(0))
        job_run.pump.start()
        return job_run

    def cluster_addresses(self, names: list[str]) -> dict[str, str]:
        """A user-defined network with no route out (`internal`), on which each task's
        container answers to its task name; every task listens on the same port."""
        try:
            self._network = self.client.networks.create(
                f"{daemon.LABEL}-{daemon.session_id()}-{uuid.uuid4().hex[:8]}",
                driver="bridge",
                internal=True,
                labels=daemon.labels(self.timeout_s * 4),
            )
        except DAEMON_ERRORS as err:
            raise DockerError(f"cannot create the cluster's network: {one_line(err)}") from err
        return {name: f"{name}:{CLUSTER_PORT}" for name in names}

    def close_cluster(self) -> list[str]:
        if self._network is None:
            return []
        network, self._network = self._network, None
        try:
            network.remove()
        except DAEMON_ERRORS as err:
            return [f"could not remove network {network.name}: {one_line(err)}"]
        return []

    def _hand_back(self, root: PlatformRoot) -> list[str]:
        """Give the invoking user the files the container wrote as root; a user who may not
        chown them has a root container of the same image do it over the output mount.
        Problems are returned, never raised."""
        problems: list[str] = []
        try:
            try:
                root.hand_back()
            except PermissionError:
                with daemon.managed_container(
                    self.client,
                    self.image.id,
                    ["chown", "-R", f"{os.getuid()}:{os.getgid()}", CONTAINER_OUTPUT_DIR],
                    problems,
                    volumes={str(root.output_dir): {"bind": CONTAINER_OUTPUT_DIR, "mode": "rw"}},
                    user="0:0",
                    **self._settings(_PROBE_TIMEOUT_S),
                ) as container:
                    container.start()
                    container.wait(timeout=_PROBE_TIMEOUT_S)
                root.hand_back()
        except (*DAEMON_ERRORS, OSError) as err:
            problems.append(
                f"could not hand {root.output_dir} back to uid {os.getuid()}: {one_line(err)}"
            )
        return problems
