"""The options of `uai-harness validate`, `baseline` and `rerun` (harness.cli.validating
runs them)."""

from __future__ import annotations

from harness.cli.validating import cmd_baseline, cmd_rerun, cmd_validate
from harness.defaults import (
    LOSS_TOLERANCE,
    MAX_OUTPUT_GB,
    PHASE_TIMEOUT_S,
    RESUME_EPOCHS,
    RESUME_STEPS,
    SPEED_TOLERANCE,
)


def add_parsers(sub) -> None:
    validate = sub.add_parser("validate", help="run the job the platform's way and check it")
    job = validate.add_argument_group("the job")
    job.add_argument(
        "--backend",
        choices=["auto", "local", "docker"],
        default="auto",
        help="auto: docker when --image/--cmd-file is given, else local",
    )
    job.add_argument("--image", default=None, help="validate this docker image")
    job.add_argument("--cmd-file", default=None, help="uaitrain_cmd.txt from the pack tool")
    job.add_argument(
        "--code-path",
        default=None,
        help="code folder packed at /data (local backend; default: ./im2txt)",
    )
    job.add_argument(
        "--mainfile", default="train.py", help="the job's main file, in the code path or image"
    )
    job.add_argument(
        "--train-params",
        default=None,
        help='the job\'s own parameters, e.g. --train-params="--max_steps=100" (default: the '
        "platform's im2txt example, scaled down)",
    )
    job.add_argument("--gpu", action="store_true", help="run with GPUs (--num_gpus=1)")
    job.add_argument(
        "--cluster",
        default=None,
        metavar="ps=N,worker=M",
        help="run as the platform's distributed mode: one master (the chief) plus these tasks, "
        "each with its own TF_CONFIG and output folder",
    )
    inputs = validate.add_argument_group("inputs")
    inputs.add_argument(
        "--profile",
        choices=["im2txt", "none"],
        default=None,
        help="im2txt: generated captioning data plus model checks (default without --data); "
        "none: your --data and the platform checks only (default with --data)",
    )
    inputs.add_argument("--data", default=None, help="your data sample, laid out as /data/data")
    inputs.add_argument(
        "--pretrained", default=None, help="the checkpoint the job restores at step 0"
    )
    inputs.add_argument(
        "--pretrained-flag", default=None, help="the job flag naming it (default: found)"
    )
    mode = inputs.add_mutually_exclusive_group()
    mode.add_argument(
        "--trainable",
        dest="fine_tune",
        action="store_true",
        default=None,
        help="the job fine-tunes the pretrained variables",
    )
    mode.add_argument(
        "--frozen",
        dest="fine_tune",
        action="store_false",
        help="the job keeps them frozen (default: read from the parameters)",
    )
    inputs.add_argument("--num-images", type=int, default=4, help="synthetic images (im2txt)")
    inputs.add_argument("--seed", type=int, default=0, help="of the synthetic inputs")
    inputs.add_argument(
        "--checkpoint-format", choices=["v1", "v2"], default="v1", help="of the synthetic one"
    )
    steps = validate.add_argument_group("steps and losses")
    steps.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training target (default: the job's own, capped by the profile)",
    )
    steps.add_argument(
        "--step-flag",
        default=None,
        help="the job flag carrying it, in either spelling (train_steps or train-steps); "
        "epoch flags (--epochs, --num_epochs) count epochs",
    )
    steps.add_argument(
        "--resume-steps",
        type=int,
        default=None,
        help=f"how far the rerun raises the target (default: {RESUME_STEPS} steps, or "
        f"{RESUME_EPOCHS} epochs)",
    )
    steps.add_argument(
        "--loss-tag",
        action="append",
        default=None,
        help="summary tag of the loss (repeatable); replaces the automatic choice among "
        "loss-named tags, stdout lines and metrics.jsonl",
    )
    steps.add_argument(
        "--loss-regex", default=None, help="stdout regex with (?P<step>...) and (?P<loss>...)"
    )
    steps.add_argument("--required-drop", type=float, default=None, help="e.g. 0.25 (25%%)")
    steps.add_argument(
        "--reproducible", action="store_true", help="train twice and compare the losses"
    )
    steps.add_argument(
        "--strict",
        action="store_true",
        help="a warning (no resume logic, an empty log_dir, ...) fails the run, and resume "
        "must be judged (a job without a step flag is refused): for CI gates",
    )
    steps.add_argument(
        "--require",
        action="append",
        default=None,
        metavar="CHECK",
        help="this check must be judged: not applicable for want of an input fails it "
        "(repeatable, e.g. --require resume --require pretrained_restore)",
    )
    out = validate.add_argument_group("run")
    out.add_argument("--timeout", type=float, default=PHASE_TIMEOUT_S, help="seconds per phase")
    out.add_argument("--out", default="runs", help="parent folder of run folders")
    out.add_argument("--run-dir", default=None, help="exact run folder (overrides --out)")
    out.add_argument(
        "--jobs", type=int, default=None, help="phases at once after train (1: one by one)"
    )
    out.add_argument("--json", action="store_true", help="machine-readable verdict on stdout")
    out.add_argument(
        "--max-output-gb",
        type=float,
        default=MAX_OUTPUT_GB,
        help="GB the job may leave under output_dir; more fails path_contract",
    )
    out.add_argument(
        "--follow",
        action="store_true",
        help="show the job's own log as it runs, line by line (each phase's log file is "
        "named when the phase starts either way)",
    )
    out.add_argument(
        "--junit-xml", default=None, metavar="FILE", help="also write the verdicts as JUnit XML"
    )
    sandboxing = out.add_mutually_exclusive_group()
    sandboxing.add_argument(
        "--sandbox",
        dest="sandbox",
        action="store_true",
        default=None,
        help="local backend: run in the bubblewrap sandbox or fail (default: when available)",
    )
    sandboxing.add_argument(
        "--no-sandbox", dest="sandbox", action="store_false", help="run directly on the host"
    )
    gate = validate.add_argument_group("regression gate")
    gate.add_argument(
        "--baseline", default=None, metavar="FILE", help="judge against this baseline file"
    )
    gate.add_argument(
        "--loss-tolerance",
        type=float,
        default=LOSS_TOLERANCE,
        help="how far above the baseline's last-fifth loss is still as good "
        f"(default {LOSS_TOLERANCE:.2f})",
    )
    gate.add_argument(
        "--speed-tolerance",
        type=float,
        default=SPEED_TOLERANCE,
        help=f"how far below the baseline's speed is still as fast (default {SPEED_TOLERANCE:.2f})",
    )
    validate.set_defaults(func=cmd_validate)

    baseline = sub.add_parser(
        "baseline", help="write a run's baseline file, to commit and gate later runs on"
    )
    baseline.add_argument("run", nargs="?", help="run folder or record (default: the newest)")
    baseline.add_argument("--runs", default="runs", help="where runs are looked for")
    baseline.add_argument("--out", default="baseline.json", help="the file to write")
    baseline.set_defaults(func=cmd_baseline)

    rerun = sub.add_parser("rerun", help="repeat a recorded run and compare it with the record")
    rerun.add_argument("run", nargs="?", help="run folder or record (default: the newest)")
    rerun.add_argument("--runs", default="runs", help="where runs are looked for")
    rerun.add_argument(
        "--allow-changed-code", action="store_true", help="rerun even if the code changed"
    )
    rerun.add_argument("--out", default="runs", help="parent folder of the new run")
    rerun.set_defaults(func=cmd_rerun)
