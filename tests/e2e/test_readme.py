"""The README as a new user meets it: its command lines, run literally from the root of
a fresh clone, in a fresh virtual environment, with their default (relative) arguments.

The README's first block is the contract: its first line runs the main job, its second
the tests (which is what CI runs, so it is not repeated here). The "Everyday use"
block is run line by line after it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def bash_blocks(text: str) -> list[list[str]]:
    """Every ```bash block of a Markdown text as its command lines (comments stripped)."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    return [
        [re.sub(r"\s+#\s.*$", "", line).strip() for line in block.splitlines() if line.strip()]
        for block in blocks
    ]


def readme_section(readme: Path, title: str) -> str:
    text = readme.read_text()
    return text[text.index(title) :] if title else text


@pytest.fixture(scope="module")
def user_shell(fresh_clone: Path, tmp_path_factory: pytest.TempPathFactory):
    """Runs a command line with bash from the clone's root, where `python3` is a fresh venv's."""
    venv = tmp_path_factory.mktemp("user") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        in ("HOME", "LANG", "TMPDIR", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CACHE_DIR")
        or key.startswith(("DOCKER_", "XDG_"))
    }
    env["PATH"] = f"{venv / 'bin'}:{os.environ['PATH']}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    def run(line: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=fresh_clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        print(f"$ {line}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    return run


def test_the_first_line_runs_the_main_job_from_a_fresh_clone(repo_root, fresh_clone, user_shell):
    main_job, test_command = bash_blocks(readme_section(repo_root / "README.md", ""))[0][:2]
    assert main_job == "python3 -m pip install -e . && python3 -m harness validate"
    assert test_command.endswith("python3 -m tox")
    done = user_shell(main_job)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "PASSED" in done.stdout
    (run,) = (fresh_clone / "runs").iterdir()  # the default, relative ./runs
    assert (run / "run_record.json").is_file() and (run / "report.html").is_file()


def test_the_everyday_lines_run_as_written(repo_root, fresh_clone, user_shell):
    lines = bash_blocks(readme_section(repo_root / "README.md", "## Everyday use"))[0]
    for line in lines:
        done = user_shell(line)
        assert done.returncode == 0, f"{line}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        if line.startswith("uai-harness compare"):
            assert "Losses: identical (bitwise)" in done.stdout
    runs = sorted((fresh_clone / "runs").iterdir())
    assert len(runs) >= 2
    assert (runs[-1] / "report.md").is_file()
    assert (fresh_clone / "sample" / "inception_v3.ckpt").is_file()
    assert list((fresh_clone / "sample" / "data").glob("train-*"))
