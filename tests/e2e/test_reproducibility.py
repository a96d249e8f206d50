"""Same seed, twice: identical per-step losses (the `reproducible` check); another seed
diverges at its first step, and `compare` says where."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends.local import LocalBackend
from harness.compare import compare
from harness.params import with_flag
from harness.record import PASSED
from harness.validate import QUICK_PARAMS, Plan, validate

pytestmark = pytest.mark.slow


def _plan(sample, seed: int, reproducible: bool) -> Plan:
    data, pretrained = sample
    return Plan(
        train_params=with_flag(list(QUICK_PARAMS), "seed", seed),
        profile="none",
        data=data,
        pretrained=pretrained,
        steps=12,
        resume_steps=2,
        reproducible=reproducible,
    )


def test_same_seed_is_reproducible_and_another_seed_diverges(
    repo_root: Path, tmp_path: Path, im2txt_sample
) -> None:
    backend = LocalBackend(repo_root / "im2txt")
    first = validate(backend, _plan(im2txt_sample, 3, True), tmp_path / "a")
    check = first.record.check("reproducible")
    assert check.status == PASSED, check.message
    assert check.evidence["steps_compared"] == 12
    other = validate(backend, _plan(im2txt_sample, 4, False), tmp_path / "b")
    comparison = compare(first.record, other.record)
    assert not comparison.identical_losses
    train = next(phase for phase in comparison.phases if phase.name == "train")
    assert train.first_divergence is not None and train.first_divergence.step == 1
    assert comparison.job["train_params"][0] != comparison.job["train_params"][1]
