"""Shared test configuration.

The harness plugin is loaded only where a session asks for it; this suite asks here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gitrepo import git

# The harness plugin (markers, --require-docker/--require-sandbox), and the container
# tests' image fixtures for every `docker`-marked test wherever it lives.
pytest_plugins = ["harness.pytest_plugin", "tests.support.docker_images"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "quick: the end-to-end runs of the contributors' fast lane (tox -e quick)"
    )
    # pytest-xdist registers this itself; without it (a plain `pytest`) it must be known too.
    config.addinivalue_line("markers", "xdist_group(name): run on one xdist worker together")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def real_validation(tmp_path_factory: pytest.TempPathFactory):
    """One small but real `validate` run, shared by the session: the Keras fit fixture job
    (not this repository's trainer) with its own data sample and pretrained backbone, 20
    steps and a 10-step resume. Tests of records, reports and comparisons start from it, so
    they see the shape `validate` really writes."""
    from harness.backends.local import LocalBackend
    from harness.scenario import Plan, validate
    from tests.support.foreign_jobs import KERAS_FIT, make_inputs

    inputs = tmp_path_factory.mktemp("keras-inputs")
    make_inputs(KERAS_FIT, inputs)
    plan = Plan(
        train_params=KERAS_FIT.params(20),
        profile="none",
        data=inputs / "data",
        pretrained=inputs / KERAS_FIT.pretrained_file.lstrip("/"),
        resume_steps=10,
    )
    return validate(LocalBackend(KERAS_FIT.folder), plan, tmp_path_factory.mktemp("real-run"))


@pytest.fixture(scope="session")
def job_inputs(tmp_path_factory: pytest.TempPathFactory):
    """Each foreign fixture job's own data sample and pretrained file, made on first use."""
    from tests.support.foreign_jobs import JobInputs

    return JobInputs(tmp_path_factory.mktemp("job-inputs"))


@pytest.fixture(scope="session")
def fresh_clone(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of the working tree as it is now: every tracked and untracked,
    not-ignored file copied into a new git repository with one commit - what a user
    gets from `git clone`, including changes not committed yet."""
    import shutil
    import subprocess

    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo_root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    clone = tmp_path_factory.mktemp("fresh") / "uai-train-harness"
    for name in filter(None, listed.split("\0")):
        source = repo_root / name
        if source.is_file():  # listed but deleted in the working tree: not in the clone
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    git(clone, "init", "-q")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "fresh clone")
    return clone


@pytest.fixture(scope="session")
def im2txt_sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data folder, pretrained file): 4 synthetic scenes as upstream records, and a V1
    Inception v3 checkpoint with the real names and shapes."""
    from harness.synthetic import generate_dataset, write_inception_checkpoint

    folder = tmp_path_factory.mktemp("im2txt-sample")
    generate_dataset(
        folder / "data",
        num_images=4,
        captions_per_image=2,
        num_eval_images=0,
        max_objects=1,
        distinct_colours=True,
    )
    write_inception_checkpoint(folder / "inception_v3.ckpt")
    return folder / "data", folder / "inception_v3.ckpt"
