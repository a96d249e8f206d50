"""A user's own data sample and pretrained checkpoint (harness/inputs.py): checked before
anything is written, one clear error each, never modified."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from harness.cli import main
from harness.inputs import LARGE_SAMPLE_BYTES, inspect_data, inspect_pretrained


def _sample(tmp_path: Path) -> Path:
    data = tmp_path / "sample"
    (data / "shards").mkdir(parents=True)
    (data / "train.csv").write_text("a,b\n1,2\n")
    (data / "shards" / "part-0").write_bytes(b"x" * 10)
    return data


def test_a_sample_is_counted_and_copied_with_its_inner_links(tmp_path: Path) -> None:
    data = _sample(tmp_path)
    os.symlink("train.csv", data / "alias.csv")  # inside the sample: kept as a link
    sample = inspect_data(data)
    assert (sample.files, sample.bytes) == (3, 8 + 10 + len("train.csv"))
    assert not sample.large and "3 files" in sample.describe()
    target = tmp_path / "copy"
    sample.copy_to(target)
    assert (target / "shards" / "part-0").read_bytes() == b"x" * 10
    assert os.readlink(target / "alias.csv") == "train.csv"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: (p / "file.txt").write_text("x") and p / "file.txt", "is not a folder"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "holds no files"),
    ],
)
def test_bad_data_folders_are_named(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        inspect_data(make(tmp_path))


def test_a_link_out_of_the_sample_is_refused(tmp_path: Path) -> None:
    data = _sample(tmp_path)
    secret = tmp_path / "elsewhere.txt"
    secret.write_text("not part of the sample")
    os.symlink(secret, data / "shards" / "outside.csv")
    with pytest.raises(ValueError, match=r"shards/outside.csv links to .*elsewhere.txt, outside"):
        inspect_data(data)


def test_a_dangling_link_is_not_readable(tmp_path: Path) -> None:
    data = _sample(tmp_path)
    os.symlink("gone.csv", data / "broken.csv")
    with pytest.raises(ValueError, match="broken.csv is not readable"):
        inspect_data(data)


def test_a_large_sample_is_said_to_be_large(tmp_path: Path) -> None:
    data = _sample(tmp_path)
    with open(data / "big.bin", "wb") as handle:  # sparse: no real disk use
        handle.truncate(LARGE_SAMPLE_BYTES + 1)
    assert inspect_data(data).large


def _checkpoint(prefix: Path, fmt: str) -> None:
    names, values = ["backbone/kernel", "global_step"], [tf.ones([3, 2]), tf.constant(5)]
    prefix.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "v1":
        tf.raw_ops.Save(filename=str(prefix), tensor_names=names, data=values)
    else:
        tf.raw_ops.SaveV2(
            prefix=str(prefix), tensor_names=names, shape_and_slices=["", ""], tensors=values
        )


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_pretrained_files_v1_v2_and_folders_are_found_and_copied(tmp_path: Path, fmt: str) -> None:
    _checkpoint(tmp_path / "given" / "backbone.ckpt", fmt)
    for given in (tmp_path / "given" / "backbone.ckpt", tmp_path / "given"):
        found = inspect_pretrained(given)
        assert found.variables == 2 and found.path.name == "backbone.ckpt"
    target = found.copy_to(tmp_path / "root" / "data" / "init.ckpt")
    reader = tf.train.load_checkpoint(str(target))
    np.testing.assert_array_equal(reader.get_tensor("backbone/kernel"), np.ones([3, 2]))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "nothing.ckpt", "does not exist"),
        (lambda p: (p / "notes.ckpt").write_text("hello") and p / "notes.ckpt", "not a readable"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "a folder without a checkpoint"),
    ],
)
def test_bad_pretrained_files_are_named(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        inspect_pretrained(make(tmp_path))


def test_bad_user_inputs_stop_the_cli_before_anything_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = _sample(tmp_path)
    os.symlink("/etc/hostname", data / "host.txt")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text("print('never runs')\n")
    before = sorted(p.name for p in data.rglob("*"))
    code = main(["validate", "--code-path", "code", "--data", "sample", "--train-params=--steps=3"])
    assert code == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"error: --data {data}: host.txt links to /etc/hostname")
        and err.count("\n") == 1
    )
    assert not (tmp_path / "runs").exists()
    assert sorted(p.name for p in data.rglob("*")) == before
