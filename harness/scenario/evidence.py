"""What a check's judge may read of a run: the phases as they ended and the files the job
left after each, gathered while they were there.

The scenario fills it as phases end; judges (`harness.checks.*.judge`) only read it.
Models and checkpoints are listed right after the phase that wrote them, since a later
phase (the resume) may rotate them away.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.backends.base import Backend
from harness.checks.pretrained_restore import RestoreValues
from harness.contract import PlatformRoot
from harness.distributed_mode import TaskOutcome
from harness.job import JobOutput, ModelFile
from harness.plan import Plan, Preflight
from harness.profiles import ModelCheckInputs, Profile
from harness.record import RunRecord
from harness.scenario.context import RunContext
from harness.scenario.runner import Phase, PhaseRunner
from harness.untrusted import regular_files


@dataclasses.dataclass
class Evidence:
    ctx: RunContext
    runner: PhaseRunner
    output: JobOutput
    pretrained_host: Path | None
    before: dict[str, str]  # the root's file hashes before training
    input_hashes: dict[str, str]  # ... of its inputs (data, pretrained file)
    tasks_before: dict[str, dict[str, str]]  # each other cluster task's root, before
    model_inputs: ModelCheckInputs
    models_after: dict[str, list[ModelFile]] = dataclasses.field(default_factory=dict)
    # the regular files under output_dir after a phase (resume: what a rerun deleted)
    files_after: dict[str, list[Path]] = dataclasses.field(default_factory=dict)
    latest: dict[str, ModelFile | None] = dataclasses.field(default_factory=dict)
    restore_values: RestoreValues | None = None
    # (the target the phase before it had, the phase's own target), for resume phases
    targets: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    stored_record: RunRecord | None = None  # the gate judges the stored record

    @property
    def plan(self) -> Plan:
        return self.ctx.plan

    @property
    def preflight(self) -> Preflight:
        return self.ctx.preflight

    @property
    def profile(self) -> Profile:
        return self.ctx.preflight.profile

    @property
    def backend(self) -> Backend:
        return self.ctx.backend

    @property
    def root(self) -> PlatformRoot:
        return self.ctx.root

    @property
    def task_roots(self) -> dict[str, PlatformRoot]:
        return self.runner.task_roots

    @property
    def cluster_runs(self) -> dict[str, dict[str, TaskOutcome]]:
        return self.runner.cluster_runs

    def phase(self, name: str) -> Phase:
        return self.runner.phases[name]

    def capture_models(self, phase: str) -> None:
        """The models the job left right after `phase` (none when they cannot be read)."""
        self.models_after[phase] = []
        self.files_after[phase] = list(regular_files(self.output.output_dir))
        self.models_after[phase] = self.output.models()

    def capture_latest(self, phase: str) -> None:
        """The job's latest checkpoint right after `phase`, when it succeeded."""
        self.latest[phase] = None
        if self.runner.ok(phase):
            self.latest[phase] = self.output.latest_checkpoint()

    def capture_restore_values(self, phase: str) -> None:
        """The pretrained file's values beside the models `phase` left."""
        self.restore_values = RestoreValues(None, [])
        self.restore_values = RestoreValues(self.pretrained_host, self.models_after[phase])
