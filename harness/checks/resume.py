"""Resume: a rerun continues from the saved global step instead of starting over."""

from __future__ import annotations

import re
import time

from harness.record import CheckResult

NAME = "resume"
_RESUMED_RE = re.compile(r"Resuming from (\S+) at global step (\d+)")
_RESTORED_RE = re.compile(r"Restored (\d+) Inception variables from (\S+)")


def check_resume(
    first_final_step: int | None,
    second_log: str,
    second_losses: dict[int, float],
    final_checkpoint_step: int | None,
    target_step: int,
) -> CheckResult:
    """The second run restored the first's last checkpoint, not Inception, and hit its target."""
    started = time.monotonic()
    resumed = _RESUMED_RE.search(second_log)
    restored = _RESTORED_RE.search(second_log)
    first_logged = min(second_losses) if second_losses else None
    evidence = {
        "first_run_final_step": first_final_step,
        "resumed_from": resumed.group(1) if resumed else None,
        "resumed_at_step": int(resumed.group(2)) if resumed else None,
        "restored_inception_again": bool(restored),
        "second_run_first_logged_step": first_logged,
        "final_checkpoint_step": final_checkpoint_step,
        "target_step": target_step,
    }
    problems = []
    if not resumed:
        problems.append("the second run never said it resumed ('Resuming from ...')")
    elif first_final_step is not None and int(resumed.group(2)) != first_final_step:
        problems.append(
            f"resumed at step {resumed.group(2)}, but the first run ended at {first_final_step}"
        )
    if restored:
        problems.append("the second run restored the pretrained Inception again")
    if (
        first_logged is not None
        and first_final_step is not None
        and first_logged <= first_final_step
    ):
        problems.append(
            f"the second run logged step {first_logged}, not after "
            f"{first_final_step}: it started over"
        )
    if final_checkpoint_step != target_step:
        problems.append(
            f"the last checkpoint is at step {final_checkpoint_step}, not the target {target_step}"
        )
    message = (
        "; ".join(problems)
        if problems
        else (f"resumed at global step {first_final_step} and reached {target_step}")
    )
    return CheckResult(NAME, not problems, message, evidence, time.monotonic() - started)
