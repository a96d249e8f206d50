"""The image contract: what the platform assumes about a packed training image."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.checks.phases import PROBE
from harness.contract import CONTAINER_WORK_DIR, PLATFORM_PYTHON
from harness.record import CheckResult

if TYPE_CHECKING:
    from harness.checks.registry import Situation
    from harness.scenario.evidence import Evidence

NAME = "image_contract"
PHASES = (PROBE,)


def not_applicable(situation: Situation) -> str | None:
    if situation.runs_image:
        return None
    return "the local backend runs no image (validate an image with --image)"


def deploy_command(mainfile: str, params: list[str], given: str | None) -> str:
    """The deploy command a user would type: the pack tool's line, else the main file and
    the parameters."""
    return given or " ".join([f"{CONTAINER_WORK_DIR}/{mainfile}", *params])


def judge(evidence: Evidence) -> CheckResult:
    plan, probe = evidence.plan, evidence.phase(PROBE)
    return check_image_contract(
        probe.outcome.exit_code,
        probe.outcome.log_text,
        plan.mainfile,
        deploy_command(plan.mainfile, plan.train_params, plan.deploy_command),
    )


def probe_command(mainfile: str) -> list[str]:
    """A shell probe: the platform's interpreter exists and imports TensorFlow, and the
    main file is where the platform will look for it."""
    script = (
        f"test -x {PLATFORM_PYTHON} || {{ echo 'no {PLATFORM_PYTHON} in the image'; exit 10; }}; "
        f"test -f {CONTAINER_WORK_DIR}/{mainfile} || "
        f"{{ echo 'no {CONTAINER_WORK_DIR}/{mainfile} in the image'; exit 11; }}; "
        f"{PLATFORM_PYTHON} -c 'import tensorflow as tf; print(\"tensorflow\", tf.__version__)'"
    )
    return ["/bin/bash", "-c", script]


def check_image_contract(
    probe_exit: int, probe_output: str, mainfile: str, deploy_command: str
) -> CheckResult:
    """The probe succeeded, and the deploy command names a file under /data rather than
    starting with an interpreter (the platform prepends /usr/bin/python itself)."""
    problems = []
    lines = probe_output.strip().splitlines()
    if probe_exit != 0:
        problems.append(lines[-1] if lines else f"image probe exited with status {probe_exit}")
    first_word = deploy_command.strip().split(" ", 1)[0]
    if "python" in first_word.rsplit("/", 1)[-1]:
        problems.append(
            f"deploy command starts with an interpreter ({first_word!r}); the platform runs "
            f"{PLATFORM_PYTHON} itself, so give {CONTAINER_WORK_DIR}/{mainfile} first"
        )
    evidence = {
        "probe_exit_code": probe_exit,
        "probe_output": probe_output[-2000:],
        "deploy_command": deploy_command,
    }
    message = "; ".join(problems) or (
        f"{PLATFORM_PYTHON} imports {lines[-1] if lines else 'tensorflow'}; "
        f"{CONTAINER_WORK_DIR}/{mainfile} exists"
    )
    return CheckResult.judged(NAME, not problems, message, evidence=evidence)
