"""What a check is given: the held files, their bytes, parsed tables and the data index.

A check is any callable ``check(ctx: CheckContext) -> Iterable[Finding]``. Its ``__name__``
names it in the report. It reads files only through the context (so every check sees the
exact bytes that were hashed) and never raises on a bad file: it reports a finding instead.
Everything the context derives (decoded text, tables, the data index) is computed once and
shared by all checks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from syft_code_queue.airlock import filetypes
from syft_code_queue.airlock.held import HeldContent
from syft_code_queue.airlock.models import CheckConfig, Finding, HeldFile, Location, Severity

if TYPE_CHECKING:
    import polars as pl

    from syft_code_queue.airlock.acro import AcroOutput
    from syft_code_queue.airlock.data_index import DataIndex

Check: TypeAlias = Callable[["CheckContext"], Iterable[Finding]]

log = logging.getLogger(__name__)


class CheckContext:
    """The held results of one job, as every check reads them."""

    def __init__(
        self,
        held: list[HeldContent],
        *,
        config: CheckConfig,
        data_dir: Path | None,
        cache_dir: Path | None,
    ) -> None:
        self.config = config
        self.data_dir = data_dir
        self.cache_dir = cache_dir
        self._held = {h.file.path: h for h in held}
        self._text: dict[str, str | None] = {}
        self._tables: dict[str, pl.DataFrame | None] = {}
        self._rows_are_lines: dict[str, bool] = {}

    @property
    def files(self) -> list[HeldFile]:
        """Every held file, sorted by path."""
        return [h.file for h in self._held.values()]

    def problem(self, path: str) -> str | None:
        """Why a file was not read (a link, a FIFO, too large), or ``None``."""
        return self._held[path].problem

    def data(self, path: str) -> bytes | None:
        """The exact bytes of a held file that were hashed; ``None`` when it was not read."""
        return self._held[path].data

    def text(self, path: str) -> str | None:
        """A held file as text; ``None`` when it is not UTF-8 text or was not read."""
        if path not in self._text:
            data = self.data(path)
            kind = self._held[path].file.kind
            ok = data is not None and kind in filetypes.TEXT_KINDS
            self._text[path] = filetypes.decode_text(data, complete=True) if ok and data else None
        return self._text[path]

    def table(self, path: str) -> pl.DataFrame | None:
        """A held CSV, TSV, JSON (lines) or Parquet file as a table of strings, else ``None``."""
        if path not in self._tables:
            held = self._held[path]
            table = None
            if held.data is not None and held.file.kind in filetypes.TABLE_KINDS:
                from syft_code_queue.airlock import tables

                table = tables.read_table_bytes(held.data, held.file.kind)
            self._tables[path] = table
        return self._tables[path]

    def line_of_row(self, path: str, row: int) -> int | None:
        """The file line of a CSV/TSV data row (1-based), when each row is one line."""
        if path not in self._rows_are_lines:
            held = self._held[path]
            table = self.table(path)
            one_per_line = False
            if held.data is not None and table is not None and held.file.kind in ("csv", "tsv"):
                ends = held.data.count(b"\n") + (0 if held.data.endswith(b"\n") else 1)
                one_per_line = ends == table.height + 1
            self._rows_are_lines[path] = one_per_line
        return row + 1 if self._rows_are_lines[path] else None

    @cached_property
    def data_index(self) -> DataIndex:
        """The row-hash index of ``DATA_DIR`` (built or loaded from the cache once)."""
        from syft_code_queue.airlock.data_index import build_index

        return build_index(
            self.data_dir,
            self.cache_dir,
            min_columns=self.config.min_record_columns,
            max_file_bytes=self.config.max_data_file_bytes,
        )

    @cached_property
    def acro_outputs(self) -> list[AcroOutput]:
        """Every output that an ACRO ``results.json`` among the held files describes."""
        from syft_code_queue.airlock.acro import read_acro_outputs

        return read_acro_outputs(self)


def guarded(check: str, path: str, findings: Callable[[], Iterable[Finding]]) -> list[Finding]:
    """The findings of one check on one file; if that fails, one ``review`` finding saying
    so, and the check goes on with the other files (a hostile file cannot switch it off)."""
    try:
        return list(findings())
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # polars panics are BaseExceptions
        log.warning("output check %s failed on %s: %r", check, path, err)
        return [
            Finding(
                check=check,
                severity="review",
                message=f"this file could not be checked ({type(err).__name__}: {err}); "
                "look at it yourself",
                where=Location(file=path),
            )
        ]


class FindingLimiter:
    """Keeps at most ``limit`` findings per file for one check and counts the rest, so a
    million small cells give fifty findings and one summary, not a million."""

    def __init__(self, check: str, limit: int) -> None:
        self.check = check
        self.limit = limit
        self._kept: dict[str, int] = {}
        self._dropped: dict[str, tuple[int, Severity]] = {}

    def add(self, finding: Finding) -> Finding | None:
        file = finding.where.file
        if self._kept.get(file, 0) < self.limit:
            self._kept[file] = self._kept.get(file, 0) + 1
            return finding
        count, _ = self._dropped.get(file, (0, finding.severity))
        self._dropped[file] = (count + 1, finding.severity)
        return None

    def skipped(self, file: str, count: int, severity: Severity) -> None:
        """Count ``count`` findings that were never made (a check stopped making them)."""
        if count > 0:
            before, _ = self._dropped.get(file, (0, severity))
            self._dropped[file] = (before + count, severity)

    def summaries(self, what: str) -> list[Finding]:
        return [
            Finding(
                check=self.check,
                severity=severity,
                message=f"{count} more {what} in this file (the first {self.limit} are listed)",
                where=Location(file=file),
            )
            for file, (count, severity) in self._dropped.items()
        ]
