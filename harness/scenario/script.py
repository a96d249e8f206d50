"""The scenario's script: which checks a run plans, then every phase in its fixed order,
each check judged as soon as the last phase it needs has ended.

A phase runs only when a planned check that applies needs it, and only after the
phases it builds on succeeded (`AFTER`): the image probe, the training, then the
repeated training, the evaluations, the resume (and, for a cluster, its single-node
resume) and the inference. Judges gather facts and judge; they never run a phase.
"""

from __future__ import annotations

import statistics

from harness.checks import loss_decrease, path_contract, pretrained_restore
from harness.checks.image_contract import check_image_contract, deploy_command, probe_command
from harness.checks.phases import (
    EVALUATE_SHUFFLED,
    EVALUATE_TRUE,
    INFERENCE,
    ORDER,
    PROBE,
    RESUME,
    RESUME_SINGLE_NODE,
    TRAIN,
    TRAIN_LONGER,
    TRAIN_REPEAT,
)
from harness.checks.registry import GATE, CheckSpec, Situation
from harness.contract import CONTAINER_WORK_DIR, PLATFORM_PYTHON, PlatformRoot
from harness.job import JobOutput
from harness.params import JobParams
from harness.record import PASSED, CheckResult
from harness.scenario import concurrent
from harness.scenario.evidence import Evidence
from harness.scenario.placement import twin_root
from harness.scenario.runner import Launch
from harness.scenario.verdicts import VerdictStore

# The phases each phase builds on: it runs only once they succeeded.
AFTER = {
    TRAIN_LONGER: (TRAIN,),
    TRAIN_REPEAT: (TRAIN,),
    EVALUATE_TRUE: (TRAIN,),
    EVALUATE_SHUFFLED: (TRAIN,),
    RESUME: (TRAIN,),
    RESUME_SINGLE_NODE: (RESUME,),
    INFERENCE: (TRAIN,),
}


class Script:
    """One run of the scenario over a run context, its runner, verdicts and evidence."""

    def __init__(self, evidence: Evidence, verdicts: VerdictStore, slots: int = 1) -> None:
        self.evidence, self.verdicts = evidence, verdicts
        self.slots = slots  # phases at once after train (1: one after another)
        self.ctx, self.runner = evidence.ctx, evidence.runner
        self.step = self.ctx.preflight.step

    def run(self) -> None:
        """Every phase the planned checks need, in order, judging as they end."""
        if self.ctx.backend.runs_image:
            self._probe()  # a broken image is judged, and its training still shows why
        target = self.step.value if self.step else None
        self._run(self._training(TRAIN, target, cluster=self.ctx.plan.cluster is not None))
        if not self.runner.ok(TRAIN):
            return
        later = ORDER[ORDER.index(TRAIN) + 1 :]
        # Side by side on one node and the local backend: a container mounts only the
        # roots its backend prepared (snapshots are not, yet). Only phases that build on
        # train alone can start now; any other waits for its turn below.
        ready = [p for p in later if AFTER[p] == (TRAIN,) and self._wanted(p)]
        one_host = self.ctx.plan.cluster is None and not self.ctx.backend.runs_image
        if self.slots > 1 and one_host and len(ready) > 1:
            self._run_together(ready)
        for phase in later:  # each decided when its turn comes: it may build on another
            if phase not in self.runner.phases and self._wanted(phase):
                needing = [s.name for s in self._needing(phase)]
                with self.verdicts.judging(*needing):
                    self._run(self._launch(phase))

    def _run_together(self, phases: list[str]) -> None:
        """The phases after train side by side (`concurrent`), judged in the fixed order
        as the serial run judges them; each but the resume on a snapshot of the root."""
        launches, snapshots = [], {}
        for phase in phases:
            with self.verdicts.judging(*(s.name for s in self._needing(phase))):
                root = None
                if phase in (EVALUATE_TRUE, EVALUATE_SHUFFLED, INFERENCE):
                    root = snapshots[phase] = concurrent.snapshot_root(
                        self.ctx.root, self.ctx.run_dir, f"platform-{phase}-"
                    )
                launches.append(self._launch(phase, root))

        def ended(phase: str) -> None:
            with self.verdicts.judging(*(s.name for s in self._needing(phase))):
                self._ended(phase)

        try:
            self.runner.run_together(launches, self.slots, ended)
        finally:
            # Only once all ended: the resume must not read the evaluations' events.
            for snap in snapshots.values():
                concurrent.bring_back(snap, self.ctx.root)

    def judge_user_files(self) -> None:
        """The user's own --data and --pretrained, hashed again after every phase: a job
        that changed one (through a link, say) fails path_contract, naming the files."""
        preflight = self.ctx.preflight
        data = preflight.data
        changed = [f"{data.path}/{p}" for p in data.changed()] if data else []
        changed += preflight.pretrained.changed() if preflight.pretrained else []
        if not changed:
            return
        problem = (
            f"changed the user's own input files (not the run's copies): {', '.join(changed[:5])}"
        )
        self.ctx.reporter.note(f"error: the job {problem}")
        before = self.verdicts.results.get(path_contract.NAME)
        before = before or CheckResult(path_contract.NAME, PASSED, "")
        self.verdicts.add(
            path_contract.with_problems(before, [problem], user_files_changed=changed)
        )

    def _probe(self) -> None:
        plan = self.ctx.plan
        deploy = deploy_command(plan.mainfile, plan.train_params, plan.deploy_command)

        def failure_of(exit_code: int, output: str) -> str | None:
            if exit_code == 0:
                return None
            return check_image_contract(exit_code, output, plan.mainfile, deploy).message

        self.runner.probe(
            PROBE,
            probe_command(plan.mainfile),
            f"{PLATFORM_PYTHON} and {CONTAINER_WORK_DIR}/{plan.mainfile}",
            failure_of,
        )
        self._judge_ready(PROBE)

    def _run(self, launch: Launch) -> None:
        self.runner.run(launch)
        self._ended(launch.name)

    def _ended(self, phase: str) -> None:
        """Read what `phase` left that a later phase may change, then judge."""
        ev = self.evidence
        if phase in (TRAIN, RESUME) and self.runner.ok(phase):
            if phase == TRAIN:
                with self.verdicts.judging(path_contract.NAME):
                    ev.capture_models(TRAIN)
                with self.verdicts.judging(pretrained_restore.NAME):
                    ev.capture_restore_values(TRAIN)
                self._train_longer()
            else:
                with self.verdicts.judging(*(s.name for s in self._needing(RESUME))):
                    ev.capture_latest(RESUME)
                    ev.capture_models(RESUME)
        if phase == RESUME_SINGLE_NODE:
            with self.verdicts.judging(*(s.name for s in self._needing(phase))):
                ev.capture_latest(phase)
        self._judge_ready(phase)

    def _train_longer(self) -> None:
        """A borderline loss trained again from scratch in a fresh root with twice the
        step target, when that fits in --timeout (`loss_decrease.longer_target`):
        loss_decrease judges the longer run; every other check the first."""
        planned = any(s.name == loss_decrease.NAME for s in self._needing(TRAIN))
        if not planned or self.step is None or self.ctx.plan.cluster is not None:
            return
        first, seconds = self.step.value, self.runner.seconds(TRAIN)
        losses = self.evidence.phase(TRAIN).losses.values
        target = loss_decrease.longer_target(losses, first, seconds, self.ctx.plan.timeout_s)
        if target is None:
            return
        unit = self.step.unit
        self.ctx.reporter.note(
            f"borderline after {first} {unit}: training {target} {unit} to decide"
        )
        self.evidence.targets[TRAIN_LONGER] = (first, target)
        twin = twin_root(self.ctx)
        output = JobOutput(twin.output_dir, self.ctx.plan.loss)
        self.runner.run(self._training(TRAIN_LONGER, target, root=twin, output=output))

    def _judge_ready(self, phase: str) -> None:
        """Judge each check whose last phase is `phase`, in report order."""
        for spec in self._needing(phase):
            earlier_ok = all(self.runner.ok(p) for p in spec.phases[:-1])
            ready = spec.phases[-1] == phase and earlier_ok
            ready = ready and (spec.judges_failed_phase or self.runner.ok(phase))
            if ready and spec.name not in self.verdicts.results:
                self.verdicts.judge(
                    spec,
                    lambda spec=spec: spec.judge(self.evidence),
                    self.runner.seconds(*spec.phases),
                )

    def _needing(self, phase: str) -> list[CheckSpec]:
        """The planned checks that apply and judge `phase` (the gate waits for the record)."""
        return [
            spec
            for spec in self.verdicts.planned
            if spec.scope != GATE and self.verdicts.applies(spec) and phase in spec.phases
        ]

    def _wanted(self, phase: str) -> bool:
        return bool(self._needing(phase)) and all(self.runner.ok(p) for p in AFTER[phase])

    def _launch(self, phase: str, root: PlatformRoot | None = None) -> Launch:
        """`phase`'s launch, on the run's root or (a model phase) on `root`."""
        ctx, ev = self.ctx, self.evidence
        plan, profile = ctx.plan, ctx.preflight.profile
        paths = ctx.backend.paths(root or ctx.root)
        where = {"root": root, "output": JobOutput(root.output_dir, plan.loss)} if root else {}
        if phase == TRAIN_REPEAT:
            twin = twin_root(ctx)
            output = JobOutput(twin.output_dir, plan.loss)
            return self._training(
                phase, self.step.value if self.step else None, root=twin, output=output
            )
        if phase in (EVALUATE_TRUE, EVALUATE_SHUFFLED):
            model = {
                p.name: p
                for p in profile.evaluation_phases(
                    plan.train_params, paths.output_dir, ev.model_inputs
                )
            }[phase]
            return Launch(
                phase,
                model.mainfile,
                JobParams.of(model.params),
                platform_flags=model.platform_flags,
                **where,
            )
        if phase == INFERENCE:
            model = profile.inference_phase(plan.train_params, paths.output_dir, paths.data_dir)
            return Launch(
                model.name,
                model.mainfile,
                JobParams.of(model.params),
                platform_flags=model.platform_flags,
                **where,
            )
        first = self.step.value
        second = ctx.preflight.resume_target(plan, log_interval(ev.phase(TRAIN).losses.values))
        if phase == RESUME:
            ev.targets[RESUME] = (first, second)
            return self._training(RESUME, second, cluster=plan.cluster is not None)
        # The platform may rerun a distributed job's checkpoint on one node, and back.
        ev.targets[RESUME_SINGLE_NODE] = (second, second + second - first)
        return self._training(RESUME_SINGLE_NODE, second + second - first)

    def _training(self, name: str, target: int | None, **where) -> Launch:
        """The job's main file with its step flag set to `target`, in both forms."""
        plan = self.ctx.plan
        params = plan.train_params
        if target is not None and self.step is not None:
            params = params.with_flag(self.step.flag, target)
        return Launch(name, plan.mainfile, params, target, **where)


def situation(evidence: Evidence, baseline: bool) -> Situation:
    """What planning knows before any phase runs."""
    ctx = evidence.ctx
    plan, preflight = ctx.plan, ctx.preflight
    missing = evidence.model_inputs.missing
    return Situation(
        runs_image=ctx.backend.runs_image,
        cluster=plan.cluster is not None,
        pretrained_flag=preflight.pretrained_flag,
        pretrained_placed=evidence.pretrained_host is not None,
        step_target=preflight.step is not None,
        reproducible=plan.reproducible,
        model_checks=preflight.profile.model_checks,
        model_checks_missing=(
            f"{missing}: the im2txt model checks need evaluate.py and run_inference.py"
            if missing
            else None
        ),
        baseline=baseline,
    )


def log_interval(losses: dict[int, float]) -> int:
    """How many steps apart the job logs its loss (1 when it cannot be told)."""
    steps = sorted(losses)
    gaps = [b - a for a, b in zip(steps, steps[1:], strict=False) if b > a]
    return int(statistics.median(gaps)) if gaps else 1
