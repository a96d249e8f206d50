"""`uai-harness`: validate a training job, generate inputs, report and compare runs, pack.

User input (paths, parameters) is resolved here, once: every folder becomes an
absolute path before any backend sees it, and the run's Redactor is made from the
job's parameters before anything is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from harness import __version__
from harness.backends.base import BackendError
from harness.cli import packing, pruning, records, validate_options, validating
from harness.cli.helptext import EXAMPLES, EXIT_CODES, HelpFormatter, space_form_hint
from harness.redaction import Redactor


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uai-harness",
        description=__doc__.splitlines()[0],
        epilog=EXAMPLES["uai-harness"] + EXIT_CODES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    validate_options.add_parsers(sub)
    records.add_parsers(sub)
    packing.add_parser(sub)
    pruning.add_parser(sub)
    for name, command in sub.choices.items():
        command.formatter_class = HelpFormatter
        own = f"{command.epilog}\n\n" if command.epilog else ""
        command.epilog = own + EXAMPLES[name] + EXIT_CODES
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter out
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if hint := space_form_hint(argv):
        print(f"error: {hint}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if args.command is None:  # bare `uai-harness`: what it can do, not a validation
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:  # before or after a job ran: nothing of a job is left
        print("interrupted", file=sys.stderr)
        return validating.INTERRUPTED
    except (ValueError, OSError, BackendError) as err:  # bad input, files, daemon, image
        params = getattr(args, "train_params", None) or ""
        redactor = Redactor.for_params(params.split() if isinstance(params, str) else params)
        message = redactor.text(" ".join(str(err).split()))
        print(f"error: {message}", file=sys.stderr)
        if junit := getattr(args, "junit_xml", None):  # the CI server shows why, too
            from harness.cli.arguments import writable_file
            from harness.cli.common import absolute
            from harness.junit import write_junit

            with contextlib.suppress(OSError, ValueError):  # not where --junit-xml is the fault
                write_junit(message, writable_file("--junit-xml", absolute(junit)))
        return 2


if __name__ == "__main__":
    sys.exit(main())
