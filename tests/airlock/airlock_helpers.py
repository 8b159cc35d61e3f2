"""Helpers of the output-check tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from syft_code_queue.airlock import ResultsReport

# check(checks=None, **config) -> ResultsReport over the test's results folder and DATA_DIR
Check = Callable[..., ResultsReport]
# run_job(python_source) runs it as a job: DATA_DIR, OUTPUT_DIR set; logs into the results
RunJob = Callable[[str], subprocess.CompletedProcess[bytes]]

FIRST = ["Alice", "Bob", "Carol", "Dan", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy"]
LAST = ["Smith", "Jones", "White", "Brown", "Black", "Green"]
DIAGNOSES = ["asthma", "diabetes", "copd", "hypertension"]
PATIENT_COLUMNS = ["patient_id", "name", "age", "sex", "postcode", "diagnosis", "weight_kg"]


def patient_rows(count: int) -> list[list[str]]:
    """``count`` made-up patients, the same every time."""
    rows = []
    for i in range(count):
        rows.append(
            [
                f"P{i + 1:04d}",
                f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}",
                str(20 + (i * 13) % 60),
                "F" if i % 3 else "M",
                f"AB{(i * 31) % 97:02d} {i % 9}XY",
                DIAGNOSES[(i * 5) % len(DIAGNOSES)],
                f"{50 + (i * 17) % 50}.{i % 10}",
            ]
        )
    return rows


def write(results: Path, name: str, content: str | bytes) -> Path:
    """Put a file among the job's outputs (``name`` relative to output/)."""
    path = results / "output" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


def severities(report: ResultsReport, check: str | None = None) -> list[tuple[str, str]]:
    """(severity, file) of each finding, optionally of one check only."""
    return [
        (f.severity, f.where.file) for f in report.findings if check is None or f.check == check
    ]
