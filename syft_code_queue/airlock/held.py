"""Reading a job's held results safely: regular files only, no link followed, bounded reads.

Every file below the results root is visited once. A symbolic link, FIFO, socket or device
is reported, never opened. A regular file is opened with ``O_NOFOLLOW | O_NONBLOCK``, checked
with ``fstat`` to be the same regular file that was listed, hashed in full, and kept in memory
(up to ``max_read_bytes`` each, ``max_read_total_bytes`` together) so that every check sees
exactly the bytes that were hashed. A file over either cap is hashed but not kept: the
checks report it as not checked.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from syft_code_queue import fsio
from syft_code_queue.airlock import filetypes
from syft_code_queue.airlock.errors import ResultsFolderError
from syft_code_queue.airlock.models import CheckConfig, FileKind, HeldFile, Preview

CHUNK = 1 << 20


@dataclass(frozen=True)
class HeldContent:
    """A held file's metadata and, when it was read, its bytes (``None`` when not read)."""

    file: HeldFile
    data: bytes | None
    problem: str | None = None  # why it was not read: a link, a FIFO, too large, vanished


def read_held(results_root: Path, config: CheckConfig) -> list[HeldContent]:
    """Every file below ``results_root``, sorted by path.

    Raises:
        ResultsFolderError: ``results_root`` is missing, a link, or not a folder.
    """
    try:
        root_stat = results_root.lstat()
    except FileNotFoundError:
        raise ResultsFolderError(
            f"results folder {results_root} does not exist; pass the folder that holds the "
            "job's output/, stdout.txt and stderr.txt"
        ) from None
    if not stat.S_ISDIR(root_stat.st_mode):
        raise ResultsFolderError(
            f"results folder {results_root} is not a folder (a link or a file); "
            "pass the real folder that holds output/, stdout.txt and stderr.txt"
        )
    held: list[HeldContent] = []
    budget = config.max_read_total_bytes  # what all kept bytes together may take in memory
    for rel, entry in _walk(results_root):
        content = _read_one(Path(entry.path), rel, config, min(config.max_read_bytes, budget))
        budget -= len(content.data or b"")
        held.append(content)
    return held


def _walk(root: Path) -> list[tuple[str, os.DirEntry[str]]]:
    """Every non-folder entry below ``root`` as (relative POSIX path, entry), sorted.

    Unlike ``fsio.walk_files`` this skips nothing: a job's file named like a temp or
    conflict file is still one of its results. Links are listed, never followed.
    """
    found: list[tuple[str, os.DirEntry[str]]] = []
    stack = [("", root)]
    while stack:
        prefix, folder = stack.pop()
        for entry in fsio.list_entries_with_temps(folder):
            rel = f"{prefix}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                stack.append((f"{rel}/", Path(entry.path)))
            else:
                found.append((rel, entry))
    return sorted(found, key=lambda item: item[0])


def _shown_name(rel: str) -> str | None:
    """``rel`` with undecodable bytes written as ``\\xNN``, or ``None`` when it is UTF-8."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(rel)
        return raw.decode("utf-8", errors="backslashreplace")
    return None


def _read_one(  # noqa: PLR0911 - one return per kind of entry reads best
    path: Path, rel: str, config: CheckConfig, cap: int
) -> HeldContent:
    shown = _shown_name(rel)
    if shown is not None:
        return _unread(shown, 0, "special", "its name is not valid UTF-8")
    try:
        listed = path.lstat()
    except FileNotFoundError:
        return _unread(rel, 0, "special", "it vanished while being checked")
    if stat.S_ISLNK(listed.st_mode):
        return _unread(rel, listed.st_size, "symlink", "it is a symbolic link")
    if not stat.S_ISREG(listed.st_mode):
        return _unread(rel, 0, "special", f"it is {_describe(listed.st_mode)}, not a file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        return _unread(rel, listed.st_size, "special", f"it could not be opened ({err.strerror})")
    with os.fdopen(fd, "rb") as f:  # a BufferedReader
        opened = os.fstat(f.fileno())
        if not stat.S_ISREG(opened.st_mode) or opened.st_ino != listed.st_ino:
            return _unread(rel, 0, "special", "it was replaced while being checked")
        return _hash_and_keep(f, rel, config, cap)


def _hash_and_keep(f: BinaryIO, rel: str, config: CheckConfig, cap: int) -> HeldContent:
    # One read of up to the cap keeps a single copy of the bytes; a larger file is hashed on.
    first = f.read(cap + 1)
    digest = hashlib.sha256(first)
    size = len(first)
    too_large = size > cap
    if too_large:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    data = None if too_large else first
    head = first[: filetypes.HEAD_BYTES]
    kind, mime = filetypes.detect(head, rel.rsplit("/", 1)[-1], whole=data)
    complete = data is not None and len(data) == len(head)
    file = HeldFile(
        path=rel,
        size=size,
        sha256=digest.hexdigest(),
        kind=kind,
        mime=mime,
        preview=filetypes.preview(
            head,
            kind,
            complete=complete,
            lines=config.preview_lines,
            rows=config.preview_rows,
            chars=config.preview_chars,
        ),
    )
    problem = None
    if too_large and cap < config.max_read_bytes:
        problem = (
            f"the results are larger than max_read_total_bytes ({config.max_read_total_bytes})"
        )
    elif too_large:
        problem = f"it is larger than max_read_bytes ({config.max_read_bytes})"
    return HeldContent(file=file, data=data, problem=problem)


def _unread(rel: str, size: int, kind: FileKind, problem: str) -> HeldContent:
    mime = filetypes.MIME[kind]
    file = HeldFile(
        path=rel, size=size, sha256=None, kind=kind, mime=mime, preview=Preview(kind="none")
    )
    return HeldContent(file=file, data=None, problem=problem)


def _describe(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"
