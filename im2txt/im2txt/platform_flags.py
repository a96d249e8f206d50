"""The UAI-Train platform contract: its standard flags and how job paths resolve.

The platform appends `--work_dir --data_dir --output_dir --log_dir` (and
`--num_gpus` on GPU nodes) to every job and mounts the data and output folders
there. Job flags such as `--input_file_pattern=/train-?????-of-00256` are written
relative to those folders, platform style, by string concatenation. This module
defines the flags the way UCloud's `uflag` does (reusing `uflag` itself when it is
installed) and holds the one pure function that turns a job path into a real one.
"""

from __future__ import annotations

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


def resolve_under(base: str, job_path: str, what: str = "path") -> str:
    """Join a job path onto a platform folder the way the platform means it.

    `/train-*` and `train-*` both mean `<base>/train-*` (the platform concatenates
    `data_dir + input_file_pattern`); repeated and trailing slashes are tolerated;
    glob characters are kept verbatim. A path whose `..` parts climb above `base`
    is refused with PathEscapeError naming `what`, since the platform only mounts
    `base`. An empty job path means the base folder itself.
    """
    if not base:
        raise ValueError(f"{what}: the base folder is empty")
    root = posixpath.normpath(base)
    if root.startswith("//"):  # POSIX keeps a leading '//'; the platform does not.
        root = "/" + root.lstrip("/")
    relative = posixpath.normpath("/" + job_path.strip()).lstrip("/")
    if _climbs_above(job_path):
        raise PathEscapeError(f"{what} {job_path!r} escapes its base folder {base!r} with '..'")
    return posixpath.join(root, relative) if relative else root


def _climbs_above(job_path: str) -> bool:
    """Whether `..` components take the path above its starting folder at any point."""
    depth = 0
    for part in job_path.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def resolve_patterns(base: str, patterns: str, what: str = "input_file_pattern") -> list[str]:
    """Resolve a comma-separated list of job globs under `base`, dropping empty items."""
    items = [item.strip() for item in patterns.split(",") if item.strip()]
    if not items:
        raise ValueError(f"{what} is empty: give at least one file pattern")
    return [resolve_under(base, item, what) for item in items]
