"""`uai-harness`: validate a training job, generate inputs, report and compare runs."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness import __version__
from harness.backends.base import BackendError
from harness.contract import PLATFORM_EXAMPLE_PARAMS, split_params, strip_platform_flags
from harness.record import CheckResult, RunRecord

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CODE_PATH = REPO_ROOT / "im2txt"


class ConsoleReporter:
    """Shows the current phase with a spinner and the job's latest step line."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status = None
        self._phase = ""
        self._started = time.monotonic()

    def phase(self, name: str, detail: str) -> None:
        self.close()
        self._phase, self._started = name, time.monotonic()
        self.console.print(f"[bold cyan]▶ {name}[/] [dim]{detail}[/]")
        self._status = self.console.status(f"{name}…")
        self._status.start()

    def line(self, text: str) -> None:
        if self._status is not None and (
            "global step" in text
            or "Perplexity" in text
            or text.startswith(("Restored", "Resuming", "error"))
        ):
            elapsed = time.monotonic() - self._started
            self._status.update(f"{self._phase} [{elapsed:4.0f}s] {text[:100]}")

    def check(self, result: CheckResult) -> None:
        self.close()
        mark = "[green]PASS[/]" if result.passed else "[red]FAIL[/]"
        self.console.print(f"  {mark} {result.name}: {result.message}")

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def _checks_table(record: RunRecord) -> Table:
    table = Table(title="Checks")
    for column in ("check", "verdict", "seconds", "why"):
        table.add_column(column, overflow="fold")
    for check in record.checks:
        verdict = "[green]pass[/]" if check.passed else "[red]FAIL[/]"
        table.add_row(check.name, verdict, f"{check.seconds:.2f}", check.message)
    return table


def _backend(args: argparse.Namespace):
    from harness.backends.local import LocalBackend

    if args.backend == "docker" or (args.backend == "auto" and args.image):
        from harness.backends.container import DockerBackend

        if not args.image:
            args.image = _build_job_image(Path(args.code_path), args.gpu)
        return DockerBackend.for_args(args)
    return LocalBackend(Path(args.code_path))


def _build_job_image(code_path: Path, gpu: bool) -> str:
    """`validate --backend docker` without --image: the code path's job image, built
    online or offline as this machine allows; returns its id."""
    from harness.images import ensure_job_image
    from harness.images.progress import ConsoleProgress

    progress = ConsoleProgress(Console(stderr=True))
    try:
        tag = f"uai-harness/validate:{'gpu' if gpu else 'cpu'}"
        return ensure_job_image(code_path, tag, gpu=gpu, progress=progress).id
    finally:
        progress.close()


def _plan(args: argparse.Namespace):
    from harness.validate import Plan

    overrides = dict(
        steps=args.steps,
        resume_steps=args.resume_steps,
        seed=args.seed,
        checkpoint_format=args.checkpoint_format,
        timeout_s=args.timeout,
        num_images=args.num_images,
        mainfile=args.mainfile,
        num_gpus=1 if args.gpu else 0,
    )
    if args.train_params is None:
        return Plan.quick(**overrides)
    params = split_params(args.train_params)
    stripped = strip_platform_flags(params)
    if stripped != params:
        raise SystemExit(
            "error: --train-params must not set --work_dir/--data_dir/--output_dir/"
            "--log_dir/--num_gpus: the platform appends those itself"
        )
    return Plan(train_params=params, **overrides)


def cmd_validate(args: argparse.Namespace) -> int:
    from harness.validate import new_run_dir, validate

    console = Console(stderr=args.json, quiet=args.json)
    if args.cmd_file:
        from harness.cmdfile import read_cmd_file

        command = read_cmd_file(Path(args.cmd_file))
        args.image = args.image or command.image
        args.mainfile, args.train_params = command.mainfile, command.train_params_string
    plan = _plan(args)
    backend = _backend(args)
    run_dir = Path(args.run_dir) if args.run_dir else new_run_dir(Path(args.out))
    reporter = ConsoleReporter(console)
    console.print(
        f"[bold]uai-harness {__version__}[/] validating with the "
        f"[bold]{backend.name}[/] backend in {run_dir}"
    )
    try:
        result = validate(
            backend,
            plan,
            run_dir,
            reporter,
            code_path=Path(args.code_path) if backend.name == "local" else None,
        )
    except (ValueError, FileNotFoundError) as err:
        reporter.close()
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        reporter.close()
    record = result.record
    console.print(_checks_table(record))
    for kind, path in sorted(result.reports.items()):
        console.print(f"{kind}: {path}")
    console.print(f"run record: {run_dir / 'run_record.json'}")
    verdict = "[green]all checks passed[/]" if record.passed else "[red]some checks failed[/]"
    console.print(f"{verdict} in {record.timings.get('total', 0):.0f}s")
    if args.json:
        print(
            json.dumps(
                {
                    "passed": record.passed,
                    "run_dir": str(run_dir),
                    "checks": [c.__dict__ for c in record.checks],
                },
                default=str,
            )
        )
    return 0 if record.passed else 1


def cmd_generate(args: argparse.Namespace) -> int:
    from harness.synthetic import (
        generate_coco_dataset,
        generate_dataset,
        write_inception_checkpoint,
    )

    out = Path(args.out)
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
        coco = generate_coco_dataset(out / "coco", seed=args.seed)
        written["coco"] = str(coco.root) if hasattr(coco, "root") else str(out / "coco")
    print(
        json.dumps(written, indent=2)
        if args.json
        else "\n".join(f"{key}: {value}" for key, value in written.items())
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import write_report

    record = RunRecord.load(args.record)
    out = Path(args.out) if args.out else Path(args.record).parent
    for kind, path in sorted(write_report(record, out).items()):
        print(f"{kind}: {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.compare import compare

    comparison = compare(RunRecord.load(args.a), RunRecord.load(args.b))
    print(json.dumps(comparison.to_dict(), indent=2) if args.json else comparison.render_text())
    return 0 if comparison.identical_losses else 1


def cmd_pack(args: argparse.Namespace) -> int:
    from harness.images.progress import ConsoleProgress
    from harness.pack import LOCAL_TEST_LOG, PackSpec, pack, run_local_test
    from harness.resources import default_code_path

    console = Console(stderr=True)
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
        code_path=Path(args.code_path) if args.code_path else default_code_path(),
        mainfile=args.mainfile_path,
        train_params=args.train_params,
        image_name=args.image_name,
        image_tag=args.image_tag,
        test_data_path=Path(args.test_data_path) if args.test_data_path else None,
        test_output_path=Path(args.test_output_path) if args.test_output_path else None,
        gpu=args.gpu,
        offline=args.offline,
        base_image=args.base_image,
        checkpoint=Path(args.inception_checkpoint) if args.inception_checkpoint else None,
    )
    progress = ConsoleProgress(console)
    try:
        result = pack(spec, Path(args.out), progress)
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
        test = run_local_test(result.command, Path(args.out) / LOCAL_TEST_LOG, progress)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="uai-harness", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command")

    validate = sub.add_parser("validate", help="run the job the platform's way and check it")
    validate.add_argument(
        "--backend",
        choices=["auto", "local", "docker"],
        default="auto",
        help="auto: docker when --image/--cmd-file is given, else local",
    )
    validate.add_argument(
        "--code-path",
        default=str(DEFAULT_CODE_PATH),
        help="code folder packed at /data (default: this repository's im2txt/)",
    )
    validate.add_argument("--mainfile", default="train.py")
    validate.add_argument(
        "--train-params",
        default=None,
        help="the job's own parameters (default: the platform's im2txt example, scaled down)",
    )
    validate.add_argument("--image", default=None, help="validate this docker image")
    validate.add_argument("--cmd-file", default=None, help="uaitrain_cmd.txt from the pack tool")
    validate.add_argument("--gpu", action="store_true", help="run with GPUs (--num_gpus=1)")
    validate.add_argument("--steps", type=int, default=300)
    validate.add_argument("--resume-steps", type=int, default=20)
    validate.add_argument("--num-images", type=int, default=4)
    validate.add_argument("--seed", type=int, default=0)
    validate.add_argument("--checkpoint-format", choices=["v1", "v2"], default="v1")
    validate.add_argument("--timeout", type=float, default=600.0, help="seconds per phase")
    validate.add_argument("--out", default="runs", help="parent folder of run folders")
    validate.add_argument("--run-dir", default=None, help="exact run folder (overrides --out)")
    validate.add_argument("--json", action="store_true", help="machine-readable verdict")
    validate.set_defaults(func=cmd_validate)

    generate = sub.add_parser("generate", help="write synthetic records and a checkpoint")
    generate.add_argument("out")
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--num-images", type=int, default=32)
    generate.add_argument("--pattern", default="train-?????-of-00256")
    generate.add_argument("--checkpoint-format", choices=["v1", "v2"], default="v1")
    generate.add_argument("--coco", action="store_true", help="also a COCO-format dataset")
    generate.add_argument("--json", action="store_true")
    generate.set_defaults(func=cmd_generate)

    report = sub.add_parser("report", help="Markdown and HTML report of a run record")
    report.add_argument("record")
    report.add_argument("--out", default=None)
    report.set_defaults(func=cmd_report)

    _add_pack_parser(sub)

    comp = sub.add_parser("compare", help="compare two run records (first loss divergence)")
    comp.add_argument("a")
    comp.add_argument("b")
    comp.add_argument("--json", action="store_true")
    comp.set_defaults(func=cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter out
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv:
        argv = ["validate"]
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (ValueError, OSError, BackendError) as err:  # bad input, files, daemon, image
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
