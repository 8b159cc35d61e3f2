"""What the output checks report: findings, held files with a safe preview, the report."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Severity = Literal["block", "review", "info"]
SEVERITIES: tuple[Severity, ...] = ("block", "review", "info")

# What a file is, told from its bytes (the name only breaks ties between text formats).
FileKind = Literal[
    "empty",
    "text",
    "markdown",
    "csv",
    "tsv",
    "json",
    "jsonl",
    "svg",
    "png",
    "jpeg",
    "gif",
    "pdf",
    "parquet",
    "arrow",
    "zip",
    "gzip",
    "bzip2",
    "xz",
    "zstd",
    "7z",
    "tar",
    "pickle",
    "npy",
    "sqlite",
    "hdf5",
    "executable",
    "binary",
    "symlink",
    "special",
]


class Location(BaseModel):
    """Where a finding is: a held file, and inside it a line (text) or a row and column (table).

    ``line`` is the 1-based line of the file; ``row`` is the 1-based data row of a table (the
    header is not a row); ``column`` is the table's column name (or ``#k``, 1-based, for a
    table without a header). ``file`` is empty for a finding about the results as a whole
    (their total size, a check that failed, a data file that could not be read).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    line: int | None = None
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts)


class Finding(BaseModel):
    """One thing a check noticed. ``block``: must not leave as it is; ``review``: a person
    should look; ``info``: context for the checker."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    check: str
    severity: Severity
    message: str
    where: Location


class Preview(BaseModel):
    """A form of a held file that is safe to show: text is text, never markup.

    ``kind`` says which fields are set: ``text`` (the first lines, decoded with replacement
    characters), ``table`` (``header`` and the first ``rows``, every cell a string),
    ``image`` (only ``mime``: the viewer loads the bytes itself, as an image, never inline
    markup), ``binary`` (``hex``: a hex dump of the first bytes, ``strings``: printable runs),
    ``none`` (nothing readable: a link, a FIFO, a file too large to read).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["text", "table", "image", "binary", "none"]
    text: str | None = None
    header: list[str] | None = None
    rows: list[list[str]] | None = None
    mime: str | None = None
    hex: str | None = None
    strings: list[str] | None = None
    truncated: bool = False


class HeldFile(BaseModel):
    """One file of a job's held results (``output/...``, ``stdout.txt``, ``stderr.txt``).

    ``path`` is relative to the results root, POSIX style. ``sha256`` is of the exact bytes
    checked (``None`` for what is not a regular file, which is never released).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    size: int
    sha256: str | None
    kind: FileKind
    mime: str
    preview: Preview


class ResultsReport(BaseModel):
    """Every held file of one job and what the checks found in them.

    ``sha256`` maps each regular file's path to the digest of the bytes that were checked,
    so a release can refuse a file that changed after the check.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    uid: str
    checked_at: AwareDatetime
    files: list[HeldFile]
    findings: list[Finding]
    counts: dict[Severity, int]
    sha256: dict[str, str]
    checks: list[str] = Field(description="names of the checks that ran, in order")

    @property
    def blocked(self) -> bool:
        """True when any finding is ``block``."""
        return self.counts.get("block", 0) > 0

    def findings_for(self, path: str) -> list[Finding]:
        """The findings located in one held file."""
        return [f for f in self.findings if f.where.file == path]


class CheckConfig(BaseModel):
    """The owner's settings for the output checks; every field has the usual TRE default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Small cells
    min_cell_count: int = Field(default=10, ge=1, description="counts below this are small cells")
    flag_zero_cells: bool = Field(default=False, description="also flag counts of exactly 0")
    small_cell_severity: Severity = "review"
    acro_fail_severity: Severity = Field(default="block", description="an output ACRO says fails")
    # Raw records
    raw_record_severity: Severity = "block"
    row_ratio: float = Field(
        default=0.9, gt=0, le=1, description="an output table with this share of an input's rows"
    )
    row_ratio_min_rows: int = Field(
        default=20, ge=1, description="input tables smaller are not compared"
    )
    row_ratio_severity: Severity = "review"
    identifier_severity: Severity = Field(
        default="review", description="output rows carrying a data table's identifiers"
    )
    min_record_columns: int = Field(
        default=2, ge=1, description="data tables with fewer columns are not matched row by row"
    )
    line_scan_max_bytes: int = Field(
        default=16 << 20, ge=0, description="text scanned line by line for raw records, per file"
    )
    # File rules
    allowed_types: frozenset[str] = frozenset(
        {"csv", "tsv", "json", "txt", "md", "png", "svg", "pdf"}
    )
    disallowed_type_severity: Severity = "review"
    archive_severity: Severity = "block"
    pickle_severity: Severity = "block"
    binary_severity: Severity = "review"
    max_file_bytes: int = Field(default=100 << 20, ge=0, description="a larger file is a finding")
    max_total_bytes: int = Field(default=1 << 30, ge=0, description="all held files together")
    size_severity: Severity = "review"
    # Reading
    max_read_bytes: int = Field(
        default=256 << 20, ge=0, description="files larger are hashed but not read by the checks"
    )
    max_read_total_bytes: int = Field(
        default=1 << 30, ge=0, description="all files kept in memory together, at most"
    )
    max_data_file_bytes: int = Field(
        default=4 << 30, ge=0, description="DATA_DIR tables larger are not indexed"
    )
    max_findings_per_file: int = Field(
        default=50, ge=1, description="per check; the rest are counted"
    )
    preview_lines: int = Field(default=40, ge=1)
    preview_rows: int = Field(default=20, ge=1)
    preview_chars: int = Field(default=8000, ge=100)


def counts_by_severity(findings: list[Finding]) -> dict[Severity, int]:
    counts: dict[Severity, int] = dict.fromkeys(SEVERITIES, 0)
    for finding in findings:
        counts[finding.severity] += 1
    return counts


__all__ = [
    "SEVERITIES",
    "CheckConfig",
    "FileKind",
    "Finding",
    "HeldFile",
    "Location",
    "Preview",
    "ResultsReport",
    "Severity",
    "counts_by_severity",
]
