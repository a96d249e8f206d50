"""`uai-harness`: validate a training job, generate inputs, report and compare runs, pack.

User input (paths, parameters) is resolved here, once: every folder becomes an
absolute path before any backend sees it, and the run's Redactor is made from the
job's parameters before anything is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.table import Table

from harness import __version__
from harness.backends.base import BackendError
from harness.console import ConsoleReporter, make_console
from harness.contract import PLATFORM_EXAMPLE_PARAMS
from harness.params import flag_value, platform_flags_in, split_params
from harness.record import FAILED, NOT_RUN, PASSED, RunRecord, dumps
from harness.redaction import Redactor

_VERDICT_STYLE = {PASSED: "[green]pass[/]", FAILED: "[red]FAIL[/]", NOT_RUN: "[yellow]not run[/]"}


def _absolute(path: str | None) -> Path | None:
    """A user-given path as an absolute one (relative to the current folder)."""
    return None if path is None else Path(path).expanduser().resolve()


def _code_path(given: str | None) -> Path:
    """The code folder packed at /data: as given, or ./im2txt of the current folder."""
    from harness.resources import default_code_path

    if given is None:
        return default_code_path()
    path = _absolute(given)
    if not path.is_dir():
        raise ValueError(f"--code-path {given} is not a folder")
    return path


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
            args.image = _build_job_image(_code_path(args.code_path), args.gpu)
        return DockerBackend(args.image, gpu=args.gpu, timeout_s=args.timeout)
    return LocalBackend(_code_path(args.code_path))


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
    from harness.cluster import ClusterSpec
    from harness.job import DEFAULT_LOSS_TAGS, LossSettings
    from harness.validate import Plan

    settings = dict(
        mainfile=args.mainfile,
        profile=args.profile or ("none" if args.data else "im2txt"),
        steps=args.steps,
        step_flag=args.step_flag,
        resume_steps=args.resume_steps,
        seed=args.seed,
        num_images=args.num_images,
        checkpoint_format=args.checkpoint_format,
        data=_absolute(args.data),
        pretrained=_absolute(args.pretrained),
        pretrained_flag=args.pretrained_flag,
        fine_tune=args.fine_tune,
        loss=LossSettings(tuple(args.loss_tag or DEFAULT_LOSS_TAGS), args.loss_regex),
        required_drop=args.required_drop,
        reproducible=args.reproducible,
        cluster=ClusterSpec.parse(args.cluster) if args.cluster else None,
        timeout_s=args.timeout,
        num_gpus=1 if args.gpu else 0,
    )
    if args.train_params is None:
        return Plan(**settings)
    params = split_params(args.train_params)
    if given := platform_flags_in(params):
        raise ValueError(
            f"--train-params must not set {', '.join(given)}: the platform appends "
            "--work_dir/--data_dir/--output_dir/--log_dir/--num_gpus itself"
        )
    return Plan(train_params=params, **settings)


def cmd_validate(args: argparse.Namespace) -> int:
    from harness.validate import inspect, new_run_dir, validate

    if args.cmd_file:
        from harness.cmdfile import read_cmd_file

        command = read_cmd_file(_absolute(args.cmd_file))
        args.image = args.image or command.image
        args.mainfile, args.train_params = command.mainfile, command.train_params_string
    plan = _plan(args)
    plan.deploy_command = command.deploy_as_written if args.cmd_file else None
    redactor = Redactor.for_params(plan.train_params)
    console = make_console(stderr=args.json, quiet=args.json)
    inspect(plan)  # bad input is refused before anything is written
    backend = _backend(args)
    run_dir = _absolute(args.run_dir) if args.run_dir else new_run_dir(_absolute(args.out))
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
    try:
        result = validate(backend, plan, run_dir, reporter, redactor)
    finally:
        reporter.close()
    record = result.record
    console.print(_checks_table(record))
    for kind, path in sorted(result.reports.items()):
        console.print(f"{kind}: {path}")
    console.print(f"run record: {run_dir / 'run_record.json'}")
    style = "green" if record.passed else "red"
    total = record.timings.get("total", 0)
    console.print(f"[bold {style}]{record.summary()}[/] in {total:.0f}s")
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


def cmd_generate(args: argparse.Namespace) -> int:
    from harness.synthetic import (
        generate_coco_dataset,
        generate_dataset,
        write_inception_checkpoint,
    )

    out = _absolute(args.out)
    dataset = generate_dataset(
        out / "data", seed=args.seed, num_images=args.num_images, input_file_pattern=args.pattern
    )
    checkpoint = write_inception_checkpoint(
        out / "inception_v3.ckpt", fmt=args.checkpoint_format, seed=args.seed
    )
    written = {
        "records": [str(p) for p in dataset.train_files + dataset.eval_files],
        "vocab": str(dataset.vocab_file),
        "checkpoint": str(checkpoint.path),
    }
    if args.coco:
        written["coco"] = str(generate_coco_dataset(out / "coco", seed=args.seed).root)
    print(
        dumps(written)
        if args.json
        else "\n".join(f"{key}: {value}" for key, value in written.items())
    )
    return 0


RECORD_NAME = "run_record.json"


def _record_path(given: str) -> Path:
    """A run record named directly or by its run folder."""
    path = _absolute(given)
    return path / RECORD_NAME if path.is_dir() else path


def _newest_runs(parent: str, count: int) -> list[Path]:
    """The `count` newest run records under `parent`, oldest first (run folders are named
    by their start time)."""
    folder = _absolute(parent)
    records = sorted(folder.glob(f"*/{RECORD_NAME}")) if folder.is_dir() else []
    if len(records) < count:
        raise ValueError(
            f"{folder} holds {len(records)} run(s) with a {RECORD_NAME}; need {count} "
            "(run `uai-harness validate`, or name the runs)"
        )
    return records[-count:]


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import write_report

    path = _record_path(args.record) if args.record else _newest_runs(args.runs, 1)[0]
    record = RunRecord.load(path)
    out = _absolute(args.out) if args.out else path.parent
    for kind, written in sorted(write_report(record, out).items()):
        print(f"{kind}: {written}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.compare import compare

    if (args.a is None) != (args.b is None):
        raise ValueError("compare takes two runs, or none (the two newest under --runs)")
    a, b = (
        (_record_path(args.a), _record_path(args.b))
        if args.a
        else tuple(_newest_runs(args.runs, 2))
    )
    if not args.json:
        print(f"a: {a}\nb: {b}")
    comparison = compare(RunRecord.load(a), RunRecord.load(b), rtol=args.rtol, atol=args.atol)
    print(
        dumps({"a": a, "b": b, **comparison.to_dict()}) if args.json else comparison.render_text()
    )
    return 0 if comparison.identical_losses else 1


def cmd_pack(args: argparse.Namespace) -> int:
    from harness.images.progress import ConsoleProgress
    from harness.pack import LOCAL_TEST_LOG, PackSpec, pack, run_local_test

    console = make_console(stderr=True)
    for flag in IGNORED_PACK_FLAGS:
        if getattr(args, _dest(flag)) is not None:
            console.print(f"warning: ignored {flag}: pack pushes nothing and stores no credentials")
            setattr(args, _dest(flag), None)
    if args.ai_arch_v is not None:
        if not args.ai_arch_v.lower().startswith("tensorflow"):
            raise ValueError(f"--ai_arch_v {args.ai_arch_v!r}: pack builds TensorFlow jobs only")
        console.print(
            f"note: --ai_arch_v {args.ai_arch_v}: the images get the TensorFlow of "
            "requirements-cpu.txt / requirements-gpu.txt (2.21)"
        )
    spec = PackSpec(
        code_path=_code_path(args.code_path),
        mainfile=args.mainfile_path,
        train_params=args.train_params,
        image_name=args.image_name,
        image_tag=args.image_tag,
        test_data_path=_absolute(args.test_data_path),
        test_output_path=_absolute(args.test_output_path),
        gpu=args.gpu,
        offline=args.offline,
        base_image=args.base_image,
        checkpoint=_absolute(args.inception_checkpoint),
    )
    progress = ConsoleProgress(console)
    try:
        result = pack(spec, _absolute(args.out), progress)
    finally:
        progress.close()
    for variant, image in result.images.items():
        packages = f"the wheelhouse {image.wheelhouse}" if image.wheelhouse else "the index"
        print(f"{variant} image: {image.tag} ({image.id[7:19]}): {image.base.describe()}; ", end="")
        print(f"packages from {packages}")
    print(f"command file: {result.cmd_file}")
    print(result.cmd_file.read_text(), end="")
    if not args.run_local_test:
        return 0
    progress = ConsoleProgress(console)
    try:
        test = run_local_test(result.command, _absolute(args.out) / LOCAL_TEST_LOG, progress)
    finally:
        progress.close()
    shown = ", ".join(test.outputs[:8]) + (", ..." if len(test.outputs) > 8 else "")
    print(
        f"CPU local test: exit {test.exit_code} after {test.seconds:.0f}s; "
        f"{len(test.outputs)} files in {test.output_dir}: {shown or 'none'}; log {test.log_path}"
    )
    return 0 if test.exit_code == 0 else 1


# The pack tool's account and registry flags: accepted, so a pasted command works, then
# dropped unread: nothing is pushed, and a credential is never stored or printed.
IGNORED_PACK_FLAGS = (
    "--public_key",
    "--private_key",
    "--uhub_username",
    "--uhub_password",
    "--uhub_registry",
    "--internal_uhub",
)


def _dest(flag: str) -> str:
    return "ignored_" + flag.lstrip("-")


def _add_pack_parser(sub) -> None:
    """`pack` takes the pack tool's spellings (--code_path ...) besides the harness's."""
    packer = sub.add_parser(
        "pack",
        help="build the job's images and write uaitrain_cmd.txt (UCloud's pack tool)",
        epilog="Also accepted, and ignored with a warning: " + " ".join(IGNORED_PACK_FLAGS),
    )
    packer.add_argument(
        "--code-path",
        "--code_path",
        dest="code_path",
        default=None,
        help="folder packed at /data (default: ./im2txt)",
    )
    packer.add_argument(
        "--mainfile-path", "--mainfile_path", dest="mainfile_path", default="train.py"
    )
    packer.add_argument(
        "--train-params",
        "--train_params",
        dest="train_params",
        default=" ".join(PLATFORM_EXAMPLE_PARAMS),
        help="the job's own parameters, written verbatim (default: the platform's im2txt example)",
    )
    packer.add_argument("--test-data-path", "--test_data_path", dest="test_data_path", default=None)
    packer.add_argument(
        "--test-output-path", "--test_output_path", dest="test_output_path", default=None
    )
    packer.add_argument(
        "--image-name",
        "--uhub_imagename",
        dest="image_name",
        default="im2txt",
        help="images <name>-cpu:<tag> and <name>:<tag> (GPU)",
    )
    packer.add_argument(
        "--image-tag", "--uhub_imagetag", dest="image_tag", default="", help="default: uaitrain"
    )
    packer.add_argument(
        "--ai-arch-v", "--ai_arch_v", dest="ai_arch_v", default=None, help="e.g. tensorflow-2.21"
    )
    packer.add_argument("--gpu", action="store_true", help="also build the GPU image")
    packer.add_argument(
        "--offline",
        action="store_true",
        help="never pull or use the index: local debootstrap base and wheelhouse",
    )
    packer.add_argument("--base-image", default=None, help="build on this base image as it is")
    packer.add_argument(
        "--inception-checkpoint",
        default=None,
        help="bake this pretrained checkpoint (path or V2 prefix) in as /data/inception_v3.ckpt",
    )
    packer.add_argument("--out", default=".", help="where uaitrain_cmd.txt goes")
    packer.add_argument(
        "--run-local-test",
        action="store_true",
        help="then run the CPU local test line on the test folders and report it",
    )
    for flag in IGNORED_PACK_FLAGS:
        packer.add_argument(flag, dest=_dest(flag), nargs="?", const="", help=argparse.SUPPRESS)
    packer.set_defaults(func=cmd_pack)


def _validate_parser(sub) -> None:
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
    steps.add_argument("--step-flag", default=None, help="the job flag carrying it")
    steps.add_argument("--resume-steps", type=int, default=10)
    steps.add_argument(
        "--loss-tag", action="append", default=None, help="summary tag of the loss (repeatable)"
    )
    steps.add_argument(
        "--loss-regex", default=None, help="stdout regex with (?P<step>...) and (?P<loss>...)"
    )
    steps.add_argument("--required-drop", type=float, default=None, help="e.g. 0.25 (25%%)")
    steps.add_argument(
        "--reproducible", action="store_true", help="train twice and compare the losses"
    )
    out = validate.add_argument_group("run")
    out.add_argument("--timeout", type=float, default=600.0, help="seconds per phase")
    out.add_argument("--out", default="runs", help="parent folder of run folders")
    out.add_argument("--run-dir", default=None, help="exact run folder (overrides --out)")
    out.add_argument("--json", action="store_true", help="machine-readable verdict on stdout")
    validate.set_defaults(func=cmd_validate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="uai-harness", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command")
    _validate_parser(sub)

    generate = sub.add_parser("generate", help="write synthetic records and a checkpoint")
    generate.add_argument("out")
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--num-images", type=int, default=32)
    generate.add_argument("--pattern", default="train-?????-of-00256")
    generate.add_argument("--checkpoint-format", choices=["v1", "v2"], default="v1")
    generate.add_argument("--coco", action="store_true", help="also a COCO-format dataset")
    generate.add_argument("--json", action="store_true")
    generate.set_defaults(func=cmd_generate)

    report = sub.add_parser("report", help="Markdown and HTML report of a run")
    report.add_argument(
        "record", nargs="?", help="run folder or run_record.json (default: the newest run)"
    )
    report.add_argument("--runs", default="runs", help="where runs are looked for")
    report.add_argument("--out", default=None, help="folder for the report (default: the run's)")
    report.set_defaults(func=cmd_report)

    _add_pack_parser(sub)

    comp = sub.add_parser("compare", help="compare two runs (first loss divergence)")
    comp.add_argument("a", nargs="?", help="run folder or record (default: the two newest runs)")
    comp.add_argument("b", nargs="?")
    comp.add_argument("--runs", default="runs", help="where runs are looked for")
    comp.add_argument("--rtol", type=float, default=0.0, help="relative loss tolerance")
    comp.add_argument("--atol", type=float, default=0.0, help="absolute loss tolerance")
    comp.add_argument("--json", action="store_true")
    comp.set_defaults(func=cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter out
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv or ["validate"])
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (ValueError, OSError, BackendError) as err:  # bad input, files, daemon, image
        params = getattr(args, "train_params", None) or ""
        redactor = Redactor.for_params(params.split() if isinstance(params, str) else params)
        print(f"error: {redactor.text(' '.join(str(err).split()))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
