"""Outputs a job can write to trip the checks: each is reported, none stops the check."""

from __future__ import annotations

from pathlib import Path

import pytest
from airlock_helpers import Check, write

HOSTILE: dict[str, bytes] = {
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
    "deep_lines.jsonl": b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n",
    "ragged.csv": b'a,b\n1,2,3,4\n5\n"unclosed,6\n',
    "wide.csv": (
        ",".join(f"c{i}" for i in range(5000)) + "\n" + ",".join("1" * 5000) + "\n"
    ).encode(),
    "latin1.csv": "name,n\nJos\xe9,3\n".encode("latin-1"),
    "junk_after_head.csv": b"a,n\n" + b"x,1\n" * 20_000 + b"\xff\xfe\x00\x01" * 10,
    "one_long_line.txt": b"x" * 3_000_000,
    "nul.csv": b"a,b\n1,\x002\n",
    "bom.csv": b"\xef\xbb\xbfward,n\nnorth,4\n",
    "mixed.jsonl": b'{"a": 1}\n{"a": "x", "b": [1, 2]}\n{"a": null}\n',
    "empty_header.csv": b",,\n1,2,3\n",
    "regex_names.csv": b"^n.*$,^.*$,n\n1,2,3\n4,5,6\n",
    "regex_keys.json": b'[{"^a.*$": 1, "ab": 2}, {"^a.*$": 3, "ab": 4}]',
}


def test_a_header_that_looks_like_a_pattern_is_a_name(
    results: Path, data_dir: Path, check: Check
) -> None:
    (data_dir / "odd.csv").write_text("^id.*$,^.*$\nQ1,alpha\nQ2,beta\n")
    write(results, "t.csv", "^n.*$,^.*$,n_people\n5,x,3\n")
    write(results, "copy.csv", "^.*$,^id.*$\nbeta,Q2\n")
    report = check()
    assert [(f.check, str(f.where)) for f in report.findings] == [
        ("raw_records", "output/copy.csv, line 2, row 1"),
        ("small_cells", "output/t.csv, line 2, row 1, column 'n_people'"),
    ]
    assert "failed" not in report.model_dump_json()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_output_is_checked_without_stopping(
    results: Path, check: Check, name: str
) -> None:
    write(results, name, HOSTILE[name])
    report = check()
    (held,) = [f for f in report.files if f.path == f"output/{name}"]
    assert held.sha256 is not None
    failed = [f for f in report.findings if "the check failed" in f.message]
    assert failed == []


def test_a_bom_does_not_hide_a_small_cell(results: Path, check: Check) -> None:
    write(results, "bom.csv", HOSTILE["bom.csv"])
    report = check()
    assert [(f.check, f.where.column) for f in report.findings] == [("small_cells", "n")]


def test_table_previews_cut_long_cells_and_wide_rows(results: Path, check: Check) -> None:
    write(results, "wide.csv", HOSTILE["wide.csv"])
    write(results, "long.csv", b"a,b\n" + b"y" * 10_000 + b",1\n")
    report = check(checks=[])
    held = {f.path: f.preview for f in report.files}
    assert held["output/wide.csv"].header is not None
    assert len(held["output/wide.csv"].header) <= 100
    rows = held["output/long.csv"].rows
    assert rows is not None and len(rows[0][0]) <= 1000
    assert held["output/long.csv"].truncated
