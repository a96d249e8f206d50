"""Ctrl-C during `validate` (finding 1): a real SIGINT to a real `uai-harness validate`
of a tiny plain-Python job (no TensorFlow) that logs steps and keeps a helper process.
One line, exit 130 within 3 s, the job's processes gone, sandboxed or not, a record
marked interrupted, and the folder usable by the next validate."""

from __future__ import annotations

import json
import signal
import time
import zlib
from pathlib import Path

import pytest

from harness.scenario import Plan, check_run_folder, clear_interrupted
from tests.support.plain_jobs import start_validate

LOOPS_WITH_A_HELPER = """\
if os.fork() == 0:  # a helper process that lives as long as it is let
    with open(os.path.join(args.output_dir, "helper.pid"), "w") as f:
        f.write(str(os.getpid()))
    while True:
        time.sleep(1)
with open(os.path.join(args.output_dir, "train.pid"), "w") as f:
    f.write(str(os.getpid()))
for step in range(1, args.number_of_steps + 1):
    print(f"step {step} loss {4.0 / step:.4f}", flush=True)
    time.sleep(0.05)
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _unique_steps(tmp_path: Path) -> int:
    """A step target no job of another test (on another worker) has: the job's processes
    are found by it."""
    return 100000 + zlib.crc32(str(tmp_path).encode()) % 100000


def _host_pids(target: bytes) -> list[int]:
    """The job's pids as the host sees them (in the sandbox they are namespaced), found by
    their step target."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"train.py" in cmdline and target in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize(
    "sandbox", [pytest.param("--sandbox", marks=pytest.mark.sandbox), "--no-sandbox"]
)
def test_ctrl_c_stops_the_job_and_exits_130_with_one_line(tmp_path: Path, sandbox: str) -> None:
    run = tmp_path / "run"
    steps = _unique_steps(tmp_path)
    harness = start_validate(tmp_path, LOOPS_WITH_A_HELPER, sandbox, steps=steps)
    log = run / "logs" / "train.log"
    deadline = time.monotonic() + 120
    while not (log.is_file() and "step 20 " in log.read_text()):
        assert harness.poll() is None and time.monotonic() < deadline, harness.communicate()
        time.sleep(0.1)
    job = _host_pids(f"--number_of_steps={steps}".encode())
    assert job, "the job's processes were not found"
    harness.send_signal(signal.SIGINT)
    signalled = time.monotonic()
    out, _ = harness.communicate(timeout=30)
    seconds = time.monotonic() - signalled
    assert harness.returncode == 130, out
    assert seconds < 3.0, f"{seconds:.1f} s from SIGINT to exit"
    print(f"SIGINT to exit ({sandbox}): {seconds:.2f} s")
    assert "Traceback" not in out
    assert [line for line in out.splitlines() if "interrupted" in line] == [
        f"interrupted: the job was stopped, its processes ended (no phase had finished); "
        f"record: {run / 'run_record.json'}"
    ], out
    assert not [pid for pid in job if _running(pid)], "the job outlived the harness"
    record = json.loads((run / "run_record.json").read_text())
    assert record["interrupted"] is True
    assert {c["status"] for c in record["checks"]} <= {"not run", "not applicable"}
    # The next validate into the same folder: the interrupted run is cleared, not refused.
    assert clear_interrupted(run) and not any(run.iterdir())
    check_run_folder(run, Plan(profile="none", data=tmp_path / "sample"))


def test_a_run_folder_without_a_record_gets_one_error_line(tmp_path: Path, capsys) -> None:
    from harness.cli import main

    (tmp_path / "run" / "logs").mkdir(parents=True)
    assert main(["report", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "no run record (the run was interrupted before it wrote one" in err
    assert "Errno" not in err


def test_follow_shows_the_jobs_log_as_it_runs_and_each_phase_names_its_log(
    tmp_path: Path,
) -> None:
    """Finding 10: the job's own lines appear while it runs (before it ends), and each
    phase's log path is printed when the phase starts."""
    run = tmp_path / "run"
    harness = start_validate(
        tmp_path, LOOPS_WITH_A_HELPER, "--no-sandbox", "--follow", steps=_unique_steps(tmp_path)
    )
    seen = []
    for line in harness.stdout:
        seen.append(line.rstrip("\n"))
        if "step 5 loss" in line:
            break
    harness.send_signal(signal.SIGINT)
    harness.communicate(timeout=30)
    assert f"  · log: {run / 'logs' / 'train.log'}" in seen
    assert "    │ step 5 loss 0.8000" in seen


FINISHES_THEN_LOOPS = """\
target = args.number_of_steps
for step in range(1, (target if target <= 5 else 10**6) + 1):
    print(f"step {step} loss {4.0 / step:.4f}", flush=True)
    time.sleep(0.05)
"""


def test_ctrl_c_while_phases_run_side_by_side_ends_them_all(tmp_path: Path) -> None:
    """Only the main thread hears SIGINT; the phases its workers wait for must end too."""
    run = tmp_path / "run"
    harness = start_validate(
        tmp_path, FINISHES_THEN_LOOPS, "--no-sandbox", "--steps", "5", "--reproducible"
    )
    log = run / "logs" / "resume.log"
    deadline = time.monotonic() + 120
    while not (log.is_file() and "step 20 " in log.read_text()):
        assert harness.poll() is None and time.monotonic() < deadline, harness.communicate()
        time.sleep(0.1)
    job = _host_pids(b"--number_of_steps=15")
    assert job, "the resume phase's process was not found"
    harness.send_signal(signal.SIGINT)
    signalled = time.monotonic()
    out, _ = harness.communicate(timeout=30)
    assert harness.returncode == 130, out
    assert time.monotonic() - signalled < 3.0, out
    assert not [pid for pid in job if _running(pid)], "a side-by-side phase outlived the harness"
