"""Which files of a code folder travel, their manifest, and the code hash."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from syft_code_queue.errors import CodeFolderError
from syft_code_queue.fsio import copy_hashed, sha256_file
from syft_code_queue.models import FileEntry

# SyftBox refuses to sync files above this size.
MAX_SYNC_FILE_BYTES = 10 * 1024 * 1024
MAX_FILES = 10_000
ENTRYPOINT = "run.sh"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# What SyftBox never syncs, across engines (the 0.4 engine's default ignore list, plus the
# rules of the current engines): these names never reach the other machine.
_IGNORED_DIRS = frozenset(
    {
        "__pycache__",
        ".venv",
        "venv",
        ".git",
        "dist",
        ".ipynb_checkpoints",
        "logs",
        ".vscode",
        ".idea",
    }
)
_IGNORED_FILE_GLOBS = (
    "*.log", "*.tmp", "*.pyc", "*.pyo", "*.pyd", "*.swp", "*.swo", "*.iml", "*.syftrejected*",
)  # fmt: skip


def _ignored_name(name: str, *, is_dir: bool) -> str | None:
    if name in _IGNORED_DIRS:
        return f"'{name}{'/' if is_dir else ''}' is never synced by SyftBox"
    if name.startswith("."):
        return "names starting with '.' are never synced by SyftBox"
    for pattern in _IGNORED_FILE_GLOBS:
        if fnmatch.fnmatch(name, pattern):
            return f"names matching '{pattern}' are never synced by SyftBox"
    return None


def sync_ignored(rel_path: str) -> str | None:
    """Why SyftBox would not sync this relative path, or ``None`` if it travels."""
    parts = rel_path.split("/")
    for i, part in enumerate(parts):
        reason = _ignored_name(part, is_dir=i < len(parts) - 1)
        if reason is not None:
            return reason
    return None


@dataclass(frozen=True)
class CodeFolderScan:
    """The files of a code folder that will be submitted, and the ones left out with why."""

    root: Path
    files: tuple[FileEntry, ...]
    skipped: tuple[tuple[str, str], ...] = field(default=())

    @property
    def code_hash(self) -> str:
        return code_hash(self.files)


def code_hash(files: Iterable[FileEntry]) -> str:
    """sha256 of the sorted manifest: the identity of exactly this code."""
    rows = sorted((f.path, f.sha256, f.size) for f in files)
    blob = json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def manifest_problem(files: Iterable[FileEntry]) -> str | None:
    """Why a manifest can never be satisfied, or ``None`` if it can.

    Each path once; no path that is also a folder of another; an empty file has the
    empty file's hash; ``run.sh`` is there.
    """
    paths: set[str] = set()
    folders: set[str] = set()
    for entry in files:
        if entry.path in paths:
            return f"the manifest lists '{entry.path}' twice"
        if entry.size == 0 and entry.sha256 != EMPTY_SHA256:
            return f"the manifest gives the empty file '{entry.path}' a non-empty hash"
        paths.add(entry.path)
        parts = entry.path.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clash = sorted(paths & folders)
    if clash:
        return f"the manifest lists '{clash[0]}' both as a file and as a folder"
    if ENTRYPOINT not in paths:
        return f"the manifest has no {ENTRYPOINT}"
    return None


def _kind(mode: int) -> str | None:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None


def check_code_folder(folder: str | os.PathLike[str]) -> Path:
    """The code folder as a Path, if it exists and has a ``run.sh``.

    Raises:
        CodeFolderError: it is missing, not a folder, or has no ``run.sh``.
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise CodeFolderError(f"code folder '{root}' does not exist; pass the folder of your code")
    if not root.is_dir() or root.is_symlink():
        raise CodeFolderError(f"code folder '{root}' is not a folder; pass a folder with run.sh")
    run_sh = root / ENTRYPOINT
    if not run_sh.is_file() or run_sh.is_symlink():
        raise CodeFolderError(
            f"code folder '{root}' has no run.sh; add one that starts your analysis "
            "(it is run as 'bash run.sh')"
        )
    return root


def scan_code_folder(folder: str | os.PathLike[str], copy_to: Path | None = None) -> CodeFolderScan:
    """Check a code folder and build its manifest, copying the files if ``copy_to`` is set.

    When copying, the manifest describes the bytes copied, so what is submitted is exactly
    what the hashes say even if the source changes meanwhile. Folders SyftBox never syncs
    are not entered at all.

    Raises:
        CodeFolderError: the folder is missing, has no ``run.sh``, holds a symlink, hard
            link, FIFO, device or a file too large to sync, or has too many files.
    """
    root = check_code_folder(folder)
    files: list[FileEntry] = []
    skipped: list[tuple[str, str]] = []
    stack = [("", root)]
    while stack:
        prefix, current = stack.pop()
        with os.scandir(current) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            is_dir = entry.is_dir(follow_symlinks=False)
            reason = _ignored_name(entry.name, is_dir=is_dir)
            if reason is not None:
                skipped.append((f"{rel}/" if is_dir else rel, reason))
                continue
            if is_dir:
                stack.append((f"{rel}/", Path(entry.path)))
                continue
            files.append(_file_entry(root, rel, entry, copy_to))
            if len(files) > MAX_FILES:
                raise CodeFolderError(f"code folder '{root}' has more than {MAX_FILES} files")
    files.sort(key=lambda f: f.path)
    return CodeFolderScan(root=root, files=tuple(files), skipped=tuple(skipped))


def _file_entry(root: Path, rel: str, entry: os.DirEntry[str], copy_to: Path | None) -> FileEntry:
    st = entry.stat(follow_symlinks=False)
    kind = _kind(st.st_mode)
    if kind is not None:
        raise CodeFolderError(
            f"'{rel}' in code folder '{root}' is {kind}; only regular files can be "
            "submitted — replace it with a copy of the file it stands for"
        )
    if st.st_nlink > 1:
        raise CodeFolderError(
            f"'{rel}' in code folder '{root}' is a hard link ({st.st_nlink} names for one "
            "file); replace it with an independent copy"
        )
    if st.st_size > MAX_SYNC_FILE_BYTES:
        raise CodeFolderError(
            f"'{rel}' is {st.st_size} bytes; SyftBox does not sync files over "
            f"{MAX_SYNC_FILE_BYTES} bytes — make it smaller or let the job fetch it"
        )
    if copy_to is None:
        digest, size = sha256_file(Path(entry.path))
    else:
        digest, size = copy_hashed(Path(entry.path), copy_to / rel, max_bytes=MAX_SYNC_FILE_BYTES)
    try:
        return FileEntry(path=rel, sha256=digest, size=size)
    except ValueError:
        raise CodeFolderError(
            f"'{rel}' in code folder '{root}' has a name that cannot travel (it holds a "
            "backslash or control character); rename it"
        ) from None
