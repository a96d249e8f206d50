"""Evaluation: the harness's verdicts on a corpus of jobs it was not designed on.

Every job in fixtures/evaluation/ (tests/support/evaluation_cases.py describes a case)
gets its inputs from the corpus's make_inputs.py (with its case's arguments) and one
`validate` on the local backend, as
`uai-harness validate --code-path JOB --data SAMPLE [--pretrained FILE]
--train-params "..." --step-flag FLAG` would run it. Then, per check and over whole
runs, the confusion table of FAIL (positive: the job is broken in a way the check must
fail; predicted: the check failed), precision and recall, the false-warning rate on the
checks correct jobs must pass, and every verdict that differs from the expected one,
with the harness's message. Asserts nothing; exits 0.

    python bench/evaluation.py [--only JOB ...] [--json results.json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from harness.backends.local import LocalBackend  # noqa: E402
from harness.record import FAILED, NOT_RUN, WARNING  # noqa: E402
from harness.scenario import Plan, SilentReporter, validate  # noqa: E402
from tests.support.evaluation_cases import CHECKS, MAKE_INPUTS, Case, load_cases  # noqa: E402
from tests.support.foreign_jobs import job_env  # noqa: E402


def make_inputs(case: Case, folder: Path) -> Path | None:
    """The case's sample into folder/data; returns its pretrained file, if any."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(MAKE_INPUTS), f"--data_dir={folder / 'data'}"]
    command += list(case.make_inputs_args)
    pretrained = folder / Path(case.pretrained).name if case.pretrained else None
    if pretrained:
        command.append(f"--{case.make_inputs_flag}={pretrained}")
    done = subprocess.run(command, capture_output=True, text=True, env=job_env(), timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{case.name}: make_inputs failed:\n{done.stderr[-2000:]}")
    return pretrained


def run_case(case: Case, folder: Path) -> dict:
    """Validate one case; its statuses and messages by check, and the seconds it took."""
    started = time.monotonic()
    pretrained = make_inputs(case, folder / "inputs")
    plan = Plan(
        train_params=case.train_params,
        profile="none",
        data=folder / "inputs" / "data",
        pretrained=pretrained,
        step_flag=case.step_flag,
        reproducible=case.reproducible,
    )
    result = validate(LocalBackend(case.folder), plan, folder / "run", reporter=SilentReporter())
    checks = {c.name: (c.status, c.message) for c in result.record.checks if c.name in CHECKS}
    return {
        "statuses": {name: status for name, (status, _) in checks.items()},
        "messages": {name: message for name, (_, message) in checks.items()},
        "passed": result.passed,
        "seconds": round(time.monotonic() - started, 1),
    }


def ratio(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "-"


def confusion(rows: list[tuple[bool, bool]]) -> dict:
    """tp/fp/fn/tn of (expected positive, predicted positive) pairs, precision, recall."""
    tp = sum(e and p for e, p in rows)
    fp = sum(p and not e for e, p in rows)
    fn = sum(e and not p for e, p in rows)
    tn = sum(not e and not p for e, p in rows)
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
    }


def summarise(cases: list[Case], results: dict[str, dict]) -> dict:
    per_check = {}
    for check in CHECKS:
        rows = [
            (case.expected[check] == "fail", results[case.name]["statuses"][check] == FAILED)
            for case in cases
            if check in case.expected
            and case.expected[check] in ("fail", "pass", "warning", "ok", "n/a")
        ]
        per_check[check] = confusion(rows)
    # A run FAILs when a check failed or was left unrun (the job crashed).
    runs = confusion([(case.broken, not results[case.name]["passed"]) for case in cases])
    checks_all = confusion(
        [
            (case.expected[c] == "fail", results[case.name]["statuses"][c] == FAILED)
            for case in cases
            for c in case.expected
            if case.expected[c] in ("fail", "pass", "warning", "ok", "n/a")
        ]
    )
    must_pass = [
        (case, check)
        for case in cases
        if not case.broken
        for check, verdict in case.expected.items()
        if verdict == "pass"
    ]
    false_warnings = [
        (case.name, check)
        for case, check in must_pass
        if results[case.name]["statuses"][check] == WARNING
    ]
    correct = [case for case in cases if not case.broken]
    warned_jobs = {name for name, _ in false_warnings}
    wrong = [
        {
            "job": case.name,
            "check": check,
            "expected": verdict,
            "got": results[case.name]["statuses"][check],
            "message": results[case.name]["messages"][check],
        }
        for case in cases
        for check, verdict in case.expected.items()
        if not case.accepts(check, results[case.name]["statuses"][check])
    ]
    return {
        "per_check": per_check,
        "checks_overall": checks_all,
        "runs": runs,
        "false_warnings": {
            "checks": f"{len(false_warnings)}/{len(must_pass)}",
            "rate": ratio(len(false_warnings), len(must_pass)),
            "jobs": f"{len(warned_jobs)}/{len(correct)}",
            "which": false_warnings,
        },
        "not_run_on_expected_verdicts": sum(w["got"] == NOT_RUN for w in wrong),
        "wrong": wrong,
    }


def print_summary(summary: dict, seconds: float, count: int) -> None:
    print(f"\n{count} jobs in {seconds:.0f} s")
    print(f"{'':22} {'tp':>3} {'fp':>3} {'fn':>3} {'tn':>3} {'precision':>9} {'recall':>6}")
    rows = {**summary["per_check"], "all checks": summary["checks_overall"]}
    rows["whole runs"] = summary["runs"]
    for name, c in rows.items():
        print(
            f"{name:22} {c['tp']:3} {c['fp']:3} {c['fn']:3} {c['tn']:3} "
            f"{c['precision']:>9} {c['recall']:>6}"
        )
    fw = summary["false_warnings"]
    print(
        f"false warnings on correct jobs: {fw['checks']} checks that must pass "
        f"(rate {fw['rate']}), in {fw['jobs']} jobs"
    )
    print(f"\n{len(summary['wrong'])} wrong verdicts:")
    for w in summary["wrong"]:
        print(
            f"- {w['job']} {w['check']}: expected {w['expected']}, got {w['got']}: {w['message']}"
        )


def corpus_table(cases: list[Case]) -> str:
    """The corpus as the markdown table docs/evaluation.md holds."""
    short = {"path_contract": "path", "pretrained_restore": "pretrained"}
    short.update(loss_decrease="loss", resume="resume", reproducible="repro")
    lines = [
        "| job | imitates | pattern | defect class | expected | why |",
        "|---|---|---|---|---|---|",
    ]
    for case in cases:
        expected = ", ".join(f"{short[c]} {v}" for c, v in case.expected.items() if v != "n/a")
        cells = [f"`{case.name}`", case.source, case.pattern, case.defect, expected, case.why]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=None, help="job names")
    parser.add_argument("--json", type=Path, default=None, help="write results and summary")
    parser.add_argument("--keep", type=Path, default=None, help="keep the runs in this folder")
    parser.add_argument("--table", action="store_true", help="print the corpus table only")
    args = parser.parse_args()
    cases = load_cases(args.only)
    if args.table:
        print(corpus_table(cases))
        return
    started = time.monotonic()
    results = {}
    with tempfile.TemporaryDirectory(prefix="evaluation-") as scratch:
        base = (args.keep or Path(scratch)).resolve()
        for case in cases:
            results[case.name] = run_case(case, base / case.name)
            got = results[case.name]["statuses"]
            marks = " ".join(
                f"{c}={got[c]}" + ("" if case.accepts(c, got[c]) else f" (expected {v})")
                for c, v in case.expected.items()
            )
            print(f"{case.name:34} {results[case.name]['seconds']:6.1f}s  {marks}", flush=True)
    seconds = time.monotonic() - started
    summary = summarise(cases, results)
    print_summary(summary, seconds, len(cases))
    if args.json:
        document = {"seconds": round(seconds), "results": results, "summary": summary}
        args.json.write_text(json.dumps(document, indent=1))


if __name__ == "__main__":
    main()
