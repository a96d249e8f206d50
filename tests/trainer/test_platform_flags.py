"""The platform path rules and flag definitions (im2txt/im2txt/platform_flags.py)."""

from __future__ import annotations

import posixpath

import pytest
from absl import flags
from hypothesis import assume, given
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
def test_platform_style_paths_are_joined(base: str, job_path: str, expected: str) -> None:
    resolved = resolve_under(base, job_path)
    assert (resolved.path, resolved.already_under) == (expected, None)


# (folder flag, its value, job path, expected path)
UPSTREAM_STYLE = [
    # UCloud's later im2txt example, on the platform ...
    (
        "data_dir",
        "/data/data",
        "/data/data/train-?????-of-00256",
        "/data/data/train-?????-of-00256",
    ),
    ("work_dir", "/data", "/data/data/inception_v3.ckpt", "/data/data/inception_v3.ckpt"),
    ("output_dir", "/data/output", "/data/output/", "/data/output"),
    # ... and run locally by the harness, where the folders live elsewhere.
    ("data_dir", "/tmp/x/data/data", "/data/data/train-*", "/tmp/x/data/data/train-*"),
    (
        "work_dir",
        "/tmp/x/data",
        "/data/data/inception_v3.ckpt",
        "/tmp/x/data/data/inception_v3.ckpt",
    ),
    ("output_dir", "/tmp/x/data/output", "/data/output/train", "/tmp/x/data/output/train"),
    # The folder's actual value counts as well as its platform default.
    ("data_dir", "/tmp/x/data/data", "/tmp/x/data/data/train-*", "/tmp/x/data/data/train-*"),
    ("output_dir", "/tmp/out", "//tmp/./out//train/", "/tmp/out/train"),
]


@pytest.mark.parametrize(("folder", "base", "job_path", "expected"), UPSTREAM_STYLE)
def test_paths_already_under_their_folder_are_re_rooted(
    folder: str, base: str, job_path: str, expected: str
) -> None:
    resolved = resolve_under(base, job_path, folder, folder=folder)
    assert resolved.path == expected
    assert resolved.already_under is not None
    assert f"already under {folder}" in resolved.reading()


@pytest.mark.parametrize(
    ("folder", "base", "job_path", "expected"),
    [
        ("data_dir", "/data/data", "/data/database/train-*", "/data/data/data/database/train-*"),
        ("data_dir", "/data/data", "data/data/train-*", "/data/data/data/data/train-*"),
        ("data_dir", "/tmp/x", "/data/train-*", "/tmp/x/data/train-*"),
        ("output_dir", "/data/output", "/tmp/train", "/data/output/tmp/train"),
    ],
)
def test_paths_not_starting_with_their_folder_are_joined(
    folder: str, base: str, job_path: str, expected: str
) -> None:
    """Whole components only, absolute only, and only the path's own folder."""
    resolved = resolve_under(base, job_path, folder, folder=folder)
    assert (resolved.path, resolved.already_under) == (expected, None)
    assert f"joined onto {folder}" in resolved.reading()


@pytest.mark.parametrize(
    "job_path", ["../train-*", "/../etc/passwd", "a/../../b", "./..", "/data/data/../train-*"]
)
def test_escaping_paths_are_refused_with_their_name(job_path: str) -> None:
    with pytest.raises(PathEscapeError, match="input_file_pattern .* escapes"):
        resolve_under("/data/data", job_path, "input_file_pattern", folder="data_dir")


def test_comma_separated_patterns_resolve_each() -> None:
    resolved = resolve_patterns("/d", "/train-*, val-*, /data/data/test-*,", folder="data_dir")
    assert [p.path for p in resolved] == ["/d/train-*", "/d/val-*", "/d/test-*"]


def test_empty_pattern_list_is_an_error() -> None:
    with pytest.raises(ValueError, match="input_file_pattern is empty"):
        resolve_patterns("/d", " , ")


def _starts_with(job_path: str, folder: str) -> bool:
    parts = [p for p in job_path.split("/") if p not in ("", ".")]
    prefix = [p for p in folder.split("/") if p]
    return parts[: len(prefix)] == prefix


folder_flag = st.sampled_from(["data_dir", "work_dir", "output_dir"])


@given(base=base_dir, job_path=relative_path, leading=st.sampled_from(["", "/", "//"]))
def test_result_is_always_under_base(base: str, job_path: str, leading: str) -> None:
    result = resolve_under(base, leading + job_path).path
    assert result.startswith(base + "/") or result == base
    assert "//" not in result
    assert posixpath.normpath(result) == result


@given(base=base_dir, job_path=relative_path, folder=folder_flag)
def test_platform_concatenation_is_preserved(base: str, job_path: str, folder: str) -> None:
    """`data_dir + input_file_pattern`, as the platform's example code builds it."""
    default = platform_flags.platform_default(folder)
    assume(not _starts_with(job_path, base) and not _starts_with(job_path, default))
    joined = posixpath.normpath(base + "/" + job_path)
    assert resolve_under(base, "/" + job_path, folder=folder).path == joined
    assert resolve_under(base + "/", job_path, folder=folder).path == joined


@given(
    base=base_dir, remainder=relative_path, folder=folder_flag, slash=st.sampled_from(["/", "//"])
)
def test_a_path_under_its_folder_is_re_rooted(
    base: str, remainder: str, folder: str, slash: str
) -> None:
    """Under the folder's value or its platform default, the remainder joins the value."""
    expected = resolve_under(base, remainder).path
    for written_under in (base, platform_flags.platform_default(folder)):
        resolved = resolve_under(base, written_under + slash + remainder, folder=folder)
        assert resolved.path == expected
        assert resolved.already_under in (base, platform_flags.platform_default(folder))


@given(
    base=base_dir, job_path=relative_path, folder=folder_flag, leading=st.sampled_from(["", "/"])
)
def test_resolving_a_resolved_path_changes_nothing(
    base: str, job_path: str, folder: str, leading: str
) -> None:
    """The platform's reading and the upstream reading agree on a real path."""
    once = resolve_under(base, leading + job_path, folder=folder).path
    assert resolve_under(base, once, folder=folder).path == once


@given(base=base_dir, job_path=relative_path, ups=st.integers(min_value=1, max_value=3))
def test_climbing_above_base_is_always_refused(base: str, job_path: str, ups: int) -> None:
    escape = "/".join([".."] * ups + [job_path])
    with pytest.raises(PathEscapeError):
        resolve_under(base, escape)
    with pytest.raises(PathEscapeError):
        resolve_under(base, f"{base}/{escape}", folder="data_dir")


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
