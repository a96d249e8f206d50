"""Resume: a rerun with a higher step target continues from the job's last checkpoint.

The platform restarts a stopped job on the same output folder. A job that saves
checkpoints carrying a step claims to resume; if its rerun starts over, crashes or
goes non-finite, the GPU time already paid for is lost: that fails. Judged from what
the job wrote: the first run reached its target, the rerun's first logged step
follows the first run's last checkpoint step (for a loss logged per epoch, the first
run's last epoch; a counter restarting in every run says nothing), its first loss
continues the first run's loss level instead of going back to the start, its losses
and its final checkpoint stay finite, it reaches the new target, and - when the pretrained
variables fine-tune - it did not put the pretrained values back over the
checkpoint's. A job that saves no checkpoint carrying a step has no resume logic at
all: that is a warning (the platform does not require one), unless even its rerun
crashes.

Without a checkpoint carrying a step, the rerun is judged from its behaviour, whatever
the format the job resumes through (a `.keras`/`.h5` model it reloads, a Keras
BackupAndRestore folder, epoch-numbered weights): its first loss against the first
run's levels (near its end: it continued; back near its start: it started over), and,
where the levels cannot tell, where its step or epoch numbering starts. A job that
continued passes; one that started over has no resume logic, a warning - unless it
saved state meant for resuming (a backup folder, model files numbered by epoch,
checkpoints in /tmp that a restart never finds) or deleted what the first run wrote,
which fails. What cannot be told warns.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from harness.checks.levels import fifth_mean
from harness.checks.path_contract import checkpoints_outside
from harness.checks.phases import RESUME, TRAIN
from harness.job import ModelFile
from harness.jobshapes import (
    BACKUP_FOLDER,
    EPOCH_INDEX,
    EPOCH_NUMBERED_MODEL,
    EPOCHS,
    GLOBAL_STEPS,
)
from harness.record import CheckResult

if TYPE_CHECKING:
    from harness.checks.registry import Situation
    from harness.scenario.evidence import Evidence

NAME = "resume"
PHASES = (TRAIN, RESUME)
_NO_RERUN_LOSS = (
    "the rerun logged no loss that was found, so where it started cannot be told (name the "
    "loss with --loss-tag or --loss-regex)"
)


def not_applicable(situation: Situation) -> str | None:
    if situation.step_target:
        return None
    return (
        "the job's parameters carry no step target to raise for a rerun (name one with "
        "--step-flag and --steps)"
    )


def judge(evidence: Evidence) -> CheckResult:
    return judge_rerun(evidence, NAME, RESUME, TRAIN)


def judge_rerun(
    evidence: Evidence, name: str, phase: str, previous: str, earlier: str | None = None
) -> CheckResult:
    """`phase` restarted on what `previous` left, judged against it. `earlier` is the phase
    that trained from scratch when `previous` itself resumed: the loss levels the rerun is
    held to span the whole training so far, not a plateau's noise."""
    rerun, before = evidence.phase(phase), evidence.phase(previous)
    previous_models = evidence.models_after[previous]
    resumable = [m for m in previous_models if m.resumable]
    final = evidence.latest.get(phase) if rerun.failure is None else None
    final = final if final is not None and final.resumable else None
    failure = rerun.failure
    if failure and rerun.diagnosis:
        failure += f" ({rerun.diagnosis})"
    first_target, target = evidence.targets[phase]
    first_losses = evidence.phase(earlier).losses.values if earlier else {}
    facts = ResumeFacts(
        first_step=resumable[-1].step if resumable else None,
        first_target=first_target,
        first_losses={**first_losses, **before.losses.values},
        losses=rerun.losses.values,
        final_step=final.step if final else None,
        target=target,
        unit=evidence.preflight.step.unit,
        failure=failure,
        saved=[m.path.name for m in previous_models],
        backups=sorted(
            {
                part
                for m in previous_models
                for part in m.path.relative_to(evidence.output.output_dir).parts[:-1]
                if BACKUP_FOLDER.match(part)
            }
        ),
        non_finite=_non_finite(final),
        elsewhere=checkpoints_outside(evidence, previous),
        deleted=[
            str(p.relative_to(evidence.output.output_dir))
            for p in evidence.files_after.get(previous, [])
            if not os.path.lexists(p)
        ],
        loss_steps=rerun.losses.steps,
        first_loss_steps=before.losses.steps,
    )
    return check_resume(facts, **evidence.restore_values.for_resume(final), name=name)


def _non_finite(model: ModelFile | None) -> list[str]:
    if model is None:
        return []
    return sorted(
        name
        for name, value in model.values().items()
        if value.dtype.kind == "f" and not np.all(np.isfinite(value))
    )


@dataclasses.dataclass(frozen=True)
class ResumeFacts:
    """What the two runs left: checkpoint steps, targets (in `unit`), losses."""

    first_step: int | None  # the first run's last checkpoint carrying a step (None: none)
    first_target: int
    first_losses: Mapping[int, float]
    losses: Mapping[int, float]
    final_step: int | None
    target: int
    unit: str = "steps"
    failure: str | None = None  # why the rerun phase failed
    saved: Sequence[str] = ()  # the first run's model files, for the no-resume warning
    backups: Sequence[str] = ()  # folders of state saved for resuming (Keras backup/)
    deleted: Sequence[str] = ()  # the first run's files under output_dir the rerun removed
    elsewhere: Sequence[str] = ()  # checkpoints the first run wrote outside output_dir
    non_finite: Sequence[str] = ()  # variables of the final checkpoint that are not finite
    loss_steps: str = GLOBAL_STEPS  # what the rerun's loss step numbers count (jobshapes)
    first_loss_steps: str = GLOBAL_STEPS  # ... and the first run's


def _distance(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], names) -> float:
    return float(
        sum(np.linalg.norm(np.asarray(a[n], float) - np.asarray(b[n], float)) for n in names)
    )


def _expected_final(rerun: ResumeFacts) -> int | None:
    """The rerun's target as a step: itself, or scaled by the first run's steps per epoch."""
    if rerun.unit != EPOCHS:
        return rerun.target
    if rerun.first_step is None or rerun.first_target <= 0:
        return None
    return round(rerun.first_step * rerun.target / rerun.first_target)


def _started_over(rerun: ResumeFacts, first_logged: int) -> str | None:
    """Why the rerun's first logged step shows it trained again what was trained, if it
    does; in the unit its loss is counted in."""
    # (== is fine: Estimator-style hooks log the step before its update.) A rerun that
    # logs past the first run's own last logged number continues its numbering, though
    # that number counts epochs (a `Cost` summary per epoch beside model.ckpt-<step>).
    logged_again = not rerun.first_losses or first_logged <= max(rerun.first_losses)
    if rerun.loss_steps == GLOBAL_STEPS and first_logged < rerun.first_step and logged_again:
        return (
            f"the rerun logged step {first_logged}, before the first run's last checkpoint "
            f"at {rerun.first_step}: it started over"
        )
    epochs_known = rerun.first_loss_steps == EPOCH_INDEX and rerun.first_losses
    if rerun.loss_steps == EPOCH_INDEX and epochs_known:
        # Keras numbers epochs from `initial_epoch`: a resumed fit logs a new epoch first.
        first, last = min(rerun.first_losses), max(rerun.first_losses)
        if first_logged <= first:
            return (
                f"the rerun logged epoch {first_logged}, the first run's first epoch: it "
                "started over"
            )
        if first_logged <= last:
            return (
                f"the rerun logged epoch {first_logged}, which the first run had trained "
                f"(its last was {last}): it trained epochs {first_logged}-{last} again"
            )
    return None  # a counter that restarts in every run: the loss level has to tell


def _problems(rerun: ResumeFacts) -> list[str]:
    problems = []
    first_logged = min(rerun.losses) if rerun.losses else None
    if rerun.unit != EPOCHS and rerun.first_step < rerun.first_target:
        problems.append(
            f"the first run's last checkpoint is at step {rerun.first_step}, short of its "
            f"target {rerun.first_target}: it stopped early"
        )
    if rerun.failure:
        problems.append(f"the rerun on its own checkpoints {rerun.failure}")
        return problems
    if first_logged is None:
        problems.append(_NO_RERUN_LOSS)
    elif started_over := _started_over(rerun, first_logged):
        problems.append(started_over)
    bad = [s for s in sorted(rerun.losses) if not math.isfinite(rerun.losses[s])]
    if bad:
        problems.append(
            f"the rerun's loss is not finite from step {bad[0]} ({rerun.losses[bad[0]]})"
        )
    if rerun.non_finite:
        shown = ", ".join(rerun.non_finite[:4])
        problems.append(f"the final checkpoint holds non-finite values: {shown}")
    expected = _expected_final(rerun)
    if rerun.final_step is None or (expected is not None and rerun.final_step < expected):
        problems.append(
            f"the last checkpoint is at step {rerun.final_step}, not the target {expected}"
        )
    if _level(rerun) is False:
        problems.append(f"{_level_text(rerun)}: it did not continue from the checkpoint")
    return problems


def _level(rerun: ResumeFacts) -> bool | None:
    """Whether the rerun's first loss continues the first run's level (True), is back near
    its start (False), or cannot tell (None: no clear fall in the first run, no losses)."""
    if not rerun.losses or len(rerun.first_losses) < 4:
        return None
    start, end = _levels(rerun)
    if start - end <= 0.1 * abs(start):
        return None
    return rerun.losses[min(rerun.losses)] <= (start + end) / 2


def _levels(rerun: ResumeFacts) -> tuple[float, float]:
    first = rerun.first_losses
    return fifth_mean(first, last=False), fifth_mean(first, last=True)


def _level_text(rerun: ResumeFacts) -> str:
    start, end = _levels(rerun)
    resumed_at = rerun.losses[min(rerun.losses)]
    where = (
        "near the first run's final level"
        if _level(rerun)
        else "back near the first run's starting level"
    )
    return (
        f"the rerun's first loss {resumed_at:.4f} is {where} (it went from {start:.4f} to "
        f"{end:.4f})"
    )


def _numbering(rerun: ResumeFacts) -> bool | None:
    """Whether the rerun's step or epoch numbering goes on from the first run's (True),
    starts again where it started (False), or says nothing (a counter of each run)."""
    counted = (GLOBAL_STEPS, EPOCH_INDEX)
    if not rerun.losses or not rerun.first_losses or rerun.loss_steps not in counted:
        return None
    if rerun.loss_steps != rerun.first_loss_steps:
        return None
    first_logged = min(rerun.losses)
    if first_logged > max(rerun.first_losses):
        return True
    return False if first_logged <= min(rerun.first_losses) else None


def _behaviour(rerun: ResumeFacts) -> tuple[bool | None, str]:
    """Whether a rerun without a checkpoint carrying a step continued, and which evidence
    says so: the loss level first, the numbering where the level cannot tell."""
    if (level := _level(rerun)) is not None:
        return level, _level_text(rerun)
    unit = "epoch" if rerun.loss_steps == EPOCH_INDEX else "step"
    if (numbering := _numbering(rerun)) is not None:
        first, before = min(rerun.losses), (min(rerun.first_losses), max(rerun.first_losses))
        return numbering, (
            f"the rerun logged {unit} {first} first; the first run logged {unit}s "
            f"{before[0]}-{before[1]}"
        )
    if not rerun.losses:
        return None, "the rerun logged no loss"
    return None, "neither its loss level nor its numbering tells where the rerun started"


def _resume_state(rerun: ResumeFacts) -> str | None:
    """What the first run saved only to go on from: a backup folder, or model files
    numbered by epoch (two or more numbers: saved every epoch, not one final model)."""
    if rerun.backups:
        return ", ".join(f"{folder}/" for folder in rerun.backups)
    if rerun.elsewhere:
        return "checkpoints outside output_dir, lost on a restart: " + ", ".join(
            rerun.elsewhere[:3]
        )
    numbered = [n for n in rerun.saved if EPOCH_NUMBERED_MODEL.search(n)]
    epochs = {EPOCH_NUMBERED_MODEL.search(n)["epoch"] for n in numbered}
    if len(epochs) >= 2:
        return "model files numbered by epoch: " + ", ".join(sorted(numbered)[:3])
    return None


def _without_step(rerun: ResumeFacts, result) -> CheckResult:
    """The verdict on a job that saved no checkpoint carrying a step."""
    saved = ", ".join(rerun.saved[:3]) or "nothing"
    if rerun.failure:
        return result([f"the rerun on the first run's output {rerun.failure}"], [], "")
    continued, why = _behaviour(rerun)
    if continued:
        return result([], [], f"resumed without a checkpoint carrying a step ({saved}): {why}")
    if continued is False and rerun.deleted:
        shown = ", ".join(rerun.deleted[:3])
        return result(
            [
                f"the rerun deleted what the first run wrote under output_dir "
                f"({len(rerun.deleted)} files: {shown}) and started over: {why}; a restart "
                "on the platform throws away everything already paid for"
            ],
            [],
            "",
        )
    if continued is False and (state := _resume_state(rerun)):
        return result(
            [f"the job saved state for resuming ({state}), yet its rerun started over: {why}"],
            [],
            "",
        )
    if continued is False:
        advice = (
            f"the job has no resume logic: {why}, so it started over; it saved no checkpoint "
            f"carrying a step ({saved}), so if the platform stops this job, it starts over"
        )
    else:
        advice = (
            f"could not judge resume: {why}, and the job saved no checkpoint carrying a step "
            f"({saved}); name the loss with --loss-tag or the step flag with --step-flag"
        )
    return result([], [advice], "")


def check_resume(
    rerun: ResumeFacts,
    pretrained: Mapping[str, np.ndarray] | None = None,
    before: Mapping[str, np.ndarray] | None = None,
    after: Mapping[str, np.ndarray] | None = None,
    name: str = NAME,
) -> CheckResult:
    """`pretrained`, `before` and `after` (the first run's and the rerun's last checkpoints)
    are the shared pretrained variables, given when the job fine-tunes them."""
    first_logged = min(rerun.losses) if rerun.losses else None
    evidence: dict = {
        "first_run_last_checkpoint_step": rerun.first_step,
        "first_run_target": rerun.first_target,
        "rerun_first_logged_step": first_logged,
        "rerun_last_checkpoint_step": rerun.final_step,
        "target": rerun.target,
        "unit": rerun.unit,
        "loss_steps_count": rerun.loss_steps,
    }

    def result(problems: list[str], advice: list[str], message: str) -> CheckResult:
        return CheckResult.from_findings(name, problems, advice, message, evidence=evidence)

    if rerun.first_step is None:
        return _without_step(rerun, result)
    problems = _problems(rerun)
    advice = []
    if not rerun.losses and not rerun.failure:
        problems.remove(_NO_RERUN_LOSS)
        advice.append(f"could not judge where the rerun started: {_NO_RERUN_LOSS}")
    if pretrained and before and after and not rerun.failure:
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
    return result(
        problems,
        advice,
        f"resumed after global step {rerun.first_step} (first logged "
        f"{'epoch' if rerun.loss_steps == EPOCH_INDEX else 'step'} {first_logged}) and "
        f"reached {rerun.final_step} (target {_expected_final(rerun)})",
    )
