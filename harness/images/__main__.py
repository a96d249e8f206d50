"""Make the offline inputs by hand, for `docker build` from a checkout without a registry.

    python -m harness.images base [--offline]              # the base image; prints its name
    python -m harness.images wheelhouse cpu|gpu [--serve]   # prints its folder (or URL)
    python -m harness.images prefetch [--gpu] [--code-path im2txt]

`uai-harness pack` does both itself; these are for building the top-level Dockerfiles
directly (their header comments show the whole sequence).
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from harness import resources
from harness.backends import daemon
from harness.backends.base import BackendError
from harness.console import make_console
from harness.images import wheelhouse
from harness.images.base import ensure_base_image
from harness.images.progress import ConsoleProgress
from harness.resources import VARIANTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.images", description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    base = sub.add_parser("base", help="make sure a base image exists; print its name")
    base.add_argument("--offline", action="store_true", help="never pull: the debootstrap base")
    wheels = sub.add_parser("wheelhouse", help="download the wheelhouse of an image variant")
    wheels.add_argument("variant", choices=VARIANTS)
    wheels.add_argument(
        "--serve",
        action="store_true",
        help="serve it on 127.0.0.1 for `docker build --build-arg WHEELHOUSE_URL=...` until Ctrl-C",
    )
    prefetch = sub.add_parser(
        "prefetch",
        help="make everything a later build needs - base, wheelhouses, the job images' layers "
        "- while other work runs (CI does this during its first tests)",
    )
    prefetch.add_argument("--gpu", action="store_true", help="the GPU image's too")
    prefetch.add_argument("--code-path", default="im2txt", help="the job whose layers to build")
    args = parser.parse_args(argv)
    progress = ConsoleProgress(make_console(stderr=True))
    try:
        if args.what == "prefetch":
            _prefetch(
                Path(args.code_path).resolve(), ["cpu", "gpu"] if args.gpu else ["cpu"], progress
            )
            progress.close()
        elif args.what == "base":
            image = ensure_base_image(daemon.client(), progress, offline=args.offline)
            progress.close()
            print(image.name)
        else:
            folder = wheelhouse.ensure_wheelhouse(args.variant, progress)
            progress.close()
            if args.serve:
                return _serve(folder, args.variant)
            print(folder)
    except (BackendError, OSError, ValueError) as err:
        progress.close()
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _prefetch(code_path: Path, variants: list[str], progress: ConsoleProgress) -> None:
    """Base image, wheelhouses, then each job image built and untagged: its layers stay in
    the daemon's build cache (as a dangling image), so the next build of the same inputs
    takes seconds, and removing that build's tag frees them."""
    from harness.images import ensure_job_image

    client = daemon.client()
    ensure_base_image(client, progress)
    for variant in variants:
        wheelhouse.ensure_wheelhouse(variant, progress)
    for variant in variants:
        tag = f"uai-harness/prefetch:{variant}"
        built = ensure_job_image(
            code_path, tag, gpu=variant == "gpu", progress=progress, client=client
        )
        client.images.remove(tag, noprune=True)
        print(f"{variant}: {built.id} cached ({built.base.describe()})", flush=True)


def _serve(folder: Path, variant: str) -> int:
    with wheelhouse.serve(folder) as url:
        print(url, flush=True)
        print(
            f"serving {folder} until Ctrl-C; build with:\n  docker build --network host"
            f" -f {resources.dockerfile_name(variant)} --build-arg WHEELHOUSE_URL={url}"
            " --build-arg BASE_IMAGE=<base> -t <tag> .",
            file=sys.stderr,
            flush=True,
        )
        try:
            _wait_for_ctrl_c()
        except KeyboardInterrupt:
            pass
    return 0


def _wait_for_ctrl_c() -> None:
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
