"""raw_records: output rows and log lines equal to a row of a DATA_DIR table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
from airlock_helpers import PATIENT_COLUMNS, Check, patient_rows, write

from syft_code_queue.airlock.checks import raw_records
from syft_code_queue.airlock.tables import tokenizations

ROWS = patient_rows(60)


def found(report: object) -> list[str]:
    return [str(f.where) for f in report.findings]  # type: ignore[attr-defined]


def test_reordered_columns_other_header_case_and_number_formats_still_match(
    results: Path, check: Check
) -> None:
    p = ROWS[4]  # P0005
    order = [5, 0, 6, 3, 1, 4, 2]
    header = ",".join(PATIENT_COLUMNS[i].upper() for i in order)
    cells = [p[i] for i in order]
    cells[2] = f"{float(p[6]):.2f}"  # weight 67.0 written as 67.00
    cells[6] = f"{p[2]}.0"  # age 72 as 72.0
    cells[4] = f"  {p[1].upper()} "  # name padded and upper case
    write(results, "looks_like_a_summary.csv", f"{header}\n" + ",".join(cells) + "\n")
    report = check(checks=[raw_records])
    assert found(report) == ["output/looks_like_a_summary.csv, line 2, row 1"]
    assert "row 5 of the data file patients.csv" in report.findings[0].message


def test_a_table_written_with_an_index_column_matches(results: Path, check: Check) -> None:
    lines = ["," + ",".join(f"col{i}" for i in range(7))]
    lines += [f"{i}," + ",".join(ROWS[i]) for i in (30, 31)]
    write(results, "head.csv", "\n".join(lines) + "\n")
    report = check(checks=[raw_records])
    assert found(report) == ["output/head.csv, line 2, row 1", "output/head.csv, line 3, row 2"]


def test_a_record_read_as_the_header_of_a_headerless_output_matches(
    results: Path, check: Check
) -> None:
    write(results, "raw.csv", ",".join(ROWS[0]) + "\n" + ",".join(ROWS[1]) + "\n")
    report = check(checks=[raw_records])
    assert found(report) == ["output/raw.csv, line 1", "output/raw.csv, line 2, row 1"]


def test_a_printed_table_in_the_log_matches_by_line(results: Path, check: Check) -> None:
    p = ROWS[2]
    log = "summary\n" + "  ".join(PATIENT_COLUMNS) + "\n2  " + "   ".join(p) + "\n"
    (results / "stdout.txt").write_text(log)
    report = check(checks=[raw_records])
    assert found(report) == ["stdout.txt, line 3"]


def test_a_printed_dict_record_matches(results: Path, check: Check) -> None:
    record = dict(zip(PATIENT_COLUMNS, ROWS[9], strict=True))
    (results / "stderr.txt").write_text(f"bad row: {record}\n")
    report = check(checks=[raw_records])
    assert found(report) == ["stderr.txt, line 1"]


def test_aggregates_and_loose_values_do_not_match(results: Path, check: Check) -> None:
    write(results, "agg.csv", "sex,n\nF,40\nM,20\n")
    write(results, "ids.csv", "patient_id,n\nX1,40\nX2,20\n")
    (results / "stdout.txt").write_text("P0001 is fine\nAlice Smith\n")
    report = check(checks=[raw_records])
    assert report.findings == []


def test_a_record_with_one_value_changed_is_a_review_by_its_identifier(
    results: Path, check: Check
) -> None:
    p = list(ROWS[3])
    p[2] = str(int(p[2]) + 1)  # the age differs; the rest is patient 4
    write(results, "near.csv", ",".join(PATIENT_COLUMNS) + "\n" + ",".join(p) + "\n")
    report = check(checks=[raw_records])
    assert [(f.severity, str(f.where)) for f in report.findings] == [
        ("review", "output/near.csv, line 2, row 1")
    ]
    assert "1 row carries a patient_id of the data file patients.csv" in report.findings[0].message
    assert "the patient_id of data row 4" in report.findings[0].message


def test_identifiers_with_some_columns_are_a_review(results: Path, check: Check) -> None:
    lines = ["diagnosis,patient_id,score"] + [
        f"{r[5]},{r[0]},0.{i}" for i, r in enumerate(ROWS[:3])
    ]
    write(results, "scores.csv", "\n".join(lines) + "\n")
    report = check(checks=[raw_records])
    assert [(f.severity, str(f.where)) for f in report.findings] == [
        ("review", "output/scores.csv, line 2, row 1")
    ]
    assert report.findings[0].message.startswith("3 rows carry a patient_id")


def test_a_numeric_column_of_distinct_values_is_not_taken_for_an_identifier(
    results: Path, data_dir: Path, check: Check
) -> None:
    (data_dir / "patients.csv").unlink()
    (data_dir / "weights.csv").write_text("weight,height\n61.5,170\n72.25,180\n80.75,165\n")
    write(results, "means.csv", "weight,group\n72.25,a\n")
    assert check(checks=[raw_records]).findings == []


def test_parquet_and_json_lines_data_are_indexed(
    results: Path, data_dir: Path, check: Check
) -> None:
    (data_dir / "patients.csv").unlink()
    frame = pl.DataFrame({"id": ["A1", "A2"], "score": [1.5, 2.0], "group": ["x", "y"]})
    frame.write_parquet(data_dir / "scores.parquet")
    (data_dir / "visits.jsonl").write_text(
        json.dumps({"visit": "V1", "ward": "north", "days": 3}) + "\n"
        + json.dumps({"visit": "V2", "ward": "south", "days": 12}) + "\n"
    )  # fmt: skip
    write(results, "out.csv", "id,score,group\nA2,2,y\n")
    (results / "stdout.txt").write_text("V1\tnorth\t3\n")
    report = check(checks=[raw_records])
    assert found(report) == ["output/out.csv, line 2, row 1", "stdout.txt, line 1"]
    assert "scores.parquet" in report.findings[0].message
    assert "visits.jsonl" in report.findings[1].message


def test_an_output_as_long_as_the_data_is_a_review(results: Path, check: Check) -> None:
    lines = ["patient_id,risk"] + [f"{r[0]},{i % 3}" for i, r in enumerate(ROWS[:55])]
    write(results, "risk.csv", "\n".join(lines) + "\n")
    report = check(checks=[raw_records])
    assert [(f.severity, str(f.where)) for f in report.findings] == [
        ("review", "output/risk.csv"),
        ("review", "output/risk.csv, line 2, row 1"),
    ]
    assert "92% of the 60 rows of the data file patients.csv" in report.findings[0].message
    assert report.findings[1].message.startswith("55 rows carry a patient_id")


def test_findings_per_file_are_capped_with_a_count_of_the_rest(results: Path, check: Check) -> None:
    write(results, "all.csv", ",".join(PATIENT_COLUMNS) + "\n" + "\n".join(map(",".join, ROWS)))
    report = check(checks=[raw_records], max_findings_per_file=5)
    blocks = [f for f in report.findings if f.severity == "block"]
    assert [str(f.where) for f in blocks[1:]] == [
        f"output/all.csv, line {r + 1}, row {r}" for r in range(1, 6)
    ]
    assert "55 more rows or lines reproduce data rows" in blocks[0].message
    assert any(f.severity == "review" for f in report.findings)  # and it is as long as the data


def test_the_data_index_is_cached_and_rebuilt_when_the_data_changes(
    tmp_path: Path, results: Path, data_dir: Path, check: Check
) -> None:
    from syft_code_queue.airlock.data_index import clear_memo

    check(checks=[raw_records])
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert [Path(n).suffix for n in cached] == [".arrow", ".json"]
    new_row = ["P9999", "Zed Zulu", "99", "F", "ZZ99 9ZZ", "gout", "80.5"]
    with (data_dir / "patients.csv").open("a") as f:
        f.write(",".join(new_row) + "\n")
    os.utime(data_dir / "patients.csv", ns=(1, 1))  # a new mtime even on coarse clocks
    (results / "stdout.txt").write_text("  ".join(new_row) + "\n")
    clear_memo()
    report = check(checks=[raw_records])
    assert found(report) == ["stdout.txt, line 1"]
    assert len(list((tmp_path / "cache").iterdir())) == 4


def test_an_unreadable_data_file_is_an_info_finding_not_a_crash(
    results: Path, data_dir: Path, check: Check
) -> None:
    (data_dir / "broken.parquet").write_bytes(b"PAR1 not really")
    (results / "stdout.txt").write_text(",".join(ROWS[0]) + "\n")
    report = check(checks=[raw_records])
    assert [(f.severity, str(f.where)) for f in report.findings] == [
        ("block", "stdout.txt, line 1"),
        ("info", ""),
    ]
    assert "broken.parquet could not be read" in report.findings[1].message


def test_lines_are_cut_into_cells_the_ways_logs_print_rows() -> None:
    assert ["0", "P1", "Ann Lee", "34"] in tokenizations("0  P1  Ann Lee  34")
    assert ["P1", "Ann Lee", "34"] in tokenizations("row: ['P1', 'Ann Lee', 34]")
    assert ["P1", "Ann, Lee", "34"] in tokenizations('P1,"Ann, Lee",34')
    assert ["P1", "Ann Lee", "34"] in tokenizations("| P1 | Ann Lee | 34 |")
    assert ["P1", "Ann Lee", "34"] in tokenizations("Patient(id=P1, name=Ann Lee, age=34)")


def test_a_data_file_over_the_cap_is_named_not_read(results: Path, check: Check) -> None:
    (results / "stdout.txt").write_text(",".join(ROWS[0]) + "\n")
    report = check(checks=[raw_records], max_data_file_bytes=100)
    assert [(f.severity, f.where.file) for f in report.findings] == [("info", "")]
    assert "patients.csv" in report.findings[0].message
    assert "over max_data_file_bytes" in report.findings[0].message


def test_text_past_the_line_scan_budget_is_named(results: Path, check: Check) -> None:
    (results / "stdout.txt").write_text("ok\n" * 100 + "  ".join(ROWS[5]) + "\n")
    report = check(checks=[raw_records], line_scan_max_bytes=200)
    assert [(f.severity, str(f.where)) for f in report.findings] == [("review", "stdout.txt")]
    assert "only the first 200 bytes were compared" in report.findings[0].message
    assert [str(f.where) for f in check(checks=[raw_records]).findings] == ["stdout.txt, line 101"]


def test_a_missing_data_dir_is_said_not_silently_skipped(tmp_path: Path, results: Path) -> None:
    from syft_code_queue.airlock import check_results

    (results / "stdout.txt").write_text(",".join(ROWS[0]) + "\n")
    report = check_results(results, tmp_path / "gone", checks=[raw_records])
    assert [(f.severity, f.where.file) for f in report.findings] == [("info", "")]
    assert "is not a folder" in report.findings[0].message


def test_two_data_dirs_with_look_alike_files_keep_their_own_index(
    tmp_path: Path, results: Path
) -> None:
    from syft_code_queue.airlock import check_results

    first, second = tmp_path / "d1", tmp_path / "d2"
    for folder, value in ((first, "alpha"), (second, "omega")):
        folder.mkdir()
        (folder / "t.csv").write_text(f"id,name\nX1,{value}\n")
        os.utime(folder / "t.csv", ns=(10**18, 10**18))
    (results / "stdout.txt").write_text("X1,omega\n")
    cache = tmp_path / "shared-cache"
    assert check_results(results, first, checks=[raw_records], cache_dir=cache).findings == []
    hits = check_results(results, second, checks=[raw_records], cache_dir=cache).findings
    assert [str(f.where) for f in hits] == ["stdout.txt, line 1"]


def test_columns_named_like_the_checks_own_do_not_hide_records(results: Path, check: Check) -> None:
    header = [*PATIENT_COLUMNS, "out_row", "hash", "filled", "row", "key", "data"]
    body = [",".join([*ROWS[i], "1", "2", "3", "4", "5", "6"]) for i in (8, 9)]
    write(results, "sneaky.csv", ",".join(header) + "\n" + "\n".join(body) + "\n")
    write(results, "plain.csv", ",".join(PATIENT_COLUMNS) + "\n" + ",".join(ROWS[20]) + "\n")
    report = check(checks=[raw_records])
    assert [(f.severity, str(f.where)) for f in report.findings] == [
        ("block", "output/plain.csv, line 2, row 1"),
        ("block", "output/sneaky.csv, line 2, row 1"),
        ("block", "output/sneaky.csv, line 3, row 2"),
    ]
