"""The README's pack walk-through, from a fresh clone of the working tree.

`uai-harness generate` and `uai-harness pack` run exactly as the README shows them, at
the root of a clone that has no base image or wheelhouse staged (the cache may be
warm); then the CPU local test line of the written uaitrain_cmd.txt runs as written -
`sudo docker run -it ...` - under a pseudo-terminal (`script`), and the job must have
trained and written its checkpoints under the test output path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# The README's commands, verbatim (tiny training: 20 steps of 4 images at 96x96).
README_GENERATE = "uai-harness generate ./sample"
README_PACK = (
    "uai-harness pack --inception-checkpoint ./sample/inception_v3.ckpt "
    "--test_data_path ./sample/data --test_output_path ./sample/output "
    '--train_params="--input_file_pattern=/train-?????-of-00256 '
    "--inception_checkpoint_file=/inception_v3.ckpt --train_inception=false "
    '--number_of_steps=20 --log_every_n_steps=5 --batch_size=4 --image_size=96 --vocab_size=64"'
)
README_IMAGE = "im2txt-cpu:uaitrain"
CPU_TEST_LABEL = "CMD for CPU local test: "


def _git(*args: str | Path, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *map(str, args)], cwd=cwd, check=True, **kwargs)


def clone_working_tree(repo: Path, into: Path) -> Path:
    """A fresh clone at HEAD plus the uncommitted changes and untracked, unignored files."""
    if subprocess.run(["git", "rev-parse"], cwd=repo, capture_output=True).returncode != 0:
        pytest.fail(f"{repo} is not a git checkout: the README walk clones it")
    _git("clone", "--quiet", "--no-hardlinks", repo, into, cwd=repo.parent)
    diff = _git("diff", "HEAD", "--binary", cwd=repo, capture_output=True).stdout
    if diff.strip():
        _git("apply", "--whitespace=nowarn", "-", cwd=into, input=diff)
    untracked = _git(
        "ls-files", "--others", "--exclude-standard", "-z", cwd=repo, capture_output=True
    ).stdout.decode()
    for name in filter(None, untracked.split("\0")):
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, into / name)
    return into


def _readme(command: str, cwd: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=3000
    )
    assert done.returncode == 0, f"$ {command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_readme_pack_then_the_cpu_local_test_line_as_written(
    repo_root, docker_client, tmp_path
) -> None:
    if shutil.which("sudo") is None or shutil.which("script") is None:
        pytest.fail("the README walk needs sudo and script (.ci/run installs them)")
    clone = clone_working_tree(repo_root, tmp_path / "clone")
    assert not (clone / ".wheelhouse").exists() and not (clone / ".checkpoints").exists()

    _readme(README_GENERATE, clone)
    _readme(README_PACK, clone)
    image_id = docker_client.images.get(README_IMAGE).id
    lines = (clone / "uaitrain_cmd.txt").read_text().splitlines()
    (cpu_test,) = [line[len(CPU_TEST_LABEL) :] for line in lines if line.startswith(CPU_TEST_LABEL)]
    assert cpu_test.startswith(f"sudo docker run -it -v {clone}/sample/data:/data/data ")

    before = {c.id for c in docker_client.containers.list(all=True)}
    try:
        done = subprocess.run(
            ["script", "--quiet", "--return", "--command", cpu_test, "/dev/null"],
            cwd=clone,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=1200,
        )
    finally:
        for container in docker_client.containers.list(all=True, filters={"ancestor": image_id}):
            if container.id not in before:
                container.remove(force=True)  # the line has no --rm
        if docker_client.images.get(README_IMAGE).id == image_id:
            docker_client.images.remove(README_IMAGE, force=True, noprune=True)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "Restored 376 Inception variables from /data/inception_v3.ckpt" in done.stdout
    output = clone / "sample" / "output"
    assert (output / "model.ckpt-20.index").is_file()
    assert (output / "checkpoint").read_text().startswith('model_checkpoint_path: "model.ckpt-20"')
    assert (output / "log" / "metrics.jsonl").is_file()
