"""What differs between two run records, starting with their loss curves.

Reproducibility is judged on losses per global step, phase by phase: by default
two losses agree only when they are the same float (bit for bit; NaN agrees with
NaN), and `rtol`/`atol` loosen that to |a - b| <= atol + rtol * |b|. Around the
losses this lists what could explain a difference: job flags and seed, versions,
the environment (including a pip freeze diff), input hashes and check verdicts.
"""

from __future__ import annotations

import dataclasses
import math
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.normal_form import by_role, normal
from harness.record import PhaseRecord, RunRecord, jsonable

Change = tuple[Any, Any]


@dataclass(frozen=True)
class Divergence:
    """The first step whose losses disagree."""

    step: int
    loss_a: float
    loss_b: float
    abs_diff: float


@dataclass
class PackageDiff:
    """Packages of two `pip freeze` lists: added and removed in b, and version changes."""

    added: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    changed: dict[str, Change] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Whether both lists name the same packages at the same versions."""
        return not (self.added or self.removed or self.changed)


@dataclass
class EnvironmentDiff:
    """Differing environment keys (python, tensorflow, cuda...) and the package diff."""

    values: dict[str, Change] = field(default_factory=dict)
    packages: PackageDiff = field(default_factory=PackageDiff)

    @property
    def empty(self) -> bool:
        """Whether the two environments match."""
        return not self.values and self.packages.empty


@dataclass
class HashDiff:
    """Files whose hashes differ, and files present on one side only."""

    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Whether both sides hold the same files with the same contents."""
        return not (self.changed or self.added or self.removed)


@dataclass
class PhaseComparison:
    """One phase's losses in both runs, plus differences in how it ran."""

    name: str
    in_a: bool
    in_b: bool
    steps_compared: int = 0
    divergent_steps: int = 0
    first_divergence: Divergence | None = None
    max_abs_diff: float = 0.0
    only_in_a: list[int] = field(default_factory=list)
    only_in_b: list[int] = field(default_factory=list)
    differences: dict[str, Change] = field(default_factory=dict)
    environment: EnvironmentDiff | None = None

    @property
    def identical_losses(self) -> bool:
        """Ran in both, same steps, and every loss agrees under the tolerances."""
        return (
            self.in_a
            and self.in_b
            and self.first_divergence is None
            and not self.only_in_a
            and not self.only_in_b
        )


@dataclass
class Comparison:
    """Everything `compare` found; `render_text` for people, `to_dict` for `--json`."""

    rtol: float
    atol: float
    phases: list[PhaseComparison] = field(default_factory=list)
    job: dict[str, Change] = field(default_factory=dict)
    versions: dict[str, Change] = field(default_factory=dict)
    environment: EnvironmentDiff = field(default_factory=EnvironmentDiff)
    inputs: HashDiff = field(default_factory=HashDiff)
    outputs: HashDiff = field(default_factory=HashDiff)
    checks: dict[str, Change] = field(default_factory=dict)

    @property
    def identical_losses(self) -> bool:
        """Whether every phase ran in both runs with agreeing losses at the same steps."""
        return all(phase.identical_losses for phase in self.phases)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON data; non-finite floats as strings, `(a, b)` pairs as lists."""
        data = dataclasses.asdict(self)
        data["identical_losses"] = self.identical_losses
        for phase, source in zip(data["phases"], self.phases, strict=True):
            phase["identical_losses"] = source.identical_losses
        return jsonable(data)

    def render_text(self) -> str:
        """A human summary: loss verdict first, then whatever else differs."""
        mode = (
            "bitwise"
            if self.rtol == 0 and self.atol == 0
            else f"rtol={self.rtol:g}, atol={self.atol:g}"
        )
        verdict = "identical" if self.identical_losses else "DIFFERENT"
        lines = [f"Losses: {verdict} ({mode})"]
        for phase in self.phases:
            lines.extend(_phase_lines(phase))
        sections: list[tuple[str, list[str]]] = [
            ("Job", _change_lines(self.job)),
            ("Versions", _change_lines(self.versions)),
            ("Environment", _environment_lines(self.environment)),
            ("Inputs", _hash_lines(self.inputs)),
            ("Outputs", _hash_lines(self.outputs)),
            ("Checks", _change_lines(self.checks)),
        ]
        for title, body in sections:
            if body:
                lines.append(f"{title}:")
                lines.extend(f"  {line}" for line in body)
            else:
                lines.append(f"{title}: same")
        return "\n".join(lines)


# --------------------------------------------------------------------------- comparing


def _same_float(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if rtol == 0 and atol == 0:
        return struct.pack("<d", a) == struct.pack("<d", b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * abs(b)


def compare_losses(
    result: PhaseComparison,
    a: Mapping[int, float],
    b: Mapping[int, float],
    rtol: float,
    atol: float,
) -> None:
    """Fill `result` with how two loss curves agree: common steps, steps on one side only,
    and the first and largest disagreement under the tolerances."""
    common = sorted(a.keys() & b.keys())
    result.steps_compared = len(common)
    result.only_in_a = sorted(a.keys() - b.keys())
    result.only_in_b = sorted(b.keys() - a.keys())
    for step in common:
        diff = abs(a[step] - b[step])
        if math.isfinite(diff):
            result.max_abs_diff = max(result.max_abs_diff, diff)
        if _same_float(a[step], b[step], rtol, atol):
            continue
        result.divergent_steps += 1
        if result.first_divergence is None:
            result.first_divergence = Divergence(step, a[step], b[step], diff)


def _dict_changes(
    a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = ""
) -> dict[str, Change]:
    """The keys whose values differ (in their JSON form), nested dicts key by key."""
    a, b = normal(a), normal(b)
    changes: dict[str, Change] = {}
    for key in sorted(a.keys() | b.keys(), key=str):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            changes.update(_dict_changes(va, vb, prefix=f"{prefix}{key}."))
        elif va != vb:
            changes[f"{prefix}{key}"] = (va, vb)
    return changes


def _phase_differences(a: PhaseRecord, b: PhaseRecord) -> dict[str, Change]:
    image_a, image_b = a.image or {}, b.image or {}
    pairs = {
        "exit_code": (a.exit_code, b.exit_code),
        "backend": (a.backend, b.backend),
        "command": (normal(a.command), normal(b.command)),
        "image.id": (image_a.get("id"), image_b.get("id")),
        "image.digest": (image_a.get("digest"), image_b.get("digest")),
    }
    return {key: pair for key, pair in pairs.items() if pair[0] != pair[1]}


def _compare_phase(
    name: str, a: PhaseRecord | None, b: PhaseRecord | None, rtol: float, atol: float
) -> PhaseComparison:
    result = PhaseComparison(name=name, in_a=a is not None, in_b=b is not None)
    if a is None or b is None:
        return result
    compare_losses(result, a.losses, b.losses, rtol, atol)
    result.differences = _phase_differences(a, b)
    if a.environment is not None and b.environment is not None:
        result.environment = diff_environment(a.environment, b.environment)
    return result


_FREEZE_LINE = re.compile(
    r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(===?|@)\s*(.+?)\s*$"
)
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_freeze(lines: Iterable[str]) -> dict[str, str]:
    """Package name (normalized as pip does) -> version, or `@ url`/the line for other pins."""
    packages: dict[str, str] = {}
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        match = _FREEZE_LINE.match(text)
        if match:
            name, operator, version = match.groups()
            packages[_normalize(name)] = version if operator != "@" else f"@ {version}"
            continue
        egg = _EGG.search(text)
        packages[_normalize(egg[1]) if egg else text] = text
    return packages


def diff_packages(a: Iterable[str], b: Iterable[str]) -> PackageDiff:
    """Added, removed and changed packages going from freeze list `a` to `b`."""
    pa, pb = parse_freeze(a), parse_freeze(b)
    return PackageDiff(
        added={name: pb[name] for name in sorted(pb.keys() - pa.keys())},
        removed={name: pa[name] for name in sorted(pa.keys() - pb.keys())},
        changed={
            name: (pa[name], pb[name])
            for name in sorted(pa.keys() & pb.keys())
            if pa[name] != pb[name]
        },
    )


def diff_environment(a: Mapping[str, Any], b: Mapping[str, Any]) -> EnvironmentDiff:
    """Differences between two `local_environment()`-style dicts."""
    plain_a = {k: v for k, v in a.items() if k != "pip_freeze"}
    plain_b = {k: v for k, v in b.items() if k != "pip_freeze"}
    return EnvironmentDiff(
        values=_dict_changes(plain_a, plain_b),
        packages=diff_packages(a.get("pip_freeze") or [], b.get("pip_freeze") or []),
    )


def diff_hashes(a: Mapping[str, str], b: Mapping[str, str]) -> HashDiff:
    """Paths whose hashes changed, appeared or disappeared going from `a` to `b` (event
    files matched by role)."""
    a, b = by_role(a), by_role(b)
    return HashDiff(
        changed=sorted(path for path in a.keys() & b.keys() if a[path] != b[path]),
        added=sorted(b.keys() - a.keys()),
        removed=sorted(a.keys() - b.keys()),
    )


def _job_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Change]:
    """What was run, key by key (`flags.lr`, `plan.steps`, `freezing.trainable`)."""
    return dict(sorted(_dict_changes(a, b).items()))


def _version_changes(a: RunRecord, b: RunRecord) -> dict[str, Change]:
    """Harness version and what identifies the code: folder digest and git state, or image."""
    code_a, code_b = a.code or {}, b.code or {}
    git_a, git_b = code_a.get("git") or {}, code_b.get("git") or {}
    pairs = {
        "harness_version": (a.harness_version, b.harness_version),
        "code.sha256": (code_a.get("sha256"), code_b.get("sha256")),
        "code.image": (code_a.get("id"), code_b.get("id")),
        "git.commit": (git_a.get("commit"), git_b.get("commit")),
        "git.dirty": (git_a.get("dirty"), git_b.get("dirty")),
    }
    return {key: pair for key, pair in pairs.items() if pair[0] != pair[1]}


def _verdicts(record: RunRecord) -> dict[str, str]:
    return {check.name: check.status for check in record.checks}


def compare(a: RunRecord, b: RunRecord, rtol: float = 0.0, atol: float = 0.0) -> Comparison:
    """Compares run `b` against run `a`; losses exactly unless tolerances are given."""
    if rtol < 0 or atol < 0:
        raise ValueError(f"tolerances must be >= 0, got rtol={rtol}, atol={atol}")
    names = [phase.name for phase in a.phases]
    names += [phase.name for phase in b.phases if phase.name not in names]
    return Comparison(
        rtol=rtol,
        atol=atol,
        phases=[_compare_phase(name, a.phase(name), b.phase(name), rtol, atol) for name in names],
        job=_job_changes(a.job, b.job),
        versions=_version_changes(a, b),
        environment=diff_environment(a.environment, b.environment),
        inputs=diff_hashes(a.inputs, b.inputs),
        outputs=diff_hashes(a.outputs, b.outputs),
        checks=_dict_changes(_verdicts(a), _verdicts(b)),
    )


# --------------------------------------------------------------------------- rendering


def _steps_text(steps: Sequence[int]) -> str:
    """`[1, 2, 3, 7]` -> `1-3, 7`."""
    ranges: list[str] = []
    start = previous = None
    for step in [*steps, None]:
        if previous is not None and step == previous + 1:
            previous = step
            continue
        if start is not None:
            ranges.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = step
    return ", ".join(ranges)


def _phase_lines(phase: PhaseComparison) -> list[str]:
    if not phase.in_a or not phase.in_b:
        return [f"  phase {phase.name}: only in {'a' if phase.in_a else 'b'}"]
    if phase.first_divergence is None:
        head = f"  phase {phase.name}: {phase.steps_compared} common steps agree"
    else:
        first = phase.first_divergence
        head = (
            f"  phase {phase.name}: first divergence at step {first.step}: "
            f"a={first.loss_a!r} b={first.loss_b!r} |diff|={first.abs_diff!r}; "
            f"{phase.divergent_steps} of {phase.steps_compared} steps differ, "
            f"max |diff|={phase.max_abs_diff!r}"
        )
    lines = [head]
    if phase.only_in_a:
        lines.append(f"    steps only in a: {_steps_text(phase.only_in_a)}")
    if phase.only_in_b:
        lines.append(f"    steps only in b: {_steps_text(phase.only_in_b)}")
    lines.extend(f"    {line}" for line in _change_lines(phase.differences))
    if phase.environment is not None and not phase.environment.empty:
        lines.append("    environment:")
        lines.extend(f"      {line}" for line in _environment_lines(phase.environment))
    return lines


def _change_lines(changes: Mapping[str, Change]) -> list[str]:
    return [f"{key}: {a!r} -> {b!r}" for key, (a, b) in changes.items()]


def _environment_lines(diff: EnvironmentDiff) -> list[str]:
    lines = _change_lines(diff.values)
    packages = diff.packages
    lines.extend(f"+ {name} {version}" for name, version in packages.added.items())
    lines.extend(f"- {name} {version}" for name, version in packages.removed.items())
    lines.extend(f"~ {name} {va} -> {vb}" for name, (va, vb) in packages.changed.items())
    return lines


def _hash_lines(diff: HashDiff) -> list[str]:
    return (
        [f"changed {path}" for path in diff.changed]
        + [f"added {path}" for path in diff.added]
        + [f"removed {path}" for path in diff.removed]
    )
