"""A run's verdicts as JUnit XML, the file CI servers (Jenkins, GitLab, GitHub) show.

One `<testsuite>` per validation, one `<testcase>` per planned check: the classname
is the check's family (its registry scope, `uai-harness-generic`: no dots, which
Jenkins splits at, and the same whatever the code folder or image, so CI keeps each
check's history), the name the check. A failed check is a `<failure>` whose message is
its reason and whose body its evidence; one left unrun because its phase failed is a
`<failure>` typed `not run` with the phase's log tail; `not applicable` is `<skipped>`
with its reason; a warning is a testsuite `<property>` and a line in the testcase's
`<system-out>`. A phase's seconds count once, in the first case that needed it (CI
servers sum case times). Bad input (exit 2) is one `<error>` case naming it. Phase
times and the job are testsuite properties. The layout is the
Jenkins xUnit plugin's junit-10 dialect, which GitLab and GitHub's reporters read
too (tests/fixtures/junit.xsd, validated in tests/harness/test_gate.py). Everything
comes from the stored, redacted run record.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.checks.registry import BY_NAME
from harness.record import FAILED, NOT_APPLICABLE, NOT_RUN, WARNING, PhaseRecord, RunRecord
from harness.redaction import PATTERNS_ONLY, Redactor
from harness.untrusted import printable


def _clean(text: str) -> str:
    """Job text without control characters: XML 1.0 cannot hold them, and a CI page that
    shows the failure would replay them (progress bars, ANSI, window titles)."""
    return printable(text)


SUITE = "uai-harness validate"


def job_name(record: RunRecord) -> str:
    """The job, for people: `<main file> in <code folder or image>` (a suite property)."""
    code = record.code
    where = code.get("name") or Path(str(code.get("path", "job"))).name
    return f"{record.job.get('mainfile', 'train.py')} in {where}"


def classname(check: str) -> str:
    """A check's family as a stable, dot-free JUnit classname."""
    scope = BY_NAME[check].scope if check in BY_NAME else "other"
    return f"uai-harness-{scope}"


def case_seconds(record: RunRecord) -> dict[str, float]:
    """Each check's own time plus that of the phases it needed that no earlier check
    already counted: the cases add up to the run, not to a multiple of it."""
    seconds = {phase.name: phase.seconds for phase in record.phases}
    counted: set[str] = set()
    times = {}
    for check in record.checks:
        needed = [
            p for p in (BY_NAME[check.name].phases if check.name in BY_NAME else ()) if p in seconds
        ]
        own = max(0.0, check.seconds - sum(seconds[p] for p in needed))
        times[check.name] = own + sum(seconds[p] for p in needed if p not in counted)
        counted.update(needed)
    return times


def _evidence(record: RunRecord, check) -> str:
    """A failure's body: what the check found, else the log tail of its phase."""
    if check.status == FAILED and check.evidence:
        return json.dumps(check.evidence, indent=2, sort_keys=True, default=str)
    return _tail_of(record, check.name)


def _tail_of(record: RunRecord, check: str) -> str:
    """The log tail of the last phase the check needed that ran."""
    needed = BY_NAME[check].phases if check in BY_NAME else ()
    phases: list[PhaseRecord] = [p for n in needed if (p := record.phase(n))]
    return phases[-1].log_tail if phases else ""


def to_xml(record: RunRecord) -> ET.Element:
    """The record as a `<testsuites>` element."""
    counts = record.counts()
    total = sum(check.seconds for check in record.checks)
    suite = ET.Element(
        "testsuite",
        name=SUITE,
        tests=str(len(record.checks)),
        failures=str(counts[FAILED] + counts[NOT_RUN] + (counts[WARNING] if record.strict else 0)),
        errors="0",
        skipped=str(counts[NOT_APPLICABLE]),
        time=f"{record.timings.get('total', total):.3f}",
        timestamp=record.created,
        hostname=str(record.host.get("hostname", "")),
    )
    properties = ET.SubElement(suite, "properties")
    facts = {
        "verdict": record.summary(),
        "job": job_name(record),
        "strict": str(record.strict).lower(),
        "backend": str(record.job.get("backend", "")),
        **{f"phase:{p.name}:seconds": f"{p.seconds:.3f}" for p in record.phases},
        **{f"warning:{name}": "; ".join(texts) for name, texts in record.warnings().items()},
    }
    for name, value in facts.items():
        ET.SubElement(properties, "property", name=name, value=_clean(value))
    times = case_seconds(record)
    for check in record.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            name=check.name,
            classname=classname(check.name),
            time=f"{times[check.name]:.3f}",
        )
        strict_warning = check.status == WARNING and record.strict
        if check.status in (FAILED, NOT_RUN) or strict_warning:
            kind = "warning (strict)" if strict_warning else check.status
            element = ET.SubElement(case, "failure", message=_clean(check.message), type=kind)
            element.text = _clean(_evidence(record, check))
        elif check.status == NOT_APPLICABLE:
            ET.SubElement(case, "skipped", message=_clean(check.message))
        lines = [f"{check.status}: {check.message}", *(f"warning: {w}" for w in check.warnings)]
        ET.SubElement(case, "system-out").text = _clean("\n".join(lines))
    root = ET.Element(
        "testsuites",
        name=SUITE,
        tests=suite.get("tests"),
        failures=suite.get("failures"),
        errors=suite.get("errors"),
        time=suite.get("time"),
    )
    root.append(suite)
    return root


def bad_input_xml(message: str) -> ET.Element:
    """Bad input (exit 2, nothing run) as one `<error>` case, so the CI server shows why."""
    root = ET.Element("testsuites", name=SUITE, tests="1", failures="0", errors="1", time="0")
    suite = ET.SubElement(root, "testsuite", root.attrib | {"skipped": "0"})
    case = ET.SubElement(suite, "testcase", name="input", classname="uai-harness-input", time="0")
    ET.SubElement(case, "error", message=_clean(message), type="bad input").text = _clean(
        f"{message}\nNothing was run (exit 2)."
    )
    return root


def write_junit(record: RunRecord | str, path: Path, redactor: Redactor = PATTERNS_ONLY) -> Path:
    """Write the record's JUnit XML, from the record redacted (or, given the message of a
    bad input, its one error case), to `path` atomically (temp file + rename)."""
    if isinstance(record, str):
        root = bad_input_xml(redactor.text(record))
    else:
        root = to_xml(record.redacted(redactor))
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode", xml_declaration=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text + "\n")
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)  # gone once replaced; a failed write leaves no stray file
    return path
