"""docs/ci.md's recipes against what their images hold and what Docker and GitLab
document (finding 4), without Docker: the GitLab job's image has the docker CLI its
script calls and gets Python before the script, its dind service runs without TLS the
documented way, and neither recipe installs a package name that is on no index."""

from __future__ import annotations

import re
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
    assert job["image"].startswith("docker:"), "the script calls docker"
    setup = " ".join(job["before_script"])
    assert "apk add" in setup and "python3" in setup and "venv" in setup
    assert any(line.startswith("docker build") for line in job["script"])


def test_the_dind_service_is_configured_as_docker_documents() -> None:
    _, job = _recipes()
    (service,) = job["services"]
    assert service["name"].endswith("-dind") and service["alias"] == "docker"
    assert job["variables"]["DOCKER_HOST"] == "tcp://docker:2375"
    assert job["variables"]["DOCKER_TLS_CERTDIR"] == ""  # port 2375 is the plain one


def test_no_recipe_installs_a_name_that_is_on_no_index() -> None:
    github, gitlab = _recipes()
    lines = [step.get("run", "") for step in github["steps"]] + gitlab["script"]
    installs = [line for line in lines if "pip install" in line]
    assert installs == ['python -m pip install "$UAI_HARNESS"'] * 2
    for env in (github["env"], gitlab["variables"]):
        assert env["UAI_HARNESS"].startswith("git+https://")
