"""`uaitrain_cmd.txt`, the command file of UCloud's pack tool: written in its exact format,
read in every form users keep it in.

The tool writes one line per command:

    CMD Used for deploying: /data/<mainfile> <train_params>
    CMD for CPU local test: sudo docker run -it -v <data>:/data/data -v <output>:/data/output
        <cpu image> /bin/bash -c "cd /data && /usr/bin/python <deploy> --work_dir=/data ..."
    CMD for GPU local test: sudo nvidia-docker run -it ... <gpu image> /bin/bash -c
        "cd /data && /usr/bin/python <deploy> --num_gpus=1 --work_dir=/data ..."

with the parameters verbatim (an empty train_params leaves two spaces before
--work_dir), and prints the same with each label on its own line and the command on
the next. Older tools wrote --log_dir=/data/output; older harness files spelled the
interpreter in the deploy command. All of these read; anything else is refused naming
the file and line.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

from harness.contract import (
    CONTAINER_DATA_DIR,
    CONTAINER_OUTPUT_DIR,
    CONTAINER_PATHS,
    CONTAINER_WORK_DIR,
    PLATFORM_PYTHON,
)
from harness.params import strip_platform_flags

CMD_FILE = "uaitrain_cmd.txt"
DEPLOY_LABEL = "CMD Used for deploying:"
CPU_TEST_LABEL = "CMD for CPU local test:"
GPU_TEST_LABEL = "CMD for GPU local test:"
_KEYS = {DEPLOY_LABEL: "deploy", CPU_TEST_LABEL: "cpu", GPU_TEST_LABEL: "gpu"}


@dataclasses.dataclass(frozen=True)
class PackedCommand:
    """What a command file says: the job, its images and the local test folders."""

    mainfile: str
    train_params: str = ""  # verbatim, as the pack tool was given them
    cpu_image: str | None = None
    gpu_image: str | None = None
    test_data_path: str | None = None
    test_output_path: str | None = None
    # The deploy command as a file wrote it (it may wrongly start with the interpreter).
    deploy_as_written: str | None = dataclasses.field(default=None, compare=False)

    @property
    def params(self) -> list[str]:
        """The job's own parameters as words, less any flag the platform appends itself."""
        return strip_platform_flags(shlex.split(self.train_params))

    @property
    def train_params_string(self) -> str:
        return shlex.join(self.params)

    @property
    def image(self) -> str | None:
        """The image a CPU validation runs: the CPU local test's."""
        return self.cpu_image

    def deploy_command(self) -> str:
        """What the platform runs after its /usr/bin/python (no interpreter here)."""
        return f"{CONTAINER_WORK_DIR}/{self.mainfile} {self.train_params}"

    def cpu_test_command(self) -> str:
        return self._local_test("docker", self.cpu_image, num_gpus=0)

    def gpu_test_command(self) -> str:
        return self._local_test("nvidia-docker", self.gpu_image, num_gpus=1)

    def _local_test(self, docker: str, image: str | None, num_gpus: int) -> str:
        if not (image and self.test_data_path and self.test_output_path):
            raise ValueError("a local test command needs its image and both test paths")
        gpus = f"--num_gpus={num_gpus} " if num_gpus else ""
        platform_flags = " ".join(CONTAINER_PATHS.flags())
        return (
            f"sudo {docker} run -it -v {self.test_data_path}:{CONTAINER_DATA_DIR} "
            f"-v {self.test_output_path}:{CONTAINER_OUTPUT_DIR} {image} /bin/bash -c "
            f'"cd {CONTAINER_WORK_DIR} && {PLATFORM_PYTHON} {self.deploy_command()} '
            f'{gpus}{platform_flags}"'
        )

    def text(self) -> str:
        """The file's content, byte for byte as UCloud's pack tool writes it."""
        lines = [
            f"{DEPLOY_LABEL} {self.deploy_command()}",
            f"{CPU_TEST_LABEL} {self.cpu_test_command()}",
        ]
        if self.gpu_image:
            lines.append(f"{GPU_TEST_LABEL} {self.gpu_test_command()}")
        return "".join(f"{line}\n" for line in lines)


def read_cmd_file(path: Path) -> PackedCommand:
    """Parse a command file, refusing what is malformed with `<file>:<line>: why`."""
    if not path.is_file():
        raise FileNotFoundError(f"cmd file {path} does not exist")
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text file ({err.reason} at byte {err.start})") from err
    found = _commands(path, text)
    if "deploy" not in found:
        raise ValueError(f"{path}: no line starting with {DEPLOY_LABEL!r}")
    number, deploy = found["deploy"]
    mainfile, train_params = _deploy(f"{path}:{number}", deploy)
    images: dict[str, str] = {}
    mounts: dict[str, str] = {}
    for key in ("gpu", "cpu"):  # the CPU line's test folders win
        if key in found:
            number, command = found[key]
            images[key], line_mounts = _local_test(f"{path}:{number}", command, mainfile)
            mounts.update(line_mounts)
    return PackedCommand(
        mainfile=mainfile,
        train_params=train_params,
        cpu_image=images.get("cpu"),
        gpu_image=images.get("gpu"),
        test_data_path=mounts.get(CONTAINER_DATA_DIR),
        test_output_path=mounts.get(CONTAINER_OUTPUT_DIR),
        deploy_as_written=deploy,
    )


def _commands(path: Path, text: str) -> dict[str, tuple[int, str]]:
    """{deploy|cpu|gpu: (line number, command)}, from `LABEL command` lines or a label
    line followed by its command; other lines of the tool's output are skipped."""
    found: dict[str, tuple[int, str]] = {}
    waiting: tuple[str, int] | None = None  # a label line whose command is on the next line
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        label = next((label for label in _KEYS if stripped.startswith(label)), None)
        if waiting is not None:
            if label is not None or stripped.startswith("CMD"):
                raise ValueError(f"{path}:{waiting[1]}: {waiting[0]!r} has no command")
            found[_KEYS[waiting[0]]] = (number, stripped)
            waiting = None
            continue
        if label is None:
            if stripped.startswith("CMD"):
                raise ValueError(
                    f"{path}:{number}: unknown command line {stripped[:60]!r}; expected "
                    f"{DEPLOY_LABEL!r}, {CPU_TEST_LABEL!r} or {GPU_TEST_LABEL!r}"
                )
            continue
        if _KEYS[label] in found:
            raise ValueError(f"{path}:{number}: a second {label!r} line")
        command = stripped[len(label) :].strip()
        if command:
            found[_KEYS[label]] = (number, command)
        else:
            waiting = (label, number)
    if waiting is not None:
        raise ValueError(f"{path}:{waiting[1]}: {waiting[0]!r} has no command")
    return found


def _words(where: str, command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError as err:
        raise ValueError(f"{where}: cannot split the command: {err}") from err


def _deploy(where: str, command: str) -> tuple[str, str]:
    """(main file, verbatim train params) of `/data/<mainfile> <params>`."""
    head, _, rest = command.partition(" ")
    if head == PLATFORM_PYTHON:
        head, _, rest = rest.lstrip().partition(" ")
    if not head.startswith(f"{CONTAINER_WORK_DIR}/") or head == f"{CONTAINER_WORK_DIR}/":
        raise ValueError(
            f"{where}: the deploy command must start with the main file under "
            f"{CONTAINER_WORK_DIR}/ (the platform runs it with {PLATFORM_PYTHON}), "
            f"got {command[:80]!r}"
        )
    _words(where, rest)
    return head[len(CONTAINER_WORK_DIR) + 1 :], rest.strip()


def _local_test(where: str, command: str, mainfile: str) -> tuple[str, dict[str, str]]:
    """(image, {container folder: host folder}) of `docker run ... IMAGE /bin/bash -c "..."`."""
    words = _words(where, command)
    shape = 'must be `[sudo] docker run [options] IMAGE /bin/bash -c "cd /data && ..."`'
    if "/bin/bash" not in words:
        raise ValueError(f"{where}: the local test {shape}")
    bash = words.index("/bin/bash")
    if "run" not in words[:bash] or bash + 2 >= len(words) or words[bash + 1] != "-c":
        raise ValueError(f"{where}: the local test {shape}")
    image = words[bash - 1]
    if image.startswith("-") or image == "run":
        raise ValueError(f"{where}: the local test names no image before /bin/bash")
    if f"{CONTAINER_WORK_DIR}/{mainfile}" not in words[bash + 2].split():
        raise ValueError(
            f"{where}: the local test does not run {CONTAINER_WORK_DIR}/{mainfile}, "
            "the deploy command's main file"
        )
    mounts = {}
    for option, value in zip(words[:bash], words[1 : bash + 1], strict=False):
        if option in ("-v", "--volume") and value.count(":") >= 1:
            host, inside = value.split(":")[:2]
            mounts[inside] = host
    return image, mounts
