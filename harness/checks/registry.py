"""Every check the harness can plan, in report order: one row each.

A row says what the check needs (the phases whose results it judges), its scope (when
it is planned at all), why it may not apply to a job (from what planning knows before
any phase runs), and the function that gathers its facts from the finished phases and
judges them. Planning, "not applicable" reasons, the order in which checks are judged
and reported, JUnit cases and the tests' verdict tables all read this table; a new check
is one module (`NAME`, `PHASES`, `judge`, optionally `not_applicable`) and one row here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.checks import (
    cluster_tasks,
    image_contract,
    inference,
    loss_decrease,
    path_contract,
    pretrained_restore,
    regression,
    reproducible,
    resume,
    single_node_resume,
    uses_image,
)
from harness.record import CheckResult

if TYPE_CHECKING:
    from harness.scenario.evidence import Evidence

# Scopes: when a check is planned at all.
IMAGE = "image"  # every run; applies where the backend runs an image
GENERIC = "generic"  # every job
CLUSTER = "cluster"  # runs in the platform's distributed mode
MODEL = "model"  # a profile's model checks (im2txt: uses_image, inference)
GATE = "gate"  # a run judged against a committed baseline, from its stored record


@dataclasses.dataclass(frozen=True)
class Situation:
    """What planning knows before any phase runs: enough to tell which checks apply."""

    runs_image: bool
    cluster: bool
    pretrained_flag: tuple[str, str] | None  # the job's pretrained flag and its value
    pretrained_placed: bool  # a pretrained file is where the job will look
    step_target: bool  # the parameters carry a step target the resume phase can raise
    reproducible: bool  # --reproducible asked for a repeated training
    model_checks: tuple[str, ...] = ()  # the profile's model checks
    model_checks_missing: str | None = None  # why they cannot run on this code
    baseline: bool = False


def _never(situation: Situation) -> str | None:
    return None


@dataclasses.dataclass(frozen=True)
class CheckSpec:
    name: str
    scope: str
    phases: tuple[str, ...]  # the phases it judges, the last one the one it waits for
    judge: Callable[[Evidence], CheckResult]
    not_applicable: Callable[[Situation], str | None] = _never
    # The last phase's failure is evidence the check judges (a failed probe, a crashed
    # task, a rerun that crashed), not a reason to leave it unrun.
    judges_failed_phase: bool = False

    def planned(self, situation: Situation) -> bool:
        return {
            CLUSTER: situation.cluster,
            MODEL: self.name in situation.model_checks,
            GATE: situation.baseline,
        }.get(self.scope, True)


def _row(module, scope: str, judges_failed_phase: bool = False) -> CheckSpec:
    return CheckSpec(
        module.NAME,
        scope,
        module.PHASES,
        module.judge,
        getattr(module, "not_applicable", _never),
        judges_failed_phase,
    )


CHECKS: tuple[CheckSpec, ...] = (
    _row(image_contract, IMAGE, judges_failed_phase=True),
    _row(cluster_tasks, CLUSTER, judges_failed_phase=True),
    _row(path_contract, GENERIC),
    _row(pretrained_restore, GENERIC),
    _row(loss_decrease, GENERIC),
    _row(uses_image, MODEL),
    _row(resume, GENERIC, judges_failed_phase=True),
    _row(single_node_resume, CLUSTER, judges_failed_phase=True),
    _row(inference, MODEL),
    _row(reproducible, GENERIC),
    _row(regression, GATE),
)
BY_NAME = {spec.name: spec for spec in CHECKS}


def planned(situation: Situation) -> list[CheckSpec]:
    """The checks a run plans, in report order."""
    return [spec for spec in CHECKS if spec.planned(situation)]


def names(scope: str | None = None) -> tuple[str, ...]:
    """Every check's name (of one scope), in report order."""
    return tuple(spec.name for spec in CHECKS if scope is None or spec.scope == scope)
