"""Hostile outputs: what a job leaves is read after it ended, outside --timeout, so every
read of it must be bounded (harness/untrusted.py). Each test writes the hostile files a
security review found straight into a folder: no job needs to run."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from xml.etree import ElementTree

import pytest
from rich.console import Console

from harness import snapshot, untrusted
from harness.checks.path_contract import check_path_contract
from harness.console import ConsoleReporter
from harness.contract import PlatformRoot
from harness.job import JobOutput
from harness.junit import to_xml
from harness.record import FAILED, PASSED, CheckResult, PhaseRecord, RunRecord
from harness.redaction import PATTERNS_ONLY
from harness.report import render_html, render_markdown
from harness.scenario.placement import twin_root

RETITLE = "step 3 done\x1b]0;owned terminal\x07\x1b[2J\x1b[31mred\x1b[0m\ttab\x9b6n\x08"


def _within(seconds: float, call: Callable[[], Any]) -> Any:
    """`call()`'s result, failing (not hanging) if it blocks for longer than `seconds`."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"blocked for more than {seconds} s"
    return result[0]


def _log_dir(tmp_path: Path) -> Path:
    log = tmp_path / "output" / "log"
    log.mkdir(parents=True)
    return log


def test_metrics_linked_to_dev_zero_is_named_unreadable_not_read(tmp_path) -> None:
    (_log_dir(tmp_path) / "metrics.jsonl").symlink_to("/dev/zero")
    output = JobOutput(tmp_path / "output")
    mark = _within(5, output.mark)
    losses = _within(5, lambda: output.losses("", mark))
    assert not losses
    assert any("unreadable" in name and "link" in name for name in losses.candidates)


def test_metrics_as_a_named_pipe_is_never_opened(tmp_path) -> None:
    os.mkfifo(_log_dir(tmp_path) / "metrics.jsonl")
    output = JobOutput(tmp_path / "output")
    losses = _within(5, lambda: output.losses("", output.mark()))
    assert any("fifo" in name for name in losses.candidates)
    hashes = _within(5, lambda: snapshot.hash_tree(tmp_path))
    assert hashes["output/log/metrics.jsonl"] == "fifo"


def test_a_metrics_file_past_the_cap_is_read_in_part_and_said_so(tmp_path, monkeypatch) -> None:
    line = b'{"step": 1, "loss": 2.0}\n'
    (_log_dir(tmp_path) / "metrics.jsonl").write_bytes(line + line.replace(b"1", b"2") * 3)
    monkeypatch.setattr(untrusted, "TEXT_LIMIT", len(line) + 5)
    losses = JobOutput(tmp_path / "output").losses("")
    assert losses.values == {1: 2.0}
    assert any(
        "in part" in name and f"read {len(line) + 5} of" in name for name in losses.candidates
    )


def test_a_16_gb_sparse_file_is_hashed_by_its_data_not_its_size(tmp_path) -> None:
    with open(tmp_path / "sparse.bin", "wb") as handle:
        handle.seek(1 << 20)
        handle.write(b"data")
        handle.truncate(16 << 30)
    started = time.monotonic()
    hashes = snapshot.hash_tree(tmp_path)
    assert time.monotonic() - started < 2
    assert hashes["sparse.bin"].startswith("sparse:")
    assert snapshot.tree_size(tmp_path) == {"sparse.bin": 16 << 30}
    (tmp_path / "plain.bin").write_bytes(b"hello")  # an ordinary file keeps its plain SHA-256
    assert snapshot.hash_tree(tmp_path)["plain.bin"] == snapshot.sha256_file(tmp_path / "plain.bin")


def test_huge_files_and_late_files_are_hashed_by_size_and_time(tmp_path, monkeypatch) -> None:
    (tmp_path / "big.bin").write_bytes(b"x" * 100)
    (tmp_path / "small.bin").write_bytes(b"x")
    monkeypatch.setattr(snapshot, "HASH_FILE_LIMIT", 10)
    hashes = snapshot.hash_tree(tmp_path)
    assert hashes["big.bin"].startswith("stat:100:")
    assert not hashes["small.bin"].startswith("stat:")
    assert snapshot.hash_tree(tmp_path, seconds=-1)["small.bin"].startswith("stat:1:")


@contextlib.contextmanager
def _recursion_limit(headroom: int) -> Iterator[None]:
    """Python's recursion limit set `headroom` frames above the current depth, so a tree a
    few hundred levels deep stands for one past the real limit (made and removed fast)."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + headroom)
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def test_a_tree_deeper_than_the_recursion_limit_is_walked(tmp_path) -> None:
    deep = tmp_path / "output"
    deep.mkdir()
    for _ in range(300):
        deep = deep / "d"
        deep.mkdir()
    (deep / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    key = (deep / "metrics.jsonl").relative_to(tmp_path).as_posix()
    output = JobOutput(tmp_path / "output")
    with _recursion_limit(150):
        assert output.mark().metrics_sizes
        assert output.losses("").values == {1: 1.0}
        assert output.models() == []
        assert key in snapshot.hash_tree(tmp_path)
        assert key.removeprefix("output/") in snapshot.tree_size(tmp_path / "output")
        with pytest.raises(RecursionError):  # what the harness did before: rglob recurses
            list((tmp_path / "output").rglob("metrics.jsonl"))


def test_a_model_never_makes_tensorflow_read_a_host_file(tmp_path) -> None:
    output = tmp_path / "output"
    output.mkdir()
    (output / "checkpoint").write_text('model_checkpoint_path: "/etc/passwd"\n')
    (output / "model.ckpt-1.index").write_bytes(b"index")
    (output / "model.ckpt-1.data-00000-of-00001").symlink_to("/dev/zero")
    (output / "linked.h5").symlink_to("/etc/passwd")
    assert JobOutput(output).models() == []


def test_output_over_the_size_limit_fails_path_contract_naming_the_files() -> None:
    sizes = {"data/output/big.bin": 1_500_000_000, "data/output/log/metrics.jsonl": 900}
    common = dict(
        added=list(sizes),
        modified=[],
        removed=[],
        output_dir="data/output",
        log_dir="data/output/log",
        inputs_changed=[],
        models=["data/output/model.ckpt-1"],
        output_sizes=sizes,
    )
    within = check_path_contract(**common, max_output_bytes=2e9)
    assert within.status == PASSED and "output_bytes" not in within.evidence
    over = check_path_contract(**common, max_output_bytes=1e9)
    assert over.status == FAILED
    assert "1.5 GB under output_dir, over the 1.0 GB limit (--max-output-gb)" in over.message
    assert "data/output/big.bin (1.5 GB)" in over.message
    assert over.evidence["output_bytes"] == sum(sizes.values())


def test_the_output_size_is_recorded_and_older_records_still_load() -> None:
    data = RunRecord(output_bytes=1234).to_dict()
    assert RunRecord.from_dict(data).output_bytes == 1234
    del data["output_bytes"]
    assert RunRecord.from_dict(data).output_bytes is None
    assert snapshot.describe_size(1234) == "1.2 kB"
    assert snapshot.describe_size(21_500_000_000) == "21.5 GB"


def test_control_sequences_never_reach_the_console_or_the_reports() -> None:
    out = StringIO()
    reporter = ConsoleReporter(Console(file=out, force_terminal=False), PATTERNS_ONLY)
    reporter.phase_done("train", 1.0, "exit code 1", RETITLE)
    phase = PhaseRecord("train", ["python"], 1, 1.0, {}, "", RETITLE, "local")
    record = RunRecord(phases=[phase], checks=[CheckResult("path_contract", FAILED, "x")])
    documents = [
        out.getvalue(),
        render_markdown(record),
        render_html(record, b""),
        ElementTree.tostring(to_xml(record), encoding="unicode"),
    ]
    for text in documents:
        assert "owned terminal" not in text and "\x1b" not in text and "\x9b" not in text
        assert "step 3 done" in text and "red" in text
    assert untrusted.printable(RETITLE) == "step 3 donered\ttab6n"


def test_twin_root_copies_no_host_file_through_a_link_the_job_left(tmp_path) -> None:
    secret = tmp_path / "host" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("host secret")
    root = PlatformRoot.create(parent=tmp_path)
    (root.work_dir / "train.py").write_text("print('hi')\n")
    (root.work_dir / "stolen.txt").symlink_to(secret)
    (root.data_dir / "train-00000-of-00001").write_bytes(b"records")
    (root.data_dir / "alias").symlink_to("train-00000-of-00001")
    backend = SimpleNamespace(prepare=lambda twin: None)
    twin = twin_root(SimpleNamespace(root=root, run_dir=tmp_path, backend=backend))
    assert (twin.work_dir / "train.py").read_text() == "print('hi')\n"
    assert not os.path.lexists(twin.work_dir / "stolen.txt")
    assert (twin.data_dir / "train-00000-of-00001").read_bytes() == b"records"
    assert os.readlink(twin.data_dir / "alias") == "train-00000-of-00001"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("loss 0.5\n\tnext", "loss 0.5\n\tnext"),
        ("\x1b[1;32mgreen\x1b[0m", "green"),
        ("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),
        ("bar\r 3/10\x1b[K", "bar 3/10"),
    ],
)
def test_printable_keeps_text_and_drops_controls(text: str, shown: str) -> None:
    assert untrusted.printable(text) == shown


def test_a_phase_log_keeps_a_bounded_share_of_what_the_job_printed(tmp_path, monkeypatch) -> None:
    from harness.backends import base

    monkeypatch.setattr(base, "MAX_LOG_BYTES", 1000)
    monkeypatch.setattr(base, "MAX_LINE_CHARS", 100)
    log = base.PhaseLog(tmp_path / "phase.log")
    log.write("x" * 10_000)  # no newline: a job printing /dev/zero
    for _ in range(100):
        log.write("loss = 1.0\n")
    log.close()
    text = (tmp_path / "phase.log").read_text()
    assert len(text) < 1200 and text.endswith("the log was cut here, at 0 MiB\n")
