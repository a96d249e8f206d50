"""A run record as documents people read: Markdown, one self-contained HTML file, a plot.

`report.html` carries its CSS and the loss plot (base64 PNG) inline, so it can be
mailed or attached to a ticket on its own. Reports are rendered from a stored
record, which was redacted when it was written; all its text is escaped here, and the
job's text (log tails, file names) stripped of terminal control sequences.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.checks import regression
from harness.record import PhaseRecord, RunRecord, jsonable
from harness.untrusted import printable

PLOT_NAME = "loss.png"
MARKDOWN_NAME = "report.md"
HTML_NAME = "report.html"


def write_report(record: RunRecord, out_dir: Path, log_scale: bool = False) -> dict[str, Path]:
    """Writes `report.md`, `report.html` and `loss.png`; returns them by kind."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    judged = record.check(regression.NAME)
    baseline = (judged.evidence.get("baseline_losses") or {}) if judged else {}
    decrease = record.check("loss_decrease")
    required = decrease.evidence.get("limit") if decrease else None
    png = loss_plot_png(
        record.phases,
        log_scale=log_scale,
        baseline={int(s): float(v) for s, v in baseline.items()},
        required=float(required) if isinstance(required, int | float) else None,
        title=_job_title(record),
    )
    paths = {
        "plot": out_dir / PLOT_NAME,
        "markdown": out_dir / MARKDOWN_NAME,
        "html": out_dir / HTML_NAME,
    }
    paths["plot"].write_bytes(png)
    paths["markdown"].write_text(render_markdown(record, PLOT_NAME), encoding="utf-8")
    paths["html"].write_text(render_html(record, png), encoding="utf-8")
    return paths


def _job_title(record: RunRecord) -> str:
    code = record.code or {}
    where = code.get("name") or Path(str(code.get("path", "job"))).name
    return f"{record.job.get('mainfile', 'train.py')} in {where}: {record.summary()}"


def _spans_a_decade(curves: Iterable[Mapping[int, float]]) -> bool:
    values = [v for series in curves for v in series.values() if math.isfinite(v) and v > 0]
    return bool(values) and max(values) > 10 * min(values)


def loss_plot_png(
    phases: Sequence[PhaseRecord],
    log_scale: bool = False,
    baseline: Mapping[int, float] | None = None,
    required: float | None = None,
    title: str = "",
) -> bytes:
    """PNG of loss against global step, one line per phase (non-finite losses left out),
    on a log scale when asked or when the losses span more than a decade (an early spike
    would flatten the rest); the baseline's training losses grey and dashed beneath the
    run's lines, the level loss_decrease required dotted red, the job in the title."""
    figure = Figure(figsize=(8, 4.5), dpi=100)  # no pyplot: no global state, no GUI backend
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    plotted = False
    curves = [(phase.name, phase.losses, {"linestyle": "-", "zorder": 3}) for phase in phases]
    if baseline:
        grey = {"linestyle": "--", "color": "0.55", "linewidth": 2.5, "zorder": 2}
        curves.append(("baseline train", baseline, grey))
    log_scale = log_scale or _spans_a_decade(series for _, series, _ in curves)
    for name, series, style in curves:
        points = [(step, loss) for step, loss in sorted(series.items()) if math.isfinite(loss)]
        if log_scale:
            points = [(step, loss) for step, loss in points if loss > 0]
        if not points:
            continue
        steps, losses = zip(*points, strict=True)
        marker = "." if len(points) <= 50 else None
        axes.plot(steps, losses, marker=marker, label=name, **style)
        plotted = True
    if plotted and required is not None and (required > 0 or not log_scale):
        axes.axhline(required, color="tab:red", linestyle=":", label=f"required <= {required:.4g}")
    if title:
        axes.set_title(title, fontsize=9)
    if plotted:
        axes.legend()
        if log_scale:
            axes.set_yscale("log")
    else:
        axes.text(
            0.5, 0.5, "no losses recorded", ha="center", va="center", transform=axes.transAxes
        )
    axes.set_xlabel("global step")
    axes.set_ylabel("loss")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    canvas.print_png(buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- shared facts


def _loss_text(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _phase_row(phase: PhaseRecord) -> list[str]:
    steps = sorted(phase.losses)
    first = phase.losses[steps[0]] if steps else None
    last = phase.losses[steps[-1]] if steps else None
    step_range = f"{len(steps)} ({steps[0]}-{steps[-1]})" if steps else "0"
    return [
        phase.name,
        phase.backend,
        str(phase.exit_code),
        f"{phase.seconds:.1f}",
        step_range,
        _loss_text(first),
        _loss_text(last),
    ]


def _with_warnings(check) -> str:
    shown = [w for w in check.warnings if w not in check.message]
    return "\n".join([check.message, *(f"warning: {w}" for w in shown)])


PHASE_HEADER = ["phase", "backend", "exit code", "seconds", "steps", "first loss", "last loss"]
CHECK_HEADER = ["check", "verdict", "message", "seconds (phases + check)"]


def _environment_rows(record: RunRecord) -> list[tuple[str, str]]:
    env = record.environment
    rows = [(key, str(env[key])) for key in sorted(env) if key != "pip_freeze"]
    rows.append(("packages", str(len(env.get("pip_freeze") or []))))
    rows.append(("harness", record.harness_version))
    code = record.code or {}
    if code.get("kind") == "image":
        rows.append(("code", f"image {code.get('name')} ({code.get('id')})"))
    elif code:
        rows.append(("code", f"{code.get('path')} (sha256 {str(code.get('sha256'))[:16]})"))
    if git := code.get("git"):
        dirty = " (dirty)" if git.get("dirty") else ""
        rows.append(("git", f"{git.get('commit')}{dirty} in {git.get('repo')}"))
    rows.extend((f"host {key}", str(value)) for key, value in sorted(record.host.items()))
    return rows


def _job_rows(record: RunRecord) -> list[tuple[str, str]]:
    return [
        (key, json.dumps(jsonable(value)) if not isinstance(value, str) else value)
        for key, value in sorted(record.job.items())
    ]


# --------------------------------------------------------------------------- markdown


def _md(text: Any) -> str:
    """A Markdown table cell: only what Markdown would take as HTML escaped (a tag such as
    the caption token `<S>`, an entity), so `<=` stays `<=`; pipes and newlines safe."""
    escaped = re.sub(r"&(?=#?\w+;)", "&amp;", str(text))
    escaped = re.sub(r"<(?=[A-Za-z/!?])", "&lt;", escaped).replace("|", "\\|")
    return escaped.replace("\r", "").replace("\n", "<br>")


def _md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows)
    return lines


def _fence(text: str) -> list[str]:
    """A fenced code block longer than any backtick run inside `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, text, fence]


def _md_hashes(title: str, hashes: dict[str, str]) -> list[str]:
    lines = [f"<details><summary>{title} ({len(hashes)} files)</summary>", ""]
    lines.extend(_fence("\n".join(f"{digest}  {path}" for path, digest in hashes.items())))
    return [*lines, "", "</details>", ""]


def render_markdown(record: RunRecord, plot_name: str = PLOT_NAME) -> str:
    """The report as Markdown, referring to the plot file next to it."""
    lines = [
        "# UAI-Train harness report",
        "",
        f"**{record.summary()}**",
        "",
        f"Created {_md(record.created)} with harness {_md(record.harness_version)}.",
        "",
        "## Checks",
        "",
        *_md_table(
            CHECK_HEADER,
            (
                [check.name, check.status.upper(), _with_warnings(check), f"{check.seconds:.2f}"]
                for check in record.checks
            ),
        ),
        "",
        "## Phases",
        "",
        *_md_table(PHASE_HEADER, (_phase_row(phase) for phase in record.phases)),
        "",
        f"![loss per global step]({plot_name})",
        "",
    ]
    for phase in record.phases:
        lines.append(f"Command of phase {_md(phase.name)}:")
        lines.extend(["", *_fence(shlex.join(phase.command)), ""])
        if phase.exit_code != 0 and phase.log_tail:
            lines.append(f"Log tail of phase {_md(phase.name)} (exit code {phase.exit_code}):")
            lines.extend(["", *_fence(phase.log_tail), ""])
    lines.extend(["## Job", "", *_md_table(["key", "value"], _job_rows(record)), ""])
    lines.extend(
        ["## Environment", "", *_md_table(["key", "value"], _environment_rows(record)), ""]
    )
    if record.timings:
        lines.extend(
            [
                "## Timings",
                "",
                *_md_table(
                    ["stage", "seconds"],
                    ((name, f"{seconds:.2f}") for name, seconds in record.timings.items()),
                ),
                "",
            ]
        )
    lines.extend(["## Files", ""])
    lines.extend(_md_hashes("Inputs", record.inputs))
    lines.extend(_md_hashes("Outputs", record.outputs))
    return printable("\n".join(lines))  # job text: no control sequences


# --------------------------------------------------------------------------- html

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { margin-bottom: 0.2em; }
.verdict { font-size: 1.2em; font-weight: bold; padding: 0.4em 0.8em; display: inline-block;
  border-radius: 4px; }
.verdict.passed { background: #d8f3dc; color: #1b4332; }
.verdict.failed { background: #ffd6d6; color: #7f1d1d; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
tr.passed td.verdict-cell { background: #d8f3dc; color: #1b4332; font-weight: bold; }
tr.failed td.verdict-cell { background: #ffd6d6; color: #7f1d1d; font-weight: bold; }
tr.warning td.verdict-cell { background: #fff3cd; color: #7a5b00; font-weight: bold; }
tr.not-run td.verdict-cell { background: #fff3cd; color: #7a5b00; }
tr.not-applicable td.verdict-cell { background: #eee; color: #555; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; white-space: pre-wrap; }
td.message { white-space: pre-wrap; }
img.plot { max-width: 100%; border: 1px solid #ddd; }
details { margin: 0.4em 0; }
"""


def _h(text: Any) -> str:
    return html.escape(printable(str(text)), quote=True)


def _html_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_h(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_h(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_checks(record: RunRecord) -> str:
    rows = []
    for check in record.checks:
        evidence = json.dumps(check.evidence, indent=2, sort_keys=True, default=str)
        rows.append(
            f'<tr class="{check.status.replace(" ", "-")}"><td>{_h(check.name)}</td>'
            f'<td class="verdict-cell">{_h(check.status.upper())}</td>'
            f'<td class="message">{_h(_with_warnings(check))}'
            f"<details><summary>evidence</summary><pre>{_h(evidence)}</pre></details></td>"
            f"<td>{check.seconds:.2f}</td></tr>"
        )
    head = "".join(f"<th>{_h(cell)}</th>" for cell in CHECK_HEADER)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _html_hashes(title: str, hashes: dict[str, str]) -> str:
    return (
        f"<details><summary>{_h(title)} ({len(hashes)} files)</summary>"
        + _html_table(["path", "sha256"], hashes.items())
        + "</details>"
    )


def render_html(record: RunRecord, png: bytes) -> str:
    """The report as one HTML page with inline CSS and the plot embedded."""
    verdict_class = "passed" if record.passed else "failed"
    image = base64.b64encode(png).decode("ascii")
    phase_details = "".join(
        f"<details><summary>{_h(phase.name)}: command and log tail</summary>"
        f"<pre>{_h(shlex.join(phase.command))}</pre><pre>{_h(phase.log_tail)}</pre></details>"
        for phase in record.phases
    )
    timings = (
        "<h2>Timings</h2>"
        + _html_table(["stage", "seconds"], ((k, f"{v:.2f}") for k, v in record.timings.items()))
        if record.timings
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>UAI-Train harness report: {_h(verdict_class)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>UAI-Train harness report</h1>
<p>Created {_h(record.created)} with harness {_h(record.harness_version)}.</p>
<p class="verdict {verdict_class}">{_h(record.summary())}</p>
<h2>Checks</h2>
{_html_checks(record)}
<h2>Phases</h2>
{_html_table(PHASE_HEADER, (_phase_row(phase) for phase in record.phases))}
{phase_details}
<h2>Loss</h2>
<img class="plot" alt="loss per global step" src="data:image/png;base64,{image}">
<h2>Job</h2>
{_html_table(["key", "value"], _job_rows(record))}
<h2>Environment</h2>
{_html_table(["key", "value"], _environment_rows(record))}
<details><summary>pip freeze ({len(record.environment.get("pip_freeze") or [])} packages)</summary>
<pre>{_h(chr(10).join(record.environment.get("pip_freeze") or []))}</pre></details>
{timings}
<h2>Files</h2>
{_html_hashes("Inputs", record.inputs)}
{_html_hashes("Outputs", record.outputs)}
</body>
</html>
"""
