"""Telling what a file is from its first bytes, and a preview of it that is safe to show.

The name is trusted only to choose between text formats (``.csv`` vs ``.tsv`` vs ``.md``):
a pickle named ``summary.csv`` is a pickle.
"""

from __future__ import annotations

import csv
import io
import json
import pickletools
import re

from syft_code_queue.airlock.models import FileKind, Preview

HEAD_BYTES = 64 << 10  # what type detection and previews look at
PREVIEW_COLUMNS = 100  # a table preview shows at most this many columns
PREVIEW_CELL_CHARS = 200  # and this many characters of a cell

_MAGIC: list[tuple[bytes, FileKind, str]] = [
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (b"\xff\xd8\xff", "jpeg", "image/jpeg"),
    (b"GIF87a", "gif", "image/gif"),
    (b"GIF89a", "gif", "image/gif"),
    (b"%PDF-", "pdf", "application/pdf"),
    (b"PAR1", "parquet", "application/vnd.apache.parquet"),
    (b"ARROW1", "arrow", "application/vnd.apache.arrow.file"),
    (b"PK\x03\x04", "zip", "application/zip"),
    (b"PK\x05\x06", "zip", "application/zip"),
    (b"\x1f\x8b", "gzip", "application/gzip"),
    (b"BZh", "bzip2", "application/x-bzip2"),
    (b"\xfd7zXZ\x00", "xz", "application/x-xz"),
    (b"\x28\xb5\x2f\xfd", "zstd", "application/zstd"),
    (b"7z\xbc\xaf\x27\x1c", "7z", "application/x-7z-compressed"),
    (b"\x93NUMPY", "npy", "application/octet-stream"),
    (b"SQLite format 3\x00", "sqlite", "application/vnd.sqlite3"),
    (b"\x89HDF\r\n\x1a\n", "hdf5", "application/x-hdf5"),
    (b"\x7fELF", "executable", "application/x-executable"),
    (b"MZ", "executable", "application/x-msdownload"),
]

MIME: dict[str, str] = {
    "empty": "application/octet-stream",
    "text": "text/plain",
    "markdown": "text/markdown",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "json": "application/json",
    "jsonl": "application/jsonl",
    "svg": "image/svg+xml",
    "pickle": "application/x-python-pickle",
    "tar": "application/x-tar",
    "binary": "application/octet-stream",
    "symlink": "inode/symlink",
    "special": "inode/x-special",
}
IMAGE_KINDS = frozenset({"png", "jpeg", "gif", "svg"})
TABLE_KINDS = frozenset({"csv", "tsv", "jsonl", "json", "parquet"})
ARCHIVE_KINDS = frozenset({"zip", "gzip", "bzip2", "xz", "zstd", "7z", "tar"})
TEXT_KINDS = frozenset({"text", "markdown", "csv", "tsv", "json", "jsonl", "svg"})
# The type names of CheckConfig.allowed_types, for each detected kind.
TYPE_NAME: dict[str, str] = {"text": "txt", "markdown": "md", "jsonl": "json", "jpeg": "jpg"}

_PICKLE_PROTOCOLS = range(2, 6)
_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e]{4,}")


def type_name(kind: str) -> str:
    """The name of ``kind`` as written in ``CheckConfig.allowed_types`` (``txt``, ``md``...)."""
    return TYPE_NAME.get(kind, kind)


def detect(  # noqa: PLR0911 - one return per kind reads best
    head: bytes, name: str, *, whole: bytes | None
) -> tuple[FileKind, str]:
    """(kind, mime) of a file from its first bytes ``head``, its name and, when the whole
    file was read, all of its bytes ``whole`` (``None`` when it was too large to read)."""
    if not head:
        return "empty", MIME["empty"]
    for magic, kind, mime in _MAGIC:
        if head.startswith(magic):
            return kind, mime
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar", MIME["tar"]
    if _is_pickle(whole if whole is not None else head, complete=whole is not None):
        return "pickle", MIME["pickle"]
    if whole is not None and len(whole) > len(head) and not _is_text(whole):
        return "binary", MIME["binary"]
    head_is_whole = whole is not None and len(whole) == len(head)
    text = decode_text(head, complete=head_is_whole)
    if text is None:
        return "binary", MIME["binary"]
    kind = _text_kind(text, name.lower(), complete=head_is_whole)
    return kind, MIME[kind]


def _is_pickle(head: bytes, *, complete: bool) -> bool:
    if len(head) >= 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS:
        return True
    # Protocols 0 and 1 look like text; a whole file that parses as one pickle is one.
    ends_with_stop = head[-64:].rstrip().endswith(b".")  # the tail only: no copy of it all
    if not complete or not ends_with_stop or head[:1] not in b"(cdlI]}NSVF":
        return False
    try:
        ops = list(pickletools.genops(head))
    except Exception:  # any parse error means "not a pickle"
        return False
    return len(ops) >= 2 and ops[-1][0].name == "STOP"


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def decode_text(data: bytes, *, complete: bool) -> str | None:
    """``data`` as UTF-8 text, or ``None`` if it is not text (NUL bytes, invalid UTF-8)."""
    if b"\x00" in data:
        return None
    if data.isascii():  # the usual case, and far quicker than decoding to find out
        return data.decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        # A multi-byte character cut by the end of a partial read is still text.
        if not complete and err.start >= len(data) - 3:
            return data[: err.start].decode("utf-8", errors="replace")
        return None


def _text_kind(text: str, name: str, *, complete: bool) -> FileKind:  # noqa: PLR0911
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith(("<?xml", "<svg", "<!DOCTYPE svg")) and "<svg" in stripped[:4096]:
        return "svg"
    if stripped[:1] in ("{", "["):
        if complete and _parses_as_json(stripped):
            return "json"
        if _is_json_lines(stripped, complete=complete):
            return "jsonl"
        if not complete and name.endswith(".json"):
            return "json"
    if name.endswith((".md", ".markdown")):
        return "markdown"
    if name.endswith(".tsv") or (not name.endswith(".csv") and _delimited(text, "\t")):
        return "tsv" if _delimited(text, "\t", min_lines=1) else "text"
    if name.endswith(".csv") or _delimited(text, ","):
        return "csv" if _delimited(text, ",", min_lines=1) else "text"
    return "text"


def _parses_as_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):  # a hostile file can nest deeper than Python recurses
        return False
    return True


def _is_json_lines(text: str, *, complete: bool) -> bool:
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    if not complete and len(lines) > 1:
        lines = lines[:-1]  # the last line of a partial read may be cut
    if not lines:
        return False
    for line in lines:
        try:
            if not isinstance(json.loads(line), dict):
                return False
        except (ValueError, RecursionError):
            return False
    return True


def _delimited(text: str, delimiter: str, *, min_lines: int = 2) -> bool:
    """Whether the first lines split into the same number (> 1) of fields."""
    lines = [line for line in text.splitlines()[:21] if line.strip()]
    if len(lines) > max(min_lines, 1):
        lines = lines[:-1]  # the last line of a partial read may be cut
    if len(lines) < min_lines:
        return False
    try:
        widths = {
            len(row) for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
        }
    except csv.Error:
        return False
    return len(widths) == 1 and widths.pop() > 1


def preview(
    head: bytes, kind: FileKind, *, complete: bool, lines: int, rows: int, chars: int
) -> Preview:
    """A preview of a file from its first bytes: text stays text, images only name their mime."""
    if kind in ("symlink", "special"):
        return Preview(kind="none")
    if kind in IMAGE_KINDS:
        return Preview(kind="image", mime=MIME.get(kind, f"image/{kind}"))
    if kind in ("csv", "tsv"):
        table = _table_preview(head, "\t" if kind == "tsv" else ",", complete=complete, rows=rows)
        if table is not None:
            return table
    if kind in TEXT_KINDS:
        text = decode_text(head, complete=complete) or ""
        kept = text.splitlines()[:lines]
        shown = "\n".join(kept)[:chars]
        truncated = not complete or len(shown) < len(text.rstrip("\n"))
        return Preview(kind="text", text=shown, truncated=truncated)
    if kind == "empty":
        return Preview(kind="text", text="")
    sample = head[:256]
    hex_lines = [
        f"{offset:08x}  {sample[offset : offset + 16].hex(' ')}"
        for offset in range(0, len(sample), 16)
    ]
    strings = [m.decode("ascii") for m in _PRINTABLE_RUN.findall(head[:HEAD_BYTES])][:20]
    return Preview(
        kind="binary",
        mime=MIME.get(kind),
        hex="\n".join(hex_lines),
        strings=[s[:120] for s in strings],
        truncated=True,
    )


def _table_preview(head: bytes, delimiter: str, *, complete: bool, rows: int) -> Preview | None:
    text = decode_text(head, complete=complete)
    if text is None:
        return None
    lines = text.splitlines()
    if not complete and len(lines) > 1:
        lines = lines[:-1]
    try:
        parsed = list(csv.reader(io.StringIO("\n".join(lines[: rows + 1])), delimiter=delimiter))
    except csv.Error:
        return None
    if not parsed:
        return None
    cut = [
        [cell[:PREVIEW_CELL_CHARS] for cell in row[:PREVIEW_COLUMNS]] for row in parsed[: rows + 1]
    ]
    truncated = (
        not complete
        or len(lines) > rows + 1
        or any(len(row) > PREVIEW_COLUMNS for row in parsed)
        or any(len(cell) > PREVIEW_CELL_CHARS for row in parsed for cell in row)
    )
    return Preview(kind="table", header=cut[0], rows=cut[1:], truncated=truncated)
