"""pytest plugin: platform fixtures, resource markers, and a finished validation run.

Registered through the `pytest11` entry point, so a user's own test suite gets
`platform_root`, `synthetic_dataset`, `synthetic_checkpoint` and `finished_run`
by installing the harness. Tests marked `docker` or `gpu` are skipped with the
reason when the resource is absent, except under `--require-docker`, where a
missing daemon fails them: CI must never pass by skipping.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest

from harness.contract import PlatformRoot

MARKERS = {
    "docker": "needs a Docker daemon (skipped without one unless --require-docker)",
    "gpu": "needs an NVIDIA GPU and the NVIDIA container runtime",
    "slow": "end-to-end runs taking more than a few seconds",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("uai-harness")
    group.addoption(
        "--require-docker",
        action="store_true",
        help="fail, instead of skipping, docker tests when no daemon answers",
    )
    group.addoption(
        "--harness-code-path",
        default=None,
        help="code folder for finished_run (default: this repository's im2txt/)",
    )
    group.addoption(
        "--harness-train-params",
        default=None,
        help="job parameters for finished_run (default: the quick im2txt plan)",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


@functools.cache
def docker_unavailable_reason() -> str | None:
    """None when a Docker daemon answers, else why not."""
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
        client.close()
    except Exception as err:  # noqa: BLE001 - any failure means "no usable daemon"
        return f"no Docker daemon answers ({type(err).__name__}: {err})"
    return None


@functools.cache
def gpu_unavailable_reason() -> str | None:
    """None when an NVIDIA GPU and Docker's NVIDIA runtime are both present."""
    if shutil.which("nvidia-smi") is None:
        return "no NVIDIA GPU on this machine (nvidia-smi not found)"
    reason = docker_unavailable_reason()
    if reason:
        return reason
    import docker

    runtimes = docker.from_env().info().get("Runtimes", {})
    if "nvidia" not in runtimes and shutil.which("nvidia-container-runtime") is None:
        return "Docker has no NVIDIA runtime (install nvidia-container-toolkit)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    require_docker = config.getoption("--require-docker")
    for item in items:
        if "gpu" in item.keywords and (reason := gpu_unavailable_reason()):
            item.add_marker(pytest.mark.skip(reason=reason))
        elif (
            "docker" in item.keywords
            and not require_docker
            and (reason := docker_unavailable_reason())
        ):
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if (
        "docker" in item.keywords
        and item.config.getoption("--require-docker")
        and (reason := docker_unavailable_reason())
    ):
        pytest.fail(f"--require-docker is set but {reason}", pytrace=False)


@pytest.fixture
def platform_root(tmp_path: Path) -> PlatformRoot:
    """An empty folder laid out like the platform: data/, data/data/, data/output/."""
    return PlatformRoot.create(parent=tmp_path)


@pytest.fixture
def synthetic_dataset(platform_root: PlatformRoot):
    """Tiny learnable records and word_counts.txt in the root's data_dir."""
    from harness.synthetic import generate_dataset

    return generate_dataset(platform_root.data_dir, num_images=8, captions_per_image=2)


@pytest.fixture
def synthetic_checkpoint(platform_root: PlatformRoot):
    """A V1 Inception v3 checkpoint with the real names and shapes at work_dir."""
    from harness.synthetic import write_inception_checkpoint

    return write_inception_checkpoint(platform_root.work_dir / "inception_v3.ckpt")


@pytest.fixture(scope="session")
def finished_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One full local validation (train, evaluate, resume, inference), shared by the session."""
    from harness.backends.local import LocalBackend
    from harness.contract import split_params
    from harness.validate import Plan, validate

    code_path = request.config.getoption("--harness-code-path")
    code_path = Path(code_path) if code_path else Path(__file__).resolve().parents[1] / "im2txt"
    params = request.config.getoption("--harness-train-params")
    plan = Plan(train_params=split_params(params)) if params else Plan.quick()
    run_dir = tmp_path_factory.mktemp("finished-run")
    return validate(LocalBackend(code_path), plan, run_dir, code_path=code_path)
