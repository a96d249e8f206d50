"""Packaging hook: the wheel carries copies of the repository files the harness reads.

Dockerfile.cpu/.gpu and requirements-cpu/-gpu.txt stay at the top of the repository,
where `docker build -f Dockerfile.cpu .` needs them, and the Inception manifest in
fixtures/; build_py copies them into harness/_repository_files/ of the wheel, where
harness.resources looks first. Git keeps one copy of each; everything else is in
pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PACKAGED_PATTERNS = (
    "Dockerfile.*",
    "requirements-*.txt",
    "fixtures/inception_v3_2016_08_28.manifest.json",
)


class BuildPyWithRepositoryFiles(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "harness" / "_repository_files"
        self.mkpath(str(target))
        for pattern in PACKAGED_PATTERNS:
            for source in sorted(Path(__file__).resolve().parent.glob(pattern)):
                self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildPyWithRepositoryFiles})
