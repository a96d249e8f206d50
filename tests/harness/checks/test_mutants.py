"""Proof that each check can fail: deliberately broken trainers, one bug each.

Each mutant is this repository's trainer with one source edit. The whole verdict
table of each run is asserted: the check built to catch the bug fails and says why,
and every other check's verdict is stated, so the table shows which verdicts a bug
drags along with it - and, since every other check passes in each mutant's run, that
the unmutated trainer passes the same scenario. The four platform mutants run with the
generic checks only (`--profile none`, the user's data and checkpoint) at 30 steps, as
few as learn clearly; the model mutant runs the im2txt profile's model checks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.backends.local import LocalBackend
from harness.record import FAILED, NOT_APPLICABLE, PASSED
from harness.scenario import QUICK_PARAMS, Plan, validate

pytestmark = pytest.mark.slow

NA = NOT_APPLICABLE
GENERIC = ("image_contract", "path_contract", "pretrained_restore", "loss_decrease", "resume")

# name -> (file, original text, replacement, {check: expected status}, message fragment)
MUTANTS = {
    "writes_outside_output": (
        "train.py",
        "    del argv\n",
        "    del argv\n    import os\n"
        "    open(os.path.join(FLAGS.work_dir, 'stray.txt'), 'w').write('x')\n",
        dict(zip(GENERIC, (NA, FAILED, PASSED, PASSED, PASSED), strict=True)),
        "wrote outside output_dir: data/stray.txt",
    ),
    "skips_inception_restore": (
        "im2txt/training.py",
        "        count = checkpointing.restore_variables(\n"
        "            options.inception_checkpoint, model.inception.variables_by_name()\n"
        "        )\n",
        "        count = 376\n"
        "        for name, variable in model.inception.variables_by_name().items():\n"
        "            if name.endswith('/weights'):  # He init instead of the pretrained file\n"
        "                fan_in = math.prod(variable.shape[:-1])\n"
        "                variable.assign(tf.random.normal(variable.shape) * (2 / fan_in) ** 0.5)\n",
        dict(zip(GENERIC, (NA, PASSED, FAILED, PASSED, PASSED), strict=True)),
        "look freshly initialised, not restored in model.ckpt-30: InceptionV3/",
    ),
    "learning_rate_zero": (
        "im2txt/configuration.py",
        "initial_learning_rate: float = 2.0",
        "initial_learning_rate: float = 0.0",
        dict(zip(GENERIC, (NA, PASSED, PASSED, FAILED, PASSED), strict=True)),
        "no learning",
    ),
    "never_resumes": (
        "im2txt/training.py",
        "    latest = manager.latest()\n    if latest is not None:",
        "    latest = None\n    if latest is not None:",
        dict(zip(GENERIC, (NA, PASSED, PASSED, PASSED, FAILED), strict=True)),
        "it started over",
    ),
}


def make_mutant(repo_root: Path, destination: Path, file: str, original: str, edit: str) -> Path:
    code = destination / "im2txt"
    shutil.copytree(repo_root / "im2txt", code, ignore=shutil.ignore_patterns("__pycache__"))
    target = code / file
    source = target.read_text()
    assert source.count(original) == 1, f"mutation anchor not found once in {file}"
    target.write_text(source.replace(original, edit))
    return code


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_platform_mutant_verdict_table(
    name: str, repo_root: Path, tmp_path: Path, im2txt_sample
) -> None:
    file, original, edit, expected, fragment = MUTANTS[name]
    code = make_mutant(repo_root, tmp_path, file, original, edit)
    data, pretrained = im2txt_sample
    plan = Plan(profile="none", data=data, pretrained=pretrained, steps=30, resume_steps=10)
    result = validate(LocalBackend(code), plan, tmp_path / "run")
    table = {check.name: check.status for check in result.record.checks}
    messages = {check.name: check.message for check in result.record.checks}
    assert table == {**expected, "reproducible": NA}, messages
    failed = next(check for check in result.record.checks if check.status == FAILED)
    assert fragment in failed.message
    assert not result.passed


def test_model_mutant_that_ignores_the_image(repo_root: Path, tmp_path: Path) -> None:
    code = make_mutant(
        repo_root,
        tmp_path,
        "im2txt/show_and_tell_model.py",
        "_, state = self.lstm(dropout(image_embeddings, 0), state)",
        "_, state = self.lstm(dropout(tf.zeros_like(image_embeddings), 0), state)",
    )
    # Blind to the image, it fails the model checks at any length: 100 steps learn the
    # captions' words well enough for the other checks to pass.
    plan = Plan(train_params=list(QUICK_PARAMS), steps=100)
    result = validate(LocalBackend(code), plan, tmp_path / "run")
    table = {check.name: check.status for check in result.record.checks}
    # Blind to the image, it captions every probe alike, so inference fails with uses_image.
    assert table == {
        "image_contract": NA,
        "path_contract": PASSED,
        "pretrained_restore": PASSED,
        "loss_decrease": PASSED,
        "uses_image": FAILED,
        "resume": PASSED,
        "inference": FAILED,
        "reproducible": NA,
    }
    assert "does not clearly use the image" in result.record.check("uses_image").message
