"""The validation scenario: synthetic inputs, the job's runs, every check, a run record.

One `validate()` call does what a user wants before paying for GPU time:
generate data shaped to the job's own `--input_file_pattern`, run the job the
way the platform does (train, then a resumed rerun), evaluate and caption with
the job's own tools, judge each contract, and leave a record and a report.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Protocol

from harness import __version__, snapshot
from harness.backends.base import Backend, JobSpec, RunOutcome
from harness.checks import (
    check_image_dependence,
    check_inference,
    check_loss_decrease,
    check_path_contract,
    check_pretrained_restore,
    check_resume,
)
from harness.checks.restore import saved_checkpoints
from harness.contract import PLATFORM_EXAMPLE_PARAMS, PlatformRoot, flag_value, with_flag
from harness.record import (
    CheckResult,
    PhaseRecord,
    RunRecord,
    git_info,
    host_info,
    parse_losses,
    read_metrics,
    redact,
    sha256_tree,
)
from harness.report import write_report
from harness.synthetic import (
    describe,
    generate_dataset,
    serialize_example,
    write_inception_checkpoint,
    write_records,
)

# Model-shape flags that evaluate.py and run_inference.py must share with train.py.
SHAPE_FLAGS = ("batch_size", "image_size", "vocab_size", "image_format")
EVAL_FOLDER = "harness-eval"
PROBE_FOLDER = "harness-probe"
_PERPLEXITY_RE = re.compile(r"Perplexity = ([0-9.eE+-]+|nan|inf)")


@dataclasses.dataclass
class Plan:
    """What to run: the job's parameters and how long each phase trains."""

    train_params: list[str] = dataclasses.field(default_factory=list)
    mainfile: str = "train.py"
    steps: int = 300
    resume_steps: int = 20
    seed: int = 0
    num_images: int = 4
    captions_per_image: int = 2
    # One large shape per image: learnable through a frozen random-weight Inception.
    max_objects: int = 1
    checkpoint_format: str = "v1"
    probe_images: int = 3
    timeout_s: float = 600.0
    num_gpus: int = 0

    @classmethod
    def quick(cls, **overrides) -> Plan:
        """The platform example, scaled to finish on a 2-core CPU in about a minute."""
        params = [
            *PLATFORM_EXAMPLE_PARAMS,
            "--batch_size=8",
            "--image_size=96",
            "--vocab_size=64",
            "--deterministic",
        ]
        return cls(train_params=params, **overrides)

    def phase_params(self, target_step: int) -> list[str]:
        """The job's parameters for a training phase that stops at `target_step`."""
        params = list(self.train_params)
        for name, value in (
            ("number_of_steps", target_step),
            ("log_every_n_steps", 1),
            ("save_checkpoint_steps", max(1, self.steps // 3)),
            ("seed", self.seed),
        ):
            params = with_flag(params, name, value)
        return params

    def shape_params(self) -> list[str]:
        return [f"--{n}={v}" for n in SHAPE_FLAGS if (v := flag_value(self.train_params, n))]


class Reporter(Protocol):
    """Progress hooks; the CLI shows them with rich, tests ignore them."""

    def phase(self, name: str, detail: str) -> None: ...
    def line(self, text: str) -> None: ...
    def check(self, result: CheckResult) -> None: ...


class SilentReporter:
    def phase(self, name: str, detail: str) -> None:
        pass

    def line(self, text: str) -> None:
        pass

    def check(self, result: CheckResult) -> None:
        pass


@dataclasses.dataclass
class Validation:
    """Everything one validation produced, for the CLI and pytest fixtures."""

    record: RunRecord
    run_dir: Path
    root: PlatformRoot
    outcomes: dict[str, RunOutcome]
    reports: dict[str, Path]

    @property
    def passed(self) -> bool:
        return self.record.passed


class _Run:
    """One validation in progress: its folders, phases and collected results."""

    def __init__(self, backend: Backend, plan: Plan, run_dir: Path, reporter: Reporter) -> None:
        self.backend, self.plan, self.reporter = backend, plan, reporter
        self.run_dir = run_dir
        self.root = PlatformRoot.create(parent=run_dir, prefix="platform-")
        self.paths = backend.paths(self.root)
        self.outcomes: dict[str, RunOutcome] = {}
        self.phases: list[PhaseRecord] = []
        self.checks: list[CheckResult] = []
        self.timings: dict[str, float] = {}

    def run_phase(
        self, name: str, mainfile: str, params: list[str], platform_flags: bool = True
    ) -> RunOutcome:
        self.reporter.phase(name, f"{mainfile} {' '.join(params)}")
        job = JobSpec(
            mainfile=mainfile,
            train_params=tuple(params),
            num_gpus=self.plan.num_gpus,
            timeout_s=self.plan.timeout_s,
            append_platform_flags=platform_flags,
        )
        outcome = self.backend.run(
            job, self.root, self.run_dir / "logs" / f"{name}.log", self.reporter.line
        )
        self.outcomes[name] = outcome
        self.timings[name] = outcome.seconds
        # Commands name the root as <root>, so records of different runs compare.
        command = [part.replace(str(self.root.root), "<root>") for part in outcome.command]
        self.phases.append(
            PhaseRecord.from_output(
                name,
                command,
                outcome.exit_code,
                outcome.seconds,
                outcome.log_text,
                outcome.backend,
                losses=self.losses(outcome),
                image=outcome.image,
                environment=outcome.environment,
            )
        )
        return outcome

    def losses(self, outcome: RunOutcome) -> dict[int, float]:
        """This phase's losses at full precision: its logged steps, read from metrics.jsonl
        when the job writes one (a job that only prints its losses keeps the printed ones)."""
        printed = parse_losses(outcome.log_text)
        metrics_file = self.root.log_dir / "metrics.jsonl"
        metrics = read_metrics(metrics_file) if printed and metrics_file.exists() else {}
        return {step: metrics.get(step, loss) for step, loss in printed.items()}

    def add(self, result: CheckResult) -> None:
        self.checks.append(result)
        self.reporter.check(result)

    def failed_phase(self, check_name: str, outcome: RunOutcome) -> CheckResult:
        """The verdict of a phase that did not finish: why, and the end of its log."""
        if outcome.error:
            reason = f"could not be run to the end: {outcome.error}"
        elif outcome.timed_out:
            reason = f"timed out after {self.plan.timeout_s:g} s and was killed"
        else:
            reason = f"exited with status {outcome.exit_code}"
        return CheckResult(
            check_name,
            False,
            f"the job {reason}; last log lines:\n{redact(outcome.log_tail(15))}",
            {
                "log": str(outcome.log_path),
                "exit_code": outcome.exit_code,
                "timed_out": outcome.timed_out,
                "error": outcome.error,
            },
            0.0,
        )


def _generate(run: _Run) -> dict:
    """Write records, vocabulary, eval pairs, probe images and the pretrained checkpoint."""
    plan, root = run.plan, run.root
    started = time.monotonic()
    pattern = flag_value(plan.train_params, "input_file_pattern")
    if not pattern:
        raise ValueError("the job's parameters have no --input_file_pattern to shape data to")
    try:
        dataset = generate_dataset(
            root.data_dir,
            seed=plan.seed,
            num_images=plan.num_images,
            captions_per_image=plan.captions_per_image,
            input_file_pattern=pattern.split(",")[0],
            num_eval_images=0,
            max_objects=plan.max_objects,
        )
    except ValueError as err:
        raise ValueError(
            f"cannot shape synthetic data to the job's --input_file_pattern: {err}"
        ) from err
    scenes = dataset.train_scenes
    pairs = [(scene, caption) for scene in scenes for caption in scene.captions]
    shuffled = [scenes[(scenes.index(s) + 1) % len(scenes)] for s, _ in pairs]
    eval_dir = root.data_dir / EVAL_FOLDER
    write_records(
        eval_dir / "true-00000-of-00001",
        [serialize_example(s.image_id, s.jpeg, c, dataset.vocab) for s, c in pairs],
    )
    write_records(
        eval_dir / "shuffled-00000-of-00001",
        [
            serialize_example(o.image_id, o.jpeg, c, dataset.vocab)
            for (_, c), o in zip(pairs, shuffled, strict=True)
        ],
    )
    probes = {}
    for scene in scenes[: plan.probe_images]:
        path = root.data_dir / PROBE_FOLDER / scene.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(scene.jpeg)
        probes[scene.filename] = describe(scene.attributes)  # any true description counts
    checkpoint_flag = flag_value(plan.train_params, "inception_checkpoint_file")
    pretrained = None
    if checkpoint_flag:
        write_inception_checkpoint(
            root.work_dir / checkpoint_flag.lstrip("/"),
            fmt=plan.checkpoint_format,
            seed=plan.seed,
        )
        # The backend says which file the job will really see (an image may ship its own).
        pretrained = run.backend.pretrained_checkpoint(root, checkpoint_flag)
    run.timings["generate"] = time.monotonic() - started
    return {
        "dataset": dataset,
        "pairs": len(pairs),
        "probes": probes,
        "pretrained": pretrained,
        "checkpoint_flag": checkpoint_flag,
    }


def _perplexity(outcome: RunOutcome) -> float | None:
    match = _PERPLEXITY_RE.search(outcome.log_text)
    return float(match.group(1)) if match and outcome.succeeded else None


def _final_step(root: PlatformRoot) -> int | None:
    checkpoints = saved_checkpoints(root.output_dir)
    return int(checkpoints[-1].name.rsplit("-", 1)[1]) if checkpoints else None


def new_run_dir(parent: Path) -> Path:
    """A fresh private (0700) run folder under `parent`, named by its start time plus a
    random suffix, so two runs started in the same second never share or clobber one."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=parent))


def validate(
    backend: Backend,
    plan: Plan,
    run_dir: Path,
    reporter: Reporter | None = None,
    code_path: Path | None = None,
) -> Validation:
    """Run the whole scenario in `run_dir`; the verdict is `Validation.passed`."""
    reporter = reporter or SilentReporter()
    run_dir.mkdir(parents=True, exist_ok=True)
    run = _Run(backend, plan, run_dir, reporter)
    root, paths = run.root, run.paths
    started = time.monotonic()
    reporter.phase("generate", f"synthetic data and checkpoint in {root.root}")
    backend.prepare(root)
    generated = _generate(run)
    frozen = (flag_value(plan.train_params, "train_inception") or "false").lower() in (
        "false",
        "0",
        "no",
    )
    if hasattr(backend, "probe"):  # images only: the platform's assumptions about them
        from harness.checks.image import check_image_contract
        from harness.contract import container_shell_command

        deploy = container_shell_command(plan.mainfile, plan.train_params).split("&& ", 1)[1]
        run.add(check_image_contract(backend, plan.mainfile, deploy))
    before = snapshot.take(root.root)
    inputs = sorted(p for p in before if p.startswith(("data/data/", "data/inception")))

    train = run.run_phase("train", plan.mainfile, plan.phase_params(plan.steps))
    after = snapshot.take(root.root)
    train_losses = run.losses(train)
    if not train.succeeded:
        run.add(run.failed_phase("train", train))
    else:
        expected_in_log = [paths.data_dir]
        if generated["checkpoint_flag"]:
            expected_in_log.append(f"{paths.work_dir}/{generated['checkpoint_flag'].lstrip('/')}")
        run.add(
            check_path_contract(
                root,
                before,
                after,
                train.log_text,
                inputs,
                expected_in_log,
                train.written_outside_output,
            )
        )
        if generated["pretrained"] is not None:
            run.add(
                check_pretrained_restore(
                    generated["pretrained"], saved_checkpoints(root.output_dir), frozen
                )
            )
        run.add(check_loss_decrease(train_losses))
        perplexities = {}
        for kind in ("true", "shuffled"):
            outcome = run.run_phase(
                f"evaluate_{kind}",
                "evaluate.py",
                [
                    f"--input_file_pattern=/{EVAL_FOLDER}/{kind}-?????-of-00001",
                    "--run_once",
                    "--min_global_step=0",
                    f"--num_eval_examples={generated['pairs']}",
                    f"--eval_dir={paths.output_dir}/harness-eval-{kind}",
                    *plan.shape_params(),
                ],
            )
            perplexities[kind] = _perplexity(outcome)
        run.add(check_image_dependence(perplexities["true"], perplexities["shuffled"]))
        first_final = _final_step(root)
        target = plan.steps + plan.resume_steps
        resumed = run.run_phase("resume", plan.mainfile, plan.phase_params(target))
        if resumed.succeeded:
            run.add(
                check_resume(
                    first_final, resumed.log_text, run.losses(resumed), _final_step(root), target
                )
            )
        else:
            run.add(run.failed_phase("resume", resumed))
        probe = run.run_phase(
            "inference",
            "run_inference.py",
            [
                f"--checkpoint_path={paths.output_dir}",
                f"--vocab_file={paths.data_dir}/word_counts.txt",
                f"--input_files={paths.data_dir}/{PROBE_FOLDER}/*",
                *plan.shape_params(),
            ],
            platform_flags=False,
        )
        run.add(
            check_inference(probe.log_text, generated["probes"])
            if probe.succeeded
            else run.failed_phase("inference", probe)
        )
    run.timings["total"] = time.monotonic() - started

    record = RunRecord(
        harness_version=__version__,
        trainer_version=None,
        git=git_info(code_path) if code_path else None,
        host=host_info(),
        job={
            "mainfile": plan.mainfile,
            "train_params": plan.train_params,
            "plan": dataclasses.asdict(plan),
            "seed": plan.seed,
            "backend": backend.name,
        },
        environment=backend.environment(),
        inputs={p: before[p] for p in inputs},
        outputs=sha256_tree(root.output_dir, relative_to=root.root),
        phases=run.phases,
        checks=run.checks,
        timings=run.timings,
    )
    # Reports are made from the stored (redacted) record, never from the in-memory one.
    reports = write_report(RunRecord.load(record.to_json(run_dir / "run_record.json")), run_dir)
    (run_dir / "verdict.json").write_text(
        json.dumps(
            {"passed": record.passed, "checks": {c.name: c.passed for c in record.checks}}, indent=2
        )
    )
    return Validation(record, run_dir, root, run.outcomes, reports)
