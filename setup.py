"""Packaging hook: the wheel carries copies of the image build files.

Dockerfile.cpu/.gpu and requirements-cpu/-gpu.txt stay at the top of the repository,
where `docker build -f Dockerfile.cpu .` needs them; build_py copies them into
harness/_build_files/ of the wheel, where harness.resources looks first. Git keeps one
copy of each; everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUILD_FILE_PATTERNS = ("Dockerfile.*", "requirements-*.txt")


class BuildPyWithBuildFiles(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "harness" / "_build_files"
        self.mkpath(str(target))
        for pattern in BUILD_FILE_PATTERNS:
            for source in sorted(Path(__file__).resolve().parent.glob(pattern)):
                self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildPyWithBuildFiles})
