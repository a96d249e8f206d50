"""Hashes and before/after pictures of folders (harness/snapshot.py)."""

from __future__ import annotations

import os

import pytest

from harness.snapshot import diff, hash_tree


def test_hash_tree_hashes_relative_sorted_and_skips_pycache(tmp_path):
    (tmp_path / "code" / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "code" / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"x")
    (tmp_path / "code" / "pkg" / "stale.pyc").write_bytes(b"x")
    (tmp_path / "code" / "pkg" / "m.py").write_text("print(1)\n")
    (tmp_path / "code" / "b.txt").write_bytes(b"abc")
    (tmp_path / "code" / "skip.tmp").write_bytes(b"")
    hashes = hash_tree(tmp_path / "code", tmp_path, exclude=lambda p: p.suffix == ".tmp")
    # Only __pycache__ folders are left out; a .pyc elsewhere is a real file.
    assert list(hashes) == ["code/b.txt", "code/pkg/m.py", "code/pkg/stale.pyc"]
    assert hashes["code/b.txt"] == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert list(hash_tree(tmp_path / "code")) == ["b.txt", "pkg/m.py", "pkg/stale.pyc", "skip.tmp"]


def test_hash_tree_exclude_prunes_directories(tmp_path):
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "model.ckpt-1.index").write_bytes(b"1")
    (tmp_path / "in.txt").write_bytes(b"1")
    assert list(hash_tree(tmp_path, exclude=lambda p: p.name == "output")) == ["in.txt"]


def test_hash_tree_of_a_missing_root_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        hash_tree(tmp_path / "missing")


def test_links_are_pictured_by_target_not_followed(tmp_path):
    (tmp_path / "data").mkdir()
    os.symlink("/etc/hostname", tmp_path / "data" / "outside")
    assert hash_tree(tmp_path / "data") == {"outside": "symlink:/etc/hostname"}


def test_diff_names_added_modified_and_removed_files():
    before = {"a": "1", "b": "2", "c": "3"}
    after = {"a": "1", "b": "9", "d": "4"}
    change = diff(before, after)
    assert (change.added, change.modified, change.removed) == (["d"], ["b"], ["c"])
