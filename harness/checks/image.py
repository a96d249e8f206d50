"""The image contract: what the platform assumes about a packed training image."""

from __future__ import annotations

import time

from harness.record import CheckResult

NAME = "image_contract"


def check_image_contract(backend, mainfile: str, deploy_command: str) -> CheckResult:
    """`/usr/bin/python` imports TensorFlow, `/data/<mainfile>` exists, and the
    deploy command starts with `/usr/bin/python`, not a bare `python` (the
    platform calls that exact interpreter)."""
    started = time.monotonic()
    probe = (
        "test -x /usr/bin/python || { echo 'no /usr/bin/python in the image'; exit 10; }; "
        f"test -f /data/{mainfile} || {{ echo 'no /data/{mainfile} in the image'; exit 11; }}; "
        "/usr/bin/python -c 'import tensorflow as tf; print(\"tensorflow\", tf.__version__)'"
    )
    exit_code, output = backend.probe(["/bin/bash", "-c", probe])
    problems = []
    if exit_code != 0:
        problems.append(
            output.strip().splitlines()[-1]
            if output.strip()
            else f"image probe exited with status {exit_code}"
        )
    if deploy_command.strip().startswith("python"):
        problems.append(
            f"deploy command starts with 'python' ({deploy_command[:60]!r}); "
            "the platform runs /usr/bin/python"
        )
    evidence = {
        "probe_exit_code": exit_code,
        "probe_output": output[-2000:],
        "deploy_command": deploy_command,
    }
    message = (
        "; ".join(problems)
        if problems
        else (f"/usr/bin/python imports {output.strip().splitlines()[-1]}; /data/{mainfile} exists")
    )
    return CheckResult(NAME, not problems, message, evidence, time.monotonic() - started)
