"""What `--help` shows beyond the options: defaults, an example per command, exit codes,
and the one-line hint for `--train-params` given in the space form."""

from __future__ import annotations

import argparse

EXIT_CODES = """
exit codes:
  0  passed (or done)
  1  a check failed, or the runs differ
  2  bad input: nothing was run (one error: line says what to give)
  130  interrupted (Ctrl-C): the job was stopped, the record is marked interrupted
"""

EXAMPLES = {
    "uai-harness": """examples:
  uai-harness validate --code-path ./my_job --train-params="--max_steps=100"
  uai-harness COMMAND --help    (each command's options and an example)
""",
    "validate": """example:
  uai-harness validate --code-path ./my_job --data ./sample --train-params="--max_steps=100"
""",
    "baseline": """example:
  uai-harness baseline runs/20261205-101500-ab12 --out ci/baseline.json
""",
    "rerun": """example:
  uai-harness rerun runs/20261205-101500-ab12
""",
    "generate": """example:
  uai-harness generate sample --num-images 8
""",
    "report": """example:
  uai-harness report runs/20261205-101500-ab12
""",
    "compare": """example:
  uai-harness compare runs/20261205-101500-ab12 runs/20261205-113000-cd34 --rtol 1e-6
""",
    "pack": """example:
  uai-harness pack --code-path ./my_job --mainfile train.py --image my-job:cpu
""",
    "prune": """example:
  uai-harness prune --runs runs --keep 3
""",
}

# Options whose value routinely starts with `-`: argparse takes it for an option.
DASH_VALUED = ("--train-params", "--train_params")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Epilogs as written; every option with a default shows it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            not action.option_strings
            or "%(default)" in text
            or "default" in text
            or action.default in (None, False, argparse.SUPPRESS)
        ):
            return text
        return f"{text} (default: %(default)s)".lstrip()


def space_form_hint(argv: list[str]) -> str | None:
    """One line when an option whose value starts with `-` was given in the space form
    where argparse cannot take it (a value with a space in it, argparse takes)."""
    for option, value in zip(argv, argv[1:], strict=False):
        if option in DASH_VALUED and value.startswith("-") and " " not in value:
            return (
                f'write {option}="{value}" (with =): a value that starts with - after a space '
                "is read as an option"
            )
    return None
