"""Small cells: counts in output tables below the threshold (``min_cell_count``, default 10).

Tables are CSV, TSV, JSON (lines) and Parquet outputs, and the pipe tables of Markdown and
text files (``df.to_markdown()``). A column holds counts when its header says so (``n``,
``count``, ``freq``, ``num_*``, ``n_*``, ``*_count``...) and every value is a whole number
>= 0; failing that, in a frequency-table shape (label columns, then whole-number columns; a
crosstab) every whole-number column that is not named like an identifier, a year or an age.
A count ``0 < c < min_cell_count`` is a finding (zeros too with ``flag_zero_cells``), named
by row and column. A statistic (``mean_*``, ``avg``, ``sum``, ``median``, ``sd``...) is
flagged in the rows where its paired count (``n_age`` for ``mean_age``, else the table's
only count column) is small: it describes that few people.

Files that an ACRO ``results.json`` flags (``fail`` or ``review``) are left to the ``acro``
check, which reports ACRO's own verdicts and reasons instead of guessing. Files it passes are
still checked here: the job wrote that file, so a ``pass`` in it proves nothing.

Not covered: tables printed as aligned text (``print(df)``), counts in prose or in nested
JSON, dominance (one contributor making up most of a sum).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import partial

import polars as pl

from syft_code_queue.airlock import tables
from syft_code_queue.airlock.context import CheckContext, FindingLimiter, guarded
from syft_code_queue.airlock.models import CheckConfig, Finding, Location
from syft_code_queue.airlock.tables import column_name

NAME = "small_cells"

_COUNT = re.compile(
    r"^(n|count|counts|freq|frequency|cnt|num|number|total|size|people|persons|patients)$"
    r"|^(n|num|number|count|number_of|count_of)_.+|.+_(n|count|counts|freq|cnt|num)$"
)
_STAT = re.compile(
    r"(^|_)(mean|avg|average|median|sum|sd|std|stdev|var|variance|min|max|"
    r"pct|percent|percentage|proportion|prop|rate)(_|$)"
)
_NOT_A_COUNT = re.compile(
    r"(^|_)(id|year|yr|code|zip|postcode|age|date|month|day|week|hour|index|idx|rank|"
    r"group|bin|level|version)(_|$)"
)
_NUMERIC_SHARE = 0.9
_SAMPLE_ROWS = 50_000  # larger tables are first ruled out on their first quarter


def small_cells(ctx: CheckContext) -> Iterator[Finding]:
    """Findings for each small count cell, and each statistic over a small count."""
    # The job wrote ACRO's results.json, so a "pass" there must not silence this check.
    covered = {output.file for output in ctx.acro_outputs if output.status != "pass"}
    limiter = FindingLimiter(NAME, ctx.config.max_findings_per_file)
    for file in ctx.files:
        if file.path in covered:
            continue
        yield from guarded(
            NAME, file.path, partial(_file_findings, ctx, file.path, file.kind, limiter)
        )
    yield from limiter.summaries("small cells")


def _file_findings(
    ctx: CheckContext, path: str, kind: str, limiter: FindingLimiter
) -> Iterator[Finding]:
    for table, line_of in _tables_of(ctx, path, kind):
        for finding in _table_findings(ctx, path, table, limiter, line_of):
            if (kept := limiter.add(finding)) is not None:
                yield kept


LineOf = Callable[[int], int | None]


def _tables_of(ctx: CheckContext, path: str, kind: str) -> list[tuple[pl.DataFrame, LineOf]]:
    """The tables of a held file, each with how to find the line of its 1-based row."""
    table = ctx.table(path)
    if table is not None:
        return [(table, lambda row: ctx.line_of_row(path, row))] if table.height else []
    text = ctx.text(path) if kind in ("markdown", "text") else None
    if not text or len(text) > ctx.config.line_scan_max_bytes:
        return []
    return [
        (frame, _lines_after(start))
        for start, frame in tables.markdown_tables(text)
        if frame.height
    ]


def _lines_after(header_line: int) -> LineOf:
    """Row 1 of a Markdown table is two lines below its header (the rule is between)."""

    def line_of(row: int) -> int:
        return header_line + 1 + row

    return line_of


def _table_findings(
    ctx: CheckContext, path: str, table: pl.DataFrame, limiter: FindingLimiter, line_of: LineOf
) -> Iterator[Finding]:
    config = ctx.config
    numbers = _numeric_columns(table)
    counts = _count_columns(table, numbers)
    low = 0 if config.flag_zero_cells else 1
    for column in counts:
        values = numbers[column]
        small = values.is_between(low, config.min_cell_count, closed="left")
        for row in _listed(small, path, config.max_findings_per_file, limiter, config):
            value = int(values[row])
            yield Finding(
                check=NAME,
                severity=config.small_cell_severity,
                message=f"count {value} in column {column!r} is below the threshold of "
                f"{config.min_cell_count}: a cell this small can identify people",
                where=_where(path, row, column, line_of),
            )
    for stat, count in _paired_statistics(table, numbers, counts):
        n = numbers[count]
        filled = table.get_column(stat).alias("v").cast(pl.String).str.strip_chars().ne("")
        small = n.is_between(low, config.min_cell_count, closed="left") & filled
        for row in _listed(small, path, config.max_findings_per_file, limiter, config):
            yield Finding(
                check=NAME,
                severity=config.small_cell_severity,
                message=f"{stat!r} here describes {int(n[row])} people (column {count!r}), "
                f"fewer than {config.min_cell_count}",
                where=_where(path, row, stat, line_of),
            )


def _listed(
    flags: pl.Series, path: str, limit: int, limiter: FindingLimiter, config: CheckConfig
) -> list[int]:
    """The first ``limit`` flagged rows (0-based); the rest are counted, not made findings."""
    rows = flags.arg_true()
    limiter.skipped(path, rows.len() - min(limit, rows.len()), config.small_cell_severity)
    return rows.head(limit).to_list()


def _where(path: str, index: int, column: str, line_of: LineOf) -> Location:
    row = index + 1
    return Location(file=path, row=row, line=line_of(row), column=column)


def _numeric_columns(table: pl.DataFrame) -> dict[str, pl.Series]:
    """Columns whose non-empty cells are (mostly) numbers, as Float64 (non-numbers null)."""
    # A first part of the table rules out most text columns cheaply: if it alone holds more
    # non-numbers than the whole column may, the full count cannot reach the share.
    names = list(table.columns)
    if table.height > _SAMPLE_ROWS:
        allowed = (1 - _NUMERIC_SHARE) * table.height
        present, parsed = _counts(table.head(table.height * 3 // 20), names)
        names = [n for n, p, k in zip(names, present, parsed, strict=True) if p - k <= allowed]
    if not names:
        return {}
    stripped = table.select(_columns(table, names).cast(pl.String).str.strip_chars())
    values = stripped.select(pl.all().cast(pl.Float64, strict=False))
    present = stripped.select((pl.all().is_not_null() & (pl.all() != "")).sum()).row(0)
    parsed = values.select(pl.all().is_not_null().sum()).row(0)
    return {
        n: values.to_series(i).alias("v")  # polars Series methods read names as patterns
        for i, (n, p, k) in enumerate(zip(names, present, parsed, strict=True))
        if p > 0 and k >= _NUMERIC_SHARE * p
    }


def _counts(table: pl.DataFrame, names: list[str]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Non-empty cells and numbers in each of the columns ``names``."""
    stripped = table.select(_columns(table, names).cast(pl.String).str.strip_chars())
    present = stripped.select((pl.all().is_not_null() & (pl.all() != "")).sum()).row(0)
    parsed = stripped.select(pl.all().cast(pl.Float64, strict=False).is_not_null().sum()).row(0)
    return present, parsed


def _columns(table: pl.DataFrame, names: list[str]) -> pl.Expr:
    """The columns ``names`` by position: a header like ``^.*$`` is a name, not a pattern."""
    return pl.nth([table.columns.index(n) for n in names])


def _whole(values: pl.Series) -> bool:
    present = values.drop_nulls()
    return present.len() > 0 and bool(((present >= 0) & (present == present.floor())).all())


def _count_columns(table: pl.DataFrame, numbers: dict[str, pl.Series]) -> list[str]:
    named = [
        c for c in numbers if _COUNT.match(column_name(c)) and not _STAT.search(column_name(c))
    ]
    named = [c for c in named if _whole(numbers[c])]
    if named:
        return named
    labels = [c for c in table.columns if c not in numbers]
    first = table.columns[0]
    if not labels and first in numbers and not _whole(numbers[first]):
        return []
    if not labels:
        labels = [first]  # a crosstab whose row labels are numbers (or a written index)
    candidates = [c for c in table.columns if c not in labels]
    if not candidates or not all(c in numbers and _whole(numbers[c]) for c in candidates):
        return []  # not a frequency table: some value column holds non-counts
    return [
        c
        for c in candidates
        if not _NOT_A_COUNT.search(column_name(c)) and not _STAT.search(column_name(c))
    ]


def _paired_statistics(
    table: pl.DataFrame, numbers: dict[str, pl.Series], counts: list[str]
) -> list[tuple[str, str]]:
    """(statistic column, its count column) pairs."""
    if not counts:
        return []
    pairs: list[tuple[str, str]] = []
    stems = {_stem(c, _COUNT_WORDS): c for c in counts}
    for column in table.columns:
        name = column_name(column)
        if column in counts or column not in numbers or not _STAT.search(name):
            continue
        paired = stems.get(_stem(column, _STAT_WORDS))
        if paired is None and len(counts) == 1:
            paired = counts[0]
        if paired is not None:
            pairs.append((column, paired))
    return pairs


_COUNT_WORDS = frozenset({"n", "num", "number", "count", "counts", "freq", "cnt", "of"})
_STAT_WORDS = frozenset(
    {"mean", "avg", "average", "median", "sum", "total", "sd", "std", "stdev", "var",
     "variance", "min", "max", "pct", "percent", "percentage", "proportion", "prop", "rate"}
)  # fmt: skip


def _stem(column: str, words: frozenset[str]) -> str:
    """``mean_age`` -> ``age``, ``n_age`` -> ``age``: what a statistic or count is about."""
    return "_".join(part for part in column_name(column).split("_") if part not in words)
