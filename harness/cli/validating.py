"""`uai-harness validate`, `baseline` and `rerun`: judging a job, and gating on a known-good run."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from harness import __version__
from harness.cli.common import absolute, code_path, newest_runs, record_path
from harness.console import ConsoleReporter, make_console
from harness.defaults import (
    LOSS_TOLERANCE,
    PHASE_TIMEOUT_S,
    RESUME_EPOCHS,
    RESUME_STEPS,
    SPEED_TOLERANCE,
)
from harness.jobshapes import STEPS
from harness.params import JobParams, flag_value
from harness.record import FAILED, NOT_RUN, PASSED, WARNING, RunRecord, dumps
from harness.redaction import Redactor

_VERDICT_STYLE = {
    PASSED: "[green]pass[/]",
    WARNING: "[yellow]warning[/]",
    FAILED: "[red]FAIL[/]",
    NOT_RUN: "[yellow]not run[/]",
}


def _checks_table(record: RunRecord) -> Table:
    """One row per planned check; the reasons were printed once, as each verdict came."""
    table = Table()
    for column in ("check", "verdict", "seconds"):
        table.add_column(column, overflow="fold")
    for check in record.checks:
        verdict = _VERDICT_STYLE.get(check.status, "[dim]n/a[/]")
        table.add_row(check.name, verdict, f"{check.seconds:.1f}")
    return table


def _backend(args: argparse.Namespace):
    from harness.backends.local import LocalBackend

    if args.backend == "docker" or (args.backend == "auto" and args.image):
        from harness.backends.container import DockerBackend

        if not args.image:
            args.image = _build_job_image(code_path(args.code_path), args.gpu)
        return DockerBackend(args.image, gpu=args.gpu, timeout_s=args.timeout)
    return LocalBackend(code_path(args.code_path), sandbox_mode=args.sandbox)


def _build_job_image(code_path: Path, gpu: bool) -> str:
    """`validate --backend docker` without --image: the code path's job image, built
    online or offline as this machine allows; returns its id."""
    from harness.images import ensure_job_image
    from harness.images.progress import ConsoleProgress

    progress = ConsoleProgress(make_console(stderr=True))
    try:
        tag = f"uai-harness/validate:{'gpu' if gpu else 'cpu'}"
        return ensure_job_image(code_path, tag, gpu=gpu, progress=progress).id
    finally:
        progress.close()


def _plan(args: argparse.Namespace):
    from harness.distributed_mode import ClusterSpec
    from harness.job import LossSettings
    from harness.scenario import Plan

    settings = dict(
        mainfile=args.mainfile,
        profile=args.profile,
        steps=args.steps,
        step_flag=args.step_flag,
        resume_steps=args.resume_steps,
        seed=args.seed,
        num_images=args.num_images,
        checkpoint_format=args.checkpoint_format,
        data=absolute(args.data),
        pretrained=absolute(args.pretrained),
        pretrained_flag=args.pretrained_flag,
        fine_tune=args.fine_tune,
        loss=LossSettings(tuple(args.loss_tag or ()), args.loss_regex),
        required_drop=args.required_drop,
        reproducible=args.reproducible,
        strict=args.strict,
        baseline=absolute(args.baseline),
        loss_tolerance=args.loss_tolerance,
        speed_tolerance=args.speed_tolerance,
        cluster=ClusterSpec.parse(args.cluster) if args.cluster else None,
        timeout_s=args.timeout,
        num_gpus=1 if args.gpu else 0,
    )
    if args.train_params is None:
        return Plan(**settings)
    params = JobParams.typed(args.train_params)
    if given := params.platform_flags():
        raise ValueError(
            f"--train-params must not set {', '.join(given)}: the platform appends "
            "--work_dir/--data_dir/--output_dir/--log_dir/--num_gpus itself"
        )
    return Plan(train_params=params, **settings)


def cmd_validate(args: argparse.Namespace) -> int:
    from harness.scenario import check_run_folder, inspect, new_run_dir

    if args.cmd_file:
        from harness.cmdfile import read_cmd_file

        command = read_cmd_file(absolute(args.cmd_file))
        args.image = args.image or command.image
        args.mainfile, args.train_params = command.mainfile, command.train_params_string
    plan = _plan(args)
    plan.deploy_command = command.deploy_as_written if args.cmd_file else None
    redactor = Redactor.for_params(plan.train_params)
    console = make_console(stderr=args.json, quiet=args.json)
    preflight = inspect(plan)  # bad input is refused before anything is written
    target = absolute(args.run_dir or args.out)
    check_run_folder(target, plan, must_be_empty=bool(args.run_dir))
    backend = _backend(args)
    run_dir = target if args.run_dir else new_run_dir(target)
    batch = flag_value(plan.train_params, "batch_size")
    reporter = ConsoleReporter(
        console, redactor, int(batch) if batch and batch.isdigit() else None, args.loss_regex
    )
    console.print(
        f"[bold]uai-harness {__version__}[/] validating with the [bold]{backend.name}[/] "
        f"backend in {run_dir}"
    )
    for removed in getattr(backend, "stale_removed", []):
        console.print(f"  [dim]· removed {removed}, left behind by a crashed harness run[/]")
    record = _run_and_show(
        console, backend, plan, preflight, run_dir, reporter, redactor, args.junit_xml, args.jobs
    )
    if args.json:
        print(
            dumps(
                {
                    "passed": record.passed,
                    "summary": record.summary(),
                    "run_dir": run_dir,
                    "checks": [c.__dict__ for c in record.checks],
                    "job": record.job,
                },
                redactor,
            )
        )
    return 0 if record.passed else 1


def _run_and_show(
    console, backend, plan, preflight, run_dir, reporter, redactor, junit_xml, jobs=None
) -> RunRecord:
    """Validate, then show the table, the files written and the one-line verdict."""
    from harness.junit import write_junit
    from harness.scenario import validate
    from harness.scenario.runner import folder_bytes

    try:
        result = validate(backend, plan, run_dir, reporter, redactor, preflight, jobs)
    finally:
        reporter.close()
    record = result.record
    console.print(_checks_table(record))
    for kind, path in sorted(result.reports.items()):
        console.print(f"{kind}: {path}")
    console.print(f"run record: {run_dir / 'run_record.json'}")
    console.print(f"run folder: {folder_bytes(run_dir) / 1e6:.1f} MB")
    if junit_xml:
        console.print(f"junit: {write_junit(record, absolute(junit_xml))}")
    style = "green" if record.passed else "red"
    total = record.timings.get("total", 0)
    console.print(f"[bold {style}]{record.summary()}[/] in {total:.0f}s")
    return record


def cmd_baseline(args: argparse.Namespace) -> int:
    from harness.baseline import summarise, write_baseline

    path = record_path(args.run) if args.run else newest_runs(args.runs, 1)[0]
    record = RunRecord.load(path)
    written = write_baseline(record, absolute(args.out))
    facts = summarise(record)
    speed = facts["speed"] or {}
    print(
        f"baseline: {written} from {path.parent.name}: {len(facts['losses'])} losses "
        f"({facts['loss_source']}), {len(facts['verdicts'])} verdicts, "
        f"{len(facts['outputs'])} output files, "
        + (
            f"{speed['steps_per_s']:.2f} {speed.get('unit', STEPS)}/s"
            if speed
            else "no speed (no timed steps)"
        )
    )
    if not record.passed:
        print(f"note: the run did not pass ({record.summary()}); a baseline is usually a good run")
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    from harness.rerun import check_code, check_data, compare_runs, plan_from_record
    from harness.scenario import inspect, new_run_dir

    source = record_path(args.run) if args.run else newest_runs(args.runs, 1)[0]
    old = RunRecord.load(source)
    plan = plan_from_record(old)
    kind, code = check_code(old, args.allow_changed_code)
    check_data(old, plan)
    preflight = inspect(plan)
    if kind == "docker":
        from harness.backends.container import DockerBackend

        backend = DockerBackend(code, gpu=plan.num_gpus > 0, timeout_s=plan.timeout_s)
    else:
        from harness.backends.local import LocalBackend

        backend = LocalBackend(Path(code))
    redactor = Redactor.for_params(plan.train_params)
    console = make_console()
    run_dir = new_run_dir(absolute(args.out))
    console.print(f"[bold]uai-harness {__version__}[/] repeating {source.parent} in {run_dir}")
    reporter = ConsoleReporter(console, redactor, None, plan.loss.regex)
    new = _run_and_show(console, backend, plan, preflight, run_dir, reporter, redactor, None)
    outcome = compare_runs(old, new, run_dir)
    print(outcome.comparison.render_text())
    if outcome.inputs_differ:
        print(f"inputs differ from the record: {', '.join(outcome.inputs_differ[:5])}")
    verdict = "the same" if outcome.same else "DIFFERENT from the record"
    print(f"rerun of {source.parent.name}: {verdict}")
    return 0 if outcome.same else 1


def add_parsers(sub) -> None:
    validate = sub.add_parser("validate", help="run the job the platform's way and check it")
    job = validate.add_argument_group("the job")
    job.add_argument(
        "--backend",
        choices=["auto", "local", "docker"],
        default="auto",
        help="auto: docker when --image/--cmd-file is given, else local",
    )
    job.add_argument("--image", default=None, help="validate this docker image")
    job.add_argument("--cmd-file", default=None, help="uaitrain_cmd.txt from the pack tool")
    job.add_argument(
        "--code-path",
        default=None,
        help="code folder packed at /data (local backend; default: ./im2txt)",
    )
    job.add_argument("--mainfile", default="train.py")
    job.add_argument(
        "--train-params",
        default=None,
        help='the job\'s own parameters, e.g. --train-params="--max_steps=100" (default: the '
        "platform's im2txt example, scaled down)",
    )
    job.add_argument("--gpu", action="store_true", help="run with GPUs (--num_gpus=1)")
    job.add_argument(
        "--cluster",
        default=None,
        metavar="ps=N,worker=M",
        help="run as the platform's distributed mode: one master (the chief) plus these tasks, "
        "each with its own TF_CONFIG and output folder",
    )
    inputs = validate.add_argument_group("inputs")
    inputs.add_argument(
        "--profile",
        choices=["im2txt", "none"],
        default=None,
        help="im2txt: generated captioning data plus model checks (default without --data); "
        "none: your --data and the platform checks only (default with --data)",
    )
    inputs.add_argument("--data", default=None, help="your data sample, laid out as /data/data")
    inputs.add_argument(
        "--pretrained", default=None, help="the checkpoint the job restores at step 0"
    )
    inputs.add_argument(
        "--pretrained-flag", default=None, help="the job flag naming it (default: found)"
    )
    mode = inputs.add_mutually_exclusive_group()
    mode.add_argument(
        "--trainable",
        dest="fine_tune",
        action="store_true",
        default=None,
        help="the job fine-tunes the pretrained variables",
    )
    mode.add_argument(
        "--frozen",
        dest="fine_tune",
        action="store_false",
        help="the job keeps them frozen (default: read from the parameters)",
    )
    inputs.add_argument("--num-images", type=int, default=4, help="synthetic images (im2txt)")
    inputs.add_argument("--seed", type=int, default=0, help="of the synthetic inputs")
    inputs.add_argument("--checkpoint-format", choices=["v1", "v2"], default="v1")
    steps = validate.add_argument_group("steps and losses")
    steps.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training target (default: the job's own, capped by the profile)",
    )
    steps.add_argument(
        "--step-flag",
        default=None,
        help="the job flag carrying it, in either spelling (train_steps or train-steps); "
        "epoch flags (--epochs, --num_epochs) count epochs",
    )
    steps.add_argument(
        "--resume-steps",
        type=int,
        default=None,
        help=f"how far the rerun raises the target (default: {RESUME_STEPS} steps, or "
        f"{RESUME_EPOCHS} epochs)",
    )
    steps.add_argument(
        "--loss-tag",
        action="append",
        default=None,
        help="summary tag of the loss (repeatable); replaces the automatic choice among "
        "loss-named tags, stdout lines and metrics.jsonl",
    )
    steps.add_argument(
        "--loss-regex", default=None, help="stdout regex with (?P<step>...) and (?P<loss>...)"
    )
    steps.add_argument("--required-drop", type=float, default=None, help="e.g. 0.25 (25%%)")
    steps.add_argument(
        "--reproducible", action="store_true", help="train twice and compare the losses"
    )
    steps.add_argument(
        "--strict",
        action="store_true",
        help="a warning (no resume logic, an empty log_dir, ...) fails the run: for CI gates",
    )
    out = validate.add_argument_group("run")
    out.add_argument("--timeout", type=float, default=PHASE_TIMEOUT_S, help="seconds per phase")
    out.add_argument("--out", default="runs", help="parent folder of run folders")
    out.add_argument("--run-dir", default=None, help="exact run folder (overrides --out)")
    out.add_argument("--jobs", type=int, help="phases at once after train (1: one by one)")
    out.add_argument("--json", action="store_true", help="machine-readable verdict on stdout")
    out.add_argument(
        "--junit-xml", default=None, metavar="FILE", help="also write the verdicts as JUnit XML"
    )
    sandboxing = out.add_mutually_exclusive_group()
    sandboxing.add_argument(
        "--sandbox",
        dest="sandbox",
        action="store_true",
        default=None,
        help="local backend: run in the bubblewrap sandbox or fail (default: when available)",
    )
    sandboxing.add_argument(
        "--no-sandbox", dest="sandbox", action="store_false", help="run directly on the host"
    )
    gate = validate.add_argument_group("regression gate")
    gate.add_argument(
        "--baseline", default=None, metavar="FILE", help="judge against this baseline file"
    )
    gate.add_argument(
        "--loss-tolerance",
        type=float,
        default=LOSS_TOLERANCE,
        help="how far above the baseline's last-fifth loss is still as good "
        f"(default {LOSS_TOLERANCE:.2f})",
    )
    gate.add_argument(
        "--speed-tolerance",
        type=float,
        default=SPEED_TOLERANCE,
        help=f"how far below the baseline's speed is still as fast (default {SPEED_TOLERANCE:.2f})",
    )
    validate.set_defaults(func=cmd_validate)

    baseline = sub.add_parser(
        "baseline", help="write a run's baseline file, to commit and gate later runs on"
    )
    baseline.add_argument("run", nargs="?", help="run folder or record (default: the newest)")
    baseline.add_argument("--runs", default="runs", help="where runs are looked for")
    baseline.add_argument("--out", default="baseline.json", help="the file to write")
    baseline.set_defaults(func=cmd_baseline)

    rerun = sub.add_parser("rerun", help="repeat a recorded run and compare it with the record")
    rerun.add_argument("run", nargs="?", help="run folder or record (default: the newest)")
    rerun.add_argument("--runs", default="runs", help="where runs are looked for")
    rerun.add_argument(
        "--allow-changed-code", action="store_true", help="rerun even if the code changed"
    )
    rerun.add_argument("--out", default="runs", help="parent folder of the new run")
    rerun.set_defaults(func=cmd_rerun)
