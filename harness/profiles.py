"""Profiles: what the harness knows about a family of jobs beyond the platform contract.

A profile is a data generator (for jobs validated without `--data`), a synthetic
pretrained checkpoint (when the job names one and the user gives none), a default
step budget, and extra model checks with the phases they need. The generic
platform checks apply to every job; a profile only adds. `none` adds nothing: the
user brings data (and a pretrained file) and gets the platform checks. `im2txt`
generates captioning records and an Inception v3 checkpoint and, when the code
has compatible evaluation and inference entry points, checks that the model uses
the image and can caption it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

from harness.checks import inference, uses_image
from harness.contract import CONTAINER_DATA_DIR, job_path_in_container
from harness.jobshapes import SHAPE_FLAGS
from harness.params import flag_value

EVAL_FOLDER = "harness-eval"
PROBE_FOLDER = "harness-probe"
VOCAB_FILE = "word_counts.txt"


@dataclasses.dataclass(frozen=True)
class ModelCheckInputs:
    """What the model checks need, made once before training: evaluation pairs and the
    probe images' expected captions - or why the checks cannot run on this code."""

    missing: str | None = None
    expected_captions: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    eval_pairs: int = 0


@dataclasses.dataclass(frozen=True)
class ModelPhase:
    """One run of a job entry point other than the main file."""

    name: str
    mainfile: str
    params: list[str]
    platform_flags: bool = True


class Profile:
    """The generic profile: the user's own data, the platform checks only."""

    name = "none"
    # Cap on the step target when the job's own target is larger (None: the job's own).
    default_steps: int | None = None
    model_checks: tuple[str, ...] = ()

    def check_params(self, params: list[str], has_data: bool) -> None:
        """Refuse, before anything is written, parameters the profile cannot serve."""
        if not has_data:
            raise ValueError(
                f"the {self.name!r} profile generates no data: give a sample with --data DIR "
                "(or --profile im2txt for im2txt-shaped jobs)"
            )

    def generate(self, data_dir: Path, params: list[str], seed: int, num_images: int) -> str:
        """Write synthetic data for the job into `data_dir`; a description of it."""
        self.check_params(params, has_data=False)
        return ""

    def write_pretrained(self, path: Path, seed: int, fmt: str) -> bool:
        """Write a synthetic pretrained checkpoint at `path`; False when the profile has none."""
        return False

    def model_check_inputs(
        self, read_code: Callable[[str], str | None], data_dir: Path, params: list[str]
    ) -> ModelCheckInputs:
        """Write what the model checks need into the data, when the code can run them."""
        missing = self.model_entry_points_missing(read_code)
        if missing is None:
            return self.prepare_model_checks(data_dir, params)
        return ModelCheckInputs(missing)

    def prepare_model_checks(self, data_dir: Path, params: list[str]) -> ModelCheckInputs:
        return ModelCheckInputs("the profile has no model checks")

    def model_entry_points_missing(self, read_code: Callable[[str], str | None]) -> str | None:
        return "the profile has no model checks"


class Im2txtProfile(Profile):
    """Show and Tell captioning jobs: SequenceExample records, `word_counts.txt`, Inception v3."""

    name = "im2txt"
    # An upstream-size job (299x299, batch 32: each step sees every example of the tiny set
    # about four times) has just learned it at 80 steps (inference may still miss one probe
    # of three, a warning) and validates in about 4 minutes on 2 cores, 172 s of it training.
    # Smaller configurations give their own --steps (the built-in quick job: QUICK_STEPS).
    default_steps = 80
    model_checks = (uses_image.NAME, inference.NAME)
    probe_images = 3

    def check_params(self, params: list[str], has_data: bool) -> None:
        if not has_data:
            self._shard_pattern(params)

    def _shard_pattern(self, params: list[str]) -> str:
        """The training pattern relative to data_dir, checked to name shards we can write."""
        from harness.synthetic import shard_names_for_pattern

        pattern = flag_value(params, "input_file_pattern")
        if not pattern:
            raise ValueError(
                "the im2txt profile shapes its data to --input_file_pattern, which the job's "
                "parameters do not set (for other jobs give --data DIR --profile none)"
            )
        first = pattern.split(",")[0].strip()
        relative = job_path_in_container(first, CONTAINER_DATA_DIR)[len(CONTAINER_DATA_DIR) + 1 :]
        try:
            shard_names_for_pattern(relative, limit=1)
        except ValueError as err:
            raise ValueError(f"cannot shape synthetic data to --input_file_pattern: {err}") from err
        return relative

    def generate(self, data_dir: Path, params: list[str], seed: int, num_images: int) -> str:
        from harness.synthetic import generate_dataset

        relative = self._shard_pattern(params)
        try:
            generate_dataset(
                data_dir,
                seed=seed,
                num_images=num_images,
                captions_per_image=2,
                input_file_pattern=relative,
                num_eval_images=0,
                # One large shape per image, each its own colour: learnable in a few hundred
                # steps through a frozen Inception of synthetic weights.
                max_objects=1,
                distinct_colours=True,
            )
        except ValueError as err:
            raise ValueError(f"cannot shape synthetic data to --input_file_pattern: {err}") from err
        return f"{num_images} synthetic scenes, 2 captions each, as {relative}"

    def write_pretrained(self, path: Path, seed: int, fmt: str) -> bool:
        from harness.synthetic import write_inception_checkpoint

        write_inception_checkpoint(path, fmt=fmt, seed=seed)
        return True

    def model_entry_points_missing(self, read_code: Callable[[str], str | None]) -> str | None:
        """Why the code cannot run the captioning checks, or None when it can."""
        needs = {
            "evaluate.py": ("run_once", "num_eval_examples", "eval_dir"),
            "run_inference.py": ("checkpoint_path", "vocab_file", "input_files"),
        }
        for entry, flags in needs.items():
            source = read_code(entry)
            if source is None:
                return f"the code has no {entry}"
            missing = [f for f in flags if not re.search(rf"DEFINE_\w+\(\s*[\"']{f}[\"']", source)]
            if missing:
                return f"{entry} defines no --{', --'.join(missing)}"
        return None

    def prepare_model_checks(self, data_dir: Path, params: list[str]) -> ModelCheckInputs:
        """Evaluation pairs (true and images shuffled across captions) and probe images,
        made from the job's own training records, so any im2txt-shaped data works."""
        from harness.synthetic import read_records, serialize_tokens, write_records

        pattern = flag_value(params, "input_file_pattern") or ""
        relative = job_path_in_container(pattern.split(",")[0].strip(), CONTAINER_DATA_DIR)
        glob = relative[len(CONTAINER_DATA_DIR) + 1 :]
        shards = sorted(data_dir.glob(glob))[:2] if glob else []
        if not (data_dir / VOCAB_FILE).is_file():
            return ModelCheckInputs(f"the data has no {VOCAB_FILE} for run_inference.py")
        records = [record for shard in shards for record in read_records(shard)][:16]
        images: dict[int, dict] = {}
        for record in records:
            images.setdefault(record["image_id"], record)
        if len(images) < 2:
            return ModelCheckInputs(
                "the training records hold fewer than 2 images to pair with other captions"
            )
        ids = sorted(images)
        shifted = {image: images[ids[(i + 1) % len(ids)]] for i, image in enumerate(ids)}

        def example(record: dict, image: dict) -> bytes:
            return serialize_tokens(
                image["image_id"], image["jpeg"], record["caption"], record["caption_ids"]
            )

        write_records(
            data_dir / EVAL_FOLDER / "true-00000-of-00001", [example(r, r) for r in records]
        )
        write_records(
            data_dir / EVAL_FOLDER / "shuffled-00000-of-00001",
            [example(r, shifted[r["image_id"]]) for r in records],
        )
        probe_dir = data_dir / PROBE_FOLDER
        probe_dir.mkdir(parents=True, exist_ok=True)
        expected = {}
        for image_id in ids[: self.probe_images]:
            name = f"image-{image_id}.jpg"
            (probe_dir / name).write_bytes(images[image_id]["jpeg"])
            expected[name] = sorted(
                {
                    " ".join(t for t in r["caption"] if t not in ("<S>", "</S>"))
                    for r in records
                    if r["image_id"] == image_id
                }
            )
        return ModelCheckInputs(None, expected, len(records))

    def evaluation_phases(
        self, params: list[str], output_dir: str, inputs: ModelCheckInputs
    ) -> list[ModelPhase]:
        shape = _shape_params(params)
        return [
            ModelPhase(
                f"evaluate_{kind}",
                "evaluate.py",
                [
                    f"--input_file_pattern=/{EVAL_FOLDER}/{kind}-?????-of-00001",
                    "--run_once",
                    "--min_global_step=0",
                    f"--num_eval_examples={inputs.eval_pairs}",
                    f"--eval_dir={output_dir}/harness-eval-{kind}",
                    *shape,
                ],
            )
            for kind in ("true", "shuffled")
        ]

    def inference_phase(self, params: list[str], output_dir: str, data_dir: str) -> ModelPhase:
        return ModelPhase(
            "inference",
            "run_inference.py",
            [
                f"--checkpoint_path={output_dir}",
                f"--vocab_file={data_dir}/{VOCAB_FILE}",
                f"--input_files={data_dir}/{PROBE_FOLDER}/*",
                *_shape_params(params),
            ],
            platform_flags=False,
        )


def _shape_params(params: list[str]) -> list[str]:
    shape = ((known.name, flag_value(params, known.name)) for known in SHAPE_FLAGS)
    return [f"--{name}={value}" for name, value in shape if value is not None]


PROFILES: dict[str, type[Profile]] = {"none": Profile, "im2txt": Im2txtProfile}


def make_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    return PROFILES[name]()
