"""`uai-harness validate`, `baseline` and `rerun`: judging a job, and gating on a known-good run."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from harness import __version__
from harness.cli.arguments import check_validate, writable_file, writable_folder
from harness.cli.common import absolute, code_path, newest_runs, record_path
from harness.console import ConsoleReporter, make_console
from harness.jobshapes import STEPS
from harness.params import JobParams, flag_value
from harness.record import FAILED, NOT_RUN, PASSED, WARNING, RunRecord, dumps
from harness.redaction import Redactor
from harness.snapshot import describe_size

INTERRUPTED = 130  # the shell's exit status for Ctrl-C
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
        require=tuple(args.require or ()),
        baseline=absolute(args.baseline),
        loss_tolerance=args.loss_tolerance,
        speed_tolerance=args.speed_tolerance,
        cluster=ClusterSpec.parse(args.cluster) if args.cluster else None,
        timeout_s=args.timeout,
        max_output_gb=args.max_output_gb,
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
    from harness.scenario import check_run_folder, clear_interrupted, inspect, new_run_dir

    if args.cmd_file:
        from harness.cmdfile import read_cmd_file

        command = read_cmd_file(absolute(args.cmd_file))
        args.image = args.image or command.image
        args.mainfile, args.train_params = command.mainfile, command.train_params_string
    plan = _plan(args)
    check_validate(args)
    plan.deploy_command = command.deploy_as_written if args.cmd_file else None
    redactor = Redactor.for_params(plan.train_params)
    console = make_console(stderr=args.json, quiet=args.json)
    preflight = inspect(plan)  # bad input is refused before anything is written
    target = absolute(args.run_dir or args.out)
    if args.run_dir and clear_interrupted(target):
        console.print(f"  [dim]· emptied {target}: its run had been interrupted[/]")
    check_run_folder(target, plan, must_be_empty=bool(args.run_dir))
    backend = _backend(args)
    if backend.name == "local" and backend.read_code(plan.mainfile) is None:
        raise ValueError(
            f"--mainfile {plan.mainfile} is not in the code path {backend.code_path} "
            "(give --mainfile, or the folder that holds it with --code-path)"
        )
    run_dir = target if args.run_dir else new_run_dir(target)
    batch = flag_value(plan.train_params, "batch_size")
    reporter = ConsoleReporter(
        console,
        redactor,
        int(batch) if batch and batch.isdigit() else None,
        args.loss_regex,
        follow=args.follow,
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
    return INTERRUPTED if record.interrupted else 0 if record.passed else 1


def _run_and_show(
    console, backend, plan, preflight, run_dir, reporter, redactor, junit_xml, jobs=None
) -> RunRecord:
    """Validate, then show the table, the files written and the one-line verdict."""
    from harness.junit import write_junit
    from harness.scenario import validate
    from harness.untrusted import folder_bytes

    try:
        result = validate(backend, plan, run_dir, reporter, redactor, preflight, jobs)
    finally:
        reporter.close()
    record = result.record
    if record.interrupted:
        finished = ", ".join(p.name for p in record.phases) or "no phase"
        console.print(
            f"[bold red]interrupted[/]: the job was stopped, its processes ended ({finished} "
            "had finished); "
            f"record: {run_dir / 'run_record.json'}"
        )
        return record
    console.print(_checks_table(record))
    for kind, path in sorted(result.reports.items()):
        console.print(f"{kind}: {path}")
    console.print(f"run record: {run_dir / 'run_record.json'}")
    if record.output_bytes is not None:
        size = describe_size(record.output_bytes)
        console.print(f"output_dir: {size} in {len(record.outputs)} files")
    console.print(f"run folder: {folder_bytes(run_dir) / 1e6:.1f} MB")
    if junit_xml:
        console.print(f"junit: {write_junit(record, absolute(junit_xml), redactor)}")
    style = "green" if record.passed else "red"
    total = record.timings.get("total", 0)
    console.print(f"[bold {style}]{record.summary()}[/] in {total:.0f}s")
    return record


def cmd_baseline(args: argparse.Namespace) -> int:
    from harness.baseline import summarise, write_baseline

    path = record_path(args.run) if args.run else newest_runs(args.runs, 1)[0]
    out = writable_file("--out", absolute(args.out))
    record = RunRecord.load(path)
    written = write_baseline(record, out)
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
    run_dir = new_run_dir(writable_folder("--out", absolute(args.out)))
    console.print(f"[bold]uai-harness {__version__}[/] repeating {source.parent} in {run_dir}")
    reporter = ConsoleReporter(console, redactor, None, plan.loss.regex)
    new = _run_and_show(console, backend, plan, preflight, run_dir, reporter, redactor, None)
    if new.interrupted:
        return INTERRUPTED
    outcome = compare_runs(old, new, run_dir)
    print(outcome.comparison.render_text())
    if outcome.inputs_differ:
        print(f"inputs differ from the record: {', '.join(outcome.inputs_differ[:5])}")
    verdict = "the same" if outcome.same else "DIFFERENT from the record"
    print(f"rerun of {source.parent.name}: {verdict}")
    return 0 if outcome.same else 1
