"""What the status cell shows of a job's results: each output with its size and a preview.

Previews are small and capped: the first rows of a CSV as a table, an image inline (as a
``data:`` URI, only PNG, JPEG, GIF and WebP: never SVG, which can hold scripts), the start
of a text file. Everything else is a name and a size. Every output is a link: a click
fetches its bytes from the kernel (:func:`read_output`) and the browser saves them.
"""

from __future__ import annotations

import base64
import csv
import io
import mimetypes
from pathlib import Path, PurePosixPath
from typing import Any

from syft_code_queue import safewalk

MAX_OUTPUTS = 50
MAX_DOWNLOAD_BYTES = 16 * 1024 * 1024  # outputs are at most 10 MB (SyftBox syncs no more)
MAX_IMAGE_BYTES = 256 * 1024
CSV_ROWS = 6
CSV_COLUMNS = 8
TEXT_PREVIEW_BYTES = 600
_IMAGES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
_TEXTS = {".txt", ".json", ".md", ".log", ".yaml", ".yml"}


def outputs_of(folder: Path | None) -> list[dict[str, Any]]:
    """The files under ``folder``, in path order, each with ``path``, ``size``, ``kind`` and
    a ``preview`` (``rows`` for CSV, ``src`` for images, ``text`` for text files)."""
    if folder is None or not folder.is_dir():
        return []
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return [_output(folder, path) for path in files[:MAX_OUTPUTS]]


def _output(folder: Path, path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    out: dict[str, Any] = {
        "path": path.relative_to(folder).as_posix(),
        "size": size,
        "kind": "file",
    }
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            out["kind"] = "table"
            out["rows"] = _csv_rows(path, "\t" if suffix == ".tsv" else ",")
        elif suffix in _IMAGES and size <= MAX_IMAGE_BYTES:
            out["kind"] = "image"
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            out["src"] = f"data:{_IMAGES[suffix]};base64,{data}"
        elif suffix in _TEXTS:
            out["kind"] = "text"
            with path.open("rb") as handle:
                out["text"] = handle.read(TEXT_PREVIEW_BYTES).decode("utf-8", errors="replace")
    except OSError:
        out["kind"] = "file"
    return out


def _csv_rows(path: Path, delimiter: str) -> list[list[str]]:
    with path.open("rb") as handle:
        head = handle.read(16 * 1024).decode("utf-8", errors="replace")
    lines = head.splitlines()[: CSV_ROWS + 1]
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    return [[cell[:80] for cell in row[:CSV_COLUMNS]] for row in reader]


def read_output(folder: Path, path: str, limit: int = MAX_DOWNLOAD_BYTES) -> bytes:
    """The bytes of the output ``path`` (relative, ``/``-separated) under ``folder``.

    The folder is synced from the owner's datasite: it is read with the safe walker, so a
    link at any level, a FIFO or a path outside the folder is refused, never followed.

    Raises:
        ValueError: ``path`` is not a plain relative path.
        OSError: it is not a regular file there, or it is larger than ``limit``.
    """
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not an output path: {path!r}")
    with safewalk.opened(safewalk.open_path(folder, parts[:-1])) as fd:
        return safewalk.read_file(fd, parts[-1], limit)


def media_type(path: str) -> str:
    """The file's MIME type by its name, for the browser's download (default: bytes)."""
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or "application/octet-stream"
