"""pytest plugin: platform fixtures, resource markers, a finished validation, leftover checks.

Loaded only where a test session asks for it - `pytest -p harness.pytest_plugin`, or
`pytest_plugins = ["harness.pytest_plugin"]` in the project's conftest.py - never by
installing the harness, so another project's own `gpu` or `docker` markers are left
alone. It gives `uai_platform_root`, `uai_synthetic_dataset`, `uai_synthetic_checkpoint`
and `uai_finished_run`. Tests *marked* `docker` or `gpu` (markers only, never
folder or file names) are skipped with the reason when the resource is absent,
except under `--require-docker`, where a missing daemon fails them: CI must never
pass by skipping. With `--require-docker` the session also fails if any container,
network or image labelled with its session id is left behind. Under pytest-xdist each
worker labels with its own id (the session's, plus the worker's name), so a worker's
"nothing left behind" assertion sees only its own containers; the controller, after
every worker has ended, checks them all.
"""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from pathlib import Path

import pytest

from harness.contract import PlatformRoot

MARKERS = {
    "docker": "needs a Docker daemon (skipped without one unless --require-docker)",
    "gpu": "needs an NVIDIA GPU and the NVIDIA container runtime",
    "sandbox": "needs the local backend's bubblewrap sandbox (skipped without it unless "
    "--require-sandbox)",
    "slow": "end-to-end runs taking more than a few seconds",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("uai-harness")
    group.addoption(
        "--require-docker",
        action="store_true",
        help="fail, instead of skipping, docker tests when no daemon answers; fail the "
        "session if it leaves containers, networks or images behind",
    )
    group.addoption(
        "--require-sandbox",
        action="store_true",
        help="fail, instead of skipping, sandbox tests when bubblewrap cannot make a sandbox",
    )
    group.addoption(
        "--harness-code-path",
        default=None,
        help="code folder for uai_finished_run (default: ./im2txt of the rootdir)",
    )
    group.addoption(
        "--harness-train-params",
        default=None,
        help="job parameters for uai_finished_run (default: the quick im2txt plan)",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    from harness.backends.daemon import SESSION_ENV

    # One id for everything this test session creates, so leftovers can be found; an
    # xdist worker inherits the controller's and makes it its own.
    os.environ.setdefault(SESSION_ENV, f"pytest-{uuid.uuid4().hex[:10]}")
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker and not os.environ[SESSION_ENV].endswith(f"-{worker}"):
        os.environ[SESSION_ENV] = f"{os.environ[SESSION_ENV]}-{worker}"


@functools.cache
def docker_unavailable_reason() -> str | None:
    """None when a Docker daemon answers, else why not."""
    from harness.backends import daemon

    try:
        daemon.client(timeout=10).close()
    except daemon.DockerError as err:
        return str(err)
    return None


@functools.cache
def gpu_unavailable_reason() -> str | None:
    """None when an NVIDIA GPU and Docker's NVIDIA runtime are both present."""
    if shutil.which("nvidia-smi") is None:
        return "no NVIDIA GPU on this machine (nvidia-smi not found)"
    reason = docker_unavailable_reason()
    if reason:
        return reason
    from harness.backends import daemon

    runtimes = daemon.client().info().get("Runtimes", {})
    if "nvidia" not in runtimes and shutil.which("nvidia-container-runtime") is None:
        return "Docker has no NVIDIA runtime (install nvidia-container-toolkit)"
    return None


def _marked(item: pytest.Item, name: str) -> bool:
    return item.get_closest_marker(name) is not None


def sandbox_unavailable_reason() -> str | None:
    from harness.backends import sandbox

    return sandbox.unavailable()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    require_docker = config.getoption("--require-docker")
    require_sandbox = config.getoption("--require-sandbox")
    for item in items:
        if (
            _marked(item, "sandbox")
            and not require_sandbox
            and (reason := sandbox_unavailable_reason())
        ):
            item.add_marker(pytest.mark.skip(reason=reason))
        if _marked(item, "gpu") and (reason := gpu_unavailable_reason()):
            item.add_marker(pytest.mark.skip(reason=reason))
        elif (
            _marked(item, "docker")
            and not require_docker
            and (reason := docker_unavailable_reason())
        ):
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if (
        _marked(item, "sandbox")
        and item.config.getoption("--require-sandbox")
        and (reason := sandbox_unavailable_reason())
    ):
        pytest.fail(f"--require-sandbox is set but {reason}", pytrace=False)
    if (
        _marked(item, "docker")
        and item.config.getoption("--require-docker")
        and (reason := docker_unavailable_reason())
    ):
        pytest.fail(f"--require-docker is set but {reason}", pytrace=False)


def leftovers() -> list[str]:
    """Containers, networks and images that still exist, labelled with this session's id
    or one of its xdist workers' (`<id>-gw0`, ...)."""
    from harness.backends import daemon

    session = daemon.session_id()

    def ours(labels: dict[str, str] | None) -> bool:
        value = (labels or {}).get(daemon.SESSION_LABEL, "")
        return value == session or value.startswith(f"{session}-")

    api = daemon.client(timeout=30)
    selector = {"label": daemon.SESSION_LABEL}
    found = [
        f"container {c.name} ({c.status})"
        for c in api.containers.list(all=True, filters=selector)
        if ours(c.labels)
    ]
    found += [
        f"network {n.name}"
        for n in api.networks.list(filters=selector)
        if ours(n.attrs.get("Labels"))
    ]
    found += [
        f"image {i.tags or i.short_id}" for i in api.images.list(filters=selector) if ours(i.labels)
    ]
    return found


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if (
        not session.config.getoption("--require-docker")
        or hasattr(session.config, "workerinput")  # the controller checks every worker's
        or docker_unavailable_reason()
    ):
        return
    left = leftovers()
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        text = "the test session left behind: " + "; ".join(left)
        if reporter is not None:
            reporter.write_line(f"ERROR {text}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def uai_platform_root(tmp_path: Path) -> PlatformRoot:
    """An empty folder laid out like the platform: data/, data/data/, data/output/."""
    return PlatformRoot.create(parent=tmp_path)


@pytest.fixture
def uai_synthetic_dataset(uai_platform_root: PlatformRoot):
    """Tiny learnable records and word_counts.txt in the root's data_dir."""
    from harness.synthetic import generate_dataset

    return generate_dataset(uai_platform_root.data_dir, num_images=8, captions_per_image=2)


@pytest.fixture
def uai_synthetic_checkpoint(uai_platform_root: PlatformRoot):
    """A V1 Inception v3 checkpoint with the real names and shapes at work_dir."""
    from harness.synthetic import write_inception_checkpoint

    return write_inception_checkpoint(uai_platform_root.work_dir / "inception_v3.ckpt")


@pytest.fixture(scope="session")
def uai_finished_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One full local validation (train, evaluate, resume, inference), shared by the session."""
    from harness.backends.local import LocalBackend
    from harness.params import split_params
    from harness.scenario import Plan, validate

    given = request.config.getoption("--harness-code-path")
    code_path = Path(given) if given else Path(request.config.rootpath) / "im2txt"
    code_path = code_path.resolve()
    if not code_path.is_dir():
        pytest.fail(f"uai_finished_run: no code folder {code_path}; pass --harness-code-path")
    params = request.config.getoption("--harness-train-params")
    plan = Plan(train_params=split_params(params)) if params else Plan()
    run_dir = tmp_path_factory.mktemp("finished-run")
    return validate(LocalBackend(code_path), plan, run_dir)
