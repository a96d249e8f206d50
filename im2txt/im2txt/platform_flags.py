"""The UAI-Train platform contract: its standard flags and how job paths resolve.

The platform appends `--work_dir --data_dir --output_dir --log_dir` (and
`--num_gpus` on GPU nodes) to every job and mounts the data and output folders
there. Job flags such as `--input_file_pattern=/train-?????-of-00256` are written
relative to those folders, platform style, by string concatenation; upstream
style (`--input_file_pattern=/data/data/train-?????-of-00256`) names the folder
itself. This module defines the flags the way UCloud's `uflag` does (reusing
`uflag` itself when it is installed) and holds the one pure function that turns
a job path of either style into a real one.
"""

from __future__ import annotations

import dataclasses
import posixpath

from absl import flags

# name -> (default, help), exactly as uaitrain.arch.tensorflow.uflag defines them.
_STRING_FLAGS = {
    "work_dir": ("/data", "Code and pretrained-model folder of the job."),
    "data_dir": ("/data/data", "Input data folder (mounted by the platform)."),
    "output_dir": ("/data/output", "Output folder; everything here is uploaded."),
    "log_dir": ("/data/output", "TensorBoard summaries and metrics folder."),
}
_INTEGER_FLAGS = {
    "num_gpus": (0, "Number of GPUs the platform gives the job."),
    "max_step": (0, "Platform cap on training steps; 0 means no cap."),
}


class PathEscapeError(ValueError):
    """A job path tries to leave the platform folder it is relative to."""


def define_platform_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Define the platform flags once, preferring UCloud's own `uflag` module.

    Importing `uflag` registers its flags on absl's global FLAGS; whatever it did
    not define (or everything, when it is absent) is defined here. Flags already
    present are left alone, so a second call never raises a duplicate-flag error.
    absl.logging's own `--log_dir` (a folder for log files nobody writes here)
    gives way to the platform's, which means something else and has a default.
    """
    _yield_absl_log_dir(flag_values)
    if flag_values is flags.FLAGS:
        try:  # The platform's helper, when the job's image ships it.
            import uaitrain.arch.tensorflow.uflag  # noqa: F401
        except ImportError:
            pass
    for name, (default, help_text) in _STRING_FLAGS.items():
        if name not in flag_values or _yield_absl_log_dir(flag_values, name):
            flags.DEFINE_string(
                name, default, help_text, flag_values=flag_values, allow_override=True
            )
    for name, (default, help_text) in _INTEGER_FLAGS.items():
        if name not in flag_values:
            flags.DEFINE_integer(name, default, help_text, lower_bound=0, flag_values=flag_values)


def _yield_absl_log_dir(flag_values: flags.FlagValues, name: str = "log_dir") -> bool:
    """Let a later definition replace absl.logging's `--log_dir`; True if it is there."""
    if name != "log_dir" or name not in flag_values:
        return False
    if flag_values.find_module_defining_flag(name) != "absl.logging":
        return False
    flag_values[name].allow_override = True
    return True


def platform_default(folder: str) -> str:
    """Where the platform puts a folder (`/data/data` for data_dir): uflag's default."""
    return _STRING_FLAGS[folder][0]


@dataclasses.dataclass(frozen=True)
class JobPath:
    """A job path made real, and which of the two readings gave it."""

    what: str  # The flag it came from.
    written: str  # As the job gave it.
    path: str  # The real path.
    folder: str  # The platform folder it belongs to: a flag name, or the folder itself.
    already_under: str | None  # The folder it started with (re-rooted), or None (joined).

    def reading(self) -> str:
        """One log line: what was given, what it became, and why."""
        if self.already_under is None:
            how = f"joined onto {self.folder}"
        else:
            how = f"already under {self.folder}, as {self.already_under}: re-rooted onto it"
        return f"{self.what}: {self.written!r} -> {self.path} ({how})"


def resolve_under(
    base: str, job_path: str, what: str = "path", folder: str | None = None
) -> JobPath:
    """Turn a job path into a real one under the platform folder `base`.

    Platform style joins the two by concatenation: `/train-*` and `train-*` both
    mean `<base>/train-*`. Upstream style gives absolute paths that already
    start with the folder - its value (`base`) or, when `folder` names a platform
    flag, that flag's platform default (`/data/data` for data_dir) - and such a
    path is re-rooted: its remainder is joined onto `base` instead of all of it.
    So `/data/data/train-*` means `<data_dir>/train-*` both on the platform and
    where a test runs the job with data_dir elsewhere. Repeated and trailing
    slashes are tolerated and glob characters kept. A path whose `..` parts
    climb above `base` is refused with PathEscapeError naming `what`, since the
    platform only mounts `base`. An empty job path means `base` itself.
    """
    if not base:
        raise ValueError(f"{what}: the base folder is empty")
    root = _normalise(base)
    already_under = None
    parts = _parts(job_path)
    if job_path.strip().startswith("/"):
        default = platform_default(folder) if folder else None
        for prefix in dict.fromkeys(p for p in (root, default) if p):
            prefix_parts = _parts(prefix)
            if prefix_parts and parts[: len(prefix_parts)] == prefix_parts:
                already_under, parts = _normalise(prefix), parts[len(prefix_parts) :]
                break
    if _climbs_above(parts):
        raise PathEscapeError(f"{what} {job_path!r} escapes its base folder {base!r} with '..'")
    relative = posixpath.normpath("/" + "/".join(parts)).lstrip("/")
    path = posixpath.join(root, relative) if relative else root
    return JobPath(what, job_path, path, folder or root, already_under)


def _normalise(folder: str) -> str:
    root = posixpath.normpath(folder)
    if root.startswith("//"):  # POSIX keeps a leading '//'; the platform does not.
        root = "/" + root.lstrip("/")
    return root


def _parts(path: str) -> list[str]:
    """Path components, without the empty and `.` ones; `..` is kept."""
    return [part for part in path.strip().split("/") if part not in ("", ".")]


def _climbs_above(parts: list[str]) -> bool:
    """Whether `..` components take the path above its starting folder at any point."""
    depth = 0
    for part in parts:
        depth += -1 if part == ".." else 1
        if depth < 0:
            return True
    return False


def resolve_patterns(
    base: str, patterns: str, what: str = "input_file_pattern", folder: str | None = None
) -> list[JobPath]:
    """Resolve a comma-separated list of job globs under `base`, dropping empty items."""
    items = [item.strip() for item in patterns.split(",") if item.strip()]
    if not items:
        raise ValueError(f"{what} is empty: give at least one file pattern")
    return [resolve_under(base, item, what, folder) for item in items]
