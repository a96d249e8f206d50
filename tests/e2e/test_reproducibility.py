"""Same seed, same machine, twice: identical per-step losses; compare finds divergence."""

from __future__ import annotations

import pytest

from harness.backends.local import LocalBackend
from harness.compare import compare
from harness.contract import PlatformRoot
from harness.record import PhaseRecord, RunRecord, read_metrics
from harness.synthetic import generate_dataset, write_inception_checkpoint
from harness.validate import Plan

pytestmark = pytest.mark.slow


def _train_once(tmp_path, name: str, code_path, seed: int) -> RunRecord:
    from harness.backends.base import JobSpec

    root = PlatformRoot.create(parent=tmp_path, prefix=f"{name}-")
    generate_dataset(root.data_dir, seed=0, num_images=8, captions_per_image=2, num_eval_images=0)
    write_inception_checkpoint(root.work_dir / "inception_v3.ckpt")
    backend = LocalBackend(code_path)
    backend.prepare(root)
    plan = Plan.quick(steps=12, seed=seed)
    outcome = backend.run(
        JobSpec(train_params=tuple(plan.phase_params(12))), root, tmp_path / f"{name}.log"
    )
    assert outcome.succeeded, outcome.log_tail()
    losses = read_metrics(root.log_dir / "metrics.jsonl")
    phase = PhaseRecord.from_output(
        "train", outcome.command, 0, outcome.seconds, outcome.log_text, "local", losses=losses
    )
    return RunRecord(phases=[phase])


def test_same_seed_gives_identical_losses_and_other_seed_diverges(tmp_path, repo_root) -> None:
    code_path = repo_root / "im2txt"
    first = _train_once(tmp_path, "a", code_path, seed=3)
    second = _train_once(tmp_path, "b", code_path, seed=3)
    assert len(first.phases[0].losses) == 12
    same = compare(first, second)
    assert same.identical_losses, same.render_text()
    other = compare(first, _train_once(tmp_path, "c", code_path, seed=4))
    assert not other.identical_losses
    divergence = other.phases[0].first_divergence
    assert divergence is not None and divergence.step == 1
