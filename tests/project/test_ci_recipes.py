"""docs/ci.md as a team meets it: each recipe's steps, with its `env:`/`variables:`, run in
a container of a stand-in for the image it names, against a workspace holding a fixture
job, its Dockerfile and its sample (tests/support/ci_stand_ins.py).

Stand-ins, since no registry but PyPI and Debian's answers here: Docker Hub's
`python:3.11-bookworm` and GitHub's `ubuntu-latest` + setup-python are Debian bookworm with
Python 3.11, pip and git (+ the docker CLI for GitHub's, where the GitLab job's
`before_script:` installs Debian's docker.io itself, as a cached build step). What they
share with the named images: the distribution, the Python minor version, pip, git, a
docker CLI, a root shell. What is not exercised: the runners themselves,
`actions/checkout`, `actions/setup-python`'s download, the JUnit publishing steps, and
the download of the harness's dependencies from PyPI (they come from this test
environment's site-packages; pip's build requirements from a local folder).

The harness installs the way both recipes say: pip clones `git+$UAI_HARNESS_REPO@REF` -
here a bare repository of this checkout tagged with the recipe's ref, by `file://` URL -
builds it and installs its `uai-harness` command.

Daemons: GitHub's job talks to the runner's own daemon through its socket - here this
machine's, mounted in. The GitLab job reaches `docker:27-dind` at tcp://docker:2375, as
its variables say - here a socat container with the network alias `docker`, forwarding
to this machine's daemon (no privileged dind: the same daemon builds and runs the job).
The workspace is mounted at its own path, as GitLab shares /builds with its services
and GitHub's runner is the daemon's host: the harness's bind mounts resolve the same.
"""

from __future__ import annotations

import re
import shutil
import site
import subprocess
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
import yaml

from tests.support import ci_stand_ins
from tests.support.foreign_jobs import ESTIMATOR_LIKE

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "ci.md"
SCHEMA = xmlschema.XMLSchema(str(ROOT / "tests" / "fixtures" / "junit.xsd"))
REPO_IN_CONTAINER = "/srv/git/uai-train-harness.git"
PYPI_IN_CONTAINER = "/srv/pypi"
# Not the recipe's: after its install line, that the command came from that install.
INSTALLED = 'test "$(command -v uai-harness)" = /usr/local/bin/uai-harness'


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)


def _recipes() -> tuple[dict, dict]:
    github, gitlab = (yaml.safe_load(text) for text in _blocks("yaml"))
    return github["jobs"]["gate"], gitlab["training-job"]


def _github_env(job: dict, variables: dict[str, str]) -> dict[str, str]:
    """The job's env:, its `${{ vars.NAME }}` read from `variables` (the repository's)."""

    def resolve(value: object) -> str:
        text = str(value)
        if match := re.fullmatch(r"\$\{\{\s*vars\.(\w+)\s*\}\}", text):
            return variables[match[1]]
        assert "${{" not in text, f"an expression this test does not evaluate: {text}"
        return text

    return {name: resolve(value) for name, value in job["env"].items()}


@pytest.fixture(scope="module")
def stand_ins(docker_client, base_image: str, tmp_path_factory):
    """The GitHub and GitLab jobs' stand-in images, built on one shared layer."""
    _, gitlab = _recipes()
    context = tmp_path_factory.mktemp("stand-ins")
    common = ci_stand_ins.build(
        docker_client,
        context / "common",
        ci_stand_ins.COMMON_DOCKERFILE.format(base=base_image),
        "python-3.11-bookworm",
    )
    ci_stand_ins.docker_cli(context / "github")
    github = ci_stand_ins.build(
        docker_client, context / "github", ci_stand_ins.github_dockerfile(common), "github"
    )
    gitlab_image = ci_stand_ins.build(
        docker_client,
        context / "gitlab",
        ci_stand_ins.gitlab_dockerfile(common, gitlab["before_script"]),
        "gitlab",
    )
    # Kept, not removed: a removal while the other worker builds a job image can take an
    # intermediate layer the two builds share (seen once: "unknown parent image ID").
    yield {"common": common, "github": github, "gitlab": gitlab_image}


@pytest.fixture
def workspace(tmp_path: Path, cpu_image: str, job_inputs) -> Path:
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


def _socket() -> str:
    from harness.backends.daemon import docker_host

    host, _ = docker_host()
    if not host.startswith("unix://"):
        pytest.skip(f"the stand-ins reach the daemon through its unix socket, not {host}")
    return host.removeprefix("unix://")


def test_the_ci_recipes_run_in_stand_ins_of_their_images(
    stand_ins, workspace: Path, tmp_path: Path, repo_root: Path, docker_client
) -> None:
    github, gitlab = _recipes()
    ref = str(github["env"]["UAI_HARNESS_REF"])
    assert str(gitlab["variables"]["UAI_HARNESS_REF"]) == ref
    repository = ci_stand_ins.bare_repository(repo_root, ref, tmp_path / "harness.git")
    from harness import resources

    pypi = ci_stand_ins.build_requirements(resources.cache_dir() / "ci-stand-in-pypi")
    socket = _socket()
    (deps,) = [path for path in site.getsitepackages() if Path(path, "tensorflow").is_dir()]
    view = ci_stand_ins.dependencies_view(Path(deps), tmp_path / "dependencies")
    image = f"uai-harness/ci-recipe:{uuid.uuid4().hex[:10]}"
    network = f"uai-harness-ci-{uuid.uuid4().hex[:10]}"
    team = {"UAI_HARNESS_REPO": f"file://{REPO_IN_CONTAINER}"}  # the team's setting

    def run(name: str, env: dict[str, str], lines: list[str], *extra: str) -> None:
        # Not the recipe: the stand-ins for PyPI (the test environment's packages, the
        # build requirements' folder); the job's image tag made unique for this session.
        setup = f"echo {view} > /usr/lib/python3/dist-packages/zz-test-environment.pth"
        env = {**env, "IMAGE": image, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": PYPI_IN_CONTAINER}
        command = [
            "docker", "run", "--rm", "--name", f"{network}-{name}", *extra,
            "-v", f"{workspace}:{workspace}", "-w", str(workspace),
            "-v", f"{repository}:{REPO_IN_CONTAINER}:ro",
            "-v", f"{pypi}:{PYPI_IN_CONTAINER}:ro",
            "-v", f"{deps}:{deps}:ro", "-v", f"{view}:{view}:ro",
            *[arg for key, value in env.items() for arg in ("-e", f"{key}={value}")],
            stand_ins[name], "bash", "-exc", "\n".join([setup, *lines]),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        print(f"--- {name}\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}")
        verdicts = [line for line in done.stdout.splitlines() if re.match(r"\s*(FAIL|WARN)", line)]
        assert done.returncode == 0, f"{name}: {verdicts} {done.stderr[-2000:]}"
        report = workspace / "reports" / "junit.xml"
        SCHEMA.validate(str(report))
        (testsuite,) = ET.parse(report).getroot().iter("testsuite")
        assert "regression" in {case.get("name") for case in testsuite.iter("testcase")}
        assert testsuite.get("failures") == "0" and testsuite.get("errors") == "0"
        report.unlink()

    try:
        # GitHub: the install step, the baseline the team committed (made the way the
        # page says), then the job's remaining run: steps, the runner's daemon by socket.
        steps = [step["run"] for step in github["steps"] if "run" in step]
        baseline = [line for line in _blocks("bash")[0].splitlines() if line.strip()]
        run(
            "github",
            _github_env(github, team),
            [steps[0], INSTALLED, *baseline, "test -f ci/baseline.json", *steps[1:]],
            "-v", f"{socket}:/var/run/docker.sock",
        )  # fmt: skip
        # GitLab: its variables and script, dind reached at tcp://docker:2375.
        subprocess.run(["docker", "network", "create", network], check=True, capture_output=True)
        subprocess.run(
            ["docker", "run", "-d", "--rm", "--name", f"{network}-dind", "--network", network]
            + ["--network-alias", "docker", "-v", f"{socket}:/var/run/docker.sock"]
            + [stand_ins["common"], "socat", "TCP-LISTEN:2375,fork,reuseaddr"]
            + ["UNIX-CONNECT:/var/run/docker.sock"],
            check=True,
            capture_output=True,
        )
        variables = {name: str(value) for name, value in gitlab["variables"].items()}
        install, *script = gitlab["script"]
        run("gitlab", {**variables, **team}, [install, INSTALLED, *script], "--network", network)
    finally:
        subprocess.run(["docker", "rm", "-f", f"{network}-dind"], capture_output=True)
        subprocess.run(["docker", "network", "rm", network], capture_output=True)
