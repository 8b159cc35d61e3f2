"""What the reviewer is shown about a job's files: flagged lines and each file's true shape.

Both are pure functions of the snapshot, so they are cached by ``code_hash``: in memory,
and the hints also on disk in the owner's private folder (a restarted server does not
parse every pending job again).
"""

from __future__ import annotations

import codecs
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from syft_code_queue import hints as hint_rules
from syft_code_queue.fsio import CHUNK, atomic_write_text
from syft_code_queue.ledger import JobRecord
from syft_code_queue.manifest import ENTRYPOINT

log = logging.getLogger("syft_code_queue.review")

# The file viewer shows at most this much of a file; the whole file still runs.
DISPLAY_LIMIT = 512 * 1024
_MEMORY_CACHE = 512

FileKind = Literal["text", "binary", "unreadable"]

# (record, path) -> the file's bytes as approved, or None when they are no longer kept.
FileReader = Callable[[JobRecord, str], Path | None]


class FileReview(BaseModel):
    """One file as the reviewer should know it before approving.

    ``size`` and ``lines`` are the whole file's, never a displayed prefix's. ``lines`` is
    ``None`` for a binary or unreadable file. ``truncated`` says the viewer shows only the
    first ``DISPLAY_LIMIT`` bytes.
    """

    model_config = ConfigDict(defer_build=True, frozen=True)

    path: str
    size: int
    sha256: str
    kind: FileKind
    lines: int | None = None
    truncated: bool = False


class ReviewStatus(BaseModel):
    """A job's files in review order (``run.sh`` first) and which cannot be read in full.

    ``attention`` names the files that are binary, truncated in the viewer or unreadable:
    approving a job with any of them is approving something not fully read.
    """

    model_config = ConfigDict(defer_build=True, frozen=True)

    uid: str
    code_hash: str
    files: tuple[FileReview, ...]
    display_limit: int = DISPLAY_LIMIT

    @property
    def attention(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files if f.kind != "text" or f.truncated)

    @property
    def binary(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files if f.kind == "binary")

    @property
    def truncated(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files if f.truncated)

    @property
    def unreadable(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files if f.kind == "unreadable")


def review_order(paths: list[str]) -> list[str]:
    """``run.sh`` first, then the rest by path."""
    return sorted(paths, key=lambda p: (p != ENTRYPOINT, p))


def inspect_file(path: Path) -> tuple[FileKind, int | None]:
    """Whether a file is text, and its line count over the whole file (streamed)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = 0
    last = b""
    try:
        with path.open("rb") as f:
            first = True
            while chunk := f.read(CHUNK):
                if first and b"\0" in chunk[: hint_rules.BINARY_SNIFF]:
                    return "binary", None
                first = False
                decoder.decode(chunk)
                newlines += chunk.count(b"\n")
                last = chunk[-1:]
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "binary", None
    except OSError:
        return "unreadable", None
    return "text", newlines + (1 if last not in (b"", b"\n") else 0)


class _LRU(OrderedDict[str, object]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.lock = threading.Lock()

    def get_item(self, key: str) -> object | None:
        with self.lock:
            value = self.get(key)
            if value is not None:
                self.move_to_end(key)
            return value

    def put(self, key: str, value: object) -> None:
        with self.lock:
            self[key] = value
            self.move_to_end(key)
            while len(self) > self.size:
                self.popitem(last=False)


class Reviewer:
    """Computes and caches the review hints and file status of jobs.

    Args:
        cache_dir: where hints are kept by code hash across restarts.
        locate: where a job's file can be read (its snapshot, or the kept copy).
    """

    def __init__(self, cache_dir: Path, locate: FileReader) -> None:
        self.cache_dir = cache_dir
        self.locate = locate
        self._memory = _LRU(_MEMORY_CACHE)

    def hints(self, record: JobRecord) -> hint_rules.ReviewHints:
        key = f"hints:{record.code_hash}"
        cached = self._memory.get_item(key)
        if not isinstance(cached, hint_rules.ReviewHints):
            cached = self._load_hints(record) or self._compute_hints(record)
            self._memory.put(key, cached)
        return cached.model_copy(update={"uid": record.uid})

    def _cache_file(self, code_hash: str) -> Path:
        return self.cache_dir / f"hints-{code_hash}.json"

    def _load_hints(self, record: JobRecord) -> hint_rules.ReviewHints | None:
        try:
            found = hint_rules.ReviewHints.model_validate_json(
                self._cache_file(record.code_hash).read_bytes()
            )
        except (OSError, ValidationError):
            return None
        if found.rules_version != hint_rules.RULES_VERSION or found.code_hash != record.code_hash:
            return None
        return found

    def _compute_hints(self, record: JobRecord) -> hint_rules.ReviewHints:
        def contents() -> Iterator[tuple[str, bytes | None]]:
            for entry in record.files:  # one file in memory at a time
                where = self.locate(record, entry.path)
                try:
                    yield entry.path, None if where is None else where.read_bytes()
                except OSError:
                    yield entry.path, None

        found = hint_rules.collect(record.uid, record.code_hash, contents())
        if found.unparsed and any(
            h.message.endswith("(the file could not be read)") for h in found.hints
        ):
            return found  # a transient state: do not remember it
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(
                self._cache_file(record.code_hash), found.model_dump_json(), durable=False
            )
        except OSError:
            log.warning("could not cache the review hints of %s", record.uid, exc_info=True)
        return found

    def status(self, record: JobRecord) -> ReviewStatus:
        key = f"status:{record.code_hash}"
        cached = self._memory.get_item(key)
        if isinstance(cached, ReviewStatus):
            return cached.model_copy(update={"uid": record.uid})
        by_path = {f.path: f for f in record.files}
        files = []
        complete = True
        for path in review_order(list(by_path)):
            entry = by_path[path]
            where = self.locate(record, path)
            kind, lines = ("unreadable", None) if where is None else inspect_file(where)
            complete = complete and kind != "unreadable"
            files.append(
                FileReview(
                    path=path,
                    size=entry.size,
                    sha256=entry.sha256,
                    kind=kind,
                    lines=lines,
                    truncated=kind == "text" and entry.size > DISPLAY_LIMIT,
                )
            )
        status = ReviewStatus(uid=record.uid, code_hash=record.code_hash, files=tuple(files))
        if complete:
            self._memory.put(key, status)
        return status
