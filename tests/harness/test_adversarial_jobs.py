"""Broken jobs must fail, correct ones pass, the user's files stay untouched, secrets stay out.

Each test provokes one finding of the adversarial review (a job with one deliberate
bug, or a correct job the harness once misjudged) with a fast fake job
(tests/support/adversaries.py) and asserts the corrected verdict table. Tests that need
the sandbox's private /tmp and $HOME are marked `sandbox` (bubblewrap; CI installs it).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness import snapshot
from harness.backends.local import LocalBackend
from harness.cli import main
from harness.params import JobParams
from harness.record import FAILED, NOT_APPLICABLE, NOT_RUN, PASSED, WARNING
from harness.scenario import Plan, validate
from tests.support.adversaries import weights, write_checkpoint, write_job
from tests.support.events import write_events

NA = NOT_APPLICABLE
STEPS = 8  # the first run's target; the rerun's is 10
needs_sandbox = pytest.mark.sandbox
# In the sandbox (marked, so --require-sandbox fails where bubblewrap is missing) and out.
SANDBOX_MODES = [
    pytest.param(None, marks=needs_sandbox, id="sandbox"),
    pytest.param(False, id="no-sandbox"),
]


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    folder = tmp_path / "sample"
    folder.mkdir()
    (folder / "train.csv").write_text("x,label\n1,0\n")
    return folder


def _plan(sample: Path, *params: str, **settings) -> Plan:
    return Plan(
        train_params=[f"--number_of_steps={STEPS}", *params],
        profile="none",
        data=sample,
        resume_steps=2,
        **settings,
    )


def _run(tmp_path, body, templates, plan, sandbox_mode=None):
    code = write_job(tmp_path / "code", body, templates)
    return validate(LocalBackend(code, sandbox_mode=sandbox_mode), plan, tmp_path / "run")


def _table(result) -> dict[str, str]:
    return {check.name: check.status for check in result.record.checks}


def _expect(result, **statuses: str) -> None:
    table = dict.fromkeys(
        ("image_contract", "path_contract", "pretrained_restore", "loss_decrease", "resume"),
        PASSED,
    )
    table.update(image_contract=NA, pretrained_restore=NA, reproducible=NA)
    table.update(statuses)
    messages = {c.name: c.message for c in result.record.checks}
    assert _table(result) == table, messages


RESUMING = textwrap.dedent(
    """\
    done = saved_steps()
    first = done[-1] + 1 if done else 1
    log(first, falling(steps - first + 1, 4.0 - (first - 1) / 4))
    save(f"step-{steps}")
    """
)
TEMPLATES = {"step-8": weights(8), "step-10": weights(10, seed=1)}


def test_a_correct_resuming_job_passes(tmp_path, sample) -> None:
    result = _run(tmp_path, RESUMING, TEMPLATES, _plan(sample))
    _expect(result)
    assert result.passed


# --------------------------------------------------------------------------- broken jobs


@needs_sandbox
def test_resume_state_in_tmp_and_writes_in_home_fail_the_path_contract(tmp_path, sample) -> None:
    """On the platform /tmp and $HOME are gone on the next run and never uploaded: a job
    that keeps its resume checkpoints there, with only a final export in output_dir,
    passed when /tmp survived between the two runs."""
    body = """\
    state = "/tmp/ckpt"
    done = saved_steps(state)
    first = done[-1] + 1 if done else 1
    log(first, falling(steps - first + 1))
    save(f"step-{steps}", state)
    save("export", out, "export")
    open(os.path.expanduser("~/notes.txt"), "w").write("trained")
    """
    templates = {**TEMPLATES, "export": {"head/w": np.ones([4, 4], np.float32)}}
    result = _run(tmp_path, body, templates, _plan(sample))
    # Its resume state is meant for resuming, and a restart never finds it: resume fails.
    _expect(result, path_contract=FAILED, resume=FAILED)
    message = result.record.check("path_contract").message
    assert "/tmp/ckpt/model.ckpt-8.index" in message and "/root/notes.txt" in message
    assert "outside output_dir, lost on a restart" in result.record.check("resume").message


@needs_sandbox
def test_a_hard_coded_host_path_is_not_there_on_the_platform(tmp_path, sample) -> None:
    host_file = tmp_path / "hostdata.csv"
    host_file.write_text("1,2\n")
    body = f"open({str(host_file)!r}).read()\n" + RESUMING
    result = _run(tmp_path, body, TEMPLATES, _plan(sample))
    _expect(result, path_contract=NOT_RUN, loss_decrease=NOT_RUN, resume=NOT_RUN)
    assert "FileNotFoundError" in result.outcomes["train"].log_text


def test_a_loss_that_goes_nan_after_resuming_fails_naming_step_and_variables(
    tmp_path, sample
) -> None:
    body = """\
    done = saved_steps()
    if done:
        log(done[-1] + 1, [float("nan")] * (steps - done[-1]))
        save("nan")
    else:
        log(1, falling(steps))
        save(f"step-{steps}")
    """
    nan = weights(10, **{"head/w": np.full([4, 4], np.nan, np.float32)})
    result = _run(tmp_path, body, {**TEMPLATES, "nan": nan}, _plan(sample))
    _expect(result, resume=FAILED)
    message = result.record.check("resume").message
    assert "loss is not finite from step 9" in message
    assert "non-finite values: head/w" in message


def test_a_kernel_restored_with_its_bias_left_fresh_fails_naming_the_bias(tmp_path, sample) -> None:
    rng = np.random.default_rng(5)
    kernel, bias = rng.standard_normal([8, 8]), rng.standard_normal([32])
    pretrained = write_checkpoint(
        tmp_path / "backbone.ckpt", {"layer/kernel": kernel, "layer/bias": bias}
    )
    tuned = {"layer/kernel": kernel + 0.01 * rng.standard_normal([8, 8])}
    templates = {
        name: {**values, **tuned, "layer/bias": 0.01 * rng.standard_normal([32])}
        for name, values in TEMPLATES.items()
    }
    plan = _plan(sample, "--pretrained_checkpoint=/backbone.ckpt", pretrained=pretrained)
    result = _run(tmp_path, RESUMING, templates, plan)
    _expect(result, pretrained_restore=FAILED)
    message = result.record.check("pretrained_restore").message
    assert "layer/bias" in message and "layer/kernel" not in message


@pytest.mark.parametrize(
    "losses",
    [
        [*np.linspace(10, 2, 12), *np.linspace(2.5, 6, 8)],  # climbs over the last 8 of 20
        [100.0, *[2.0] * 19],  # one huge first loss, then flat
    ],
    ids=["climbs", "one-outlier"],
)
def test_a_run_that_got_worse_or_lost_one_outlier_has_not_learned(tmp_path, sample, losses) -> None:
    body = f"""\
    done = saved_steps()
    losses = {[float(v) for v in losses]}
    log(1, losses if not done else losses[-2:])
    save(f"step-{{steps}}")
    """
    templates = {"step-20": weights(20), "step-22": weights(22)}
    plan = _plan(sample)
    plan.train_params = ["--number_of_steps=20"]
    result = _run(tmp_path, body, templates, plan)
    assert _table(result)["loss_decrease"] == FAILED, result.record.check("loss_decrease").message


def test_a_first_run_that_stops_before_its_target_fails(tmp_path, sample) -> None:
    body = """\
    done = saved_steps()
    if done:
        log(done[-1] + 1, falling(steps - done[-1], 1.5, 1.0))
        save(f"step-{steps}")
    else:
        log(1, falling(steps - 2))
        save("step-6", prefix="model.ckpt-6")
    """
    result = _run(tmp_path, body, {**TEMPLATES, "step-6": weights(6)}, _plan(sample))
    _expect(result, resume=FAILED)
    assert "short of its target 8" in result.record.check("resume").message


# --------------------------------------------------------------------------- correct jobs


def test_checkpoint_manager_numbering_is_not_the_step(tmp_path, sample) -> None:
    """CheckpointManager names saves ckpt-1, ckpt-2, ...; the step is the saved global_step."""
    body = """\
    names = os.listdir(out) if os.path.isdir(out) else []
    if "ckpt-1.index" in names:
        log(9, falling(2, 1.2, 1.0))
        save("step-10", prefix="ckpt-2")
    else:
        log(1, falling(steps))
        save("step-8", prefix="ckpt-1")
    """
    result = _run(tmp_path, body, TEMPLATES, _plan(sample))
    _expect(result)
    assert "reached 10 (target 10)" in result.record.check("resume").message


def test_rare_summaries_lose_to_a_loss_line_every_step(tmp_path, sample) -> None:
    events = 'os.path.join(here, "templates", "events")'
    body = f'shutil.copytree({events}, out + "/log", dirs_exist_ok=True)\n' + RESUMING
    code = tmp_path / "code"
    write_events(code / "templates" / "events" / "events.out.tfevents.1.h", [(1, "loss", 4.0)])
    result = _run(tmp_path, body, TEMPLATES, _plan(sample))
    _expect(result)
    train = result.record.phase("train")
    assert train.loss_source == "stdout:slim" and len(train.losses) == STEPS
    assert train.loss_candidates == {"events:loss": 1, "stdout:slim": STEPS}


def test_a_metrics_file_rewritten_on_every_run_is_read_not_fatal(tmp_path, sample) -> None:
    body = """\
    done = saved_steps()
    first = done[-1] + 1 if done else 1
    os.makedirs(flags.get("log_dir", out + "/log"), exist_ok=True)
    with open(os.path.join(flags.get("log_dir", out + "/log"), "metrics.jsonl"), "w") as f:
        for step, loss in enumerate(falling(steps - first + 1, 4.0 - first / 4), start=first):
            f.write(json.dumps({"step": step, "loss": loss}) + "\\n")
    save(f"step-{steps}")
    """
    result = _run(tmp_path, body, TEMPLATES, _plan(sample))
    _expect(result)
    assert (tmp_path / "run" / "run_record.json").is_file()
    assert result.record.phase("resume").losses == {9: 1.75, 10: 1.0}


def test_a_nested_data_package_is_kept_and_only_the_top_level_data_left_out(
    tmp_path, sample
) -> None:
    code = tmp_path / "code"
    (code / "mylib" / "data").mkdir(parents=True)
    (code / "mylib" / "__init__.py").write_text("")
    (code / "mylib" / "data" / "__init__.py").write_text("BASE = 4.0\n")
    (code / "data").mkdir()
    (code / "data" / "big.bin").write_text("shadowed by the data mount")
    body = "from mylib.data import BASE\n" + RESUMING
    result = _run(tmp_path, body, TEMPLATES, _plan(sample))
    _expect(result)
    assert result.record.job["code_left_out"] == ["data/ (the platform mounts /data/data over it)"]


def test_checkpoints_holding_only_the_trainable_part_say_what_cannot_be_judged(
    tmp_path, sample
) -> None:
    pretrained = write_checkpoint(
        tmp_path / "backbone.ckpt", {"backbone/w": np.ones([16, 16], np.float32)}
    )
    plan = _plan(sample, "--pretrained_checkpoint=/backbone.ckpt", pretrained=pretrained)
    result = _run(tmp_path, RESUMING, TEMPLATES, plan)
    _expect(result, pretrained_restore=WARNING)
    assert result.passed
    assert "could not judge the restore" in result.record.check("pretrained_restore").message


def test_a_pretrained_file_placed_in_output_dir_is_not_the_jobs_output(tmp_path, sample) -> None:
    values = {"backbone/w": np.random.default_rng(2).standard_normal([16, 16]).astype(np.float32)}
    pretrained = write_checkpoint(tmp_path / "init.ckpt", values)
    templates = {name: {**v, **values} for name, v in TEMPLATES.items()}
    plan = _plan(sample, "--init_checkpoint=/data/output/init.ckpt", pretrained=pretrained)
    result = _run(tmp_path, RESUMING, templates, plan)
    _expect(result, pretrained_restore=PASSED)
    models = result.record.check("path_contract").evidence["models"]
    assert models and not any("init.ckpt" in m for m in models)


# --------------------------------------------------------------------------- shell line


def _validate_from_the_command_line(
    tmp_path: Path, sample: Path, params: str, run_dir: Path, *extra: str
) -> int:
    """`uai-harness validate` on the job in tmp_path/code, with a two-step resume phase."""
    return main(
        [
            "validate",
            *("--code-path", str(tmp_path / "code"), "--data", str(sample)),
            *("--train-params", params, "--run-dir", str(run_dir)),
            *extra,
            "--resume-steps=2",
        ]
    )


@needs_sandbox
def test_parameters_run_through_the_platforms_shell_line(tmp_path, sample, capsys) -> None:
    write_job(tmp_path / "code", RESUMING, TEMPLATES)
    params = "--number_of_steps=8 --run_name=$(echo sub) --tag=`echo tick`; echo after"
    code = _validate_from_the_command_line(tmp_path, sample, params, tmp_path / "run")
    shown = capsys.readouterr().out
    assert "shell characters" in shown and "--run_name=$(echo" in shown
    log = (tmp_path / "run" / "logs" / "train.log").read_text()
    # Substituted as the platform's bash would, and the `;` cut the platform flags off.
    assert "argv: --number_of_steps=8 --run_name=sub --tag=tick\n" in log
    assert "after --work_dir=/data" in log
    assert code == 0  # the job's own defaults are the platform's folders


@needs_sandbox
def test_a_newline_in_the_parameters_cuts_the_platform_flags_off(tmp_path, sample) -> None:
    """The job needs --output_dir; after the newline the platform's flags go to `echo`."""
    body = 'out = flags["output_dir"]\n' + RESUMING
    plan = _plan(sample)
    plan.train_params = JobParams.typed(f"--number_of_steps={STEPS}\necho cut")
    result = _run(tmp_path, body, TEMPLATES, plan)
    log = result.outcomes["train"].log_text
    assert "KeyError: 'output_dir'" in log
    assert "cut --work_dir=/data --data_dir=/data/data" in log  # a command of its own
    assert result.outcomes["train"].exit_code == 0  # bash ends with echo's status, as there
    assert _table(result)["path_contract"] == FAILED and not result.passed


# --------------------------------------------------------------------------- the user's files


@pytest.mark.parametrize("sandbox_mode", SANDBOX_MODES)
def test_an_absolute_link_in_the_data_never_reaches_the_users_file(
    tmp_path, sample, sandbox_mode
) -> None:
    (sample / "a.txt").write_text("original\n")
    (sample / "link.txt").symlink_to(sample / "a.txt")  # absolute, inside the sample
    before = snapshot.hash_tree(sample)
    body = (
        textwrap.dedent(
            """\
        try:
            open(os.path.join(flags.get("data_dir", "/data/data"), "link.txt"), "a").write("x")
        except OSError as err:
            print("append refused:", err)
        """
        )
        + RESUMING
    )
    result = _run(tmp_path, body, TEMPLATES, _plan(sample), sandbox_mode=sandbox_mode)
    assert snapshot.hash_tree(sample) == before
    assert (sample / "a.txt").read_text() == "original\n"
    path = result.record.check("path_contract")
    if sandbox_mode is None:  # data is read-only in the sandbox
        assert path.status == PASSED and "append refused" in result.outcomes["train"].log_text
    else:  # the job changed the run's copy, which the check names
        assert path.status == FAILED and "changed its inputs: data/data/a.txt" in path.message


def test_refused_run_folders_write_nothing(tmp_path, sample, capsys) -> None:
    write_job(tmp_path / "code", RESUMING, TEMPLATES)
    base = ["validate", "--code-path", str(tmp_path / "code"), "--data", str(sample)]
    before = snapshot.hash_tree(sample)
    assert main([*base, "--out", str(sample / "runs")]) == 2
    assert "is inside --data" in capsys.readouterr().err
    assert snapshot.hash_tree(sample) == before and not (sample / "runs").exists()
    existing = tmp_path / "old-run"
    (existing / "logs").mkdir(parents=True)
    (existing / "report.md").write_text("mine")
    assert main([*base, "--run-dir", str(existing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds files" in err
    assert (existing / "report.md").read_text() == "mine"


def test_a_link_loop_in_the_code_folder_is_refused_in_one_line(tmp_path, sample, capsys) -> None:
    code = write_job(tmp_path / "code", RESUMING, TEMPLATES)
    (code / "pkg").mkdir()
    (code / "pkg" / "again").symlink_to(code)
    assert main(["validate", "--code-path", str(code), "--data", str(sample)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pkg/again links to" in err and "never end" in err


# --------------------------------------------------------------------------- secrets


SECRETS = {
    "private_key": "PRIV-7h2k9s",
    "sk": "SKv4lu3x9q",
    "ak": "AKv4lu3y7w",
    "wandb_key": "wandb-83jd72",
    "db_pass": "dbpass-x81",
    "access_id": "acc-id-2k3j",
    "oss_key": "oss-k3y-99",
    "hf_auth": "hf_auth-55x",
}


def test_secret_values_appear_in_no_file_of_the_run_and_not_on_the_console(
    tmp_path, sample, capsys
) -> None:
    body = 'print("flags:", flags)\n' + RESUMING
    write_job(tmp_path / "code", body, TEMPLATES)
    params = " ".join([f"--number_of_steps={STEPS}", *(f"--{k}={v}" for k, v in SECRETS.items())])
    run_dir = tmp_path / "run"
    code = _validate_from_the_command_line(tmp_path, sample, params, run_dir, "--json")
    console = capsys.readouterr()
    assert code == 0, console.out[-2000:]
    texts = {"console": console.out + console.err}
    for path in run_dir.rglob("*"):
        if path.is_file() and "templates" not in path.parts and "output" not in path.parts:
            texts[str(path.relative_to(run_dir))] = path.read_bytes().decode("utf-8", "replace")
    assert {"logs/train.log", "logs/resume.log", "run_record.json", "report.md"} <= set(texts)
    leaks = {name: [v for v in SECRETS.values() if v in text] for name, text in texts.items()}
    assert {name: found for name, found in leaks.items() if found} == {}
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((run_dir / "logs" / "train.log").stat().st_mode) == 0o600
    assert json.loads(console.out)["passed"] is True


# --------------------------------------------------------------------------- timeouts


@pytest.mark.parametrize("sandbox_mode", SANDBOX_MODES)
def test_a_timeout_ends_the_jobs_whole_process_tree(tmp_path, sample, sandbox_mode) -> None:
    sleeper = f"import time; time.sleep(60.{os.getpid()}{len(str(sandbox_mode))})"
    body = textwrap.dedent(
        f"""\
        import signal, subprocess, time
        signal.signal(signal.SIGTERM, lambda *_: (print("job got SIGTERM", flush=True), exit(0)))
        subprocess.Popen([sys.executable, "-c", {sleeper!r}], start_new_session=True)
        print("child started", flush=True)
        time.sleep(60)
        """
    )
    result = _run(tmp_path, body, {}, _plan(sample, timeout_s=3), sandbox_mode=sandbox_mode)
    assert result.outcomes["train"].timed_out
    # The job itself was asked to stop first, as the platform asks it (not killed at once).
    assert "job got SIGTERM" in (tmp_path / "run" / "logs" / "train.log").read_text()
    left = subprocess.run(["pgrep", "-f", sleeper], capture_output=True, text=True).stdout
    assert left == "", f"left running: {left}"
