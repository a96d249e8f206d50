"""A run's verdicts as JUnit XML, the file CI servers (Jenkins, GitLab, GitHub) show.

One `<testsuite>` per validation, one `<testcase>` per planned check: the classname
is the job (its main file and code or image), the name the check. A failed check,
and one left unrun because its phase failed, is a `<failure>` (typed `failed` or
`not run`) with its reason and the log tail of the phase; `not applicable` is
`<skipped>` with its reason; a warning is a testsuite `<property>` and a line in the
testcase's `<system-out>`. Phase times are testsuite properties. The layout is the
Jenkins xUnit plugin's junit-10 dialect, which GitLab and GitHub's reporters read
too (tests/fixtures/junit.xsd, validated in tests/harness/test_gate.py). Everything
comes from the stored, redacted run record.
"""

from __future__ import annotations

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


def job_name(record: RunRecord) -> str:
    """The job as a JUnit classname: `uai-harness.<main file>@<code folder or image>`."""
    code = record.code
    where = code.get("name") or Path(str(code.get("path", "job"))).name
    return f"uai-harness.{record.job.get('mainfile', 'train.py')}@{where}"


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
        name=job_name(record),
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
        "strict": str(record.strict).lower(),
        "backend": str(record.job.get("backend", "")),
        **{f"phase:{p.name}:seconds": f"{p.seconds:.3f}" for p in record.phases},
        **{f"warning:{name}": "; ".join(texts) for name, texts in record.warnings().items()},
    }
    for name, value in facts.items():
        ET.SubElement(properties, "property", name=name, value=_clean(value))
    for check in record.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            name=check.name,
            classname=job_name(record),
            time=f"{check.seconds:.3f}",
        )
        strict_warning = check.status == WARNING and record.strict
        if check.status in (FAILED, NOT_RUN) or strict_warning:
            kind = "warning (strict)" if strict_warning else check.status
            element = ET.SubElement(case, "failure", message=_clean(check.message), type=kind)
            element.text = _clean(_tail_of(record, check.name))
        elif check.status == NOT_APPLICABLE:
            ET.SubElement(case, "skipped", message=_clean(check.message))
        lines = [f"{check.status}: {check.message}", *(f"warning: {w}" for w in check.warnings)]
        ET.SubElement(case, "system-out").text = _clean("\n".join(lines))
    root = ET.Element(
        "testsuites",
        name="uai-harness validate",
        tests=suite.get("tests"),
        failures=suite.get("failures"),
        errors=suite.get("errors"),
        time=suite.get("time"),
    )
    root.append(suite)
    return root


def write_junit(record: RunRecord, path: Path, redactor: Redactor = PATTERNS_ONLY) -> Path:
    """Write the record's JUnit XML, from the record redacted, to `path` atomically (temp
    file + rename)."""
    root = to_xml(record.redacted(redactor))
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode", xml_declaration=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text + "\n")
    os.replace(temp, path)
    return path
