"""Resume: a rerun with a higher step target continues from the job's last checkpoint.

The platform restarts jobs on the same output folder; a job that starts over wastes
the GPU time already paid for. Judged from what the job wrote, for any job: the
rerun's first logged step follows the first run's last checkpoint step, its first
loss continues the first run's loss level instead of going back to the start, it
reaches the new target, and - when the pretrained variables fine-tune - it did not
put the pretrained values back over the checkpoint's.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from harness.record import CheckResult

NAME = "resume"


def _level(losses: Mapping[int, float], last: bool) -> float:
    steps = sorted(losses)
    window = max(1, len(steps) // 5)
    chosen = steps[-window:] if last else steps[:window]
    return sum(losses[s] for s in chosen) / len(chosen)


def _distance(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], names) -> float:
    return float(
        sum(np.linalg.norm(np.asarray(a[n], float) - np.asarray(b[n], float)) for n in names)
    )


def check_resume(
    first_step: int | None,
    first_losses: Mapping[int, float],
    resume_losses: Mapping[int, float],
    final_step: int | None,
    target: int,
    pretrained: Mapping[str, np.ndarray] | None = None,
    before: Mapping[str, np.ndarray] | None = None,
    after: Mapping[str, np.ndarray] | None = None,
    seconds: float = 0.0,
    name: str = NAME,
) -> CheckResult:
    """`pretrained`, `before` and `after` (the first run's and the rerun's last checkpoints)
    are the shared pretrained variables, given when the job fine-tunes them."""
    started = time.monotonic()
    first_logged = min(resume_losses) if resume_losses else None
    evidence: dict = {
        "first_run_last_checkpoint_step": first_step,
        "rerun_first_logged_step": first_logged,
        "rerun_last_checkpoint_step": final_step,
        "target_step": target,
    }
    problems = []
    if first_step is None:
        problems.append("the first run left no checkpoint with a global step to resume from")
    if first_logged is None:
        problems.append("the rerun logged no loss, so where it started cannot be told")
    elif first_step is not None and first_logged < first_step:
        # (== is fine: Estimator-style hooks log the step before its update)
        problems.append(
            f"the rerun logged step {first_logged}, before the first run's last checkpoint "
            f"at {first_step}: it started over"
        )
    if final_step is None or final_step < target:
        problems.append(f"the last checkpoint is at step {final_step}, not the target {target}")
    if first_logged is not None and len(first_losses) >= 4:
        start, end = _level(first_losses, last=False), _level(first_losses, last=True)
        resumed_at = resume_losses[first_logged]
        evidence.update(
            first_run_start_level=start, first_run_end_level=end, rerun_first_loss=resumed_at
        )
        if start - end > 0.1 * abs(start) and resumed_at > (start + end) / 2:
            problems.append(
                f"the rerun's first loss {resumed_at:.4f} is back near the first run's starting "
                f"level {start:.4f}, not its final level {end:.4f}: it did not continue from the "
                "checkpoint"
            )
    if pretrained and before and after:
        moved = [
            n
            for n in pretrained
            if n in before and n in after and not np.array_equal(pretrained[n], before[n])
        ]
        if moved:
            to_pretrained = _distance(after, pretrained, moved)
            to_checkpoint = _distance(after, before, moved)
            evidence.update(
                distance_to_pretrained=to_pretrained, distance_to_checkpoint=to_checkpoint
            )
            if to_pretrained < to_checkpoint:
                problems.append(
                    f"the rerun's fine-tuned pretrained variables are nearer the pretrained file "
                    f"({to_pretrained:.4g}) than the checkpoint it resumed ({to_checkpoint:.4g}): "
                    "it restored the pretrained file again"
                )
    message = "; ".join(problems) or (
        f"resumed after global step {first_step} (first logged step {first_logged}) and "
        f"reached {final_step} (target {target})"
    )
    return CheckResult.judged(
        name, not problems, message, evidence=evidence, seconds=seconds + time.monotonic() - started
    )
