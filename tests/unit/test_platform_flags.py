"""The platform path rules and flag definitions (im2txt/im2txt/platform_flags.py)."""

from __future__ import annotations

import posixpath

import pytest
from absl import flags
from hypothesis import given
from hypothesis import strategies as st

from im2txt import platform_flags
from im2txt.platform_flags import PathEscapeError, resolve_patterns, resolve_under

segment = st.text(alphabet="abcXYZ019_-.?*[]", min_size=1, max_size=8).filter(
    lambda s: s not in (".", "..")
)
relative_path = st.lists(segment, min_size=1, max_size=4).map("/".join)
base_dir = st.lists(
    st.text(alphabet="abcdef_", min_size=1, max_size=6), min_size=1, max_size=3
).map(lambda parts: "/" + "/".join(parts))


@pytest.mark.parametrize(
    ("base", "job_path", "expected"),
    [
        ("/data/data", "/train-?????-of-00256", "/data/data/train-?????-of-00256"),
        ("/data/data", "train-?????-of-00256", "/data/data/train-?????-of-00256"),
        ("/data/data/", "/train-*", "/data/data/train-*"),
        ("/data/data//", "//sub//train-*", "/data/data/sub/train-*"),
        ("/data", "/inception_v3.ckpt", "/data/inception_v3.ckpt"),
        ("/data", "models/./inception_v3.ckpt", "/data/models/inception_v3.ckpt"),
        ("/data", "a/../inception_v3.ckpt", "/data/inception_v3.ckpt"),
        ("/data/output", "", "/data/output"),
        ("/", "/train-*", "/train-*"),
    ],
)
def test_resolve_under_examples(base: str, job_path: str, expected: str) -> None:
    assert resolve_under(base, job_path) == expected


@pytest.mark.parametrize("job_path", ["../train-*", "/../etc/passwd", "a/../../b", "./.."])
def test_escaping_paths_are_refused_with_their_name(job_path: str) -> None:
    with pytest.raises(PathEscapeError, match="input_file_pattern .* escapes"):
        resolve_under("/data/data", job_path, "input_file_pattern")


def test_comma_separated_patterns_resolve_each() -> None:
    assert resolve_patterns("/d", "/train-*, val-*,") == ["/d/train-*", "/d/val-*"]


def test_empty_pattern_list_is_an_error() -> None:
    with pytest.raises(ValueError, match="input_file_pattern is empty"):
        resolve_patterns("/d", " , ")


@given(base=base_dir, job_path=relative_path, leading=st.sampled_from(["", "/", "//"]))
def test_result_is_always_under_base(base: str, job_path: str, leading: str) -> None:
    result = resolve_under(base, leading + job_path)
    assert result.startswith(base + "/")
    assert "//" not in result
    assert posixpath.normpath(result) == result


@given(base=base_dir, job_path=relative_path)
def test_platform_concatenation_is_preserved(base: str, job_path: str) -> None:
    """`data_dir + input_file_pattern`, as the platform's example code builds it."""
    assert resolve_under(base, "/" + job_path) == posixpath.normpath(base + "/" + job_path)
    assert resolve_under(base + "/", job_path) == resolve_under(base, "/" + job_path)


@given(base=base_dir, job_path=relative_path, ups=st.integers(min_value=1, max_value=3))
def test_climbing_above_base_is_always_refused(base: str, job_path: str, ups: int) -> None:
    with pytest.raises(PathEscapeError):
        resolve_under(base, "/".join([".."] * ups + [job_path]))


def test_platform_flags_have_uflag_defaults_and_can_be_defined_twice() -> None:
    values = flags.FlagValues()
    platform_flags.define_platform_flags(values)
    platform_flags.define_platform_flags(values)  # no duplicate-flag error
    values(["prog"])
    assert (values.work_dir, values.data_dir, values.output_dir, values.log_dir) == (
        "/data",
        "/data/data",
        "/data/output",
        "/data/output",
    )
    assert (values.num_gpus, values.max_step) == (0, 0)


def test_flags_already_defined_by_uflag_are_kept() -> None:
    values = flags.FlagValues()
    flags.DEFINE_string("data_dir", "/custom", "defined by uflag", flag_values=values)
    platform_flags.define_platform_flags(values)
    values(["prog"])
    assert values.data_dir == "/custom"


def test_train_py_uses_uflag_when_the_platform_ships_it(tmp_path) -> None:
    """With UCloud's uflag importable, train.py takes its flags and defines no duplicates."""
    import subprocess
    import sys
    from pathlib import Path

    package = tmp_path / "uaitrain" / "arch" / "tensorflow"
    package.mkdir(parents=True)
    for folder in (tmp_path / "uaitrain", tmp_path / "uaitrain" / "arch", package):
        (folder / "__init__.py").write_text("")
    (package / "uflag.py").write_text(
        "from absl import flags\n"
        "for name, default in [('work_dir', '/data'), ('data_dir', '/data/data'),\n"
        "                      ('output_dir', '/data/output'), ('log_dir', '/data/output')]:\n"
        "    flags.DEFINE_string(name, default, 'from uflag')\n"
        "flags.DEFINE_integer('num_gpus', 0, 'from uflag')\n"
        "flags.DEFINE_integer('max_step', 0, 'from uflag')\n"
    )
    train_py = Path(__file__).resolve().parents[2] / "im2txt" / "train.py"
    result = subprocess.run(
        [sys.executable, str(train_py), "--helpfull"],
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Error" not in result.stderr, result.stderr  # --helpfull itself exits 1
    assert "uaitrain.arch.tensorflow.uflag" in result.stdout
    assert "--data_dir: from uflag" in result.stdout


def test_unknown_flag_is_a_clear_error() -> None:
    import subprocess
    import sys
    from pathlib import Path

    train_py = Path(__file__).resolve().parents[2] / "im2txt" / "train.py"
    result = subprocess.run(
        [sys.executable, str(train_py), "--no_such_flag=1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Unknown command line flag 'no_such_flag'" in result.stderr


def test_absl_logging_log_dir_gives_way_to_the_platform_flag() -> None:
    values = flags.FlagValues()
    flags.DEFINE_string(
        "log_dir", "", "absl's log file folder", flag_values=values, module_name="absl.logging"
    )
    platform_flags.define_platform_flags(values)
    values(["prog"])
    assert values.log_dir == "/data/output"
