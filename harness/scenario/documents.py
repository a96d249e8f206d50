"""The run record, built once from the finished scenario and redacted once; every document
(`run_record.json`, the reports, `verdict.json`) is written from that one stored value,
and the gate's checks are judged from it too."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from harness import __version__, snapshot
from harness.checks.registry import GATE
from harness.environment import host_info
from harness.plan import Plan
from harness.record import CheckResult, RunRecord
from harness.report import write_report
from harness.scenario.evidence import Evidence
from harness.scenario.verdicts import VerdictStore
from harness.speed import machine_gflops


def shell_warning(plan: Plan) -> str | None:
    """The parameters the platform's shell line will interpret, said before the run."""
    words = plan.train_params.shell_specials()
    if not words:
        return None
    return (
        "the parameters hold shell characters that the platform's `bash -c` line interprets "
        f"(the harness runs the same line, so they do the same here): {', '.join(words[:5])}"
    )


def build_record(
    evidence: Evidence,
    checks: list[CheckResult],
    code_left_out: list[str],
    interrupted: bool = False,
) -> RunRecord:
    """The run's record; an interrupted run's leaves out what takes seconds to measure
    (the machine's speed, the job's environment): the user is waiting."""
    ctx, runner = evidence.ctx, evidence.runner
    gflops = {} if interrupted else {"machine_gflops": round(machine_gflops(), 3)}
    return RunRecord(
        harness_version=__version__,
        code=ctx.backend.describe_code(),
        host={**host_info(), **gflops},
        job={**_job_summary(evidence), "code_left_out": code_left_out},
        environment={} if interrupted else ctx.backend.environment(),
        inputs=evidence.input_hashes,
        outputs=snapshot.hash_tree(ctx.root.output_dir, relative_to=ctx.root.root),
        output_bytes=sum(snapshot.tree_size(ctx.root.output_dir).values()),
        phases=runner.records,
        checks=checks,
        timings=runner.timings,
        strict=ctx.plan.strict,
        interrupted=interrupted,
    )


def store(
    record: RunRecord, evidence: Evidence, verdicts: VerdictStore
) -> tuple[RunRecord, dict[str, Path]]:
    """Redact the record once, judge the gate from it, and write every document from it;
    the stored record (as a later `uai-harness` command reads it back) and the reports."""
    ctx = evidence.ctx
    redactor = ctx.redactor
    stored = record.redacted(redactor)
    evidence.stored_record = stored
    for spec in (s for s in verdicts.planned if s.scope == GATE):
        verdicts.judge(spec, lambda spec=spec: spec.judge(evidence), 0.0)
        stored.checks.append(verdicts.results[spec.name])
    path = stored.to_json(ctx.run_dir / "run_record.json", redactor)
    stored = RunRecord.load(path)
    # An interrupted run's reports wait for `uai-harness report`: the user is waiting.
    reports = {} if stored.interrupted else write_report(stored, ctx.run_dir)
    verdict = {
        "passed": stored.passed,
        "strict": stored.strict,
        "summary": stored.summary(),
        "checks": {c.name: c.status for c in stored.checks},
        "warnings": stored.warnings(),
    }
    (ctx.run_dir / "verdict.json").write_text(json.dumps(verdict, indent=2, sort_keys=True) + "\n")
    return stored, reports


def _job_summary(evidence: Evidence) -> dict:
    ctx = evidence.ctx
    plan, preflight = ctx.plan, ctx.preflight
    step, recorded = preflight.step, plan.to_record()
    return {
        "shell_warning": shell_warning(plan),
        "mainfile": plan.mainfile,
        "train_params": recorded["train_params"],
        "profile": preflight.profile.name,
        "backend": ctx.backend.name,
        "isolation": ctx.backend.isolation,
        "step_flag": step.flag if step else None,
        "steps": step.value if step else None,
        "step_unit": step.unit if step else None,
        "pretrained_flag": preflight.pretrained_flag[0] if preflight.pretrained_flag else None,
        "freezing": dataclasses.asdict(preflight.freezing),
        "plan": recorded["plan"],
    }
