"""What a person reads in a report (finding 8): a loss spike to 9 no longer flattens the
rest (log scale past a decade), the required level and the baseline drawn apart from the
run, the job in the plot's title; report.md keeps `<=` as it is and shows each phase's
command quoted so that it pastes and runs."""

from __future__ import annotations

import shlex

import pytest
from matplotlib.axes import Axes

from harness.record import CheckResult, PhaseRecord, RunRecord
from harness.report import loss_plot_png, write_report

COMMAND = ["/bin/bash", "-c", "cd /data && python /data/train.py --pattern='a b*'"]


def _record(spike: float) -> RunRecord:
    losses = {1: spike, **{s: 1.0 - s / 100 for s in range(2, 60)}}
    return RunRecord(
        code={"kind": "code path", "path": "/work/my_im2txt"},
        job={"mainfile": "train.py"},
        phases=[PhaseRecord("train", COMMAND, 0, 3.0, losses, "stdout", "", "local")],
        checks=[
            CheckResult(
                "loss_decrease",
                "passed",
                "median loss fell from 0.97 to 0.45; required <= 0.73, a 25% drop",
                evidence={"limit": 0.73},
            )
        ],
    )


@pytest.fixture
def drawn(monkeypatch) -> dict[str, list]:
    calls: dict[str, list] = {"set_yscale": [], "axhline": [], "set_title": [], "plot": []}
    for name in calls:
        original = getattr(Axes, name)

        def record(self, *args, _name=name, _original=original, **kwargs):
            calls[_name].append((args, kwargs))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Axes, name, record)
    return calls


def test_a_spike_past_a_decade_gets_a_log_scale_with_level_and_title(tmp_path, drawn) -> None:
    write_report(_record(spike=9.0), tmp_path)
    assert drawn["set_yscale"] == [(("log",), {})]
    assert drawn["axhline"][0][0] == (0.73,) and drawn["axhline"][0][1]["linestyle"] == ":"
    title = drawn["set_title"][0][0][0]
    assert title.startswith("train.py in my_im2txt: PASSED")


def test_a_range_within_a_decade_stays_linear(tmp_path, drawn) -> None:
    write_report(_record(spike=1.0), tmp_path)
    assert drawn["set_yscale"] == []


def test_the_baseline_is_grey_dashed_beneath_the_run(drawn) -> None:
    record = _record(spike=1.0)
    loss_plot_png(record.phases, baseline={1: 1.0, 50: 0.5})
    (run, run_style), (base, base_style) = [(a, k) for a, k in drawn["plot"]]
    assert base_style["linestyle"] == "--" and base_style["color"] == "0.55"
    assert base_style["zorder"] < run_style["zorder"]


def test_markdown_keeps_comparisons_and_pasteable_commands(tmp_path) -> None:
    text = write_report(_record(spike=1.0), tmp_path)["markdown"].read_text()
    assert "required <= 0.73" in text and "&lt;=" not in text
    assert shlex.join(COMMAND) in text
    assert shlex.split(shlex.join(COMMAND)) == COMMAND
