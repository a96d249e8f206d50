"""`uai-harness pack`: UCloud's pack tool, offline-capable and without cloud keys.

Builds the CPU job image (and the GPU one when asked) from the code path, named as the
tool names them - `<name>-cpu:<tag>` and `<name>:<tag>` - and writes `uaitrain_cmd.txt`
in the tool's exact format. Nothing is pushed anywhere. `run_local_test` then runs the
file's CPU local test line on the test folders, as the tool's users do by hand.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from harness.backends import daemon
from harness.cmdfile import CMD_FILE, PackedCommand
from harness.images import BuiltImage, ensure_job_image
from harness.images.progress import Progress, SilentProgress
from harness.params import strip_platform_flags
from harness.untrusted import regular_files

DEFAULT_TAG = "uaitrain"  # the pack tool's tag when --uhub_imagetag is not given
# What the command file says when no test folders were given (like the tool's docs).
PLACEHOLDER_TEST_PATHS = ("/path/to/test_data", "/path/to/test_output")
LOCAL_TEST_LOG = "uaitrain_local_test.log"
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_NAME = re.compile(r"[a-z0-9]+([._/-][a-z0-9]+)*")


@dataclasses.dataclass(frozen=True)
class PackSpec:
    """What to pack: the code path, its main file and parameters, and the image names."""

    code_path: Path
    mainfile: str = "train.py"
    train_params: str = ""  # verbatim: the command file carries it unchanged
    image_name: str = "im2txt"
    image_tag: str = ""
    test_data_path: Path | None = None
    test_output_path: Path | None = None
    gpu: bool = False
    offline: bool = False
    base_image: str | None = None
    checkpoint: Path | None = None

    @property
    def cpu_image(self) -> str:
        return f"{self.image_name}-cpu:{self.image_tag or DEFAULT_TAG}"

    @property
    def gpu_image(self) -> str:
        return f"{self.image_name}:{self.image_tag or DEFAULT_TAG}"

    def packed_command(self) -> PackedCommand:
        data, output = PLACEHOLDER_TEST_PATHS
        return PackedCommand(
            mainfile=self.mainfile,
            train_params=self.train_params,
            cpu_image=self.cpu_image,
            gpu_image=self.gpu_image if self.gpu else None,
            # Absolute: `docker run -v` takes a relative host path only since Docker 23.
            test_data_path=str(self.test_data_path.resolve()) if self.test_data_path else data,
            test_output_path=(
                str(self.test_output_path.resolve()) if self.test_output_path else output
            ),
        )


@dataclasses.dataclass(frozen=True)
class PackResult:
    images: dict[str, BuiltImage]
    cmd_file: Path
    command: PackedCommand


@dataclasses.dataclass(frozen=True)
class LocalTestResult:
    """How the CPU local test ended and what it left in the test output folder."""

    command: str
    exit_code: int
    seconds: float
    log_path: Path
    output_dir: Path
    outputs: list[str]


def lint(spec: PackSpec) -> list[str]:
    """Problems the platform would reject or the command file would garble, one sentence each."""
    problems = []
    if spec.mainfile.startswith(("python", "/")):
        problems.append(
            f"--mainfile_path must be a file relative to the code path, not {spec.mainfile!r}"
        )
    elif not (spec.code_path / spec.mainfile).is_file():
        problems.append(f"main file {spec.mainfile} is not in code path {spec.code_path}")
    try:
        params = shlex.split(spec.train_params)
    except ValueError as err:
        problems.append(f"--train_params cannot be split like a shell would: {err}")
        params = []
    if strip_platform_flags(params) != params:
        problems.append(
            "--train_params must not set --work_dir/--data_dir/--output_dir/"
            "--log_dir/--num_gpus: the platform appends them"
        )
    if any(p.split("=", 1)[0] in ("--public_key", "--private_key") for p in params):
        problems.append("--train_params must not carry cloud keys")
    if '"' in spec.train_params:
        problems.append(
            '--train_params must not contain ": the local test lines put them inside "..."'
        )
    for flag, path in (
        ("--test_data_path", spec.test_data_path),
        ("--test_output_path", spec.test_output_path),
    ):
        if path is not None and re.search(r"[\s:\"'$`\\]", str(path.resolve())):
            problems.append(
                f"{flag} {path} must not contain spaces, quotes, ':', '$' or '\\': "
                "the local test line passes it to docker -v unquoted"
            )
    if spec.test_data_path is not None and not spec.test_data_path.is_dir():
        problems.append(f"--test_data_path {spec.test_data_path} is not a folder")
    if not _NAME.fullmatch(spec.image_name):
        problems.append(
            f"--uhub_imagename {spec.image_name!r} is not a Docker image name "
            "(lowercase letters, digits, '.', '_', '-', '/')"
        )
    if spec.image_tag and not _TAG.fullmatch(spec.image_tag):
        problems.append(f"--uhub_imagetag {spec.image_tag!r} is not a Docker tag")
    return problems


def pack(spec: PackSpec, out_dir: Path, progress: Progress | None = None) -> PackResult:
    """Lint, build the CPU (and optionally GPU) image, and write uaitrain_cmd.txt."""
    problems = lint(spec)
    if problems:
        raise ValueError("; ".join(problems))
    progress = progress or SilentProgress()
    client = daemon.client()
    tags = {"cpu": spec.cpu_image, **({"gpu": spec.gpu_image} if spec.gpu else {})}
    images = {
        variant: ensure_job_image(
            spec.code_path,
            tag,
            gpu=variant == "gpu",
            progress=progress,
            offline=spec.offline,
            base_image=spec.base_image,
            checkpoint=spec.checkpoint,
            client=client,
        )
        for variant, tag in tags.items()
    }
    if spec.test_output_path is not None:
        spec.test_output_path.mkdir(parents=True, exist_ok=True)
    command = spec.packed_command()
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd_file = out_dir / CMD_FILE
    partial = cmd_file.with_name(f".{CMD_FILE}.partial")
    partial.write_text(command.text())
    partial.replace(cmd_file)
    return PackResult(images=images, cmd_file=cmd_file, command=command)


def run_local_test(
    command: PackedCommand, log_path: Path, progress: Progress | None = None
) -> LocalTestResult:
    """Run the CPU local test line under a pseudo-terminal (it says `docker run -it`).

    The leading `sudo` is dropped: this user already reaches the daemon (pack has just
    built the image with it), and sudo could stop to ask for a password.
    """
    if (command.test_data_path, command.test_output_path) == PLACEHOLDER_TEST_PATHS:
        raise ValueError("the local test needs --test_data_path and --test_output_path")
    line = command.cpu_test_command().removeprefix("sudo ")
    progress = progress or SilentProgress()
    progress.step(f"CPU local test in {command.cpu_image}")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    exit_code = run_in_terminal(["bash", "-c", line], log_path, progress.line)
    output_dir = Path(str(command.test_output_path))
    outputs = sorted(str(path.relative_to(output_dir)) for path in regular_files(output_dir))
    return LocalTestResult(
        command=line,
        exit_code=exit_code,
        seconds=time.monotonic() - started,
        log_path=log_path,
        output_dir=output_dir,
        outputs=outputs,
    )


def run_in_terminal(argv: list[str], log_path: Path, on_line: Callable[[str], None]) -> int:
    """Run `argv` with a pseudo-terminal as its stdin/stdout/stderr; its output goes to
    `log_path` and, line by line, to `on_line`. Returns the exit code."""
    primary, secondary = os.openpty()
    try:
        process = subprocess.Popen(argv, stdin=secondary, stdout=secondary, stderr=secondary)
    finally:
        os.close(secondary)
    pending = b""
    with open(log_path, "wb") as log:
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError as err:  # EIO: every process holding the terminal has exited
                if err.errno != errno.EIO:
                    raise
                chunk = b""
            if not chunk:
                break
            log.write(chunk)
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                on_line(line.decode(errors="replace").rstrip("\r"))
    os.close(primary)
    return process.wait()
