"""Image building without a daemon: build files, wheelhouse, context, base choice, progress."""

from __future__ import annotations

import io
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import docker
import pytest
from rich.console import Console

from harness import resources
from harness.images import base, wheelhouse
from harness.images.errors import ImageBuildError
from harness.images.job_image import job_context
from harness.images.progress import ConsoleProgress, SilentProgress, run_streamed


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UAI_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("UAI_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resources.cache_dir() == tmp_path / "xdg" / "uai-harness"
    monkeypatch.setenv("UAI_CACHE_DIR", str(tmp_path / "mine"))
    assert resources.cache_dir() == tmp_path / "mine"


def test_build_files_come_from_the_checkout_here_and_are_complete(tmp_path, monkeypatch) -> None:
    assert resources.build_files_dir() == resources.CHECKOUT_ROOT
    text = resources.build_file("Dockerfile.cpu").read_text()
    assert "COPY requirements-cpu.txt" in text and "COPY im2txt/ /data/" in text
    monkeypatch.setattr(resources, "CHECKOUT_ROOT", tmp_path)
    with pytest.raises(FileNotFoundError, match="reinstall uai-train-harness"):
        resources.build_files_dir()
    with pytest.raises(ValueError, match="must be one of cpu, gpu"):
        resources.dockerfile_name("tpu")


def test_default_code_path(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"is not a folder: pass --code-path"):
        resources.default_code_path(tmp_path)
    (tmp_path / "im2txt").mkdir()
    assert resources.default_code_path(tmp_path) == tmp_path / "im2txt"


def test_image_requirements_keep_only_what_the_trainer_imports() -> None:
    names = {
        line.split("=")[0].split("<")[0].split(">")[0].split("[")[0]
        for line in resources.build_file("requirements-cpu.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert names == {"tensorflow-cpu", "tensorboard", "numpy", "absl-py", "nltk"}


def test_wheelhouse_targets_the_base_images_python() -> None:
    args = wheelhouse.target_args()
    assert args[:8] == [
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        "3.11",
        "--abi",
        "cp311",
        "--platform",
    ]
    assert "manylinux_2_36_x86_64" in args and "manylinux_2_37_x86_64" not in args


def test_wheelhouse_folder_is_keyed_by_requirements(cache, tmp_path, monkeypatch) -> None:
    before = wheelhouse.wheelhouse_dir("cpu")
    assert before.parent == cache / "wheelhouse" and before.name.startswith("cpu-")
    packaged = tmp_path / "packaged"
    packaged.mkdir()
    for variant in resources.VARIANTS:
        for name in (resources.dockerfile_name(variant), resources.requirements_name(variant)):
            (packaged / name).write_text(resources.build_file(name).read_text())
    (packaged / "requirements-cpu.txt").write_text("numpy==2.*\n")
    monkeypatch.setattr(resources, "PACKAGED_FILES", packaged)
    assert wheelhouse.wheelhouse_dir("cpu") != before


def _complete_wheelhouse(names: tuple[str, ...] = ("a-1-py3-none-any.whl",)) -> Path:
    folder = wheelhouse.wheelhouse_dir("cpu")
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(name.encode())
    (folder / wheelhouse.MANIFEST).write_text("".join(f"{name}\n" for name in names))
    return folder


def test_complete_wheelhouse_is_reused(cache) -> None:
    folder = _complete_wheelhouse(("a-1-py3-none-any.whl", "b-2-py3-none-any.whl"))
    assert wheelhouse.is_complete(folder)
    # Complete: returned without running pip (there is no network in this check).
    assert wheelhouse.ensure_wheelhouse("cpu", SilentProgress()) == folder
    (folder / "b-2-py3-none-any.whl").unlink()
    assert not wheelhouse.is_complete(folder)
    (folder / wheelhouse.MANIFEST).unlink()
    assert not wheelhouse.is_complete(folder)


def test_served_wheelhouse_is_a_find_links_page_on_a_stable_loopback_port(cache) -> None:
    folder = _complete_wheelhouse(("pip-25.3-py3-none-any.whl", "absl_py-2.3.1-py3-none-any.whl"))
    with wheelhouse.serve(folder) as url:
        host, port = urllib.parse.urlsplit(url).netloc.split(":")
        assert host == "127.0.0.1" and int(port) in wheelhouse.SERVE_PORTS
        page = urllib.request.urlopen(url).read().decode()
        # The Dockerfiles find pip's wheel on this page with this very pattern.
        assert re.findall(r'href="(pip-[^"/]+[.]whl)"', page) == ["pip-25.3-py3-none-any.whl"]
        assert 'href="absl_py-2.3.1-py3-none-any.whl"' in page
        body = urllib.request.urlopen(url + "absl_py-2.3.1-py3-none-any.whl").read()
        assert body == b"absl_py-2.3.1-py3-none-any.whl"
        # The port is taken: a second server moves to the next one (a cold cache, not a failure).
        with wheelhouse.serve(folder) as second:
            assert second != url
    # Same wheelhouse, same URL: the build argument, and the build cache, stay the same.
    with wheelhouse.serve(folder) as again:
        assert again == url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)


def test_an_incomplete_wheelhouse_is_not_served(cache) -> None:
    folder = _complete_wheelhouse()
    (folder / "a-1-py3-none-any.whl").unlink()
    with pytest.raises(ImageBuildError, match="incomplete"):
        with wheelhouse.serve(folder):
            pass


def test_wheelhouse_by_hand_prints_its_folder_or_serves_it(cache, capsys, monkeypatch) -> None:
    """`python -m harness.images wheelhouse cpu [--serve]` (Dockerfile comments)."""
    from harness.images import __main__ as images_main

    folder = _complete_wheelhouse()
    assert images_main.main(["wheelhouse", "cpu"]) == 0
    assert capsys.readouterr().out == f"{folder}\n"
    fetched = []

    def ctrl_c_after_one_fetch() -> None:
        printed = capsys.readouterr()
        assert "--build-arg WHEELHOUSE_URL=http://127.0.0.1:" in printed.err
        url = printed.out.strip()
        fetched.append(urllib.request.urlopen(url + "a-1-py3-none-any.whl").read())
        raise KeyboardInterrupt

    monkeypatch.setattr(images_main, "_wait_for_ctrl_c", ctrl_c_after_one_fetch)
    assert images_main.main(["wheelhouse", "cpu", "--serve"]) == 0
    assert fetched == [b"a-1-py3-none-any.whl"]


def test_job_context_holds_exactly_what_the_dockerfile_copies(cache, tmp_path) -> None:
    code = tmp_path / "my-job"
    (code / "pkg" / "__pycache__").mkdir(parents=True)
    (code / "train.py").write_text("print('hi')\n")
    (code / "pkg" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"")
    ckpt = tmp_path / "ckpts" / "model.ckpt-5"
    ckpt.parent.mkdir()
    for suffix in (".index", ".data-00000-of-00001"):
        ckpt.with_name(ckpt.name + suffix).write_bytes(b"c")
    context = tmp_path / "context"
    context.mkdir()
    buildargs = job_context(code, "gpu", context, ckpt)
    assert buildargs == {"INCEPTION_CHECKPOINT": ".checkpoints/model.ckpt-5"}
    files = sorted(str(p.relative_to(context)) for p in context.rglob("*") if p.is_file())
    assert files == [
        ".checkpoints/model.ckpt-5.data-00000-of-00001",
        ".checkpoints/model.ckpt-5.index",
        "Dockerfile.gpu",
        "im2txt/train.py",
        "requirements-gpu.txt",
    ]
    with pytest.raises(FileNotFoundError, match="matches no file"):
        job_context(code, "cpu", tmp_path / "context2", checkpoint=tmp_path / "none.ckpt")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        job_context(tmp_path / "nowhere", "cpu", context)


def test_debian_mirror_comes_from_apt_sources(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("DEBIAN_MIRROR", raising=False)
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    assert base.debian_mirror(apt) == base.FALLBACK_MIRROR
    (apt / "sources.list").write_text(
        "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://list.example/debian bookworm main\n"
    )
    assert base.debian_mirror(apt) == "http://list.example/debian"
    (apt / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://other.example/debian\nSuites: bullseye\nComponents: main\n\n"
        "Types: deb deb-src\n# a comment\nURIs: http://deb822.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main contrib\n"
    )
    assert base.debian_mirror(apt) == "http://deb822.example/debian"
    monkeypatch.setenv("DEBIAN_MIRROR", "http://mine.example/debian")
    assert base.debian_mirror(apt) == "http://mine.example/debian"


class _Images:
    def __init__(self, present: dict[str, dict]) -> None:
        self.present = present

    def get(self, name: str):
        if name not in self.present:
            raise docker.errors.ImageNotFound(name)
        return type("Image", (), {"labels": self.present[name]})()


class _Api:
    def __init__(self, pullable: bool) -> None:
        self.pullable, self.pulled = pullable, []

    def pull(self, repository, tag, stream, decode):
        self.pulled.append(f"{repository}:{tag}")
        if not self.pullable:
            raise docker.errors.APIError("no such host")
        yield {"status": "Pull complete", "id": "abc"}


class _Client:
    def __init__(self, present: dict[str, dict], pullable: bool) -> None:
        self.images, self.api = _Images(present), _Api(pullable)


@pytest.fixture
def offline_steps(cache, monkeypatch):
    """Record the offline base's steps instead of running debootstrap and docker import."""
    steps: list[str] = []

    def build_rootfs(tarball, progress):
        steps.append("debootstrap")
        tarball.parent.mkdir(parents=True, exist_ok=True)
        tarball.write_bytes(b"rootfs")

    monkeypatch.setattr(base, "build_rootfs", build_rootfs)
    monkeypatch.setattr(base, "import_rootfs", lambda c, t, p: steps.append(f"import {t.name}"))
    return steps


def test_base_choice_online(offline_steps) -> None:
    present = _Client({base.PUBLIC_BASE: {}}, pullable=False)
    assert base.ensure_base_image(present, SilentProgress()).how == "already present"
    pullable = _Client({}, pullable=True)
    chosen = base.ensure_base_image(pullable, SilentProgress())
    assert (chosen.name, chosen.offline, chosen.how) == (base.PUBLIC_BASE, False, "pulled")
    assert offline_steps == []


def test_base_choice_offline(offline_steps) -> None:
    client = _Client({}, pullable=False)
    chosen = base.ensure_base_image(client, SilentProgress())
    assert (chosen.name, chosen.offline, chosen.how) == (
        base.OFFLINE_BASE,
        True,
        "built with debootstrap",
    )
    assert client.api.pulled == [base.PUBLIC_BASE]
    tarball = base.rootfs_tarball().name
    assert offline_steps == ["debootstrap", f"import {tarball}"]
    # The rootfs is cached: a fresh daemon only imports it; `offline` never tries to pull.
    again = _Client({}, pullable=True)
    assert base.ensure_base_image(again, SilentProgress(), offline=True).how == (
        "imported from the cached rootfs"
    )
    assert again.api.pulled == [] and offline_steps[-1] == f"import {tarball}"
    # A current offline base is used as it is, a stale one (older recipe) is imported again.
    current = _Client({base.OFFLINE_BASE: {base.RECIPE_LABEL: base.recipe_key()}}, False)
    assert base.ensure_base_image(current, SilentProgress()).how == "already present"
    stale = _Client({base.OFFLINE_BASE: {base.RECIPE_LABEL: "old"}}, pullable=False)
    assert base.ensure_base_image(stale, SilentProgress()).how != "already present"


def test_offline_base_needs_root(cache, monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ImageBuildError, match="needs root .debootstrap.*docker load"):
        base.build_rootfs(cache / "rootfs.tar", SilentProgress())


def test_streamed_command_failure_shows_its_last_lines() -> None:
    seen: list[str] = []

    class Lines(SilentProgress):
        def line(self, text: str) -> None:
            seen.append(text)

    with pytest.raises(
        ImageBuildError, match=r"the step failed \(exit 4\); last output:\nout\nerr"
    ):
        run_streamed(["bash", "-c", "echo out; echo err >&2; exit 4"], Lines(), "the step")
    assert seen == ["out", "err"]
    with pytest.raises(ImageBuildError, match="cannot run /no/such/tool"):
        run_streamed(["/no/such/tool"], SilentProgress(), "x")


def test_plain_progress_prints_steps_heartbeats_and_notes() -> None:
    out = io.StringIO()
    progress = ConsoleProgress(Console(file=out, force_terminal=False, width=200), heartbeat_s=0.05)
    progress.step("downloading wheels")
    progress.line("\x1b[91mCollecting numpy\x1b[0m")
    deadline = time.monotonic() + 10
    while "latest: Collecting numpy" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    progress.note("packages from the wheelhouse")
    progress.close()
    text = out.getvalue()
    assert text.startswith("downloading wheels ...\n")
    assert "  ... downloading wheels: " in text and "latest: Collecting numpy" in text
    assert "packages from the wheelhouse\n" in text
    assert "  done: downloading wheels (" in text


def test_terminal_progress_is_live_and_keeps_the_outcomes() -> None:
    out = io.StringIO()
    progress = ConsoleProgress(Console(file=out, force_terminal=True, width=120))
    progress.step("docker build")
    progress.line("Step 1/20 : FROM base")
    progress.note("cpu image: offline base")
    progress.step("second")
    progress.close()
    text = out.getvalue()
    assert "cpu image: offline base" in text
    assert "done: docker build (" in text and "done: second (" in text


def test_validate_with_docker_and_no_image_builds_the_job_image(tmp_path, monkeypatch) -> None:
    """`validate --backend docker` without --image builds the code path's image first."""
    import harness.images
    from harness.backends import container
    from harness.cli import build_parser
    from harness.cli.validating import _backend
    from harness.images.job_image import BuiltImage

    built = []

    def fake_build(code_path, tag, gpu=False, progress=None, **kwargs):
        built.append((code_path, tag, gpu))
        base_image = base.BaseImage(base.OFFLINE_BASE, offline=True, how="already present")
        return BuiltImage(tag, "sha256:built", base_image, wheelhouse=tmp_path)

    monkeypatch.setattr(harness.images, "ensure_job_image", fake_build)

    class Backend:  # stands in for DockerBackend: no daemon needed
        def __init__(self, image: str, **settings) -> None:
            self.image = image

    monkeypatch.setattr(container, "DockerBackend", Backend)
    args = build_parser().parse_args(
        ["validate", "--backend", "docker", "--code-path", str(tmp_path), "--gpu"]
    )
    assert _backend(args).image == "sha256:built"
    assert built == [(tmp_path, "uai-harness/validate:gpu", True)]
    given = build_parser().parse_args(["validate", "--backend", "docker", "--image", "mine:1"])
    assert _backend(given).image == "mine:1" and len(built) == 1
