"""One set of defaults (harness/defaults.py): the Python API and the command line agree."""

from __future__ import annotations

from harness.backends.base import PhaseCommand
from harness.cli import build_parser
from harness.defaults import LOSS_TOLERANCE, MAX_OUTPUT_GB, PHASE_TIMEOUT_S, SPEED_TOLERANCE
from harness.plan import Plan


def test_the_profile_is_none_with_data_as_on_the_command_line(tmp_path) -> None:
    assert Plan().profile == "im2txt"
    assert Plan(data=tmp_path).profile == "none"
    assert Plan(data=tmp_path, profile="im2txt").profile == "im2txt"


def test_the_cli_plan_and_job_share_their_defaults() -> None:
    args = build_parser().parse_args(["validate"])
    plan = Plan()
    assert args.timeout == plan.timeout_s == PhaseCommand().timeout_s == PHASE_TIMEOUT_S
    assert args.loss_tolerance == plan.loss_tolerance == LOSS_TOLERANCE
    assert args.speed_tolerance == plan.speed_tolerance == SPEED_TOLERANCE
    assert args.max_output_gb == plan.max_output_gb == MAX_OUTPUT_GB
