"""Run the job inside its image, mounted and launched exactly as the platform does.

`docker run -v <data>:/data/data -v <output>:/data/output IMAGE /bin/bash -c
"cd /data && /usr/bin/python /data/train.py <params> --work_dir=/data ..."`,
plus what a careful platform adds: no network, data read-only, no privileges.
The container is always removed; `docker diff` tells what it wrote outside
/data/output; files it wrote as root are handed back to the invoking user.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from pathlib import Path

from harness.backends.base import Backend, JobSpec, LogSink, RunOutcome
from harness.platform import (
    CONTAINER_OUTPUT_DIR,
    CONTAINER_PATHS,
    CONTAINER_WORK_DIR,
    PlatformPaths,
    PlatformRoot,
    container_shell_command,
)

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
    "info['pip_freeze'] = sorted({f\"{d.metadata['Name']}=={d.version}\" for d in m.distributions()})\n"
    "print(json.dumps(info))\n"
)


class DockerError(RuntimeError):
    """The Docker daemon, image or container failed; the message says which."""


def _client():
    try:
        import docker

        client = docker.from_env(timeout=120)
        client.ping()
        return client
    except Exception as err:  # noqa: BLE001 - report any failure to reach the daemon
        raise DockerError(f"no Docker daemon answers: {err}") from err


class DockerBackend(Backend):
    """Runs phases as containers of `image`; the code lives in the image at /data."""

    name = "docker"

    def __init__(self, image: str, gpu: bool = False, client=None) -> None:
        self.client = client or _client()
        self.gpu = gpu
        try:
            self.image = self.client.images.get(image)
        except Exception as err:  # noqa: BLE001 - docker.errors.ImageNotFound and API errors
            raise DockerError(f"image {image!r} is not available locally: {err}") from err
        self.image_name = image
        self._mounts: dict[str, dict] = {}

    @classmethod
    def for_args(cls, args) -> DockerBackend:
        if not args.image:
            raise DockerError("--backend docker needs --image (build one with `uai-harness pack`)")
        return cls(args.image, gpu=args.gpu)

    def image_info(self) -> dict:
        return {"name": self.image_name, "id": self.image.id, "tags": self.image.tags,
                "digests": self.image.attrs.get("RepoDigests", [])}

    def paths(self, root: PlatformRoot) -> PlatformPaths:
        return CONTAINER_PATHS

    def prepare(self, root: PlatformRoot) -> None:
        """The code is in the image; only data and output are mounted."""
        self._mounts = {
            str(root.data_dir): {"bind": CONTAINER_PATHS.data_dir, "mode": "ro"},
            str(root.output_dir): {"bind": CONTAINER_OUTPUT_DIR, "mode": "rw"},
        }

    def image_file(self, path: str) -> bytes | None:
        """A file's bytes from inside the image, or None when it is not there."""
        container = self.client.containers.create(self.image.id, command=["true"],
                                                  network_mode="none")
        try:
            stream, _ = container.get_archive(path)
            archive = tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
            member = archive.getmembers()[0]
            handle = archive.extractfile(member)
            return handle.read() if handle else None
        except Exception:  # noqa: BLE001 - docker.errors.NotFound: the file is absent
            return None
        finally:
            container.remove(force=True)

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
        """Run a short command in a fresh container of the image: (exit code, output)."""
        container = self.client.containers.create(self.image.id, command, network_mode="none")
        try:
            container.start()
            code = int(container.wait(timeout=300)["StatusCode"])
            return code, container.logs().decode(errors="replace")
        finally:
            container.remove(force=True)

    def environment(self) -> dict:
        output = self.client.containers.run(
            self.image.id, ["/usr/bin/python", "-c", _ENVIRONMENT_PROBE],
            network_mode="none", remove=True, stdout=True, stderr=False,
        )
        environment = json.loads(output.decode().strip().splitlines()[-1])
        environment["image"] = self.image_info()
        return environment

    def run(
        self, job: JobSpec, root: PlatformRoot, log_path: Path, on_line: LogSink | None = None
    ) -> RunOutcome:
        shell = container_shell_command(job.mainfile, list(job.train_params), job.num_gpus,
                                        append_platform_flags=job.append_platform_flags)
        command = ["/bin/bash", "-c", shell]
        device_requests = []
        if self.gpu:
            import docker

            device_requests = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
        started = time.monotonic()
        container = self.client.containers.create(
            self.image.id, command, volumes=self._mounts, network_mode="none",
            environment={"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
                         "TF_CPP_MIN_LOG_LEVEL": "1", **dict(job.env)},
            device_requests=device_requests, security_opt=["no-new-privileges"],
            labels={"uai-harness": "1"},
        )
        timed_out, exit_code, written_outside = False, -1, []
        log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            container.start()
            pump = threading.Thread(target=_pump, args=(container, log_path, on_line),
                                    daemon=True)
            pump.start()
            try:
                exit_code = int(container.wait(timeout=job.timeout_s)["StatusCode"])
            except Exception:  # noqa: BLE001 - requests' ReadTimeout: the job ran too long
                timed_out = True
                container.kill()
                exit_code = int(container.wait(timeout=60)["StatusCode"])
            pump.join(timeout=10)
            written_outside = _outside_output(container.diff() or [])
        finally:
            container.remove(force=True)
            root.hand_back()
        return RunOutcome(command=command, exit_code=exit_code,
                          seconds=time.monotonic() - started, log_path=log_path,
                          timed_out=timed_out, backend=self.name, image=self.image_info(),
                          written_outside_output=written_outside)


def _pump(container, log_path: Path, on_line: LogSink | None) -> None:
    buffer = ""
    with open(log_path, "w") as log:
        for chunk in container.logs(stream=True, follow=True):
            text = chunk.decode(errors="replace")
            log.write(text)
            log.flush()
            buffer += text
            *lines, buffer = buffer.split("\n")
            for line in lines:
                if on_line is not None:
                    on_line(line)


def _outside_output(changes: list[dict]) -> list[str]:
    """Paths `docker diff` reports outside /data/output and its mount points."""
    outside = []
    for change in changes:
        path = change["Path"]
        if path.startswith(CONTAINER_OUTPUT_DIR) or path in ("/data", "/data/data"):
            continue
        if any(marker in path for marker in _IGNORED_DIFF):
            continue
        outside.append(path)
    return sorted(outside)
