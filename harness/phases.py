"""One validation in progress: its folders, the job's phases as they run, and their records.

A phase is one run of a job entry point (`train`, `resume`, `evaluate_true`, ...)
through the backend, as one process or as a whole cluster. Each phase's losses are
read as it ends (`harness.job`), a failed phase gets its reason and - when its log
shows a known signature - a one-line diagnosis, and every phase becomes a
`PhaseRecord`. Checks are judged elsewhere (`harness.validate`, `harness.checks`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from harness.backends.base import Backend, JobSpec, RunOutcome
from harness.cluster import CHIEF, TaskOutcome, run_cluster
from harness.contract import PlatformRoot
from harness.diagnoses import diagnose
from harness.job import NO_LOSSES, JobOutput, LossSeries, PhaseMark
from harness.params import JobParams
from harness.plan import Inputs, Plan
from harness.record import FAILED, CheckResult, PhaseRecord
from harness.speed import Speed, line_times, measure

CHIEF_TASK = f"{CHIEF}-0"


def _unreadable() -> tuple[type[BaseException], ...]:
    import tensorflow as tf

    return (ValueError, OSError, KeyError, EOFError, tf.errors.OpError)


class Reporter(Protocol):
    """Progress hooks; the CLI shows them, tests ignore them. Texts are raw: a reporter
    that prints redacts them."""

    def note(self, text: str) -> None: ...
    def phase(self, name: str, detail: str, target_step: int | None) -> None: ...
    def line(self, text: str) -> None: ...
    def phase_done(self, name: str, seconds: float, failure: str | None, log_tail: str) -> None: ...
    def check(self, result: CheckResult) -> None: ...


class SilentReporter:
    def note(self, text: str) -> None:
        pass

    def phase(self, name: str, detail: str, target_step: int | None) -> None:
        pass

    def line(self, text: str) -> None:
        pass

    def phase_done(self, name: str, seconds: float, failure: str | None, log_tail: str) -> None:
        pass

    def check(self, result: CheckResult) -> None:
        pass


@dataclasses.dataclass
class Phase:
    outcome: RunOutcome
    losses: LossSeries
    failure: str | None
    diagnosis: str | None = None
    speed: Speed | None = None


class Run:
    """One validation in progress: its folders, phases and collected results."""

    def __init__(
        self,
        backend: Backend,
        plan: Plan,
        inputs: Inputs,
        run_dir: Path,
        reporter: Reporter,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.backend, self.plan, self.inputs, self.reporter = backend, plan, inputs, reporter
        self.redact = redact
        self.profile = inputs.profile
        self.run_dir = run_dir
        self.root = PlatformRoot.create(parent=run_dir, prefix="platform-")
        self.paths = backend.paths(self.root)
        self.output = JobOutput(self.root.output_dir, plan.loss)
        self.phases: dict[str, Phase] = {}
        self.records: list[PhaseRecord] = []
        self.results: dict[str, CheckResult] = {}
        self.not_applicable: dict[str, str] = {}
        self.timings: dict[str, float] = {}
        # Distributed runs: a platform root per task (the chief's is `root`), per phase.
        self.task_roots: dict[str, PlatformRoot] = {}
        self.pretrained_container: str | None = None
        self.cluster_runs: dict[str, dict[str, TaskOutcome]] = {}

    def place(self, host_path: Path) -> None:
        """Files the harness put under output_dir itself are never the job's outputs."""
        self.output = JobOutput(
            self.output.output_dir, self.output.settings, [*self.output.placed, host_path]
        )

    def run_phase(
        self,
        name: str,
        mainfile: str,
        params: JobParams | list[str],
        *,
        platform_flags: bool = True,
        target: int | None = None,
        output: JobOutput | None = None,
        root: PlatformRoot | None = None,
        cluster: bool = False,
    ) -> Phase:
        """Run one phase; with `cluster`, as the whole cluster (the chief's outcome is the
        phase's, each other task is recorded as `<phase>:<task>`)."""
        root = root or self.root
        output = output or self.output
        where = f" on {self.plan.cluster.describe()}" if cluster else ""
        self.reporter.phase(name, f"{mainfile} {' '.join(params)}{where}", target)
        mark: PhaseMark = output.mark()
        stamped: list[tuple[float, str]] = []

        def on_line(line: str) -> None:
            stamped.append((time.time(), line))
            self.reporter.line(line)

        job = JobSpec(
            mainfile=mainfile,
            train_params=params,
            num_gpus=self.plan.num_gpus,
            timeout_s=self.plan.timeout_s,
            append_platform_flags=platform_flags,
            redact=self.redact,
        )
        if cluster:
            tasks = run_cluster(
                self.backend,
                self.plan.cluster,
                job,
                self.task_roots,
                self.run_dir / "logs" / name,
                on_line,
            )
            self.cluster_runs[name] = tasks
            outcome = tasks[CHIEF_TASK].outcome
        else:
            outcome = self.backend.run(job, root, self.run_dir / "logs" / f"{name}.log", on_line)
        losses = output.losses(outcome.log_text, mark) if platform_flags else NO_LOSSES
        tag = losses.source.removeprefix("events:") if losses.source.startswith("events:") else None
        speed = measure(
            losses,
            output.event_times(tag, mark) if tag else {},
            line_times(stamped, self.plan.loss.regex),
            params,
        )
        failure = self._failure(outcome, target)
        diagnosis = diagnose(outcome.log_text) if failure else None
        phase = self.phases[name] = Phase(outcome, losses, failure, diagnosis, speed)
        self.timings[name] = outcome.seconds
        tail = outcome.log_tail() if failure else ""
        if diagnosis:
            tail = f"diagnosis: {diagnosis}\n{tail}"
        self.reporter.phase_done(name, outcome.seconds, failure, tail)
        tasks = self.cluster_runs.get(name, {}) if cluster else {}
        self.records.append(phase_record(name, phase, root, tasks.get(CHIEF_TASK)))
        for task in list(tasks.values())[1:]:
            task_phase = Phase(task.outcome, NO_LOSSES, None)
            self.records.append(
                phase_record(f"{name}:{task.name}", task_phase, self.task_roots[task.name], task)
            )
        return phase

    def _failure(self, outcome: RunOutcome, target: int | None) -> str | None:
        if outcome.succeeded:
            return None
        if outcome.error:
            return f"could not be run to the end: {outcome.error}"
        if outcome.timed_out:
            reason = f"was stopped after the {self.plan.timeout_s:g} s time limit"
            if target is not None and self.inputs.step is not None:
                reason += (
                    f" (it did not finish at {self.inputs.step.describe(target)}: does the job "
                    "honour that flag? Raise --timeout if it is merely slow)"
                )
            return reason
        return f"exited with status {outcome.exit_code}"

    def phase_ok(self, name: str) -> bool:
        return name in self.phases and self.phases[name].failure is None

    def phase_seconds(self, *names: str) -> float:
        return sum(self.phases[n].outcome.seconds for n in names if n in self.phases)

    def add(self, result: CheckResult) -> None:
        self.results[result.name] = result
        self.reporter.check(result)

    @contextlib.contextmanager
    def judging(self, *names: str) -> Iterator[None]:
        """Judge checks `names`; what the job wrote that cannot be read (a corrupt
        checkpoint, a truncated file) fails them with the reason instead of ending the run:
        the record, verdict and report are always written."""
        try:
            yield
        except _unreadable() as err:
            reason = " ".join(f"{type(err).__name__}: {err}".split())[:400]
            for name in names:
                if name not in self.results:
                    self.add(
                        CheckResult(name, FAILED, f"could not read what the job wrote: {reason}")
                    )

    def skip(self, name: str, reason: str) -> None:
        self.not_applicable[name] = reason


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
