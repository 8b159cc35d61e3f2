"""small_cells: counts below the threshold, and statistics over too few people."""

from __future__ import annotations

from pathlib import Path

from airlock_helpers import Check, write

from syft_code_queue.airlock.checks import small_cells


def flagged(report: object) -> list[str]:
    return [str(f.where) for f in report.findings]  # type: ignore[attr-defined]


def test_a_count_column_below_ten_is_flagged_by_row_and_column(results: Path, check: Check) -> None:
    write(results, "t.csv", "ward,n_patients\nnorth,40\nsouth,4\neast,12\nwest,9\n")
    report = check(checks=[small_cells])
    assert flagged(report) == [
        "output/t.csv, line 3, row 2, column 'n_patients'",
        "output/t.csv, line 5, row 4, column 'n_patients'",
    ]
    assert {f.severity for f in report.findings} == {"review"}


def test_the_threshold_is_configurable(results: Path, check: Check) -> None:
    write(results, "t.csv", "ward,count\nnorth,40\nsouth,4\neast,12\n")
    assert flagged(check(checks=[small_cells], min_cell_count=5)) == [
        "output/t.csv, line 3, row 2, column 'count'"
    ]
    assert len(check(checks=[small_cells], min_cell_count=20).findings) == 2


def test_a_crosstab_without_count_headers_is_read_as_counts(results: Path, check: Check) -> None:
    write(results, "x.tsv", "sex\tnorth\tsouth\tyear\nF\t51\t2\t2020\nM\t54\t48\t2020\n")
    report = check(checks=[small_cells])
    assert flagged(report) == ["output/x.tsv, line 2, row 1, column 'south'"]


def test_a_mean_over_few_people_is_flagged_beside_its_count(results: Path, check: Check) -> None:
    write(
        results, "m.csv",
        "group,n_age,mean_age,n_bmi,mean_bmi\na,30,41.2,3,27.1\nb,12,39.0,25,24.3\n",
    )  # fmt: skip
    report = check(checks=[small_cells])
    assert flagged(report) == [
        "output/m.csv, line 2, row 1, column 'n_bmi'",
        "output/m.csv, line 2, row 1, column 'mean_bmi'",
    ]
    assert "describes 3 people (column 'n_bmi')" in report.findings[1].message


def test_zeros_are_left_alone_unless_asked_for(results: Path, check: Check) -> None:
    write(results, "z.csv", "ward,n\nnorth,0\nsouth,15\n")
    assert check(checks=[small_cells]).findings == []
    assert flagged(check(checks=[small_cells], flag_zero_cells=True)) == [
        "output/z.csv, line 2, row 1, column 'n'"
    ]


def test_values_that_are_not_counts_are_not_flagged(results: Path, check: Check) -> None:
    write(results, "coef.csv", "term,estimate,p\nage,0.5,0.01\nsex,1.2,0.3\n")
    write(results, "years.csv", "id,year,visits_count\n1,2019,40\n2,2020,11\n")
    write(results, "notes.txt", "n = 3\n")
    assert check(checks=[small_cells]).findings == []


def test_json_lines_tables_are_checked_too(results: Path, check: Check) -> None:
    write(results, "c.jsonl", '{"site": "a", "count": 2}\n{"site": "b", "count": 50}\n')
    assert flagged(check(checks=[small_cells])) == ["output/c.jsonl, row 1, column 'count'"]


def test_a_big_table_lists_the_first_cells_and_counts_the_rest(results: Path, check: Check) -> None:
    write(results, "big.csv", "cell,n\n" + "".join(f"c{i},{i % 5 + 1}\n" for i in range(1000)))
    report = check(checks=[small_cells], max_findings_per_file=10)
    assert len(report.findings) == 11
    assert "990 more small cells" in report.findings[0].message


def test_markdown_tables_are_checked_by_line(results: Path, check: Check) -> None:
    write(
        results, "report.md",
        "# Results\n\nBy ward:\n\n| ward | n |\n|:-----|--:|\n| north | 40 |\n| south | 2 |\n\n"
        "Text between.\n\n| site | count |\n| --- | --- |\n| a | 7 |\n",
    )  # fmt: skip
    report = check(checks=[small_cells])
    assert flagged(report) == [
        "output/report.md, line 8, row 2, column 'n'",
        "output/report.md, line 14, row 1, column 'count'",
    ]


def test_json_summaries_are_tables_too(results: Path, check: Check) -> None:
    write(results, "flat.json", '{"n_female": 3, "n_male": 40, "note": "by sex"}')
    write(results, "columns.json", '{"site": ["a", "b"], "count": [12, 4]}')
    write(results, "nested.json", '{"by_sex": {"F": 3}}')
    assert flagged(check(checks=[small_cells])) == [
        "output/columns.json, row 2, column 'count'",
        "output/flat.json, row 1, column 'n_female'",
    ]


def test_a_long_table_is_read_the_same_as_a_short_one(results: Path, check: Check) -> None:
    rows = [f"c{i},{20 + i % 7},{'x' if i < 30_000 else i}" for i in range(60_000)]
    rows[45_000] = "c45000,3,45000"
    write(results, "long.csv", "cell,n,late_numbers\n" + "\n".join(rows) + "\n")
    report = check(checks=[small_cells])
    assert flagged(report) == ["output/long.csv, line 45002, row 45001, column 'n'"]
