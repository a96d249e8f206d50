"""The phases after train side by side: snapshots by hard links, what they wrote brought
back, progress shown in the fixed order, and how many at once."""

from __future__ import annotations

import os
from pathlib import Path

from harness.contract import PlatformRoot
from harness.record import PASSED, CheckResult
from harness.scenario import concurrent
from harness.untrusted import folder_bytes


class Recording:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __getattr__(self, name: str):
        return lambda *args: self.calls.append((name, *args))


def _root(tmp_path: Path) -> PlatformRoot:
    root = PlatformRoot.create(parent=tmp_path, prefix="platform-")
    (root.data_dir / "train-00000").write_bytes(b"x" * 1000)
    (root.output_dir / "model.ckpt-5.index").write_text("index")
    (root.output_dir / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-5"')
    (root.work_dir / "link").symlink_to("/etc/passwd")
    return root


def test_a_snapshot_links_every_file_and_keeps_links_as_links(tmp_path):
    root = _root(tmp_path)
    snap = concurrent.snapshot_root(root, tmp_path, "platform-eval-")
    for relative in ("data/data/train-00000", "data/output/model.ckpt-5.index"):
        assert os.path.samefile(root.root / relative, snap.root / relative)
    assert os.readlink(snap.work_dir / "link") == "/etc/passwd"
    # A file renamed into place (as TF writes its checkpoint index) leaves the other alone.
    replacement = root.output_dir / "checkpoint.tmp"
    replacement.write_text('model_checkpoint_path: "model.ckpt-9"')
    replacement.replace(root.output_dir / "checkpoint")
    assert "ckpt-5" in (snap.output_dir / "checkpoint").read_text()


def test_what_a_phase_wrote_in_its_snapshot_is_brought_back_and_the_snapshot_dropped(tmp_path):
    root = _root(tmp_path)
    snap = concurrent.snapshot_root(root, tmp_path, "platform-eval-")
    (snap.output_dir / "harness-eval-true").mkdir()
    (snap.output_dir / "harness-eval-true" / "events").write_text("eval")
    (snap.output_dir / "checkpoint").unlink()  # what it removed stays in the run's root
    concurrent.bring_back(snap, root)
    assert (root.output_dir / "harness-eval-true" / "events").read_text() == "eval"
    assert (root.output_dir / "checkpoint").exists()
    assert not snap.root.exists()


def test_held_progress_is_shown_in_order_and_checks_at_once():
    shown = Recording()
    held = concurrent.HeldReporter(shown)
    held.phase("resume", "train.py", 20)
    held.line("step 11")
    held.check(CheckResult("resume", PASSED, "ok"))
    assert [c[0] for c in shown.calls] == ["check"]
    held.phase_done("resume", 1.0, None, "")
    held.release()
    assert [c[0] for c in shown.calls] == ["check", "phase", "line", "phase_done"]


def test_phases_at_once_follow_the_request_else_cores_and_memory(monkeypatch):
    assert concurrent.phase_slots(1) == 1
    assert concurrent.phase_slots(0) == 1
    monkeypatch.setattr(concurrent, "cores", lambda: 4)
    monkeypatch.setattr(concurrent, "available_memory", lambda: 16 * 10**9)
    assert concurrent.phase_slots(None) == 4
    monkeypatch.setattr(concurrent, "available_memory", lambda: 2 * 10**9)
    assert concurrent.phase_slots(None) == 1


def test_a_folder_counts_hard_linked_files_once(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 100)
    os.link(tmp_path / "a", tmp_path / "b")
    (tmp_path / "c").symlink_to(tmp_path / "a")
    with open(tmp_path / "sparse", "wb") as sparse:  # 1 GB apparent, nothing on disk
        sparse.truncate(10**9)
    assert folder_bytes(tmp_path) == (tmp_path / "a").stat().st_blocks * 512


def test_a_file_linked_from_outside_the_folder_costs_it_nothing(tmp_path):
    (tmp_path / "cache").write_bytes(b"x" * 10_000)
    (tmp_path / "run").mkdir()
    os.link(tmp_path / "cache", tmp_path / "run" / "linked")
    (tmp_path / "run" / "own").write_bytes(b"y" * 10_000)
    assert folder_bytes(tmp_path / "run") == (tmp_path / "run" / "own").stat().st_blocks * 512
