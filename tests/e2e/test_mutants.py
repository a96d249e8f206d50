"""Proof that each check can fail: deliberately broken trainers, one bug each.

Each mutant is this repository's trainer with one source edit. The check built
to catch that bug must fail and say why; checks about unrelated contracts must
still pass, showing the verdicts are specific rather than all-or-nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.backends.local import LocalBackend
from harness.validate import Plan, validate

pytestmark = pytest.mark.slow

# name -> (file, original text, replacement, failing check, message fragment, checks that pass)
MUTANTS = {
    "writes_outside_output": (
        "train.py",
        "    del argv\n",
        "    del argv\n    import os\n"
        "    open(os.path.join(FLAGS.work_dir, 'stray.txt'), 'w').write('x')\n",
        "path_contract",
        "wrote outside output_dir: data/stray.txt",
        ["pretrained_restore", "loss_decrease", "resume"],
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
        "pretrained_restore",
        "differ from inception_v3.ckpt (restore skipped?)",
        ["path_contract", "resume"],
    ),
    "learning_rate_zero": (
        "im2txt/configuration.py",
        "initial_learning_rate: float = 2.0",
        "initial_learning_rate: float = 0.0",
        "loss_decrease",
        "required <=",
        ["path_contract", "resume"],
    ),
    "ignores_the_image": (
        "im2txt/show_and_tell_model.py",
        "_, state = self.lstm(dropout(image_embeddings, 0), state)",
        "_, state = self.lstm(dropout(tf.zeros_like(image_embeddings), 0), state)",
        "uses_image",
        "does not clearly use the image",
        # pretrained_restore fails too: image_embedding/weights never changes.
        ["path_contract", "loss_decrease", "resume"],
    ),
    "never_resumes": (
        "im2txt/training.py",
        "    latest = manager.latest()\n    if latest is not None:",
        "    latest = None\n    if latest is not None:",
        "resume",
        "never said it resumed",
        ["path_contract", "pretrained_restore", "loss_decrease", "uses_image"],
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
def test_mutant_fails_exactly_its_check(name: str, repo_root: Path, tmp_path: Path) -> None:
    file, original, edit, check, fragment, still_passing = MUTANTS[name]
    code = make_mutant(repo_root, tmp_path, file, original, edit)
    result = validate(LocalBackend(code), Plan.quick(), tmp_path / "run")
    verdicts = {c.name: c for c in result.record.checks}
    assert check in verdicts, f"{check} did not run: {list(verdicts)}"
    assert not verdicts[check].passed, verdicts[check].message
    assert fragment in verdicts[check].message
    for other in still_passing:
        assert verdicts[other].passed, f"{other}: {verdicts[other].message}"
    assert not result.passed
