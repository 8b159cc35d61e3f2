"""acro: ACRO's own per-output verdicts, read from the results.json it wrote."""

from __future__ import annotations

import json
from pathlib import Path

from airlock_helpers import Check, write

from syft_code_queue.airlock.checks import acro, small_cells

ACRO_OUTPUTS = Path(__file__).parents[1] / "data" / "acro_1.0.2" / "outputs"


def copy_acro_outputs(results: Path, folder: str = "acro") -> None:
    for path in sorted(ACRO_OUTPUTS.rglob("*")):
        if path.is_file():
            write(results, f"{folder}/{path.relative_to(ACRO_OUTPUTS)}", path.read_bytes())


def test_each_acro_output_becomes_a_finding_with_its_verdict_and_reasons(
    results: Path, check: Check
) -> None:
    copy_acro_outputs(results)
    report = check(checks=[acro])
    by_file = {f.where.file: f for f in report.findings}
    assert {file: f.severity for file, f in by_file.items()} == {
        "output/acro/output_0_0.csv": "block",
        "output/acro/output_1_0.csv": "info",
        "output/acro/session_summary.json": "review",
        "output/acro/session_summary.csv": "review",
    }
    failed = by_file["output/acro/output_0_0.csv"].message
    assert failed.startswith("ACRO fail (table output_0)")
    assert "MinimumThresholdCheck: fail - 2 cells may need suppressing" in failed
    assert "MinimumThresholdCheck cells (row, column; 0-based): (0, 0), (1, 0)" in failed
    assert "comments: site counts by sex" in failed


def test_small_cells_leaves_acro_checked_files_to_acro(results: Path, check: Check) -> None:
    copy_acro_outputs(results)
    write(results, "mine.csv", "site,n\na,3\n")
    report = check(checks=[small_cells])
    assert [f.where.file for f in report.findings] == ["output/mine.csv"]


def test_a_requested_exception_and_a_fail_severity_are_shown(results: Path, check: Check) -> None:
    document = json.loads((ACRO_OUTPUTS / "results.json").read_text())
    document["results"]["output_0"]["exception"] = "cells are structural zeros"
    write(results, "results.json", json.dumps(document))
    write(results, "output_0_0.csv", (ACRO_OUTPUTS / "output_0_0.csv").read_bytes())
    report = check(checks=[acro], acro_fail_severity="review")
    (failed,) = [f for f in report.findings if f.where.file == "output/output_0_0.csv"]
    assert failed.severity == "review"
    assert failed.message.endswith("exception requested: cells are structural zeros")


def test_a_results_json_that_is_not_acros_is_ignored(results: Path, check: Check) -> None:
    write(results, "results.json", json.dumps({"results": {"accuracy": 0.91}}))
    write(results, "other/results.json", json.dumps({"results": [1, 2]}))
    assert check(checks=[acro]).findings == []


def test_a_forged_acro_pass_does_not_silence_the_small_cells_check(
    results: Path, check: Check
) -> None:
    document = json.loads((ACRO_OUTPUTS / "results.json").read_text())
    document["results"]["output_0"]["status"] = "pass"
    write(results, "results.json", json.dumps(document))
    write(results, "output_0_0.csv", (ACRO_OUTPUTS / "output_0_0.csv").read_bytes())
    report = check(checks=[acro, small_cells])
    on_table = [f for f in report.findings if f.where.file == "output/output_0_0.csv"]
    assert [(f.check, f.severity, str(f.where)) for f in on_table] == [
        ("small_cells", "review", "output/output_0_0.csv, line 2, row 1, column 'east'"),
        ("small_cells", "review", "output/output_0_0.csv, line 3, row 2, column 'east'"),
        ("acro", "info", "output/output_0_0.csv"),
    ]
