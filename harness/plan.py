"""What a validation is asked to do (`Plan`), and its inputs checked before anything is written.

The harness passes the job only the parameters given here plus the platform's
flags; it scales a job down by setting the job's own step flag (steps or epochs,
spelled as the job spells it), and reads everything else - its pretrained file, how
that file's variables may train - from the same parameters.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from harness.baseline import load_baseline
from harness.defaults import (
    LOSS_TOLERANCE,
    MAX_OUTPUT_GB,
    PHASE_TIMEOUT_S,
    QUICK_STEPS,
    RESUME_EPOCHS,
    RESUME_STEPS,
    SPEED_TOLERANCE,
    default_profile,
)
from harness.distributed_mode import ClusterSpec
from harness.inputs import DataSample, PretrainedFile, inspect_data, inspect_pretrained
from harness.job import LossSettings
from harness.jobshapes import EPOCHS, PLATFORM_EXAMPLE_PARAMS, STEP_FLAGS, unit_of
from harness.params import (
    FreezingRules,
    JobParams,
    StepTarget,
    freezing_rules,
    pretrained_flag,
    step_flag,
)
from harness.profiles import Profile, make_profile

# The built-in job: the platform example scaled down to batch 8 at 96x96 (trained for
# QUICK_STEPS); repeatable bit for bit on one node, and without that promise in a cluster
# (asynchronous updates cannot keep it).
QUICK_CLUSTER_PARAMS = (
    *PLATFORM_EXAMPLE_PARAMS,
    "--batch_size=8",
    "--image_size=96",
    "--vocab_size=64",
    "--log_every_n_steps=1",
    "--seed=0",
)
QUICK_PARAMS = (*QUICK_CLUSTER_PARAMS, "--deterministic")


@dataclasses.dataclass
class Plan:
    """What to validate and how: the job's parameters and the harness's own settings."""

    # The job's parameters: words, or the text the user typed (`--train-params="..."`),
    # pasted into the shell line as the platform pastes it. A list or a text given here
    # (or assigned later) becomes JobParams.
    train_params: JobParams = JobParams(QUICK_PARAMS)
    mainfile: str = "train.py"
    profile: str | None = None  # None: `default_profile`, im2txt unless `data` is given
    steps: int | None = None  # the training target; None: the profile's cap or the job's own
    step_flag: str | None = None  # which flag carries it (default: the first known one set)
    resume_steps: int | None = None  # None: RESUME_STEPS steps, or RESUME_EPOCHS epochs
    seed: int = 0  # of the synthetic data and checkpoint, not of the job
    num_images: int = 4
    checkpoint_format: str = "v1"
    data: Path | None = None
    pretrained: Path | None = None
    pretrained_flag: str | None = None
    fine_tune: bool | None = None  # None: read it from the parameters
    loss: LossSettings = dataclasses.field(default_factory=LossSettings)
    required_drop: float | None = None  # a drop the loss must also make; None: trend only
    reproducible: bool = False
    strict: bool = False  # a warning fails the run, and `resume` must be judged
    # Checks that must be judged: "not applicable" for want of an input fails them.
    require: tuple[str, ...] = ()
    baseline: Path | None = None  # a committed baseline to judge the run against
    loss_tolerance: float = LOSS_TOLERANCE
    speed_tolerance: float = SPEED_TOLERANCE
    timeout_s: float = PHASE_TIMEOUT_S
    max_output_gb: float = MAX_OUTPUT_GB  # over it, the path check fails naming the files
    num_gpus: int = 0
    deploy_command: str | None = None  # the `CMD Used for deploying` line, from uaitrain_cmd.txt
    cluster: ClusterSpec | None = None  # run as the platform's distributed mode

    def __setattr__(self, name: str, value: object) -> None:
        if name == "train_params":
            value = JobParams.of(value)
        if name == "require":
            value = tuple(value)
        super().__setattr__(name, value)

    def __post_init__(self) -> None:
        if self.profile is None:
            self.profile = default_profile(self.data is not None)
        builtin = list(self.train_params) in (list(QUICK_PARAMS), list(QUICK_CLUSTER_PARAMS))
        if builtin and self.cluster is not None:
            self.train_params = JobParams(QUICK_CLUSTER_PARAMS)
        if self.steps is None and builtin:
            self.steps = QUICK_STEPS
        for name in ("data", "pretrained", "baseline"):
            value = getattr(self, name)
            if value is not None and not Path(value).is_absolute():
                raise ValueError(f"{name} path {value} must be absolute (resolve it at the edge)")

    def required(self) -> tuple[str, ...]:
        """The checks this run must judge: `require`, and `resume` when strict (the check
        that matters most for preemptible runs)."""
        return tuple(dict.fromkeys((*self.require, *(("resume",) if self.strict else ()))))

    def to_record(self) -> dict:
        """The plan's part of the run record: `train_params` (the words) and `plan` (every
        other setting, the typed text as `raw_params`); `from_record` reads it back."""
        settings = dataclasses.asdict(self)
        params = settings.pop("train_params")
        return {
            "train_params": list(params["words"]),
            "plan": {"raw_params": params["text"], **settings},
        }

    @classmethod
    def from_record(cls, job: dict) -> Plan:
        """The plan a record's `job` section was written from (settings it does not hold,
        from an older harness, take their defaults)."""
        recorded = dict(job.get("plan") or {})
        words = tuple(str(p) for p in job.get("train_params", []))
        params = JobParams(words, recorded.pop("raw_params", None))
        fields = {f.name for f in dataclasses.fields(cls)}
        settings = {k: v for k, v in recorded.items() if k in fields}
        loss = settings.get("loss") or {}
        settings["loss"] = LossSettings(tuple(loss.get("tags") or ()), loss.get("regex"))
        if settings.get("cluster"):
            settings["cluster"] = ClusterSpec(**settings["cluster"])
        for name in ("data", "pretrained", "baseline"):
            if settings.get(name):
                settings[name] = Path(settings[name])
        return cls(train_params=params, **settings)


@dataclasses.dataclass(frozen=True)
class Preflight:
    """What was checked before anything was written."""

    data: DataSample | None
    pretrained: PretrainedFile | None
    profile: Profile
    step: StepTarget | None  # the flag carrying the training length and the first target
    pretrained_flag: tuple[str, str] | None
    freezing: FreezingRules
    baseline: dict | None = None

    def resume_target(self, plan: Plan, log_interval: int) -> int:
        """The rerun's target: the first one raised by --resume-steps in the job's unit (for
        steps, also by at least two of the job's logging intervals)."""
        if self.step.unit == EPOCHS:
            return self.step.value + (plan.resume_steps or RESUME_EPOCHS)
        return self.step.value + max(plan.resume_steps or RESUME_STEPS, 2 * log_interval)


def _known_step_flags() -> str:
    return ", ".join(f"--{f.name}" for f in STEP_FLAGS)


def _step_target(plan: Plan, profile: Profile) -> StepTarget | None:
    found = step_flag(plan.train_params, plan.step_flag)
    if plan.step_flag and found is None and plan.steps is None:
        raise ValueError(
            f"--step-flag {plan.step_flag} is not set in the job's parameters; give --steps"
        )
    if found is None and plan.steps is not None:
        if not plan.step_flag:
            raise ValueError(
                "--steps needs the flag that carries the job's step target, and the job's "
                f"parameters set none of the known ones ({_known_step_flags()}): name it with "
                "--step-flag (max_step is the platform's own cap, which uflag jobs define)"
            )
        found = StepTarget(plan.step_flag, plan.steps, unit_of(plan.step_flag))
    if found is None:
        return None
    target = found.value
    if plan.steps is not None:
        target = plan.steps
    elif found.unit != EPOCHS and profile.default_steps is not None:
        target = min(target, profile.default_steps)
    if target < 1:
        raise ValueError(f"the step target must be at least 1, got --{found.flag}={target}")
    return found.but(target)


def _number(flag: str, value: float, low: float, high: float = math.inf) -> None:
    """ValueError unless `value` is a finite number in [low, high)."""
    if not (math.isfinite(value) and low <= value < high):
        upper = "" if math.isinf(high) else f" and below {high:g}"
        raise ValueError(f"{flag} must be a finite number >= {low:g}{upper}, got {value}")


def check_numbers(plan: Plan) -> None:
    """The plan's numbers in their ranges: ValueError naming the first that is not."""
    if plan.steps is not None and plan.steps < 1:
        raise ValueError(f"--steps {plan.steps}: the step target must be at least 1")
    if plan.resume_steps is not None and plan.resume_steps < 1:
        raise ValueError(f"--resume-steps must be at least 1, got {plan.resume_steps}")
    if plan.num_images < 1:
        raise ValueError(f"--num-images must be at least 1, got {plan.num_images}")
    if plan.seed < 0:
        raise ValueError(f"--seed must be at least 0, got {plan.seed}")
    if not (math.isfinite(plan.timeout_s) and plan.timeout_s > 0):
        raise ValueError(
            f"--timeout must be a finite number of seconds above 0, got {plan.timeout_s}"
        )
    if plan.required_drop is not None:
        _number("--required-drop", plan.required_drop, 0, 1)
    _number("--loss-tolerance", plan.loss_tolerance, 0)
    # 1 would accept any speed.
    _number("--speed-tolerance", plan.speed_tolerance, 0, 1)


def _check_required(plan: Plan, step: StepTarget | None, flag: tuple[str, str] | None) -> None:
    """A required check that could only be `not applicable` for want of an input the
    harness can see now: refused before anything is written, naming the input."""
    from harness.checks import registry

    unknown = [name for name in plan.required() if name not in registry.names()]
    if unknown:
        raise ValueError(
            f"--require {', '.join(unknown)}: no such check (known: {', '.join(registry.names())})"
        )
    why = (
        "is required (--strict)"
        if plan.strict and "resume" not in plan.require
        else ("is required (--require)")
    )
    if "resume" in plan.required() and step is None:
        raise ValueError(
            f"check resume {why}, but the job's parameters carry no step target to raise for "
            f"a rerun: give the step flag in --train-params (one of {_known_step_flags()}), "
            "or name it with --step-flag and --steps"
        )
    if "pretrained_restore" in plan.required() and flag is None:
        raise ValueError(
            "check pretrained_restore is required (--require), but the job's parameters name "
            "no pretrained checkpoint: add its flag to --train-params or name it with "
            "--pretrained-flag, and give the file with --pretrained"
        )


def inspect(plan: Plan) -> Preflight:
    """Check the plan's inputs before anything is written; ValueError names what is wrong."""
    profile = make_profile(plan.profile)
    profile.check_params(plan.train_params, has_data=plan.data is not None)
    data = inspect_data(plan.data) if plan.data is not None else None
    pretrained = inspect_pretrained(plan.pretrained) if plan.pretrained is not None else None
    flag = pretrained_flag(plan.train_params, plan.pretrained_flag)
    if pretrained is not None and flag is None:
        raise ValueError(
            "--pretrained is given, but the job's parameters name no pretrained checkpoint "
            "(e.g. --inception_checkpoint_file=/inception_v3.ckpt); add it to --train-params "
            "or name the flag with --pretrained-flag"
        )
    check_numbers(plan)
    step = _step_target(plan, profile)
    _check_required(plan, step, flag)
    return Preflight(
        data=data,
        pretrained=pretrained,
        profile=profile,
        step=step,
        pretrained_flag=flag,
        freezing=freezing_rules(plan.train_params, plan.fine_tune),
        baseline=load_baseline(plan.baseline) if plan.baseline is not None else None,
    )
