"""A job's own parameters (`--train-params`), read the way the job's flag library reads them.

The harness never adds flags a job did not define, so everything it needs from a
job - its step target, its pretrained checkpoint, whether it fine-tunes that
checkpoint - is read from the parameters the user gives, with absl's rules
(`--flag=value`, `--flag value`, booleans as `--flag`, `--noflag`, `--flag=true`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

PLATFORM_FLAGS = ("work_dir", "data_dir", "output_dir", "log_dir", "num_gpus")
# Where jobs keep their step target, in the order the harness looks for them.
STEP_FLAGS = ("number_of_steps", "max_steps", "train_steps", "max_step", "steps")
# Flags naming the checkpoint a job restores at step 0, most specific first.
PRETRAINED_FLAGS = (
    "inception_checkpoint_file",
    "pretrained_checkpoint",
    "pretrained_checkpoint_file",
    "pretrained_model",
    "init_checkpoint",
    "fine_tune_checkpoint",
)
_PRETRAINED_NAME = re.compile(r"pretrain|^init_.*(ckpt|checkpoint)|(ckpt|checkpoint)_(file|path)$")
_NOT_PRETRAINED = re.compile(r"^(save_|train_dir|output|eval_|checkpoint_dir$|checkpoint_path$)")
# Boolean flags saying whether the pretrained part trains (True) or stays frozen (False).
FINE_TUNE_FLAGS = ("train_inception", "fine_tune", "finetune", "train_backbone", "trainable")
FREEZE_FLAGS = ("freeze_backbone", "freeze", "frozen")
_TRUE = ("true", "t", "1")
_FALSE = ("false", "f", "0")


def split_params(train_params: str) -> list[str]:
    """Split a `--train-params` string like the shell the platform hands it to."""
    try:
        return shlex.split(train_params)
    except ValueError as err:
        raise ValueError(f"--train-params cannot be split into words: {err}") from err


def flag_value(params: Sequence[str], name: str) -> str | None:
    """The last value given to `--name=value` / `--name value`, or None."""
    value = None
    for index, item in enumerate(params):
        if item.startswith(f"--{name}="):
            value = item.split("=", 1)[1]
        elif (
            item == f"--{name}"
            and index + 1 < len(params)
            and not params[index + 1].startswith("--")
        ):
            value = params[index + 1]
    return value


def flag_bool(params: Sequence[str], name: str) -> bool | None:
    """An absl boolean: `--name` and `--name=true|t|1` are True, `--noname` and
    `--name=false|f|0` are False (any case); None when not given. The last one wins."""
    value = None
    for item in params:
        if item in (f"--{name}", f"-{name}"):
            value = True
        elif item in (f"--no{name}", f"-no{name}"):
            value = False
        elif item.startswith((f"--{name}=", f"-{name}=")):
            text = item.split("=", 1)[1].strip().lower()
            if text in _TRUE:
                value = True
            elif text in _FALSE:
                value = False
            else:
                raise ValueError(f"--{name}={text!r} is not a boolean (true/false/1/0)")
    return value


def with_flag(params: Sequence[str], name: str, value: object) -> list[str]:
    """Parameters with `--name` set to `value` in place of its earlier settings."""
    kept, skip = [], False
    for index, item in enumerate(params):
        if skip:
            skip = False
            continue
        if item.startswith(f"--{name}="):
            continue
        if (
            item == f"--{name}"
            and index + 1 < len(params)
            and not params[index + 1].startswith("--")
        ):
            skip = True
            continue
        kept.append(item)
    return [*kept, f"--{name}={value}"]


_PLATFORM_FLAG_RE = re.compile(rf"^--?({'|'.join(PLATFORM_FLAGS)})(=|$)")


def platform_flags_in(params: Sequence[str]) -> list[str]:
    """Parameters that set a flag the platform appends itself (users must not pass them)."""
    return [p for p in params if _PLATFORM_FLAG_RE.match(p)]


def strip_platform_flags(params: Sequence[str]) -> list[str]:
    """The parameters without the platform's own flags (as read back from a command line)."""
    return [p for p in params if not _PLATFORM_FLAG_RE.match(p)]


def step_flag(params: Sequence[str], name: str | None = None) -> tuple[str, int] | None:
    """The job's step target: `name`'s value, else the first of STEP_FLAGS the params set."""
    for candidate in (name,) if name else STEP_FLAGS:
        value = flag_value(params, candidate)
        if value is None:
            continue
        try:
            return candidate, int(value)
        except ValueError as err:
            raise ValueError(f"--{candidate}={value!r} is not a whole number of steps") from err
    return None


def pretrained_flag(params: Sequence[str], name: str | None = None) -> tuple[str, str] | None:
    """The flag naming the checkpoint the job restores at step 0, and its value."""
    if name:
        value = flag_value(params, name)
        return (name, value) if value else None
    for candidate in PRETRAINED_FLAGS:
        if value := flag_value(params, candidate):
            return candidate, value
    for item in params:
        flag, equals, value = item.lstrip("-").partition("=")
        if equals and value and _PRETRAINED_NAME.search(flag) and not _NOT_PRETRAINED.match(flag):
            return flag, value
    return None


def fine_tunes(params: Sequence[str]) -> tuple[bool, str]:
    """Whether the job trains its pretrained variables, and which parameter said so
    (jobs that say nothing are taken as frozen, as the platform's im2txt example is)."""
    for name in FINE_TUNE_FLAGS:
        value = flag_bool(params, name)
        if value is not None:
            return value, f"--{name}={str(value).lower()}"
    for name in FREEZE_FLAGS:
        value = flag_bool(params, name)
        if value is not None:
            return not value, f"--{name}={str(value).lower()}"
    return False, "no fine-tuning flag in the parameters"
