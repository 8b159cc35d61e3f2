"""Aggregate statistics of the data owner's patients: counts and means, never a single row.

Reads ``$DATA_DIR/patients.csv`` (columns: patient_id, age, sex, diagnosis, systolic_bp),
writes ``$OUTPUT_DIR/summary.json`` and prints a two-line summary. Standard library only.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections import Counter
from pathlib import Path

# Categories smaller than this are merged into "other": a count of 1 or 2 can point at a
# person, which is exactly what an aggregate analysis must not reveal.
MIN_CELL = 5


def _counts(values: list[str]) -> dict[str, int]:
    """Counts by value, largest first, with small categories merged into "other"."""
    merged: Counter[str] = Counter()
    for value, n in Counter(values).items():
        merged[value if n >= MIN_CELL else "other"] += n
    return dict(merged.most_common())


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def summarize(rows: list[dict[str, str]]) -> dict[str, object]:
    """Row count, mean age, mean systolic blood pressure, counts by diagnosis and by sex."""
    return {
        "patients": len(rows),
        "mean_age": _mean([float(r["age"]) for r in rows]),
        "mean_systolic_bp": _mean([float(r["systolic_bp"]) for r in rows]),
        "by_diagnosis": _counts([r["diagnosis"] for r in rows]),
        "by_sex": _counts([r["sex"] for r in rows]),
        "min_cell": MIN_CELL,
    }


def main() -> int:
    data_dir = os.environ.get("DATA_DIR")
    output_dir = os.environ.get("OUTPUT_DIR")
    if not data_dir or not output_dir:
        print(
            "DATA_DIR and OUTPUT_DIR must be set (the data owner's server sets both)",
            file=sys.stderr,
        )
        return 2
    with (Path(data_dir) / "patients.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    summary = summarize(rows)
    (Path(output_dir) / "summary.json").write_text(
        json.dumps(summary, indent=2) + "\n", encoding="utf-8"
    )
    by_diagnosis = ", ".join(f"{k} {v}" for k, v in _counts([r["diagnosis"] for r in rows]).items())
    print(f"patients: {summary['patients']}, mean age: {summary['mean_age']}")
    print(f"by diagnosis: {by_diagnosis}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
