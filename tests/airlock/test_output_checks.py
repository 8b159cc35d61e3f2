"""check_results end to end: real jobs that read DATA_DIR and write outputs and logs."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from airlock_helpers import Check, RunJob, severities, write

from syft_code_queue.airlock import (
    DEFAULT_CHECKS,
    CheckContext,
    Finding,
    Location,
    ResultsFolderError,
    check_results,
)


def test_a_summary_that_copies_five_patients_is_blocked_and_names_file_and_rows(
    run_job: RunJob, check: Check
) -> None:
    run_job(
        """
        import csv, os
        with open(os.path.join(os.environ["DATA_DIR"], "patients.csv")) as f:
            rows = list(csv.DictReader(f))
        with open(os.path.join(os.environ["OUTPUT_DIR"], "summary.csv"), "w") as out:
            w = csv.DictWriter(out, fieldnames=list(rows[0]))
            w.writeheader()
            for r in rows[10:15]:
                w.writerow(r)
        print("wrote the summary")
        """
    )
    report = check()
    blocks = [f for f in report.findings if f.severity == "block"]
    assert [(f.check, f.where.file, f.where.row, f.where.line) for f in blocks] == [
        ("raw_records", "output/summary.csv", row, row + 1) for row in range(1, 6)
    ]
    assert all("row 1" in f.message or "patients.csv" in f.message for f in blocks)
    assert "row 11 of the data file patients.csv" in blocks[0].message
    assert report.blocked


def test_a_clean_aggregate_passes_without_a_block(run_job: RunJob, check: Check) -> None:
    run_job(
        """
        import csv, os, collections
        with open(os.path.join(os.environ["DATA_DIR"], "patients.csv")) as f:
            rows = list(csv.DictReader(f))
        groups = collections.defaultdict(list)
        for r in rows:
            groups[r["diagnosis"]].append(int(r["age"]))
        with open(os.path.join(os.environ["OUTPUT_DIR"], "by_diagnosis.csv"), "w") as out:
            out.write("diagnosis,n,mean_age\\n")
            for name, ages in sorted(groups.items()):
                out.write(f"{name},{len(ages)},{sum(ages) / len(ages):.1f}\\n")
        print(f"{len(rows)} patients in {len(groups)} groups")
        """
    )
    report = check()
    assert report.counts["block"] == 0
    assert report.findings == []
    assert [f.path for f in report.files] == ["output/by_diagnosis.csv", "stderr.txt", "stdout.txt"]


def test_a_three_person_cell_is_flagged(run_job: RunJob, check: Check) -> None:
    run_job(
        """
        import csv, os, collections
        with open(os.path.join(os.environ["DATA_DIR"], "patients.csv")) as f:
            rows = list(csv.DictReader(f))
        rows = [r for r in rows if r["diagnosis"] != "copd"] + [
            r for r in rows if r["diagnosis"] == "copd"][:3]
        counts = collections.Counter(r["diagnosis"] for r in rows)
        with open(os.path.join(os.environ["OUTPUT_DIR"], "counts.csv"), "w") as out:
            out.write("diagnosis,count\\n")
            for name, n in sorted(counts.items()):
                out.write(f"{name},{n}\\n")
        """
    )
    report = check()
    small = [f for f in report.findings if f.check == "small_cells"]
    assert [(f.severity, str(f.where)) for f in small] == [
        ("review", "output/counts.csv, line 3, row 2, column 'count'")
    ]
    assert "count 3" in small[0].message


def test_a_pickle_named_csv_is_caught(results: Path, check: Check) -> None:
    write(results, "summary.csv", pickle.dumps({"rows": [[1, 2]]}))
    report = check()
    (held,) = [f for f in report.files if f.path == "output/summary.csv"]
    assert held.kind == "pickle"
    assert held.preview.kind == "binary"
    assert severities(report) == [("block", "output/summary.csv")]
    assert "pickle (named .csv)" in report.findings[0].message


def test_a_symlink_and_a_fifo_in_the_output_are_blocked_and_not_read(
    results: Path, check: Check
) -> None:
    (results / "output" / "link.csv").symlink_to("/etc/passwd")
    os.mkfifo(results / "output" / "pipe.csv")
    report = check()
    assert severities(report) == [("block", "output/link.csv"), ("block", "output/pipe.csv")]
    held = {f.path: f for f in report.files}
    assert held["output/link.csv"].kind == "symlink"
    assert held["output/pipe.csv"].kind == "special"
    assert held["output/link.csv"].sha256 is None
    assert "output/link.csv" not in report.sha256
    assert "root:" not in report.model_dump_json()


def test_logs_that_print_a_patient_are_caught_with_their_line(
    run_job: RunJob, check: Check
) -> None:
    run_job(
        """
        import csv, os, sys
        with open(os.path.join(os.environ["DATA_DIR"], "patients.csv")) as f:
            rows = list(csv.reader(f))
        print("loaded", len(rows) - 1, "patients")
        print("first patient:", rows[1])
        print("  ".join(rows[7]), file=sys.stderr)
        """
    )
    report = check()
    assert [(f.severity, str(f.where)) for f in report.findings] == [
        ("block", "stderr.txt, line 1"),
        ("block", "stdout.txt, line 2"),
    ]
    assert "row 1 of the data file patients.csv" in report.findings[1].message


def test_acro_results_are_read(results: Path, check: Check) -> None:
    acro_outputs = Path(__file__).parents[1] / "data" / "acro_1.0.2" / "outputs"
    for path in acro_outputs.rglob("*"):
        if path.is_file():
            write(results, f"acro/{path.relative_to(acro_outputs)}", path.read_bytes())
    report = check()
    acro = {f.where.file: f for f in report.findings if f.check == "acro"}
    assert acro["output/acro/output_0_0.csv"].severity == "block"
    assert "MinimumThresholdCheck" in acro["output/acro/output_0_0.csv"].message
    assert acro["output/acro/output_1_0.csv"].severity == "info"


def test_the_report_holds_every_sha256_and_counts(results: Path, check: Check) -> None:
    write(results, "a.txt", "one\n")
    write(results, "sub/b.md", "# two\n")
    report = check()
    import hashlib

    assert report.sha256 == {
        "output/a.txt": hashlib.sha256(b"one\n").hexdigest(),
        "output/sub/b.md": hashlib.sha256(b"# two\n").hexdigest(),
        "stderr.txt": hashlib.sha256(b"").hexdigest(),
        "stdout.txt": hashlib.sha256(b"").hexdigest(),
    }
    assert report.counts == {"block": 0, "review": 0, "info": 0}
    assert report.uid == "job-1"
    assert report.checks == ["file_rules", "raw_records", "small_cells", "acro"]
    assert report.checked_at.tzinfo is not None


def test_an_owner_check_runs_beside_the_defaults(results: Path, check: Check) -> None:
    write(results, "notes.txt", "contact me at someone@example.com\n")

    def emails(ctx: CheckContext) -> Iterator[Finding]:
        for file in ctx.files:
            for number, line in enumerate((ctx.text(file.path) or "").splitlines(), 1):
                if "@" in line:
                    yield Finding(
                        check="emails",
                        severity="review",
                        message="an email address",
                        where=Location(file=file.path, line=number),
                    )

    report = check(checks=[*DEFAULT_CHECKS, emails])
    assert [(f.check, str(f.where)) for f in report.findings] == [
        ("emails", "output/notes.txt, line 1")
    ]


def test_a_check_that_crashes_is_a_review_finding_not_a_pass(results: Path, check: Check) -> None:
    def broken(ctx: CheckContext) -> list[Finding]:
        raise RuntimeError("boom")

    report = check(checks=[broken])
    assert [(f.check, f.severity) for f in report.findings] == [("broken", "review")]
    assert "RuntimeError: boom" in report.findings[0].message


def test_a_missing_results_folder_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsFolderError, match="does not exist"):
        check_results(tmp_path / "nope", None)


def test_a_results_folder_that_is_a_link_is_refused(tmp_path: Path, results: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(results)
    with pytest.raises(ResultsFolderError, match="not a folder"):
        check_results(link, None)


def test_without_polars_the_error_says_what_to_install(results: Path) -> None:
    code = (
        "import sys; sys.modules['polars'] = None\n"
        "from pathlib import Path\n"
        "from syft_code_queue.airlock import check_results, AirlockNotInstalledError\n"
        "try:\n"
        f"    check_results(Path({str(results)!r}), None)\n"
        "except AirlockNotInstalledError as err:\n"
        "    print(err)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'syft-code-queue[airlock]'" in done.stdout


def test_a_polars_panic_in_a_check_is_a_review_finding(results: Path, check: Check) -> None:
    import polars as pl

    def panics(ctx: CheckContext) -> list[Finding]:
        raise pl.exceptions.PanicException("index out of bounds")

    report = check(checks=[panics])
    assert [(f.check, f.severity) for f in report.findings] == [("panics", "review")]
