"""compare and rerun see only real differences (finding 5): a record in memory (tuples,
paths) and the same record read back from JSON are the same; a nested dict that changed
names the keys that changed; event files are matched by role, not timestamped name."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

from harness.compare import compare
from harness.record import PhaseRecord, RunRecord


def _record(**job) -> RunRecord:
    phase = PhaseRecord(
        "train", ("python", PurePosixPath("/data/train.py")), 0, 1.0, {1: 2.0}, "stdout", "", "x"
    )
    return RunRecord(
        job={"mainfile": "train.py", "freezing": {"trainable": False, "flags": ("a",)}, **job},
        phases=[phase],
        outputs={
            "data/output/model.ckpt-8.index": "1" * 64,
            "data/output/events.out.tfevents.1796627765.host.123.0": "2" * 64,
            "data/output/eval/events.out.tfevents.1796627766.host.123.0": "3" * 64,
        },
    )


def test_a_record_and_its_json_form_compare_the_same() -> None:
    memory = _record(plan={"data": PurePosixPath("/s"), "loss": {"tags": ("a", "b")}})
    stored = RunRecord.from_dict(json.loads(json.dumps(memory.to_dict())))
    result = compare(memory, stored)
    assert result.job == {} and result.phases[0].differences == {}, result.render_text()


def test_a_changed_nested_dict_names_only_the_keys_that_changed() -> None:
    a = _record()
    b = _record(freezing={"trainable": True, "flags": ["a"]})
    result = compare(a, b)
    assert result.job == {"freezing.trainable": (False, True)}
    assert "freezing.trainable: False -> True" in result.render_text()
    assert "freezing: {" not in result.render_text()


def test_event_files_match_by_role_not_timestamped_name() -> None:
    a, b = _record(), _record()
    b.outputs = {
        ("data/output/events.out.tfevents.1796999999.other.9.0" if "tfevents" in k and "eval"
         not in k else k.replace("1796627766", "1796999998")): v
        for k, v in a.outputs.items()
    }  # fmt: skip
    outputs = compare(a, b).outputs
    assert outputs.added == [] and outputs.removed == [] and outputs.changed == []
    b.outputs.pop("data/output/eval/events.out.tfevents.1796999998.host.123.0")
    outputs = compare(a, b).outputs
    assert outputs.removed == ["data/output/eval/events.out.tfevents.*"]
