"""What the harness knows about kinds of jobs, as data, each entry with what proves it.

Everything the harness recognises in a job it did not write - the flags that carry
its step target, its pretrained checkpoint and its freezing rules, the summary tags
and stdout lines that carry its loss, the files its model is saved in, and the
failure signatures it can explain - is listed here and nowhere else. Every entry
names its proof: a fixture job under `fixtures/jobs/` (or `im2txt`, this repository's
trainer) that exercises it end to end, or the unit test that pins it down. The
README's tables are checked against these lists (`tests/harness/test_jobshapes.py`).

The shapes are taken from UCloud's own UAI-Train examples (`ucloud/uai-sdk`,
`examples/`): the Keras mnist job (`--epochs`, a TensorBoard callback, an `.h5` model),
mnist_summary (`--max_step`, `cross_entropy` through FileWriters in `log_dir/train`),
the cifar Estimator job (argparse `--train-steps`, model_dir = output_dir), slim's
`train_image_classifier.py` (`--max_number_of_steps`, `--checkpoint_path`,
`--checkpoint_exclude_scopes`, `--trainable_scopes`) and im2txt itself.
"""

from __future__ import annotations

import dataclasses
import re

STEPS = "steps"
EPOCHS = "epochs"


@dataclasses.dataclass(frozen=True)
class Known:
    """One thing recognised in jobs, and the fixture job or test that proves it."""

    name: str
    proof: str


@dataclasses.dataclass(frozen=True)
class StepFlag(Known):
    """A flag carrying a job's training length, counted in `unit`."""

    unit: str = STEPS


GLOBAL_STEPS = "global steps"
EPOCH_INDEX = "epochs"
PER_RUN = "per run"


@dataclasses.dataclass(frozen=True)
class LossTag(Known):
    """Summary tags (a full-match regex) that carry a loss; tier 1 names the job's total
    loss, tier 2 a part of it (a cross-entropy, a clone's loss). `steps` says what their
    step numbers count: the global step, the epoch, or a counter restarting in every run."""

    pattern: str = ""
    tier: int = 1
    steps: str = GLOBAL_STEPS


@dataclasses.dataclass(frozen=True)
class StdoutShape(Known):
    """A loss line on a job's output: a regex with `step` and `loss` groups."""

    pattern: str = ""


@dataclasses.dataclass(frozen=True)
class ModelFormat(Known):
    """A file format a job saves its model in, which the harness reads variables from."""

    looks_like: str = ""


@dataclasses.dataclass(frozen=True)
class Diagnosis(Known):
    """A known failure: a regex over a failed phase's log, what it means, and the fix."""

    pattern: str = ""
    meaning: str = ""
    fix: str = ""


FIXTURES = "fixtures/jobs/"
TRAINER = "im2txt"  # this repository's trainer, validated end to end like any job

# -------------------------------------------------------------- the platform's example job
# UCloud's example job is im2txt; its documentation gives these parameters. This
# repository's trainer takes them as they are (proof: TRAINER, and
# tests/harness/test_step_target.py, which scales them down).
PLATFORM_EXAMPLE_PARAMS = (
    "--input_file_pattern=/train-?????-of-00256",
    "--inception_checkpoint_file=/inception_v3.ckpt",
    "--train_inception=false",
    "--number_of_steps=1000000",
    "--log_every_n_steps=10",
)

# ------------------------------------------------------------------------ step targets
# In the order they are looked for when a job's parameters set more than one.
STEP_FLAGS = (
    StepFlag("number_of_steps", TRAINER),
    StepFlag("max_number_of_steps", FIXTURES + "slim_like"),
    StepFlag("max_steps", FIXTURES + "keras_fit"),
    StepFlag("max-steps", "tests/harness/test_params.py::test_step_flag_spellings"),
    StepFlag("train_steps", "tests/harness/test_params.py::test_step_flag_spellings"),
    StepFlag("train-steps", FIXTURES + "estimator_like"),
    StepFlag("num_train_steps", "tests/harness/test_params.py::test_step_flag_spellings"),
    StepFlag("max_step", FIXTURES + "tf1_summaries"),
    StepFlag("steps", "tests/harness/test_params.py::test_step_flag_spellings"),
    StepFlag("epochs", FIXTURES + "keras_model", EPOCHS),
    StepFlag("num_epochs", "tests/harness/test_params.py::test_step_flag_spellings", EPOCHS),
    StepFlag("train_epochs", "tests/harness/test_params.py::test_step_flag_spellings", EPOCHS),
    StepFlag("train-epochs", "tests/harness/test_params.py::test_step_flag_spellings", EPOCHS),
    StepFlag("num_train_epochs", "tests/harness/test_params.py::test_step_flag_spellings", EPOCHS),
)

# ----------------------------------------------------------------------- batch sizes
# Flags carrying the examples per step, so a speed in steps/s is also one in examples/s;
# the first one the parameters set counts.
BATCH_FLAGS = (
    Known("batch_size", TRAINER),
    Known("train-batch-size", FIXTURES + "estimator_like"),
    Known("train_batch_size", "tests/harness/test_speed.py::test_every_batch_flag_spelling_counts"),
    Known("batch-size", "tests/harness/test_speed.py::test_every_batch_flag_spelling_counts"),
)
# Model-shape flags of im2txt (im2txt/im2txt/model_flags.py) that its evaluate.py and
# run_inference.py must be given as train.py was, or they build another model.
SHAPE_FLAGS = (
    Known("batch_size", TRAINER),
    Known("image_size", TRAINER),
    Known("vocab_size", TRAINER),
    Known("image_format", TRAINER),
)

# ------------------------------------------------------------------ pretrained weights
# Flags naming the checkpoint a job restores at step 0, most specific first; after them,
# any flag whose name matches PRETRAINED_NAME and not NOT_PRETRAINED_NAME.
PRETRAINED_FLAGS = (
    Known("inception_checkpoint_file", TRAINER),
    Known("pretrained_checkpoint", FIXTURES + "keras_fit"),
    Known("pretrained_model", FIXTURES + "keras_model"),
    Known("checkpoint_path", FIXTURES + "slim_like"),
    Known("init_checkpoint", "tests/harness/test_params.py::test_pretrained_flags"),
    Known("fine_tune_checkpoint", "tests/harness/test_params.py::test_pretrained_flags"),
)
PRETRAINED_NAME = re.compile(r"pretrain|^init_.*(ckpt|checkpoint)|(ckpt|checkpoint)_(file|path)$")
NOT_PRETRAINED_NAME = re.compile(r"^(save_|train_dir|output|eval_|checkpoint_dir$)")
# Booleans saying the pretrained part trains (fine-tune) or stays frozen (freeze).
FINE_TUNE_FLAGS = (
    Known("train_inception", TRAINER),
    Known("fine_tune", FIXTURES + "keras_fit"),
    Known("finetune", "tests/harness/test_params.py::test_freezing_rules"),
    Known("train_backbone", "tests/harness/test_params.py::test_freezing_rules"),
    Known("trainable", "tests/harness/test_params.py::test_freezing_rules"),
)
FREEZE_FLAGS = (
    Known("freeze_backbone", FIXTURES + "keras_model"),
    Known("freeze", "tests/harness/test_params.py::test_freezing_rules"),
    Known("frozen", "tests/harness/test_params.py::test_freezing_rules"),
)
# Comma-separated scope prefixes: only these train (slim), or these are not restored.
TRAINABLE_SCOPES_FLAGS = (Known("trainable_scopes", FIXTURES + "slim_like"),)
EXCLUDE_SCOPES_FLAGS = (
    Known("checkpoint_exclude_scopes", FIXTURES + "slim_like"),
    Known("exclude_scopes", "tests/harness/test_params.py::test_freezing_rules"),
)

# ------------------------------------------------------------------------------ losses
# Event folders whose losses are evaluations, never the training series: any path
# component below output_dir named like these.
EVAL_FOLDER = re.compile(r"^(eval|evaluation|validation|val|test|dev)([_-].*)?$", re.IGNORECASE)
# TF1 summary ops take a `_1` suffix when an op of the same name exists
# (`cross_entropy_1`, slim's `total_loss_1`); every pattern allows it.
_UNIQUIFIED = r"(_\d+)?"
# keras_fit with verbose=0: TensorBoard's batch_loss is its only loss with most points.
_SILENT_KERAS_FIT = (
    "tests/harness/test_foreign_jobs.py::test_a_silent_keras_fit_is_judged_by_its_summaries"
)
LOSS_TAGS = (
    LossTag("total loss", TRAINER, rf"(.*/)?(total_?loss|TotalLoss){_UNIQUIFIED}", 1),
    LossTag("loss", FIXTURES + "estimator_like", rf"(.*/)?loss{_UNIQUIFIED}", 1),
    # Matched without regard to case: `Cost`, `Loss`, `TOTAL_LOSS` name the same thing.
    LossTag("cost", FIXTURES + "named_cost", rf"(.*/)?(train_)?(cost|objective){_UNIQUIFIED}", 1),
    # Keras's TensorBoard callback numbers epoch_* by epoch and batch_* from 0 in every fit.
    LossTag("Keras epoch_loss", FIXTURES + "keras_model", r"epoch_loss", 1, EPOCH_INDEX),
    LossTag("Keras batch_loss", _SILENT_KERAS_FIT, r"batch_loss", 1, PER_RUN),
    LossTag("slim clone loss", FIXTURES + "slim_like", rf"Losses/(.*/)?clone_loss{_UNIQUIFIED}", 1),
    LossTag(
        "cross-entropy",
        FIXTURES + "tf1_summaries",
        rf"(.*/)?(cross_?entropy|xent)([_/].*)?{_UNIQUIFIED}",
        2,
    ),
    LossTag(
        "any *_loss or */loss", FIXTURES + "slim_like", rf"(.*[/_])?loss(/value)?{_UNIQUIFIED}", 2
    ),
)
# Loss-named tags that are not the training objective: weight decay and the like.
NOT_A_TRAINING_LOSS = re.compile(
    r"regulari[sz]ation|weight_?(decay|loss)|l2_?loss|aux|(^|/)(val|eval|validation|test)_", re.I
)

STDOUT_SHAPES = (
    StdoutShape(
        "slim",
        FIXTURES + "slim_like",
        r"global step\s+(?P<step>\d+)\s*:\s*loss\s*=\s*(?P<loss>[^\s(,]+)",
    ),
    StdoutShape(
        "estimator",
        FIXTURES + "estimator_like",
        r"\bloss\s*=\s*(?P<loss>[^\s,]+),\s*step\s*=\s*(?P<step>\d+)",
    ),
)
# Any other `name = number` / `name: number` on a line, numbered by the line's step or
# epoch counter (`step 10`, `Epoch: 0003`, `iter=5`) or, without one, by its place among
# such lines: every name is a candidate series, chosen as a loss by LOSS_TAGS. Lines
# that speak of an evaluation are not training series.
GENERIC_STDOUT = Known("name = number", FIXTURES + "named_cost")
STDOUT_PAIR = re.compile(
    r"(?<![\w/.-])(?P<name>[A-Za-z][\w/.-]*)\s*(=|:)\s*"
    r"(?P<value>[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?nan|[-+]?inf)(?![\w/])",
    re.IGNORECASE,
)
STDOUT_COUNTER = re.compile(
    r"\b(?P<unit>global[_ ]step|step|iter(ation)?|epoch)\b\s*[=:#]?\s*(?P<count>\d+)\b",
    re.IGNORECASE,
)
EVAL_LINE = re.compile(r"\b(eval(uation)?|validation|val|test(ing)?|dev)\b", re.IGNORECASE)
# Series that measure accuracy: corroboration of a falling loss, never a loss themselves.
ACCURACY_NAME = re.compile(
    r"(^|[/_ ])(acc|accuracy|categorical_accuracy|sparse_categorical_accuracy|precision|"
    r"recall|auc|f1|top_?\d+(_accuracy)?)(_\d+)?$",
    re.IGNORECASE,
)
# Keras progress lines (verbose 1 and 2, Keras 2 and 3) count steps across `Epoch E/F`
# headers; ANSI styling is stripped before any line is read.
KERAS_STDOUT = Known("keras", FIXTURES + "keras_model")
KERAS_EPOCH = re.compile(r"^\s*Epoch (?P<epoch>\d+)/(?P<epochs>\d+)\s*$")
KERAS_PROGRESS = re.compile(r"^\s*(?P<batch>\d+)/(?P<batches>\d+)\b.*?\bloss: (?P<loss>[^\s]+)")
ANSI_ESCAPE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
METRICS_FILE = Known("metrics.jsonl", TRAINER)

# ------------------------------------------------------------------------- model files
MODEL_FORMATS = (
    ModelFormat("TF checkpoint (V2)", TRAINER, "<prefix>.index + <prefix>.data-*"),
    ModelFormat(
        "TF checkpoint (V1)",
        "tests/harness/job/test_models.py::test_v1_checkpoint",
        "a file a `checkpoint` index lists",
    ),
    ModelFormat("Keras HDF5 model or weights", FIXTURES + "keras_model", "*.h5, *.hdf5"),
    ModelFormat(
        "Keras 3 native", FIXTURES + "keras_model", "*.keras (a zip holding model.weights.h5)"
    ),
    ModelFormat(
        "SavedModel",
        "tests/harness/job/test_models.py::test_saved_model",
        "<dir>/saved_model.pb + variables/",
    ),
)
# A `-N` suffix is a step only on checkpoint-like names (`model.ckpt-200`, `ckpt-6`),
# never on exports such as `resnet-50`.
STEP_SUFFIX = re.compile(r"(ckpt|checkpoint|model)-(?P<step>\d+)$", re.IGNORECASE)
# Saved scalars that count training steps, in the order they are trusted: the last
# component of a checkpoint key (object-graph suffix removed), at any depth, shallowest
# first (`global_step`, a tf.train.Checkpoint's `step`, `optimizer/iterations`, Keras
# 3's `optimizer/_iterations`). A save counter is never one.
STEP_VARIABLES = (
    Known("global_step", TRAINER),
    Known("step", FIXTURES + "checkpoint_manager"),
    Known("iterations", FIXTURES + "keras_fit"),
    Known("_iterations", FIXTURES + "checkpoint_manager"),
    Known("iter", "tests/harness/job/test_models.py::test_the_saved_step_wins_over_the_name"),
)
# Folders of state a job saves only to resume from (Keras BackupAndRestore's `backup/`):
# a rerun that starts over beside one fails resume.
BACKUP_FOLDER = re.compile(r"^(backup|backups|.*[_-]backup|backup[_-].*)$", re.IGNORECASE)
# Keras model files numbered by epoch (ModelCheckpoint's `model-{epoch:02d}.keras`,
# `weights.{epoch:02d}-{val_loss:.2f}.h5`): saved every epoch to go on from, like a
# TensorFlow checkpoint's step. Two or more such numbers claim resuming as a backup does.
EPOCH_NUMBERED_MODEL = re.compile(
    r"[._-](?P<epoch>\d+)(?:-[\d.]+)?(?:\.weights)?\.(?:keras|h5|hdf5)$", re.IGNORECASE
)
# Training bookkeeping a pretrained file may hold beside the model: never judged as restored.
BOOKKEEPING = re.compile(
    r"(^|/)(global_step|iterations|_iterations|iter|save_counter|learning_rate|"
    r"beta[12]_power)(/\.ATTRIBUTES/VARIABLE_VALUE)?$|"
    r"/(Adam|Adam_\d+|Momentum|RMSProp|RMSProp_\d+|Adagrad|Ftrl|Ftrl_\d+|ExponentialMovingAverage)$|"
    r"/\.OPTIMIZER_SLOT/|^optimizer(_weights)?/"
)
# Batch-norm statistics follow the data, not the gradient: a frozen scope may update them.
MOVING_STATISTICS = re.compile(r"(moving_mean|moving_variance|moving_avg|/mean|/variance)(:0)?$")

# ------------------------------------------------------------------- failure signatures
DIAGNOSES = (
    Diagnosis(
        "duplicate log_dir flag",
        "tests/harness/test_diagnoses.py",
        r"DuplicateFlagError: The flag 'log_dir' is defined twice",
        "the job defines --log_dir, which absl.logging (imported by TensorFlow 2) already "
        "defines: UCloud's uflag.py does this",
        "define it with allow_override=True, or delete absl's first "
        "(`flags.FLAGS.__delattr__('log_dir')`) before uflag is imported",
    ),
    Diagnosis(
        "TF1 API missing",
        "tests/harness/test_diagnoses.py",
        r"module 'tensorflow' has no attribute '(?P<api>app|contrib|estimator|flags|Session|"
        r"placeholder|train\.Saver|summary\.FileWriter|logging)'",
        "the job uses tf.{api}, which TensorFlow 2 no longer has",
        "use tf.compat.v1.{api} (and tf.compat.v1.disable_eager_execution()), absl for flags, "
        "or pin the last TensorFlow that has it (tf.contrib: 1.15; tf.estimator: 2.15)",
    ),
    Diagnosis(
        "write into the read-only data mount",
        "tests/harness/backends/test_container_faults.py::test_data_is_read_only_in_the_container",
        r"(Read-only file system|Permission denied).{0,200}/data/data|"
        r"/data/data\S*.{0,200}(Read-only file system|Permission denied)",
        "the job writes into /data/data, which the platform mounts read-only",
        "write everything under --output_dir (/data/output)",
    ),
    Diagnosis(
        "network access",
        "tests/harness/test_diagnoses.py",
        r"Temporary failure in name resolution|Network is unreachable|Name or service not known|"
        r"urlopen error|Failed to establish a new connection|Could not resolve host",
        "the job tried to reach the network; UAI-Train nodes have no internet",
        "put what it downloads (datasets, weights, pip packages) into the image or the data",
    ),
    Diagnosis(
        "no /usr/bin/python",
        "tests/harness/backends/test_container.py::test_image_without_usr_bin_python_fails_the_image_contract",
        r"(?P<python>/\S*python[0-9.]*): (No such file or directory|not found|command not found)|"
        r"exec: \"(?P<exec>/usr/bin/python)\": stat /usr/bin/python: no such file",
        "the interpreter {python} that starts the job does not exist (the platform starts "
        "jobs with /usr/bin/python)",
        'install Python there, or link it: `RUN ln -s "$(command -v python3)" /usr/bin/python`',
    ),
    Diagnosis(
        "CUDA libraries do not load",
        "tests/harness/test_diagnoses.py",
        r"Could not load dynamic library '(?P<library>lib(cuda|cudart|cublas|cudnn|cufft|curand|"
        r"cusolver|cusparse|nvinfer)[^']*)'|Cannot dlopen some GPU libraries",
        "TensorFlow could not load {library}, so the job trains on the CPU or not at all",
        "build the GPU image from a CUDA base with the cuDNN TensorFlow expects "
        "(pip's tensorflow[and-cuda] brings them), and run it with the NVIDIA runtime",
    ),
)


def step_flag(name: str) -> StepFlag | None:
    """The known step flag spelled `name` (either `-` or `_` between words)."""
    wanted = name.replace("-", "_")
    return next((f for f in STEP_FLAGS if f.name.replace("-", "_") == wanted), None)


def unit_of(name: str) -> str:
    """Whether a job's step flag counts steps or epochs (unknown names count steps)."""
    known = step_flag(name)
    return known.unit if known else STEPS


def loss_tag(tag: str) -> LossTag | None:
    """The best-tier known loss tag a summary tag is (None: not a training loss)."""
    if NOT_A_TRAINING_LOSS.search(tag):
        return None
    known = [t for t in LOSS_TAGS if re.fullmatch(t.pattern, tag, re.IGNORECASE)]
    return min(known, key=lambda t: t.tier) if known else None


def is_accuracy(name: str) -> bool:
    """Whether a series' name says it measures accuracy (corroboration, never the loss)."""
    return bool(ACCURACY_NAME.search(name)) and not NOT_A_TRAINING_LOSS.search(name)


def is_eval_folder(relative_parts: tuple[str, ...]) -> bool:
    """Whether an event file's folder (path components below output_dir) holds evaluations."""
    return any(EVAL_FOLDER.match(part) for part in relative_parts)
