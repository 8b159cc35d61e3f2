"""The row-hash index of the data a job was given (its ``DATA_DIR``), cached on disk.

Each data table (CSV, TSV, Parquet, JSON lines, a JSON list of records) becomes its header
(normalized names, in order), its row count and a frame of ``hash`` -> ``row`` (the first
1-based data row with that hash) and ``key``: the hash of the row's cell in the table's most
distinct column (its key column). An output table is first cut to the rows whose key cell is
a key of the data, so only those few rows are normalized in full.

Building it reads the table once; the result is written to ``cache_dir`` under a key of
the file's (path, size, mtime), the polars version and the normalization version, and kept
in memory for the next check of the same data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from syft_code_queue import fsio
from syft_code_queue.airlock import tables

log = logging.getLogger(__name__)

_MEMO_SIZE = 8  # data tables kept in memory (a 1M-row table takes about 20 MB)
_memo: OrderedDict[str, DataTable] = OrderedDict()
_memo_lock = threading.Lock()


@dataclass(frozen=True)
class DataTable:
    """One data file's rows as hashes. ``rows`` has columns ``hash`` (u64), ``row`` (u32)
    and ``key`` (u64: the hash of the row's cell in column ``key_column``)."""

    path: str  # relative to DATA_DIR, POSIX style
    columns: tuple[str, ...]  # normalized header names, in file order
    n_rows: int
    key_column: int  # the position of the most distinct column
    key_is_identifier: bool  # every row has its own key, and the keys are not all numbers
    rows: pl.DataFrame


@dataclass(frozen=True)
class DataIndex:
    """Every data table of a ``DATA_DIR``, and the data files that could not be read."""

    tables: list[DataTable] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def widths(self) -> set[int]:
        return {len(t.columns) for t in self.tables}


def build_index(
    data_dir: Path | None,
    cache_dir: Path | None,
    *,
    min_columns: int,
    max_file_bytes: int,
    min_filled: int = 2,
) -> DataIndex:
    """The index of every table file below ``data_dir`` (empty when it is ``None``).

    Tables with fewer than ``min_columns`` columns are left out (a one-column list of values
    matches too much by chance), and so are rows with fewer than ``min_filled`` non-empty cells.
    Files over ``max_file_bytes`` are not read; each is named in ``problems``.
    """
    if data_dir is None:
        return DataIndex()
    if not data_dir.is_dir():
        return DataIndex(problems=[f"DATA_DIR {data_dir} is not a folder: no data to compare"])
    index = DataIndex()
    for path in _table_files(data_dir):
        rel = path.relative_to(data_dir).as_posix()
        try:
            size = path.stat().st_size
            if size > max_file_bytes:
                index.problems.append(
                    f"data file {rel} ({size:,} bytes) is over max_data_file_bytes and was "
                    "not compared with the outputs"
                )
                continue
            table = _load(path, rel, cache_dir, min_filled=min_filled)
        except tables.READ_ERRORS as err:
            log.warning("data file %s could not be indexed: %s", path, err)
            index.problems.append(f"data file {rel} could not be read as a table ({err})")
            continue
        if len(table.columns) >= min_columns:
            index.tables.append(table)
    return index


def _table_files(data_dir: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, names in os.walk(data_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(folder) / name
            if path.suffix.lower() in tables.TABLE_SUFFIXES and not name.startswith("."):
                found.append(path)
    return found


def _key(path: Path, rel: str, min_filled: int) -> str:
    info = path.stat()
    # The absolute path too: two DATA_DIRs may hold a "patients.csv" of the same size.
    parts = [str(path.resolve()), rel, str(info.st_size), str(info.st_mtime_ns), str(info.st_ino),
             pl.__version__, tables.NORMALIZATION, str(min_filled)]  # fmt: skip
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


def _load(path: Path, rel: str, cache_dir: Path | None, *, min_filled: int) -> DataTable:
    key = _key(path, rel, min_filled)
    with _memo_lock:
        if key in _memo:
            _memo.move_to_end(key)
            return _memo[key]
    table = _read_cached(cache_dir, key, rel) if cache_dir is not None else None
    if table is None:
        table = _index_file(path, rel, min_filled=min_filled)
        if cache_dir is not None:
            _write_cached(cache_dir, key, table)
    with _memo_lock:
        _memo[key] = table
        while len(_memo) > _MEMO_SIZE:
            _memo.popitem(last=False)
    return table


def _index_file(path: Path, rel: str, *, min_filled: int) -> DataTable:
    kind = tables.TABLE_SUFFIXES[path.suffix.lower()]
    frame = tables.read_table_file(path, kind)
    # The key column is the most distinct one; an estimate picks it, an exact count confirms it.
    distinct = frame.select(pl.all().approx_n_unique()).row(0) if frame.width else ()
    key_column = max(range(len(distinct)), key=lambda i: distinct[i]) if distinct else 0
    hashed = tables.row_hashes(frame).with_row_index("row", offset=1)
    if frame.width:
        hashed = hashed.with_columns(key=tables.cell_hashes(frame[frame.columns[key_column]]))
    else:
        hashed = hashed.with_columns(key=pl.lit(0, dtype=pl.UInt64))
    rows = (
        hashed.filter(pl.col("filled") >= min_filled)
        .unique(subset="hash", keep="first", maintain_order=True)
        .select("hash", pl.col("row").cast(pl.UInt32), "key")
    )
    columns = tuple(tables.column_name(c) for c in frame.columns)
    identifier = False
    key = frame.to_series(key_column).alias("key") if frame.width else pl.Series("key", [])
    if frame.height > 1 and key.n_unique() == frame.height:
        stripped = key.cast(pl.String).str.strip_chars()
        identifier = bool(stripped.cast(pl.Float64, strict=False).is_null().any())
    return DataTable(
        path=rel,
        columns=columns,
        n_rows=frame.height,
        key_column=key_column,
        key_is_identifier=identifier,
        rows=rows,
    )


def _read_cached(cache_dir: Path, key: str, rel: str) -> DataTable | None:
    meta_path, rows_path = cache_dir / f"{key}.json", cache_dir / f"{key}.arrow"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        rows = pl.read_ipc(rows_path)
    except (OSError, ValueError, pl.exceptions.PolarsError):
        return None
    if meta.get("path") != rel or rows.columns != ["hash", "row", "key"]:
        return None
    return DataTable(
        path=rel,
        columns=tuple(meta["columns"]),
        n_rows=int(meta["n_rows"]),
        key_column=int(meta["key_column"]),
        key_is_identifier=bool(meta["key_is_identifier"]),
        rows=rows,
    )


def _write_cached(cache_dir: Path, key: str, table: DataTable) -> None:
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        buffer = table.rows.write_ipc(None)
        fsio.atomic_write_bytes(cache_dir / f"{key}.arrow", buffer.getvalue(), durable=False)
        meta = {
            "path": table.path,
            "columns": list(table.columns),
            "n_rows": table.n_rows,
            "key_column": table.key_column,
            "key_is_identifier": table.key_is_identifier,
        }
        fsio.atomic_write_json(cache_dir / f"{key}.json", meta, durable=False)
    except OSError as err:  # a cache that cannot be written only costs time
        log.warning("could not cache the index of %s in %s: %s", table.path, cache_dir, err)


def clear_memo() -> None:
    """Forget the in-memory copies (the on-disk cache stays): for tests and benchmarks."""
    with _memo_lock:
        _memo.clear()
