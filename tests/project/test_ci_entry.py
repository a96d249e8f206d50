"""CI runs the README's test line: `.ci/run` installs the same tox requirements the line
installs (and tox.ini requires), and calls tox with nothing allowed to skip for want of
Docker or bubblewrap. The line itself is run by every CI run; this keeps its two copies
from drifting apart."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

from tests.support.markdown import bash_blocks

ROOT = Path(__file__).resolve().parents[2]


def _readme_test_line() -> str:
    return bash_blocks((ROOT / "README.md").read_text())[0][1]


def _line_requirements() -> list[str]:
    install, run = _readme_test_line().split(" && ")
    words = shlex.split(install)
    assert words[:4] == ["python3", "-m", "pip", "install"], install
    assert run == "python3 -m tox"
    return words[4:]


def test_ci_installs_the_tox_requirements_of_the_readme_line() -> None:
    requirements = _line_requirements()
    assert {r.split(">=")[0] for r in requirements} == {"tox", "tox-uv"}
    ci = (ROOT / ".ci" / "run").read_text()
    for requirement in requirements:
        assert f'"{requirement}"' in ci, f".ci/run does not install {requirement}"
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    assert tox["tox"]["requires"].split() == requirements


def test_ci_calls_tox_requiring_docker_and_the_sandbox() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    calls = re.findall(r"^\s*python3? -m tox\b.*$", ci, flags=re.MULTILINE)
    assert calls, ".ci/run never calls tox"
    for call in calls:
        assert "-- --require-docker --require-sandbox" in call, call
