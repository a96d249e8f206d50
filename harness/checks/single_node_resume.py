"""single_node_resume (distributed mode): the platform may rerun a distributed job's
checkpoint on one node, and back; that rerun must continue it as `resume` does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.checks import resume
from harness.checks.phases import RESUME, RESUME_SINGLE_NODE, TRAIN
from harness.record import CheckResult

if TYPE_CHECKING:
    from harness.scenario.evidence import Evidence

NAME = "single_node_resume"
PHASES = (TRAIN, RESUME, RESUME_SINGLE_NODE)
not_applicable = resume.not_applicable


def judge(evidence: Evidence) -> CheckResult:
    return resume.judge_rerun(evidence, NAME, RESUME_SINGLE_NODE, RESUME, earlier=TRAIN)
