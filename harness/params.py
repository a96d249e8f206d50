"""A job's own parameters (`--train-params`), read the way the job's flag library reads them.

The harness never adds flags a job did not define, so everything it needs from a
job - its step target, its pretrained checkpoint, whether it fine-tunes that
checkpoint - is read from the parameters the user gives, with absl's rules
(`--flag=value`, `--flag value`, booleans as `--flag`, `--noflag`, `--flag=true`).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Iterable, Iterator, Sequence

from harness.contract import PLATFORM_FLAGS
from harness.jobshapes import (
    EXCLUDE_SCOPES_FLAGS,
    FINE_TUNE_FLAGS,
    FREEZE_FLAGS,
    NOT_PRETRAINED_NAME,
    PRETRAINED_FLAGS,
    PRETRAINED_NAME,
    STEP_FLAGS,
    STEPS,
    TRAINABLE_SCOPES_FLAGS,
    unit_of,
)

_TRUE = ("true", "t", "1")
_FALSE = ("false", "f", "0")


def split_params(train_params: str) -> list[str]:
    """Split a `--train-params` string like the shell the platform hands it to."""
    try:
        return shlex.split(train_params)
    except ValueError as err:
        raise ValueError(f"--train-params cannot be split into words: {err}") from err


def flag_value(params: Sequence[str], name: str) -> str | None:
    """The last value given to `--name=value` / `--name value` (absl also takes one dash,
    as slim's README writes `-checkpoint_exclude_scopes=...`), or None."""
    value = None
    for index, item in enumerate(params):
        if item.startswith((f"--{name}=", f"-{name}=")):
            value = item.split("=", 1)[1]
        elif (
            item in (f"--{name}", f"-{name}")
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


def _with_flag_words(params: Sequence[str], name: str, value: object) -> list[str]:
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


@dataclasses.dataclass(frozen=True)
class StepTarget:
    """The flag carrying a job's training length (spelled as its parameters spell it),
    its value, and whether it counts steps or epochs."""

    flag: str
    value: int
    unit: str = STEPS

    def but(self, value: int) -> StepTarget:
        return dataclasses.replace(self, value=value)

    def describe(self, value: int | None = None) -> str:
        return f"--{self.flag}={self.value if value is None else value}"


def spelled(params: Sequence[str], name: str) -> str | None:
    """How the parameters spell flag `name`, `-` and `_` between words being the same
    (argparse jobs say `--train-steps`, absl ones `--train_steps`); the last one set wins."""
    wanted, found = name.replace("-", "_"), None
    for item in params:
        flag = item.lstrip("-").split("=", 1)[0] if item.startswith("-") else None
        if flag and flag.replace("-", "_") == wanted:
            found = flag
    return found


def step_flag(params: Sequence[str], name: str | None = None) -> StepTarget | None:
    """The job's training length: `name`'s value (either spelling), else the first known
    step flag (`harness.jobshapes.STEP_FLAGS`) the parameters set."""
    for candidate in (name,) if name else [f.name for f in STEP_FLAGS]:
        flag = spelled(params, candidate)
        value = flag_value(params, flag) if flag else None
        if value is None:
            continue
        try:
            return StepTarget(flag, int(value), unit_of(flag))
        except ValueError as err:
            raise ValueError(f"--{flag}={value!r} is not a whole number of steps") from err
    return None


def pretrained_flag(params: Sequence[str], name: str | None = None) -> tuple[str, str] | None:
    """The flag naming the checkpoint the job restores at step 0, and its value."""
    if name:
        flag = spelled(params, name)
        value = flag_value(params, flag) if flag else None
        return (flag, value) if value else None
    for candidate in PRETRAINED_FLAGS:
        if value := flag_value(params, candidate.name):
            return candidate.name, value
    for item in params:
        flag, equals, value = item.lstrip("-").partition("=")
        if (
            equals
            and value
            and PRETRAINED_NAME.search(flag)
            and not NOT_PRETRAINED_NAME.match(flag)
        ):
            return flag, value
    return None


@dataclasses.dataclass(frozen=True)
class FreezingRules:
    """What the job's parameters say about its pretrained variables: all frozen (`frozen`
    True), declared fine-tuning (False), or not said (None); the scopes that alone train
    (`--trainable_scopes`) and those not restored (`--checkpoint_exclude_scopes`)."""

    frozen: bool | None = None
    trainable_scopes: tuple[str, ...] = ()
    exclude_scopes: tuple[str, ...] = ()
    source: str = "no freezing flag in the parameters"

    def must_stay(self, name: str) -> bool:
        """Whether variable `name` must keep its pretrained value exactly."""
        if self.trainable_scopes:
            return not any(name.startswith(scope) for scope in self.trainable_scopes)
        return self.frozen is True

    def excluded(self, name: str) -> str | None:
        """The exclude scope `name` falls under (slim's plain prefix match), if any."""
        return next((scope for scope in self.exclude_scopes if name.startswith(scope)), None)


def _scopes(params: Sequence[str], flags) -> tuple[str | None, tuple[str, ...]]:
    for known in flags:
        value = flag_value(params, known.name)
        if value:
            return known.name, tuple(s.strip() for s in value.split(",") if s.strip())
    return None, ()


def freezing_rules(params: Sequence[str], override: bool | None = None) -> FreezingRules:
    """The rules the job's parameters (or the user's --trainable/--frozen, `override`:
    True fine-tunes) give its pretrained variables."""
    scope_flag, trainable = _scopes(params, TRAINABLE_SCOPES_FLAGS)
    exclude_flag, excluded = _scopes(params, EXCLUDE_SCOPES_FLAGS)
    said = [f"--{scope_flag}={','.join(trainable)}"] if scope_flag else []
    said += [f"--{exclude_flag}={','.join(excluded)}"] if exclude_flag else []
    frozen, source = None, None
    if override is not None:
        frozen, source = not override, "--trainable" if override else "--frozen"
    else:
        for known in FINE_TUNE_FLAGS:
            value = flag_bool(params, known.name)
            if value is not None:
                frozen, source = not value, f"--{known.name}={str(value).lower()}"
                break
        else:
            for known in FREEZE_FLAGS:
                value = flag_bool(params, known.name)
                if value is not None:
                    frozen, source = value, f"--{known.name}={str(value).lower()}"
                    break
    said = ([source] if source else []) + said
    return FreezingRules(
        frozen, trainable, excluded, ", ".join(said) or "no freezing flag in the parameters"
    )


# What the platform's `bash -c` line would interpret in a job's parameters (globs such as
# the `?????` of im2txt's file pattern match nothing at / and stay as they are).
_SHELL_SPECIAL = re.compile(r"[$`;&|<>()\n\\]")


def shell_specials(text: str) -> list[str]:
    """The words of a raw `--train-params` text that hold characters the platform's shell
    line interprets: substitutions, separators, redirections, a newline."""
    words = re.split(r"[ \t]+", text.strip())
    return [word for word in words if _SHELL_SPECIAL.search(word)]


def _with_flag_text(text: str, name: str, value: object) -> str:
    """A raw parameter text with `--name` set to `value` where it stands (earlier settings
    removed), or appended when it is not set - the rest left exactly as written."""
    setting = re.compile(rf"(?<![^ \t\n])--{re.escape(name)}(=[^ \t\n]*|[ \t]+(?!-)[^ \t\n]+)?")
    found = list(setting.finditer(text))
    if not found:
        return f"{text.rstrip()} --{name}={value}".lstrip()
    last = found[-1]
    kept = text[: last.start()] + f"--{name}={value}" + text[last.end() :]
    for match in reversed(found[:-1]):
        kept = kept[: match.start()] + kept[match.end() :]
    return kept


@dataclasses.dataclass(frozen=True)
class JobParams(Sequence[str]):
    """A job's parameters in the one form the harness passes around: the words the job's
    flag library reads (it is a sequence of them), and the text the user typed, which the
    shell line pastes in as the platform does (None when they were given as words: then
    each word is quoted into the line)."""

    words: tuple[str, ...] = ()
    text: str | None = None

    @classmethod
    def typed(cls, text: str) -> JobParams:
        """The parameters as typed (`--train-params="..."`), split as the platform splits them."""
        return cls(tuple(split_params(text)), text)

    @classmethod
    def of(cls, given: JobParams | str | Iterable[str]) -> JobParams:
        """`given` as JobParams: a text is typed text, any other iterable its words."""
        if isinstance(given, JobParams):
            return given
        if isinstance(given, str):
            return cls.typed(given)
        return cls(tuple(given))

    def __getitem__(self, index):  # type: ignore[override]
        return self.words[index]

    def __len__(self) -> int:
        return len(self.words)

    def __iter__(self) -> Iterator[str]:
        return iter(self.words)

    def value(self, name: str) -> str | None:
        """The last value given to `--name` (see `flag_value`)."""
        return flag_value(self.words, name)

    def boolean(self, name: str) -> bool | None:
        """`--name` read as an absl boolean (see `flag_bool`)."""
        return flag_bool(self.words, name)

    def with_flag(self, name: str, value: object) -> JobParams:
        """The parameters with `--name` set to `value`: in the words, earlier settings
        replaced by one at the end; in the typed text, set where it stands and the rest
        left exactly as written, so the shell line still reads as the user typed it."""
        text = None if self.text is None else _with_flag_text(self.text, name, value)
        return JobParams(tuple(_with_flag_words(self.words, name, value)), text)

    def shell_specials(self) -> list[str]:
        """The typed words the platform's shell line interprets (none when given as words)."""
        return [] if self.text is None else shell_specials(self.text)

    def platform_flags(self) -> list[str]:
        """The words that set a flag the platform appends itself."""
        return platform_flags_in(self.words)
