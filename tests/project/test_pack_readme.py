"""The README's pack walk-through, from a fresh clone of the working tree.

The ```bash lines of the README's "Packing images" section (`uai-harness generate`, then
`uai-harness pack`) run exactly as written, at the root of a fresh clone that has no base
image or wheelhouse staged (the cache may be warm); then the CPU local test line of the
written uaitrain_cmd.txt runs as written - `sudo docker run -it ...` - under a
pseudo-terminal (`script`), and the job must have trained and written its checkpoints
under the test output path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

README_IMAGE = "im2txt-cpu:uaitrain"
CPU_TEST_LABEL = "CMD for CPU local test: "


def readme_pack_lines(readme: Path) -> list[str]:
    """The ```bash block of the README's "Packing images" section, line by line."""
    section = readme.read_text().split("## Packing images", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip()]


def _readme(command: str, cwd: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=3000
    )
    assert done.returncode == 0, f"$ {command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_readme_pack_then_the_cpu_local_test_line_as_written(
    repo_root, fresh_clone, docker_client
) -> None:
    if shutil.which("sudo") is None or shutil.which("script") is None:
        pytest.fail("the README walk needs sudo and script (.ci/run installs them)")
    clone = fresh_clone
    assert not (clone / ".checkpoints").exists()
    lines = readme_pack_lines(repo_root / "README.md")
    assert [line.split()[:2] for line in lines] == [
        ["uai-harness", "generate"],
        ["uai-harness", "pack"],
    ]
    for line in lines:
        _readme(line, clone)
    image_id = docker_client.images.get(README_IMAGE).id
    written = (clone / "uaitrain_cmd.txt").read_text().splitlines()
    (cpu_test,) = [
        line[len(CPU_TEST_LABEL) :] for line in written if line.startswith(CPU_TEST_LABEL)
    ]
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
