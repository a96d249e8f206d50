"""docs/ci.md as a team meets it: its baseline lines, then the GitHub Actions job's `run:`
lines and the GitLab job's `script:` lines, run as written (not the CI services) in a
workspace holding a fixture job, its Dockerfile and its sample."""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tests.support.foreign_jobs import ESTIMATOR_LIKE

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ci.md"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)


def _recipes() -> dict[str, list[str]]:
    github, gitlab = (yaml.safe_load(text) for text in _blocks("yaml"))
    steps = github["jobs"]["gate"]["steps"]
    return {
        "github": [step["run"] for step in steps if "run" in step],
        "gitlab": list(gitlab["training-job"]["script"]),
        "env": {**github["jobs"]["gate"]["env"]},
    }


@pytest.fixture
def workspace(tmp_path: Path, cpu_image: str, repo_root: Path, job_inputs) -> Path:
    """A team's repository: the job, a Dockerfile building it on the CPU image, a sample."""
    space = tmp_path / "repo"
    shutil.copytree(
        ESTIMATOR_LIKE.folder, space / "code", ignore=shutil.ignore_patterns("__pycache__")
    )
    (space / "Dockerfile").write_text(
        f"FROM {cpu_image}\nRUN rm -rf /data && mkdir /data\nCOPY code/ /data/\n"
    )
    shutil.copytree(job_inputs(ESTIMATOR_LIKE) / "data", space / "sample")
    return space


def test_the_ci_recipes_run_as_written(workspace, tmp_path, repo_root, docker_client) -> None:
    recipes = _recipes()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (own,) = (venv / "lib").glob("python3*/site-packages")
    (own / "_test_environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    image = f"uai-harness/ci-recipe:{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        **recipes["env"],
        "IMAGE": image,
        "UAI_HARNESS": str(repo_root),
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }

    def run(line: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        print(f"$ {line}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        return done

    # A line written more than once (the install, the build, the gated validation in both
    # recipes) runs once: the same line in the same workspace proves every copy.
    ran: dict[str, subprocess.CompletedProcess[str]] = {}

    def run_once(line: str) -> subprocess.CompletedProcess[str]:
        if line not in ran:
            ran[line] = run(line)
        return ran[line]

    try:
        baseline_lines = [line for line in _blocks("bash")[0].splitlines() if line.strip()]
        assert run_once(recipes["github"][0]).returncode == 0  # the install
        for line in baseline_lines:
            assert run_once(line).returncode == 0, line
        assert (workspace / "ci" / "baseline.json").is_file()
        for name in ("github", "gitlab"):
            for line in recipes[name]:
                done = run_once(line)
                assert done.returncode == 0, f"{name}: {line}\n{done.stdout[-2000:]}"
            suite = ET.parse(workspace / "reports" / "junit.xml").getroot().find("testsuite")
            cases = {case.get("name") for case in suite.iter("testcase")}
            assert "regression" in cases and suite.get("failures") == "0"
    finally:
        docker_client.images.remove(image, force=True, noprune=True)
