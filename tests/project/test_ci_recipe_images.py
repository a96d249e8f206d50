"""docs/ci.md's recipes against what their images hold and what Docker and GitLab
document, without Docker (tests/project/test_ci_recipes.py runs them in stand-ins): the
GitLab job's image is a glibc Python (TensorFlow has no musl wheels, so an Alpine
`docker:` image cannot install the harness) that gets the docker CLI before the script,
its dind service runs without TLS the documented way, and both recipes install the
harness from its git repository, whose URL the team sets as a CI variable."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ci.md"


def _recipes() -> tuple[dict, dict]:
    github, gitlab = (
        yaml.safe_load(text)
        for text in re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    )
    return github["jobs"]["gate"], gitlab["training-job"]


def test_the_gitlab_image_has_what_its_script_calls() -> None:
    _, job = _recipes()
    assert job["image"] == "python:3.11-bookworm", "glibc Python 3.11 with pip and git"
    assert "apt-get install" in " ".join(job["before_script"])
    assert "docker.io" in " ".join(job["before_script"]), "the script calls docker"
    assert any(line.startswith("docker build") for line in job["script"])


def test_the_dind_service_is_configured_as_docker_documents() -> None:
    _, job = _recipes()
    (service,) = job["services"]
    assert service["name"].endswith("-dind") and service["alias"] == "docker"
    assert job["variables"]["DOCKER_HOST"] == "tcp://docker:2375"
    assert job["variables"]["DOCKER_TLS_CERTDIR"] == ""  # port 2375 is the plain one


INSTALL = 'python -m pip install "git+${UAI_HARNESS_REPO:?set UAI_HARNESS_REPO}@$UAI_HARNESS_REF"'


def test_both_recipes_install_from_the_repository_the_team_names() -> None:
    github, gitlab = _recipes()
    lines = [step.get("run", "") for step in github["steps"]] + gitlab["script"]
    assert [line for line in lines if "pip install" in line] == [INSTALL] * 2
    assert github["env"]["UAI_HARNESS_REPO"] == "${{ vars.UAI_HARNESS_REPO }}"
    assert "UAI_HARNESS_REPO" not in gitlab["variables"]  # a CI/CD variable of the project
    assert github["env"]["UAI_HARNESS_REF"] == gitlab["variables"]["UAI_HARNESS_REF"]


def test_the_install_without_the_repository_names_the_setting() -> None:
    env = {"PATH": os.environ["PATH"], "UAI_HARNESS_REF": "v0"}
    done = subprocess.run(["bash", "-c", INSTALL], env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "UAI_HARNESS_REPO: set UAI_HARNESS_REPO" in done.stderr
