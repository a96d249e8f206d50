"""Probes of where a run happened (harness/environment.py): git state, TensorFlow, pip."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

from harness import environment as environment_module
from harness.environment import git_info, local_environment
from tests.support.gitrepo import git


def test_git_info_reports_commit_and_dirty_flag(tmp_path):
    git(tmp_path, "init", "-q")
    assert git_info(tmp_path) == {"repo": str(tmp_path.resolve()), "commit": None, "dirty": False}
    (tmp_path / "train.py").write_text("print(1)\n")
    git(tmp_path, "add", "train.py")
    git(tmp_path, "commit", "-q", "-m", "first")
    clean = git_info(tmp_path / "train.py")
    assert clean is not None and len(clean["commit"]) == 40 and clean["dirty"] is False
    (tmp_path / "train.py").write_text("print(2)\n")
    dirty = git_info(tmp_path)
    assert dirty is not None and dirty["commit"] == clean["commit"] and dirty["dirty"] is True


def test_git_info_outside_a_repository_and_withoutgit(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert git_info(tmp_path) is None
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert git_info(Path.cwd()) is None


def test_local_environment_reads_tensorflow_build_info(monkeypatch):
    monkeypatch.setenv("UAI_HARNESS_TEST_SECRET", "zz-env-value-zz")
    fake = types.ModuleType("tensorflow")
    fake.__version__ = "9.9.9"
    fake.sysconfig = types.SimpleNamespace(
        get_build_info=lambda: {
            "cuda_version": "12.5",
            "cudnn_version": "9",
            "is_cuda_build": True,
            "cpu_compiler": "x",
        }
    )
    monkeypatch.setitem(sys.modules, "tensorflow", fake)
    env = local_environment()
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["tensorflow"] == "9.9.9"
    assert env["cuda_version"] == "12.5" and env["is_cuda_build"] is True
    assert "cpu_compiler" not in env
    assert any(line.lower().startswith("pytest==") for line in env["pip_freeze"])
    assert "zz-env-value-zz" not in json.dumps(env)


def test_local_environment_without_tensorflow_or_pip(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    monkeypatch.setattr(environment_module.sys, "executable", str(tmp_path / "no-python"))
    env = local_environment()
    assert "tensorflow" not in env
    assert env["pip_freeze"] == [] and "pip freeze failed" in env["pip_freeze_error"]
