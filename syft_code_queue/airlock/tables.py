"""Tables as the checks see them: every cell a string, and rows hashed after normalizing.

Two rows are "the same record" when their cells are equal after normalizing each cell:
surrounding and repeated whitespace, letter case, and number formatting (``1``, ``1.0``,
``1e0`` and `` 1 `` are one value; other numbers keep 12 significant digits). A row's hash is
polars' 64-bit hash of its normalized cells joined by a separator, so a million-row table is
hashed in vectorised code and an output row is looked up in a hash join. polars documents
its hash as stable within one polars version only: cached hashes are keyed by that version.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

NORMALIZATION = "scq-rows/3"  # bump when normalized() changes: it invalidates cached hashes
SEED = 0x5C0
_SEP = "\x1f"
_MAX_EXACT_INT = float(2**53)
# Characters a printed list, tuple or quoted value wraps around a cell.
_TOKEN_WRAP = " \t'\"[](){}"  # noqa: S105 - not a password
_WS = re.compile(r"\s+")
_MD_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_WIDE_GAP = re.compile(r"\s{2,}")
_SPACE_RUN = r"\s\s|[^\S ]"  # two spaces, or any space but " "
_LEAD = re.compile(r"[\[({:=]\s*")
_TRAIL = re.compile(r"\s*[\])}]")
_GLUE = re.compile(r"[\[({]")  # a first cell with text glued before a bracket
_KEY = re.compile(r"^\s*['\"]?[\w .-]{1,64}['\"]?\s*[:=]\s*")

# What reading a hostile table can raise: polars panics are BaseExceptions (pyo3), and JSON
# nested deeper than Python's recursion limit raises RecursionError.
READ_ERRORS = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,
    ValueError,
    OSError,
    RecursionError,
)

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet",
                  ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}  # fmt: skip


def column_name(name: str) -> str:
    """A header as compared: trimmed, lower case, inner whitespace as one ``_``."""
    return _WS.sub("_", name.strip().lower())


def normalized(expr: pl.Expr) -> pl.Expr:
    """A cell as compared (see the module docstring); missing values become ``""``.

    The reference definition: ``normalized_column`` gives the same result per cell, faster.
    """
    text = _text(expr.cast(pl.String).str.strip_chars())
    number = expr.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.when(number.is_not_null()).then(_canonical(number)).otherwise(text).fill_null("")


def _text(stripped: pl.Expr) -> pl.Expr:
    return stripped.str.replace_all(r"\s+", " ").str.to_lowercase()


def _canonical(number: pl.Expr) -> pl.Expr:
    integral = number.is_finite() & (number.abs() < _MAX_EXACT_INT) & (number == number.round(0))
    return (
        pl.when(integral)
        .then(number.cast(pl.Int64, strict=False).cast(pl.String))
        .otherwise(number.round_sig_figs(12).cast(pl.String))
    )


def normalized_column(column: pl.Series) -> pl.Series:
    """``normalized`` applied to a whole column (named ``cell``), taking the cheapest equal
    path: a column without numbers skips number formatting, one of numbers only skips text
    handling, and whitespace runs are collapsed only where there are some."""
    # Polars Series methods read a name like "^a.*$" as a pattern: work under a plain name.
    frame = pl.DataFrame({"s": column.alias("s").cast(pl.String).str.strip_chars()})
    frame = frame.with_columns(n=pl.col("s").cast(pl.Float64, strict=False))
    parsed = frame["n"].is_not_null().sum()
    present = (frame["s"].is_not_null() & (frame["s"] != "")).sum()
    if parsed == 0:
        spaced = bool(frame["s"].str.contains(_SPACE_RUN).any())
        text = _text(pl.col("s")) if spaced else pl.col("s").str.to_lowercase()
        result = frame.select(text.fill_null(""))
    elif parsed == present:
        result = frame.select(_canonical(pl.col("n")).fill_null(""))
    else:
        number = pl.col("n")
        text = _text(pl.col("s"))
        result = frame.select(
            pl.when(number.is_not_null()).then(_canonical(number)).otherwise(text).fill_null("")
        )
    return result.to_series().alias("cell")


def cell_hashes(column: pl.Series) -> pl.Series:
    """The hash of each normalized cell of one column (a data table's key column)."""
    return normalized_column(column).hash(seed=SEED)


def row_hashes(frame: pl.DataFrame, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """``hash`` (u64) and ``filled`` (non-empty cells) of every row, over ``columns`` in
    that order (default: all columns)."""
    names = list(frame.columns if columns is None else columns)
    cells = pl.DataFrame(
        [normalized_column(frame[name]).alias(f"c{i}") for i, name in enumerate(names)]
    )
    return cells.select(
        pl.concat_str(pl.all(), separator=_SEP).hash(seed=SEED).alias("hash"),
        pl.sum_horizontal([(pl.col(c) != "").cast(pl.UInt16) for c in cells.columns]).alias(
            "filled"
        ),
    )


def read_table_bytes(data: bytes, kind: str) -> pl.DataFrame | None:
    """An output file's table with every column as strings, or ``None`` if it is not one."""
    try:
        if kind in ("csv", "tsv"):
            return pl.read_csv(
                io.BytesIO(data),
                separator="\t" if kind == "tsv" else ",",
                infer_schema=False,
                truncate_ragged_lines=True,
            )
        if kind == "jsonl":
            return _scalars(pl.read_ndjson(io.BytesIO(data)))
        if kind == "json":
            return _json_table(data)
        if kind == "parquet":
            return _scalars(pl.read_parquet(io.BytesIO(data)))
    except READ_ERRORS:
        return None
    return None


def read_table_file(path: Path, kind: str) -> pl.DataFrame:
    """A data file's table with every column as strings.

    Raises:
        Any of ``READ_ERRORS``: the file cannot be read as ``kind``.
    """
    if kind in ("csv", "tsv"):
        return pl.read_csv(
            path, separator="\t" if kind == "tsv" else ",", infer_schema=False,
            truncate_ragged_lines=True,
        )  # fmt: skip
    if kind == "jsonl":
        return _scalars(pl.read_ndjson(path))
    if kind == "parquet":
        return _scalars(pl.read_parquet(path))
    table = _json_table(path.read_bytes())
    if table is None:
        raise ValueError(f"{path.name} is JSON but not a list of records")
    return table


def _json_table(data: bytes) -> pl.DataFrame | None:
    """A JSON document as a table: a list of records (also under one key), a dict of equal
    columns, or a flat dict of values (one row)."""
    value = json.loads(data)
    if isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), list):
        value = next(iter(value.values()))  # {"rows": [...]}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return _scalars(pl.DataFrame(value, infer_schema_length=None))
    if isinstance(value, dict) and value:
        columns = list(value.values())
        if all(isinstance(c, list) for c in columns) and len({len(c) for c in columns}) == 1:
            return _scalars(pl.DataFrame({str(k): _texts(v) for k, v in value.items()}))
        if not any(isinstance(c, (list, dict)) for c in columns):
            return pl.DataFrame({str(k): _texts([v]) for k, v in value.items()})
    return None


def _texts(values: list[object]) -> list[str | None]:
    """JSON values as table cells: scalars as text, nested values dropped (``None``)."""
    return [
        None
        if v is None or isinstance(v, (list, dict))
        else json.dumps(v)
        if isinstance(v, bool)
        else str(v)
        for v in values
    ]


def _scalars(frame: pl.DataFrame) -> pl.DataFrame:
    """Only the columns of single values, as strings (nested lists and structs are dropped)."""
    keep = [
        i
        for i, t in enumerate(frame.schema.values())
        if not isinstance(t, (pl.List, pl.Array, pl.Struct))
    ]
    return frame.select(pl.nth(keep).cast(pl.String))  # by position: names may look like regexes


def markdown_tables(text: str) -> list[tuple[int, pl.DataFrame]]:
    """The pipe tables of a Markdown text (``df.to_markdown()``), each with the 1-based line of
    its header; every cell a string."""
    lines = text.splitlines()
    found: list[tuple[int, pl.DataFrame]] = []
    i = 0
    while i < len(lines) - 1:
        if not (lines[i].lstrip().startswith("|") and _MD_RULE.match(lines[i + 1])):
            i += 1
            continue
        header = _pipe_cells(lines[i])
        rows: list[list[str]] = []
        j = i + 2
        while j < len(lines) and lines[j].lstrip().startswith("|"):
            cells = _pipe_cells(lines[j])
            rows.append((cells + [""] * len(header))[: len(header)])
            j += 1
        names = [name or f"#{k + 1}" for k, name in enumerate(header)]
        if len(set(names)) == len(names):
            schema = dict.fromkeys(names, pl.String)
            found.append((i + 1, pl.DataFrame(rows, schema=schema, orient="row")))
        i = j
    return found


def _pipe_cells(line: str) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") else inner
    return [cell.strip() for cell in inner.split("|")]


def tokenizations(line: str) -> list[list[str]]:
    """The ways to cut one line of text into cells: by tab, comma (CSV quoting), pipe or
    semicolon; else by runs of 2+ spaces (a printed table, whose cells may hold one space)
    and by single spaces. Each also without text glued to the first and last cell and
    without ``key:`` / ``key=`` before each cell (a printed list, tuple, dict or record)."""
    if "\t" in line:
        cuts = [line.split("\t")]
    elif "," in line:
        cuts = [next(csv.reader([line]), [])]
    elif "|" in line:
        cuts = [line.split("|")]
    elif ";" in line:
        cuts = [line.split(";")]
    elif "  " in line.strip():
        cuts = [_WIDE_GAP.split(line.strip()), line.split()]
    else:
        cuts = [line.split()]
    keyed = ":" in line or "=" in line  # most lines have neither: skip the costly variants
    found: list[list[str]] = []
    for parts in cuts:
        variants = [parts]
        if keyed or _GLUE.search(parts[0] if parts else ""):
            unwrapped = _unwrapped(parts)
            variants.append(unwrapped)
            if keyed:
                variants.append([_KEY.sub("", part, count=1) for part in unwrapped])
        for cut in variants:
            cells = _trimmed([part.strip(_TOKEN_WRAP) for part in cut])
            if cells not in found:
                found.append(cells)
    return found


def _unwrapped(parts: list[str]) -> list[str]:
    """The cells without text glued before the first or after the last one, as in
    ``print("patient:", row)`` -> ``patient: ['P1', 'Ann', 34]``."""
    if not parts:
        return parts
    first = _LEAD.split(parts[0])[-1]
    last = _TRAIL.split(parts[-1])[0] if len(parts) > 1 else first
    return [first, *parts[1:-1], last] if len(parts) > 1 else [last]


def _trimmed(cells: list[str]) -> list[str]:
    start, end = 0, len(cells)
    while start < end and not cells[start]:
        start += 1
    while end > start and not cells[end - 1]:
        end -= 1
    return cells[start:end]


@dataclass(frozen=True)
class LineCells:
    """Every way of cutting every line of a text into cells, with each cell's hash.

    ``cuts[i]`` is one cutting of line ``line_of_cut[i]``; the flat arrays describe each cell:
    which cut it belongs to, its position there, and its normalized hash (``cell_hashes``).
    """

    cuts: list[list[str]]
    line_of_cut: list[int]
    cut_of_cell: list[int]
    position: list[int]
    hashes: pl.Series

    @classmethod
    def of(cls, lines: Iterable[tuple[int, str]], *, min_cells: int) -> LineCells:
        """The cells of ``lines`` ((line number, text) pairs); cuts with fewer than
        ``min_cells`` cells are left out."""
        cuts: list[list[str]] = []
        line_of_cut: list[int] = []
        for number, line in lines:
            for cells in tokenizations(line):
                if len(cells) >= min_cells:
                    cuts.append(cells)
                    line_of_cut.append(number)
        cells_flat = [cell for cut in cuts for cell in cut]
        cut_of_cell = [i for i, cut in enumerate(cuts) for _ in cut]
        position = [k for cut in cuts for k in range(len(cut))]
        hashes = cell_hashes(pl.Series("cell", cells_flat, dtype=pl.String))
        return cls(cuts, line_of_cut, cut_of_cell, position, hashes)

    def windows(
        self, keys: pl.Series, key_column: int, width: int
    ) -> tuple[list[int], pl.DataFrame] | None:
        """The runs of ``width`` consecutive cells whose cell at ``key_column`` is one of
        ``keys`` (cell hashes), hashed like table rows: the line of each run and a frame of
        ``hash`` and ``filled`` (as ``row_hashes``); ``None`` when there is none."""
        hits = self.hashes.is_in(keys.implode()).arg_true().to_list()
        line_numbers: list[int] = []
        runs: list[list[str]] = []
        for cell in hits:
            cut = self.cuts[self.cut_of_cell[cell]]
            start = self.position[cell] - key_column
            if start >= 0 and start + width <= len(cut):
                line_numbers.append(self.line_of_cut[self.cut_of_cell[cell]])
                runs.append(cut[start : start + width])
        if not runs:
            return None
        names = [f"c{i}" for i in range(width)]
        frame = pl.DataFrame(runs, schema=dict.fromkeys(names, pl.String), orient="row")
        return line_numbers, row_hashes(frame)
