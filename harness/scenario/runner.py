"""The phase runner: one run of a job entry point through the backend, and its record.

A phase runs as one process or as the whole cluster. Its losses are read as it ends
(`harness.job`), a failed phase gets its reason and - when its log shows a known
signature - a one-line diagnosis, and every phase becomes a `PhaseRecord`. Checks are
judged elsewhere (`harness.scenario.script`, `harness.checks`).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.backends.base import PhaseCommand, RunOutcome
from harness.contract import PlatformRoot
from harness.diagnoses import diagnose
from harness.distributed_mode import CHIEF_TASK, TaskOutcome, run_cluster
from harness.job import NO_LOSSES, JobOutput, LossSeries, PhaseMark, StdoutParser
from harness.jobshapes import EPOCHS, STEPS
from harness.params import JobParams
from harness.record import PhaseRecord
from harness.scenario.concurrent import HeldReporter
from harness.scenario.context import Reporter, RunContext
from harness.scenario.time_limit import FitForecast, limit_verdict
from harness.speed import Speed, line_times, measure

# The stdout lines kept with their arrival times, to time steps (harness.speed).
MAX_STAMPED_LINES = 200_000
MAX_STAMPED_CHARS = 1_000


@dataclasses.dataclass
class Phase:
    outcome: RunOutcome
    losses: LossSeries
    failure: str | None
    diagnosis: str | None = None
    speed: Speed | None = None


@dataclasses.dataclass(frozen=True)
class Launch:
    """What a phase starts: an entry point, its parameters, where, and how long it may take
    to reach `target` (the step target it was given, None: none)."""

    name: str
    mainfile: str
    params: JobParams
    target: int | None = None
    platform_flags: bool = True
    cluster: bool = False
    root: PlatformRoot | None = None  # None: the run's own root
    output: JobOutput | None = None  # None: the run's own output


class PhaseRunner:
    """Runs phases in the run context and keeps what each left: outcome, losses, record."""

    def __init__(self, ctx: RunContext, output: JobOutput) -> None:
        self.ctx = ctx
        self.output = output
        self.phases: dict[str, Phase] = {}
        self.records: list[PhaseRecord] = []
        self.timings: dict[str, float] = {}
        # Distributed runs: a platform root per task (the chief's is the run's root).
        self.task_roots: dict[str, PlatformRoot] = {}
        self.cluster_runs: dict[str, dict[str, TaskOutcome]] = {}

    def ok(self, name: str) -> bool:
        return name in self.phases and self.phases[name].failure is None

    def seconds(self, *names: str) -> float:
        return sum(self.phases[n].outcome.seconds for n in names if n in self.phases)

    def probe(self, name: str, command: list[str], detail: str, failure_of) -> Phase:
        """A shell probe in the image before any training; `failure_of(exit, output)` says
        why it failed (None: it did not)."""
        ctx = self.ctx
        ctx.reporter.phase(name, detail, None)
        started = time.monotonic()
        exit_code, output = ctx.backend.probe(command)
        seconds = time.monotonic() - started
        log = ctx.logs / "probe.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(ctx.redactor.text(output))
        outcome = RunOutcome(["probe"], exit_code, seconds, log, backend=ctx.backend.name)
        failure = failure_of(exit_code, output)
        self.phases[name] = Phase(outcome, NO_LOSSES, failure)
        self.timings[name] = seconds
        ctx.reporter.phase_done(name, seconds, failure, output[-2000:] if failure else "")
        return self.phases[name]

    def run(self, launch: Launch) -> Phase:
        """Run one phase; as a cluster, the chief's outcome is the phase's and each other
        task is recorded as `<phase>:<task>`."""
        return self._keep(launch, self._execute(launch, self.ctx.reporter))

    def run_together(
        self, launches: list[Launch], slots: int, ended: Callable[[str], None]
    ) -> None:
        """Run `launches` (none a cluster) up to `slots` at a time; their progress is
        shown, their phases and records kept and `ended(name)` called in the given order,
        as if they had run one after another."""
        held = [HeldReporter(self.ctx.reporter) for _ in launches]
        with ThreadPoolExecutor(max_workers=slots) as pool:
            pairs = zip(launches, held, strict=True)
            running = [pool.submit(self._execute, *pair) for pair in pairs]
            try:
                for launch, reporter, future in zip(launches, held, running, strict=True):
                    phase = future.result()
                    reporter.release()
                    self._keep(launch, phase)
                    ended(launch.name)
            except KeyboardInterrupt:  # only this thread hears Ctrl-C: end the others' jobs
                for future in running:
                    future.cancel()
                self.ctx.backend.interrupt()
                raise

    def _execute(self, launch: Launch, reporter: Reporter) -> Phase:
        """Run one phase and read what it left; `reporter` shows its progress."""
        ctx, name = self.ctx, launch.name
        output = launch.output or self.output
        where = f" on {ctx.plan.cluster.describe()}" if launch.cluster else ""
        reporter.phase(name, f"{launch.mainfile} {' '.join(launch.params)}{where}", launch.target)
        root = launch.root or ctx.root
        log_path = ctx.logs / (name if launch.cluster else f"{name}.log")
        reporter.note(f"log: {log_path}")
        mark: PhaseMark = output.mark()
        stamped: list[tuple[float, str]] = []
        target = self._steps_target(launch.target)
        forecast = FitForecast(target, ctx.plan.timeout_s, time.time(), reporter.note)
        parser = StdoutParser.for_regex(ctx.plan.loss.regex)

        def on_line(line: str) -> None:
            now = time.time()
            if len(stamped) < MAX_STAMPED_LINES:  # what a job prints is unbounded
                stamped.append((now, line[:MAX_STAMPED_CHARS]))
            reporter.line(line)
            if found := parser.feed(line):
                forecast.feed(found[0], now)

        job = PhaseCommand(
            mainfile=launch.mainfile,
            train_params=launch.params,
            num_gpus=ctx.plan.num_gpus,
            timeout_s=ctx.plan.timeout_s,
            append_platform_flags=launch.platform_flags,
            redact=ctx.redactor.text,
        )
        if launch.cluster:
            tasks = run_cluster(
                ctx.backend, ctx.plan.cluster, job, self.task_roots, log_path, on_line
            )
            self.cluster_runs[name] = tasks
            outcome = tasks[CHIEF_TASK].outcome
        else:
            outcome = ctx.backend.run(job, root, log_path, on_line)
        losses = output.losses(outcome.log_text, mark) if launch.platform_flags else NO_LOSSES
        tag = losses.source.removeprefix("events:") if losses.source.startswith("events:") else None
        speed = measure(
            losses,
            output.event_times(tag, mark) if tag else {},
            line_times(stamped, ctx.plan.loss.regex),
            launch.params,
        )
        failure, warning = self._failure(outcome, target, losses, speed, output)
        diagnosis = diagnose(outcome.log_text) if failure else None
        if warning:
            reporter.note(f"warning: {name}: {warning}")
            diagnosis = f"time limit: {warning}"
        tail = outcome.log_tail() if failure else ""
        if diagnosis:
            tail = f"diagnosis: {diagnosis}\n{tail}"
        reporter.phase_done(name, outcome.seconds, failure, tail)
        return Phase(outcome, losses, failure, diagnosis, speed)

    def _keep(self, launch: Launch, phase: Phase) -> Phase:
        """Keep a phase that ended: its outcome, time and record (and its tasks')."""
        name, root = launch.name, launch.root or self.ctx.root
        self.phases[name] = phase
        self.timings[name] = phase.outcome.seconds
        tasks = self.cluster_runs.get(name, {}) if launch.cluster else {}
        self.records.append(phase_record(name, phase, root, tasks.get(CHIEF_TASK)))
        for task in list(tasks.values())[1:]:
            task_phase = Phase(task.outcome, NO_LOSSES, None)
            self.records.append(
                phase_record(f"{name}:{task.name}", task_phase, self.task_roots[task.name], task)
            )
        return phase

    def _steps_target(self, target: int | None) -> int | None:
        """The phase's target when it counts steps (an epoch target is not a logged step)."""
        step = self.ctx.preflight.step
        return target if step is not None and step.unit != EPOCHS else None

    def _failure(
        self,
        outcome: RunOutcome,
        target: int | None,
        losses: LossSeries,
        speed: Speed | None,
        output: JobOutput,
    ) -> tuple[str | None, str | None]:
        """(why the phase failed, a warning about how it ended)."""
        if outcome.succeeded:
            return None, None
        if outcome.error:
            return f"could not be run to the end: {outcome.error}", None
        if outcome.timed_out:
            latest = output.latest_checkpoint() if target is not None else None
            steps = [*losses.values, *([latest.step] if latest and latest.step else [])]
            step = self.ctx.preflight.step
            return limit_verdict(
                self.ctx.plan.timeout_s,
                target,
                max(steps, default=None),
                speed.steps_per_s if speed and speed.unit == STEPS else None,
                outcome.seconds,
                step.describe(target) if step and target else None,
            )
        return f"exited with status {outcome.exit_code}", None


def phase_record(
    name: str, phase: Phase, root: PlatformRoot, task: TaskOutcome | None = None
) -> PhaseRecord:
    outcome, losses = phase.outcome, phase.losses
    return PhaseRecord(
        name=name,
        # Commands name the root as <root>, so records of different runs compare.
        command=[part.replace(str(root.root), "<root>") for part in outcome.command],
        exit_code=outcome.exit_code,
        seconds=outcome.seconds,
        losses=losses.values,
        loss_source=losses.source,
        log_tail=PhaseRecord.tail(outcome.log_text),
        backend=outcome.backend,
        timed_out=outcome.timed_out,
        error=outcome.error,
        image=outcome.image,
        task=None
        if task is None
        else {"name": task.name, "tf_config": task.tf_config, "stopped": task.stopped},
        loss_candidates=dict(losses.candidates),
        diagnosis=phase.diagnosis,
        speed=dataclasses.asdict(phase.speed) if phase.speed else None,
    )


def new_run_dir(parent: Path) -> Path:
    """A fresh private (0700) run folder under `parent`, named by its start time plus a
    random suffix, so two runs started in the same second never share or clobber one."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=parent))
