"""From a run's phases and files to each check's verdict: the facts each check needs,
gathered where the job left them, and the phases some checks run for themselves (the
rerun, the repeat training, the im2txt model phases).

The checks themselves (`harness.checks`) are pure; the scenario's order of phases is
`harness.validate`'s.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from harness import snapshot
from harness.checks import (
    captioning,
    cluster,
    learning,
    paths,
    regression,
    reproducible,
    restore,
    resume,
)
from harness.contract import CONTAINER_OUTPUT_DIR, PlatformRoot
from harness.job import JobOutput, ModelFile, read_model
from harness.layout import twin_root
from harness.params import JobParams
from harness.phases import CHIEF_TASK, Phase, Run
from harness.record import CheckResult

# The phases each check needs, by check name (`harness.validate` plans with it too).
SINGLE_NODE_RESUME = "single_node_resume"
CHECK_PHASES: dict[str, tuple[str, ...]] = {
    "image_contract": ("image probe",),
    cluster.NAME: ("train",),
    paths.NAME: ("train",),
    restore.NAME: ("train",),
    "loss_decrease": ("train",),
    captioning.USES_IMAGE: ("train", "evaluate_true", "evaluate_shuffled"),
    resume.NAME: ("train", "resume"),
    SINGLE_NODE_RESUME: ("train", "resume", "resume_single_node"),
    captioning.INFERENCE: ("train", "inference"),
    reproducible.NAME: ("train", "train_repeat"),
    regression.NAME: ("train",),
}


def phase_params(run: Run, target: int | None) -> JobParams:
    """The job's parameters (words and typed text alike) with its step flag set to `target`."""
    if target is None or run.inputs.step is None:
        return run.plan.train_params
    return run.plan.train_params.with_flag(run.inputs.step.flag, target)


def resume_phases(run: Run, train: Phase, models: list[ModelFile], values: RestoreValues) -> None:
    """The rerun (and, for a cluster, a single-node rerun of the cluster's checkpoint)."""
    first = run.inputs.step.value
    second = run.inputs.resume_target(run.plan, log_interval(train.losses.values))
    rerun = judge_resume(run, "resume", resume.NAME, first, second, train, models, values)
    if run.plan.cluster is not None and rerun is not None and rerun.failure is None:
        # The platform may rerun a distributed job's checkpoint on one node, and back.
        judge_resume(
            run,
            "resume_single_node",
            SINGLE_NODE_RESUME,
            second,
            second + second - first,
            rerun,
            run.output.models(),
            values,
            distributed=False,
            earlier=train,
        )


def judge_restore(run: Run, pretrained: Path, values: RestoreValues) -> None:
    run.add(
        restore.check_pretrained_restore(
            values.pretrained,
            pretrained.name,
            values.trained,
            values.subject_name,
            run.inputs.freezing,
            seconds=run.phase_seconds("train"),
            early=values.early_values(),
            early_name=values.early.path.name if values.early else None,
        )
    )


def judge_learning(run: Run, train: Phase) -> None:
    plan = run.plan
    drop = plan.required_drop if plan.required_drop is not None else run.profile.required_drop
    run.add(
        learning.check_loss_decrease(
            train.losses.values, train.losses.describe(), drop, run.phase_seconds("train")
        )
    )


def judge_inference(run: Run) -> None:
    profile = run.profile
    phase = profile.inference_phase(run.plan.train_params, run.paths.output_dir, run.paths.data_dir)
    done = run.run_phase(
        phase.name, phase.mainfile, phase.params, platform_flags=phase.platform_flags
    )
    if done.failure is None:
        run.add(
            captioning.check_inference(
                done.outcome.log_text,
                profile.expected_captions,
                seconds=run.phase_seconds(*CHECK_PHASES[captioning.INFERENCE]),
            )
        )


def judge_tasks(run: Run) -> None:
    """cluster_tasks: from how every task of the training phase ended."""
    tasks = run.cluster_runs["train"]
    run.add(
        cluster.check_cluster_tasks(
            {n: (t.outcome.exit_code, t.stopped, t.outcome.error) for n, t in tasks.items()},
            CHIEF_TASK,
            run.phase_seconds("train"),
        )
    )


def judge_paths(
    run: Run,
    train: Phase,
    before: dict[str, str],
    input_hashes: dict[str, str],
    models: list[ModelFile],
    tasks_before: dict[str, dict[str, str]],
) -> None:
    """path_contract: the chief's (or the single node's) writes, and in a cluster every
    other task's: nothing but at most a log in its own log_dir."""
    root = run.root
    after = snapshot.hash_tree(root.root)
    change = snapshot.diff(before, after)

    def relative(path: Path, base: PlatformRoot = root) -> str:
        return path.relative_to(base.root).as_posix()

    outside, ignored = paths.classify_container_changes(
        train.outcome.container_changes, CONTAINER_OUTPUT_DIR, run.backend.mount_points(root)
    )
    result = paths.check_path_contract(
        change.added,
        change.modified,
        change.removed,
        relative(root.output_dir),
        relative(root.log_dir),
        sorted(p for p, h in input_hashes.items() if after.get(p) != h and p in after),
        [relative(m.path) for m in models],
        outside,
        ignored,
        seconds=run.phase_seconds("train"),
    )
    problems = []
    for name, task_before in tasks_before.items():
        task_root = run.task_roots[name]
        task_change = snapshot.diff(task_before, snapshot.hash_tree(task_root.root))
        found = cluster.task_output_problems(
            name,
            [*task_change.added, *task_change.modified],
            relative(task_root.output_dir, task_root),
            relative(task_root.log_dir, task_root),
            [relative(m.path, task_root) for m in JobOutput(task_root.output_dir).models()],
        )
        result.evidence[f"task {name}"] = {"written": task_change.added, "problems": found}
        problems += found
    if problems:
        own = [result.message] if result.status == "failed" else []
        result = CheckResult.from_findings(
            result.name,
            own + problems,
            result.warnings,
            "",
            evidence=result.evidence,
            seconds=result.seconds,
        )
    run.add(result)


class RestoreValues:
    """The pretrained file's values, those of the first run's model that shares the most
    variables with it (its last step checkpoint, or a Keras file or SavedModel), and of
    the earliest checkpoint it kept (nearest the restore, before fine-tuning drifted)."""

    def __init__(self, pretrained: Path | None, models: list[ModelFile]) -> None:
        self.pretrained = read_model(pretrained).values() if pretrained is not None else {}
        self.subject: ModelFile | None = None
        self.trained: dict[str, np.ndarray] | None = None
        self.mapping: dict[str, str] = {}
        self.early: ModelFile | None = None
        checkpoints = [m for m in models if m.kind == "TF checkpoint"]
        candidates = [m for m in models if m.kind != "TF checkpoint"] + checkpoints[-1:]
        for model in candidates:
            model_values = model.values()
            mapping = (
                restore.shared_variables(self.pretrained, model_values) if self.pretrained else {}
            )
            if self.subject is None or len(mapping) >= len(self.mapping):
                self.subject, self.trained, self.mapping = model, model_values, mapping
        stepped = [m for m in checkpoints if m.step is not None]
        if self.subject in checkpoints and stepped and stepped[0] is not self.subject:
            self.early = stepped[0]

    @property
    def subject_name(self) -> str:
        return self.subject.path.name if self.subject else "no saved model"

    def early_values(self) -> dict[str, np.ndarray] | None:
        return self.early.values() if self.early is not None and self.pretrained else None

    def for_resume(self, final: ModelFile | None) -> dict:
        """The shared pretrained variables before and after a rerun, by pretrained name."""
        if not (self.mapping and self.trained and final is not None):
            return {}
        after = final.values()
        names = {p: s for p, s in self.mapping.items() if s in after}
        return {
            "pretrained": {p: self.pretrained[p] for p in names},
            "before": {p: self.trained[s] for p, s in names.items()},
            "after": {p: after[s] for p, s in names.items()},
        }


def judge_image_use(run: Run) -> None:
    """uses_image: the job's own evaluation on true pairs and on shuffled ones."""
    perplexities = {}
    for phase in run.profile.evaluation_phases(run.plan.train_params, run.paths.output_dir):
        done = run.run_phase(phase.name, phase.mainfile, phase.params)
        if done.failure is None:
            perplexities[phase.name] = captioning.parse_perplexity(done.outcome.log_text)
    if all(run.phase_ok(n) for n in CHECK_PHASES[captioning.USES_IMAGE]):
        run.add(
            captioning.check_image_dependence(
                perplexities["evaluate_true"],
                perplexities["evaluate_shuffled"],
                seconds=run.phase_seconds(*CHECK_PHASES[captioning.USES_IMAGE]),
            )
        )


def non_finite(model: ModelFile | None) -> list[str]:
    if model is None:
        return []
    return sorted(
        name
        for name, value in model.values().items()
        if value.dtype.kind == "f" and not np.all(np.isfinite(value))
    )


def judge_resume(
    run: Run,
    phase_name: str,
    check_name: str,
    first_target: int,
    target: int,
    previous: Phase,
    previous_models: list[ModelFile],
    values: RestoreValues,
    distributed: bool | None = None,
    earlier: Phase | None = None,
) -> Phase | None:
    """A rerun to `target` on the same output, judged against the run before it (as a
    cluster when the plan has one, unless `distributed` says otherwise). `earlier` is the
    phase that trained from scratch when `previous` itself resumed: the loss levels the
    rerun is held to span the whole training so far, not a plateau's noise."""
    distributed = run.plan.cluster is not None if distributed is None else distributed
    resumable = [m for m in previous_models if m.resumable]
    rerun = run.run_phase(
        phase_name,
        run.plan.mainfile,
        phase_params(run, target),
        target=target,
        cluster=distributed,
    )
    final = run.output.latest_checkpoint() if rerun.failure is None else None
    final = final if final is not None and final.resumable else None
    failure = rerun.failure
    if failure and rerun.diagnosis:
        failure += f" ({rerun.diagnosis})"
    facts = resume.Rerun(
        first_step=resumable[-1].step if resumable else None,
        first_target=first_target,
        first_losses={**(earlier.losses.values if earlier else {}), **previous.losses.values},
        losses=rerun.losses.values,
        final_step=final.step if final else None,
        target=target,
        unit=run.inputs.step.unit,
        failure=failure,
        saved=[m.path.name for m in previous_models],
        non_finite=non_finite(final),
        loss_steps=rerun.losses.steps,
        first_loss_steps=previous.losses.steps,
    )
    run.add(
        resume.check_resume(
            facts,
            **values.for_resume(final),
            seconds=run.phase_seconds(*CHECK_PHASES[check_name]),
            name=check_name,
        )
    )
    return rerun


def repeat_training(run: Run, target: int | None) -> None:
    """The training phase again, from the same inputs in a fresh root, for `reproducible`."""
    twin = twin_root(run)
    output = JobOutput(twin.output_dir, run.plan.loss)
    repeat = run.run_phase(
        "train_repeat",
        run.plan.mainfile,
        phase_params(run, target),
        target=target,
        output=output,
        root=twin,
    )
    if repeat.failure is None:
        run.add(
            reproducible.check_reproducible(
                run.phases["train"].losses.values,
                repeat.losses.values,
                seconds=run.phase_seconds("train", "train_repeat"),
            )
        )


def log_interval(losses: dict[int, float]) -> int:
    """How many steps apart the job logs its loss (1 when it cannot be told)."""
    steps = sorted(losses)
    gaps = [b - a for a, b in zip(steps, steps[1:], strict=False) if b > a]
    return int(statistics.median(gaps)) if gaps else 1


def judge_user_files(run: Run) -> None:
    """The user's own --data and --pretrained, hashed again after every phase: a job that
    changed one (through a link, say) fails path_contract, naming the files."""
    inputs = run.inputs
    changed = [f"{inputs.data.path}/{p}" for p in inputs.data.changed()] if inputs.data else []
    changed += inputs.pretrained.changed() if inputs.pretrained else []
    if not changed:
        return
    problem = f"changed the user's own input files (not the run's copies): {', '.join(changed[:5])}"
    run.reporter.note(f"error: the job {problem}")
    before = run.results.get(paths.NAME)
    problems = ([before.message] if before and before.status == "failed" else []) + [problem]
    run.add(
        CheckResult.from_findings(
            paths.NAME,
            problems,
            before.warnings if before else [],
            "",
            evidence={**(before.evidence if before else {}), "user_files_changed": changed},
            seconds=before.seconds if before else 0.0,
        )
    )
