"""Raw records: output or log lines that reproduce a row of the data the job was given.

Every table under ``DATA_DIR`` is indexed as normalized row hashes (see
``syft_code_queue.airlock.tables``). An output table is matched by header where its columns
include a data table's columns (any order), else by position when it has as many columns
(or one more: a written index). Text (logs, ``.txt``, ``.md``, and the first line of every
table, which may be a record read as a header; every line of a table under 1 MB) is matched
line by line: every run of as many
consecutive cells as a data table has columns. A match is ``raw_record_severity`` (``block``).
An output table with at least ``row_ratio`` of a data table's rows is ``row_ratio_severity``
(``review``): it may be the records with a column changed. Output rows that carry an
identifier of a data table (a text column with a different value in every row, e.g.
``patient_id``, found under its own name) without matching its row in full are one
``identifier_severity`` (``review``) finding per file: a partial record.

Not covered: a record reproduced with some of its columns only and without its identifier
(a quasi-identifier subset), cells wrapped over several lines, numbers rounded differently
from the data, and identifiers in logs or under another column name.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import polars as pl

from syft_code_queue.airlock import tables
from syft_code_queue.airlock.context import CheckContext, FindingLimiter, guarded
from syft_code_queue.airlock.data_index import DataIndex, DataTable
from syft_code_queue.airlock.models import Finding, HeldFile, Location

NAME = "raw_records"
_LINE_KINDS = frozenset({"text", "markdown", "csv", "tsv", "json", "jsonl"})
_FULL_SCAN_TABLE_BYTES = 1 << 20


def raw_records(ctx: CheckContext) -> Iterator[Finding]:
    """Findings for every output row or log line equal to a row of a data table."""
    index = ctx.data_index
    for problem in index.problems:
        yield Finding(check=NAME, severity="info", message=problem, where=Location(file=""))
    if not index.tables:
        return
    limiter = FindingLimiter(NAME, ctx.config.max_findings_per_file)
    for file in ctx.files:
        if ctx.data(file.path) is not None:
            yield from guarded(NAME, file.path, partial(_file_findings, ctx, file, index, limiter))
    yield from limiter.summaries("rows or lines reproduce data rows")


def _file_findings(
    ctx: CheckContext, file: HeldFile, index: DataIndex, limiter: FindingLimiter
) -> Iterator[Finding]:
    data = ctx.data(file.path) or b""
    table = ctx.table(file.path)
    found: list[Finding] = []
    matched_lines: set[int] = set()
    if table is not None:
        yield from _row_ratio(ctx, file, table, index)
        matches, matched_rows, carriers = _table_matches(ctx, file, table, index)
        yield from carriers
        found += matches
        limiter.skipped(file.path, len(matched_rows) - len(matches), ctx.config.raw_record_severity)
        matched_lines = {line for r in matched_rows if (line := ctx.line_of_row(file.path, r))}
    budget = ctx.config.line_scan_max_bytes
    if table is None and file.kind in _LINE_KINDS and len(data) > budget:
        yield Finding(
            check=NAME,
            severity="review",
            message=f"only the first {budget:,} bytes were compared with the data line by "
            f"line (line_scan_max_bytes); the rest of its {len(data):,} bytes were not",
            where=Location(file=file.path),
        )
    if file.kind in _LINE_KINDS:
        # A table is matched as a table; its first line may be a record read as a header.
        # A small one whose rows are lines is also scanned line by line (other widths,
        # shifted cells), skipping the lines its rows matched.
        whole = table is None or (
            len(data) <= _FULL_SCAN_TABLE_BYTES and ctx.line_of_row(file.path, 1) is not None
        )
        lines = _line_matches(ctx, file, index, first_line_only=not whole)
        found += [f for f in lines if f.where.line not in matched_lines]
    for finding in found:
        if (kept := limiter.add(finding)) is not None:
            yield kept


def _table_matches(
    ctx: CheckContext, file: HeldFile, table: pl.DataFrame, index: DataIndex
) -> tuple[list[Finding], list[int], list[Finding]]:
    """Findings for the first matching rows (as many as the limit), every matching row, and
    one finding per data table whose identifiers appear in rows that do not match in full."""
    if table.height == 0:
        return [], [], []
    names = [tables.column_name(c) for c in table.columns]
    by_name = dict(zip(names, table.columns, strict=True))
    matched: list[pl.DataFrame] = []
    carrying: list[tuple[DataTable, pl.DataFrame]] = []
    for data in index.tables:
        columns = _aligned_columns(table, names, by_name, data)
        key_name = data.columns[data.key_column]
        if columns is not None:
            key_source = columns[data.key_column]
        elif data.key_is_identifier and key_name in by_name:
            key_source = by_name[key_name]
        else:
            continue
        # Only rows whose key cell is a key of the data can be records: hash those in full.
        # (Row numbers and keys travel beside the output's own columns, never among them: a
        # job may name a column anything.)
        keys = tables.cell_hashes(table[key_source])
        is_candidate = keys.is_in(data.rows["key"].implode())
        if not is_candidate.any():
            continue
        candidates = pl.DataFrame(
            {
                "out_row": (is_candidate.arg_true() + 1).cast(pl.UInt32),
                "key": keys.filter(is_candidate),
            }
        )
        full = pl.DataFrame(schema={"out_row": pl.UInt32, "row": pl.UInt32})
        if columns is not None:
            hashed = tables.row_hashes(table.filter(is_candidate), columns)
            joined = (
                hashed.with_columns(candidates["out_row"])
                .filter(pl.col("filled") >= 2)
                .join(data.rows.select("hash", "row"), on="hash", how="inner")
            )
            full = joined.select("out_row", "row")
            matched.append(full.with_columns(data=pl.lit(data.path)))
        if data.key_is_identifier:
            rest = candidates.filter(~pl.col("out_row").is_in(full["out_row"].implode()))
            if rest.height:
                carrying.append((data, rest))
    carriers = [_carrier_finding(ctx, file, data, rows) for data, rows in carrying]
    if not matched:
        return [], [], carriers
    rows = pl.concat(matched).unique(subset="out_row", keep="first").sort("out_row")
    listed = rows.head(ctx.config.max_findings_per_file)
    found = [
        Finding(
            check=NAME,
            severity=ctx.config.raw_record_severity,
            message=f"row {out_row} reproduces row {data_row} of the data file {data_path}: "
            "a raw record, not an aggregate",
            where=Location(file=file.path, row=out_row, line=ctx.line_of_row(file.path, out_row)),
        )
        for out_row, data_row, data_path in listed.iter_rows()
    ]
    return found, rows["out_row"].to_list(), carriers


def _carrier_finding(
    ctx: CheckContext, file: HeldFile, data: DataTable, rows: pl.DataFrame
) -> Finding:
    """One finding for the rows of an output that carry identifiers of a data table."""
    first = rows.sort("out_row").head(1).join(data.rows, on="key", how="inner")
    out_row, data_row = first["out_row"][0], first["row"][0]
    key_name = data.columns[data.key_column]
    return Finding(
        check=NAME,
        severity=ctx.config.identifier_severity,
        message=f"{rows.height:,} {'row carries' if rows.height == 1 else 'rows carry'} "
        f"a {key_name} of the data file {data.path} "
        f"(first: row {out_row}, the {key_name} of data row {data_row}): with other values "
        "changed or left out, a row tied to an identifier is still a record",
        where=Location(file=file.path, row=out_row, line=ctx.line_of_row(file.path, out_row)),
    )


def _aligned_columns(
    table: pl.DataFrame, names: list[str], by_name: dict[str, str], data: DataTable
) -> list[str] | None:
    """The output's columns in the data table's order, or ``None`` when they cannot align."""
    if len(by_name) == len(names) and set(data.columns) <= set(by_name):
        return [by_name[c] for c in data.columns]
    if table.width == len(data.columns):
        return list(table.columns)
    if table.width == len(data.columns) + 1:  # an index column written in front
        return list(table.columns[1:])
    return None


def _row_ratio(
    ctx: CheckContext, file: HeldFile, table: pl.DataFrame, index: DataIndex
) -> list[Finding]:
    config = ctx.config
    best: tuple[float, DataTable] | None = None
    for data in index.tables:
        if data.n_rows < config.row_ratio_min_rows:
            continue
        ratio = table.height / data.n_rows
        if ratio >= config.row_ratio and (best is None or ratio < best[0]):
            best = (ratio, data)  # the closest in size is the likeliest source
    if best is None:
        return []
    ratio, data = best
    return [
        Finding(
            check=NAME,
            severity=config.row_ratio_severity,
            message=f"{table.height:,} rows, {ratio:.0%} of the {data.n_rows:,} rows of the "
            f"data file {data.path}: an output this long may be the records themselves",
            where=Location(file=file.path),
        )
    ]


def _line_matches(
    ctx: CheckContext, file: HeldFile, index: DataIndex, *, first_line_only: bool
) -> list[Finding]:
    if first_line_only:
        raw = ctx.data(file.path) or b""
        end = raw.find(b"\n")
        text = (raw if end < 0 else raw[:end]).decode("utf-8", errors="replace")
    else:
        text = (ctx.text(file.path) or "")[: ctx.config.line_scan_max_bytes]
    if not text:
        return []
    lines = enumerate(text.splitlines(), start=1)
    cells = tables.LineCells.of(lines, min_cells=min(index.widths))
    found: dict[int, Finding] = {}
    for data in index.tables:
        # Only runs whose cell in the key column's place is a key of the data can be rows.
        runs = cells.windows(data.rows["key"], data.key_column, len(data.columns))
        if runs is None:
            continue
        line_numbers, hashed = runs
        hashed = hashed.with_row_index("run").filter(pl.col("filled") >= 2)
        matches = hashed.join(data.rows, on="hash", how="inner").sort("run")
        for run, data_row in matches.select("run", "row").iter_rows():
            line = line_numbers[run]
            if line in found:
                continue
            found[line] = Finding(
                check=NAME,
                severity=ctx.config.raw_record_severity,
                message=f"line {line} reproduces row {data_row} of the data file "
                f"{data.path}: a raw record",
                where=Location(file=file.path, line=line),
            )
    return [found[line] for line in sorted(found)]
