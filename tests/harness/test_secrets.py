"""Secrets out of every document the harness writes, redacted before anything is cut: one
real run of a job that echoes its secrets into its output and its file names, and property
tests over each writer (record, reports, baseline, JUnit, console phase line)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from harness.baseline import write_baseline
from harness.cli import main
from harness.console import ConsoleReporter
from harness.junit import write_junit
from harness.record import PASSED, CheckResult, PhaseRecord, RunRecord
from harness.redaction import Redactor
from harness.report import write_report
from tests.support.adversaries import weights, write_job

TOKEN = "tok_S3cr3tValue"
PASSWORD = "pw-Hunter2Hunter2"
# A job that prints its arguments and names an output folder and file after its token.
JOB = """\
token = flags["token"]
os.makedirs(os.path.join(out, "run-" + token), exist_ok=True)
with open(os.path.join(out, "run-" + token, token + ".txt"), "w") as f:
    f.write("x")
print("connecting to", flags["db_url"], "with", token, flush=True)
done = saved_steps()
first = done[-1] + 1 if done else 1
log(first, falling(steps - first + 1, 4.0 - (first - 1) / 4))
save(f"step-{steps}")
"""


def _leaks(text: str, *secrets: str) -> list[str]:
    """The secrets, or 4+ character prefixes of them, that `text` shows (an embedded
    plot's base64 aside)."""
    text = re.sub(r"base64,[A-Za-z0-9+/=]+", "", text)
    return [s[:n] for s in secrets for n in range(4, len(s) + 1) if s[:n] in text]


def test_a_job_echoing_its_secrets_leaves_them_in_no_document(tmp_path: Path, capsys) -> None:
    """The issue's case: the token in argv and in an output folder's name, a URL password
    on the phase line; run folder, baseline and JUnit hold neither."""
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "rows.csv").write_text("1,0\n")
    write_job(tmp_path / "code", JOB, {"step-8": weights(8), "step-10": weights(10, seed=1)})
    padding = "--pad=" + "p" * 120  # puts the password across the 160-character line end
    params = f"--number_of_steps=8 {padding} --db_url=https://alice:{PASSWORD}@db.example "
    params += f"--token={TOKEN}"
    run = tmp_path / "run"
    args = ["--code-path", str(tmp_path / "code"), "--data", str(sample), "--run-dir", str(run)]
    junit = tmp_path / "junit.xml"
    args += [f"--train-params={params}", "--resume-steps=2", "--junit-xml", str(junit)]
    code = main(["validate", *args])
    assert code == 0
    assert main(["baseline", str(run), "--out", str(tmp_path / "baseline.json")]) == 0
    record = RunRecord.load(run / "run_record.json")
    assert any("run-<redacted>" in name for name in record.outputs)  # hashed, name hidden
    documents = [p for p in run.rglob("*") if p.is_file() and p.suffix != ".png"]
    documents += [junit, tmp_path / "baseline.json"]
    assert {p.name for p in documents} >= {"report.html", "report.md", "run_record.json"}
    for path in documents:
        assert not _leaks(path.read_text(errors="replace"), TOKEN, PASSWORD), path
    assert not _leaks("".join(capsys.readouterr()), TOKEN, PASSWORD)


# "Zq" starts no word, hash or number a document holds, so any 4+ character prefix is a leak.
_SECRET = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=6, max_size=20).map(
    lambda tail: "Zq" + tail
)


def _record(secret: str, url: str) -> RunRecord:
    """A record with `secret` planted in the parameters, the job's output lines and the
    names of the files it wrote."""
    params = [f"--api_token={secret}", f"--db_url={url}", "--number_of_steps=3"]
    tail = f"argv: {' '.join(params)}\nloaded {secret}\nopening {url}\n"
    return RunRecord(
        job={"mainfile": "train.py", "train_params": params, "plan": {}},
        outputs={f"data/output/run-{secret}/model.ckpt-3.index": "0" * 64},
        inputs={f"data/data/{secret}.csv": "1" * 64},
        phases=[PhaseRecord("train", params, 0, 1.0, {1: 2.0, 3: 1.0}, "stdout", tail, "local")],
        checks=[CheckResult("outputs", PASSED, f"wrote run-{secret}", {"files": [secret]})],
    )


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(secret=_SECRET, password=_SECRET, cut=st.integers(0, 60))
def test_no_writer_shows_a_secret_or_its_cut_prefix(tmp_path_factory, secret, password, cut):
    url = f"https://alice:{password}@db.example/x"
    redactor = Redactor.for_params(_record(secret, url).job["train_params"])
    folder = tmp_path_factory.mktemp("docs")
    record = _record(secret, url)
    record.to_json(folder / "run_record.json", redactor)
    stored = RunRecord.load(folder / "run_record.json")
    write_report(stored, folder)
    write_baseline(record, folder / "baseline.json", redactor)
    write_junit(record, folder / "junit.xml", redactor)
    shown = io.StringIO()
    reporter = ConsoleReporter(Console(file=shown, width=400), redactor)
    # The phase line is cut at 160 characters: `cut` characters into the URL's password.
    padding = "p" * (160 - len(" --db_url=https://alice:") - cut)
    reporter.phase("train", f"{padding} --db_url={url} --api_token {secret}", 3)
    texts = [p.read_text() for p in folder.iterdir() if p.suffix != ".png"] + [shown.getvalue()]
    for text in texts:
        assert not _leaks(text, secret, password)
