"""`uai-harness pack`: UCloud's pack tool - the job's images and uaitrain_cmd.txt."""

from __future__ import annotations

import argparse

from harness.cli.arguments import writable_folder
from harness.cli.common import absolute, code_path
from harness.console import make_console
from harness.jobshapes import PLATFORM_EXAMPLE_PARAMS


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
    out = writable_folder("--out", absolute(args.out))
    spec = PackSpec(
        code_path=code_path(args.code_path),
        mainfile=args.mainfile_path,
        train_params=args.train_params,
        image_name=args.image_name,
        image_tag=args.image_tag,
        test_data_path=absolute(args.test_data_path),
        test_output_path=absolute(args.test_output_path),
        gpu=args.gpu,
        offline=args.offline,
        base_image=args.base_image,
        checkpoint=absolute(args.inception_checkpoint),
    )
    progress = ConsoleProgress(console)
    try:
        result = pack(spec, out, progress)
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
        test = run_local_test(result.command, out / LOCAL_TEST_LOG, progress)
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


def add_parser(sub) -> None:
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
        "--mainfile-path",
        "--mainfile_path",
        dest="mainfile_path",
        default="train.py",
        help="the job's main file in the code path",
    )
    packer.add_argument(
        "--train-params",
        "--train_params",
        dest="train_params",
        default=" ".join(PLATFORM_EXAMPLE_PARAMS),
        help="the job's own parameters, written verbatim (default: the platform's im2txt example)",
    )
    packer.add_argument(
        "--test-data-path",
        "--test_data_path",
        dest="test_data_path",
        default=None,
        help="data folder for --run-local-test",
    )
    packer.add_argument(
        "--test-output-path",
        "--test_output_path",
        dest="test_output_path",
        default=None,
        help="output folder for --run-local-test",
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
