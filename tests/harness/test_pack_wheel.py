"""A non-editable install packs: the built wheel carries the image build files and the
Inception manifest.

Builds the wheel for real (`pip wheel --no-deps`), installs it with --no-deps into a
throw-away folder (the dependencies already installed here serve it), and from a
folder outside the checkout finds the build files, the default code path and makes
pack's build context.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import pytest

pytestmark = pytest.mark.slow

PROBE = textwrap.dedent(
    """\
    import json, pathlib, tempfile
    import harness
    from harness import resources
    from harness.images.job_image import job_context
    code = resources.default_code_path()
    context = pathlib.Path(tempfile.mkdtemp())
    job_context(code, "cpu", context)
    print(json.dumps({
        "harness": harness.__file__,
        "build_files": str(resources.build_files_dir()),
        "manifest_variables": len(json.loads(
            resources.repository_file(resources.MANIFEST_NAME).read_text())["variables"]),
        "code": str(code),
        "context": sorted(str(p.relative_to(context)) for p in context.rglob("*") if p.is_file()),
    }))
    """
)


def _pip(*args) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *map(str, args)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_wheel_install_finds_its_build_files_outside_the_checkout(repo_root, tmp_path) -> None:
    wheels = tmp_path / "wheels"
    _pip("wheel", "--no-deps", "--wheel-dir", wheels, repo_root)
    (wheel,) = wheels.glob("uai_train_harness-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for packaged in (
        "Dockerfile.cpu",
        "Dockerfile.gpu",
        "requirements-cpu.txt",
        "requirements-gpu.txt",
        "inception_v3_2016_08_28.manifest.json",
    ):
        assert f"harness/_repository_files/{packaged}" in names
    assert not any(name.startswith(("im2txt/", "tests/")) for name in names)

    site = tmp_path / "site"
    _pip("install", "--no-deps", "--target", site, wheel)

    user = tmp_path / "elsewhere"
    (user / "im2txt").mkdir(parents=True)
    (user / "im2txt" / "train.py").write_text("print('training')\n")
    env = {**os.environ, "PYTHONPATH": str(site), "UAI_CACHE_DIR": str(tmp_path / "cache")}
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=user, env=env, capture_output=True, text=True
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    found = json.loads(probe.stdout)
    assert found["harness"].startswith(str(site))
    assert found["build_files"] == str(site / "harness" / "_repository_files")
    assert found["manifest_variables"] == 388
    assert found["code"] == str(user / "im2txt")
    assert found["context"] == ["Dockerfile.cpu", "im2txt/train.py", "requirements-cpu.txt"]
    assert (site / "harness" / "_repository_files" / "Dockerfile.cpu").read_bytes() == (
        repo_root / "Dockerfile.cpu"
    ).read_bytes()
