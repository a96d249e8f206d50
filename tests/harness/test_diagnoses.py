"""Known failure signatures and their one-line diagnoses (harness/diagnoses.py).

Each log excerpt is what the library or the system prints in that failure."""

from __future__ import annotations

import pytest

from harness.diagnoses import diagnose
from harness.jobshapes import DIAGNOSES

LOGS = {
    "duplicate log_dir flag": (
        "Traceback (most recent call last):\n"
        '  File "/data/train.py", line 3, in <module>\n'
        "    from uaitrain.arch.tensorflow import uflag\n"
        "absl.flags._exceptions.DuplicateFlagError: The flag 'log_dir' is defined twice. "
        "First from absl.logging, Second from uaitrain.arch.tensorflow.uflag.",
        "allow_override=True",
    ),
    "TF1 API missing": (
        "    flags = tf.app.flags\nAttributeError: module 'tensorflow' has no attribute 'app'",
        "tf.compat.v1.app",
    ),
    "write into the read-only data mount": (
        "OSError: [Errno 30] Read-only file system: '/data/data/cache.npz'",
        "--output_dir",
    ),
    "network access": (
        "urllib.error.URLError: <urlopen error [Errno -3] Temporary failure in name resolution>",
        "into the image or the data",
    ),
    "no /usr/bin/python": (
        "/bin/bash: line 1: /usr/bin/python: No such file or directory",
        "ln -s",
    ),
    "CUDA libraries do not load": (
        "W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic "
        "library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file",
        "NVIDIA runtime",
    ),
}


def test_every_known_signature_has_a_log_here() -> None:
    assert set(LOGS) == {known.name for known in DIAGNOSES}


@pytest.mark.parametrize("name", sorted(LOGS))
def test_each_signature_is_diagnosed_with_its_fix(name: str) -> None:
    log, fix = LOGS[name]
    found = diagnose("some earlier output\n" + log + "\n")
    known = next(k for k in DIAGNOSES if k.name == name)
    assert found is not None and found.startswith(known.meaning.split("{")[0][:30])
    assert "; fix: " in found and fix in found


def test_the_missing_api_and_library_are_named() -> None:
    assert "tf.contrib" in diagnose(
        "AttributeError: module 'tensorflow' has no attribute 'contrib'"
    )
    assert "libcudnn.so.8" in diagnose(LOGS["CUDA libraries do not load"][0])
    dlopen = diagnose("W0000 gpu_device.cc:2344] Cannot dlopen some GPU libraries. Please make")
    assert "its CUDA libraries" in dlopen


def test_ansi_styling_does_not_hide_a_signature() -> None:
    styled = "\x1b[31mDuplicateFlagError: The flag 'log_dir' is defined twice\x1b[0m"
    assert "absl.logging" in diagnose(styled)


def test_an_ordinary_failure_has_no_diagnosis() -> None:
    assert diagnose("ValueError: shapes (3,) and (4,) not aligned\n") is None
