"""The UAI-Train platform contract as the harness reproduces it.

The platform packs a code folder into the image at /data, mounts the job's
data at /data/data and its output at /data/output, and starts
`cd /data && /usr/bin/python /data/<mainfile> <params> --work_dir=/data
--data_dir=/data/data --output_dir=/data/output --log_dir=/data/output/log`
(plus `--num_gpus=1` on GPU nodes). A `PlatformRoot` is a host folder laid out
the same way, so a job can run against it locally or with it mounted into a
container, and the checks can tell what the job read and wrote.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import shlex
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from harness import credentials
from harness.untrusted import walk

if TYPE_CHECKING:
    from harness.params import JobParams

CONTAINER_WORK_DIR = "/data"
CONTAINER_DATA_DIR = "/data/data"
CONTAINER_OUTPUT_DIR = "/data/output"
CONTAINER_LOG_DIR = "/data/output/log"
PLATFORM_PYTHON = "/usr/bin/python"
# The flags the platform appends after a job's own parameters (users must not pass them).
PLATFORM_FLAGS = ("work_dir", "data_dir", "output_dir", "log_dir", "num_gpus")
# The whole environment a job gets from the harness besides its image's or PATH/HOME:
# nothing of the host's, which may hold credentials.
HARNESS_ENV = {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "TF_CPP_MIN_LOG_LEVEL": "1"}

# Everything outside /data/output is lost when a job ends. Of the container's other
# paths, these (and everything below them) are caches the interpreter or TensorFlow
# write on import, never a job's results.
CACHE_PATHS = (
    "/root/.cache",  # pip/XDG caches, matplotlib's font list
    "/root/.keras",  # Keras writes keras.json on first import
    "/root/.config",  # matplotlib and others write their config on import
)
# Folder names that are caches wherever they are: the interpreter's byte-code cache.
CACHE_NAMES = ("__pycache__",)
# Scratch space, lost with the container like everything outside /data/output.
SCRATCH_PATHS = ("/tmp", "/var/tmp")

# Distributed mode: every task gets a TF_CONFIG naming the cluster by task type, the
# chief being `master`, besides which there are parameter servers and workers.
CHIEF = "master"
TASK_TYPES = ("ps", "worker")


@dataclasses.dataclass(frozen=True)
class PlatformPaths:
    """The four folders the platform passes to every job."""

    work_dir: str
    data_dir: str
    output_dir: str
    log_dir: str

    def flags(self, num_gpus: int = 0) -> list[str]:
        """The flags the platform appends after the job's own parameters."""
        appended = [
            f"--work_dir={self.work_dir}",
            f"--data_dir={self.data_dir}",
            f"--output_dir={self.output_dir}",
            f"--log_dir={self.log_dir}",
        ]
        return appended + ([f"--num_gpus={num_gpus}"] if num_gpus else [])


CONTAINER_PATHS = PlatformPaths(
    CONTAINER_WORK_DIR, CONTAINER_DATA_DIR, CONTAINER_OUTPUT_DIR, CONTAINER_LOG_DIR
)


@dataclasses.dataclass(frozen=True)
class PlatformRoot:
    """A host folder laid out like the platform: `<root>/data`, `/data/data`, `/data/output`."""

    root: Path

    def __post_init__(self) -> None:
        if not self.root.is_absolute():
            raise ValueError(f"platform root {self.root} must be an absolute path")

    @property
    def work_dir(self) -> Path:
        return self.root / "data"

    @property
    def data_dir(self) -> Path:
        return self.work_dir / "data"

    @property
    def output_dir(self) -> Path:
        return self.work_dir / "output"

    @property
    def log_dir(self) -> Path:
        return self.output_dir / "log"

    @property
    def host_paths(self) -> PlatformPaths:
        return PlatformPaths(
            str(self.work_dir), str(self.data_dir), str(self.output_dir), str(self.log_dir)
        )

    @classmethod
    def create(cls, parent: Path | None = None, prefix: str = "uai-harness-") -> PlatformRoot:
        """A fresh private root (mode 0700) that no concurrent harness run shares."""
        root = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        layout = cls(root)
        for folder in (layout.work_dir, layout.data_dir, layout.output_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return layout

    def host_path(self, container_path: str) -> Path:
        """Where a path the job sees under /data lies in this root."""
        relative = posixpath.relpath(posixpath.normpath(container_path), CONTAINER_WORK_DIR)
        if relative.startswith(".."):
            raise ValueError(f"{container_path} is not under {CONTAINER_WORK_DIR}")
        return self.work_dir / relative

    def install_code(self, code_path: Path) -> list[str]:
        """Copy a code folder to work_dir, as the platform's pack tool puts it at /data
        (links as links); returns what was left out and why: the folder's own top-level
        `data/` and `output/`, which the platform's mounts shadow, the folder holding
        this root when the run lives inside the code, and credentials (`harness.credentials`)."""
        if not code_path.is_dir():
            raise FileNotFoundError(f"code path {code_path} is not a folder")
        left_out: list[str] = []

        def ignore(directory: str, names: list[str]) -> set[str]:
            skipped = {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
            here = Path(directory)
            for name in names:
                path = here / name
                if path == self.root or path in self.root.parents:
                    skipped.add(name)
                    left_out.append(f"{path.relative_to(code_path)}/ (it holds this run)")
                elif here == code_path and name in ("data", "output") and path.is_dir():
                    skipped.add(name)
                    left_out.append(f"{name}/ (the platform mounts /data/{name} over it)")
            for name in credentials.left_out(here, [n for n in names if n not in skipped]):
                skipped.add(name)
                left_out.append(
                    f"{(here / name).relative_to(code_path)} (credentials: never copied)"
                )
            return skipped

        shutil.copytree(code_path, self.work_dir, dirs_exist_ok=True, symlinks=True, ignore=ignore)
        return left_out

    def hand_back(self, uid: int | None = None, gid: int | None = None) -> None:
        """Give files a root-run container wrote back to the invoking user."""
        uid = os.getuid() if uid is None else uid
        gid = os.getgid() if gid is None else gid
        entries = [(self.root, self.root.lstat()), *walk(self.root, folders=True)]
        for path, info in entries:  # no recursion: a job's folders can nest past any limit
            if stat.S_ISLNK(info.st_mode):
                continue
            if (info.st_uid, info.st_gid) != (uid, gid):
                os.chown(path, uid, gid)
            if stat.S_ISDIR(info.st_mode) and not info.st_mode & stat.S_IWUSR:
                path.chmod(info.st_mode | stat.S_IRWXU)


def job_command(
    mainfile: str,
    train_params: list[str],
    paths: PlatformPaths,
    python: str = PLATFORM_PYTHON,
    num_gpus: int = 0,
    append_platform_flags: bool = True,
) -> list[str]:
    """`python <work_dir>/<mainfile> <params> <platform flags>` as an argument list."""
    appended = paths.flags(num_gpus) if append_platform_flags else []
    return [python, f"{paths.work_dir}/{mainfile}", *train_params, *appended]


def container_shell_command(
    mainfile: str,
    params: JobParams,
    num_gpus: int = 0,
    append_platform_flags: bool = True,
    paths: PlatformPaths = CONTAINER_PATHS,
    python: str = PLATFORM_PYTHON,
) -> str:
    """The exact `/bin/bash -c` string the platform runs inside the image (for `paths` and
    `python` other than the platform's, the same line pointed at them). Typed parameters
    (`params.text`) are pasted in as the platform pastes them: their quotes, substitutions
    and newlines mean to this shell what they mean there; words are quoted one by one."""
    command = job_command(
        mainfile,
        [] if params.text is not None else list(params),
        paths,
        python,
        num_gpus=num_gpus,
        append_platform_flags=append_platform_flags,
    )
    quoted = [shlex.quote(part) for part in command]
    if params.text is not None:
        quoted.insert(2, params.text)
    return f"cd {shlex.quote(paths.work_dir)} && " + " ".join(quoted)


def tf_config(cluster: dict[str, list[str]], task_type: str, index: int) -> dict:
    """The TF_CONFIG the platform gives a task, in the form UCloud documents:
    `{"cluster": {"master": [...], "ps": [...], "worker": [...]}, "task": {"type": ...,
    "index": ...}, "environment": "cloud"}`."""
    return {
        "cluster": cluster,
        "task": {"type": task_type, "index": index},
        "environment": "cloud",
    }


def job_path_in_container(job_path: str, base: str) -> str:
    """The container path a job path means, by the platform's rule: a path already under
    `base` (UCloud's later examples pass `/data/data/train-*`) as it is, anything else joined
    to `base` by concatenation (the platform example's `/train-*` under data_dir)."""
    cleaned = posixpath.normpath("/" + job_path.strip().lstrip("/"))
    if cleaned == base or cleaned.startswith(base.rstrip("/") + "/"):
        return cleaned
    return posixpath.normpath(base + cleaned)
