"""Review by difference: what changed in a job since the version the owner approved last.

Which files changed is known from the two manifests alone (paths and hashes); the unified
diffs of changed text files are read from the snapshots, or from the copies kept by hash
once a snapshot is cleaned up (see :mod:`syft_code_queue.blobs`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from syft_code_queue.hints import is_binary
from syft_code_queue.ledger import JobRecord
from syft_code_queue.models import FileEntry
from syft_code_queue.review import review_order

MAX_DIFF_INPUT = 1024 * 1024  # bytes of each side; larger files are not diffed line by line
MAX_DIFF_OUTPUT = 256 * 1024  # characters of one file's unified diff

Change = Literal["added", "removed", "changed", "unchanged"]
BaseKind = Literal["approved", "previous"]

FileReader = Callable[[JobRecord, str], Path | None]


class FileDiff(BaseModel):
    """One file compared with the base version.

    ``diff`` is a unified diff for a changed text file (cut at ``MAX_DIFF_OUTPUT``
    characters, then ``truncated``); empty otherwise, with ``note`` saying why
    ("binary changed", "too large to diff", "the base version's file is no longer kept").
    """

    model_config = ConfigDict(defer_build=True, frozen=True)

    path: str
    change: Change
    old_size: int | None = None
    new_size: int | None = None
    old_sha256: str | None = None
    new_sha256: str | None = None
    binary: bool = False
    diff: str = ""
    truncated: bool = False
    note: str | None = None


class JobDiff(BaseModel):
    """A job compared with an earlier version of it, file by file (``run.sh`` first).

    ``base_uid`` is the version compared against: the last approved version before this
    one (``base_kind="approved"``), else the previous version (``"previous"``); ``None``
    for a first version, whose files are all ``added``.
    """

    model_config = ConfigDict(defer_build=True, frozen=True)

    uid: str
    version: int | None
    base_uid: str | None = None
    base_version: int | None = None
    base_kind: BaseKind | None = None
    files: tuple[FileDiff, ...] = ()

    def count(self, change: Change) -> int:
        return sum(1 for f in self.files if f.change == change)

    @property
    def changed_files(self) -> int:
        """Files added, removed or changed."""
        return sum(1 for f in self.files if f.change != "unchanged")

    @property
    def summary(self) -> str:
        """E.g. ``"changed since approved v2: 1 of 7 files"``."""
        total = len(self.files)
        noun = "file" if total == 1 else "files"
        if self.base_uid is None:
            return f"first version: {total} {noun}"
        since = "approved " if self.base_kind == "approved" else "previous "
        return f"changed since {since}v{self.base_version}: {self.changed_files} of {total} {noun}"


def compare(
    record: JobRecord,
    base: JobRecord | None,
    base_kind: BaseKind | None,
    read: FileReader,
    *,
    unified: bool = True,
) -> JobDiff:
    """Compare ``record`` with ``base`` (``None``: all added); ``unified=False`` skips
    reading files (the counts only)."""
    new = {f.path: f for f in record.files}
    old = {f.path: f for f in base.files} if base is not None else {}
    files = []
    for path in review_order(list(new.keys() | old.keys())):
        before, after = old.get(path), new.get(path)
        if before is None and after is not None:
            files.append(_one(path, "added", None, after))
        elif after is None and before is not None:
            files.append(_one(path, "removed", before, None))
        elif before is not None and after is not None and before.sha256 == after.sha256:
            files.append(_one(path, "unchanged", before, after))
        elif before is not None and after is not None and base is not None:
            changed = _one(path, "changed", before, after)
            if unified:
                changed = _with_diff(changed, read(base, path), read(record, path), base, record)
            files.append(changed)
    return JobDiff(
        uid=record.uid,
        version=record.version,
        base_uid=base.uid if base is not None else None,
        base_version=base.version if base is not None else None,
        base_kind=base_kind if base is not None else None,
        files=tuple(files),
    )


def _one(path: str, change: Change, before: FileEntry | None, after: FileEntry | None) -> FileDiff:
    return FileDiff(
        path=path,
        change=change,
        old_size=before.size if before else None,
        new_size=after.size if after else None,
        old_sha256=before.sha256 if before else None,
        new_sha256=after.sha256 if after else None,
    )


def _with_diff(
    entry: FileDiff, old: Path | None, new: Path | None, base: JobRecord, record: JobRecord
) -> FileDiff:
    if old is None or new is None:
        gone = "the base version's" if old is None else "this version's"
        return entry.model_copy(update={"note": f"{gone} file is no longer kept"})
    if max(entry.old_size or 0, entry.new_size or 0) > MAX_DIFF_INPUT:
        return entry.model_copy(update={"note": "too large to diff line by line"})
    try:
        before, after = old.read_bytes(), new.read_bytes()
    except OSError as exc:
        return entry.model_copy(update={"note": f"could not be read ({exc.strerror})"})
    if is_binary(before) or is_binary(after):
        return entry.model_copy(update={"binary": True, "note": "binary changed"})
    import difflib

    lines = difflib.unified_diff(
        before.decode("utf-8").splitlines(keepends=True),
        after.decode("utf-8").splitlines(keepends=True),
        fromfile=f"v{base.version}/{entry.path}",
        tofile=f"v{record.version}/{entry.path}",
    )
    out: list[str] = []
    size = 0
    truncated = False
    for line in lines:
        text = line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
        size += len(text)
        if size > MAX_DIFF_OUTPUT:
            truncated = True
            break
        out.append(text)
    return entry.model_copy(update={"diff": "".join(out), "truncated": truncated})
