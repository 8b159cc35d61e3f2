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
from syft_code_queue.fsio import sha256_file, walk_files
from syft_code_queue.models import FileEntry

# SyftBox refuses to sync files above this size.
MAX_SYNC_FILE_BYTES = 10 * 1024 * 1024
MAX_FILES = 10_000
ENTRYPOINT = "run.sh"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# SyftBox's default ignore rules: these names never reach the other machine.
_IGNORED_DIRS = ("__pycache__", ".venv", "venv", ".git", "dist", ".ipynb_checkpoints", "logs")
_IGNORED_FILE_GLOBS = ("*.log", "*.tmp", "*.pyc", "*.pyo", "*.pyd", ".DS_Store")


def sync_ignored(rel_path: str) -> str | None:
    """Why SyftBox would not sync this relative path, or ``None`` if it travels."""
    parts = rel_path.split("/")
    for part in parts[:-1]:
        if part in _IGNORED_DIRS:
            return f"folder '{part}/' is never synced by SyftBox"
    name = parts[-1]
    if name in _IGNORED_DIRS:
        return f"'{name}' is never synced by SyftBox"
    for pattern in _IGNORED_FILE_GLOBS:
        if fnmatch.fnmatch(name, pattern):
            return f"files matching '{pattern}' are never synced by SyftBox"
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


def scan_code_folder(folder: str | os.PathLike[str]) -> CodeFolderScan:
    """Check a code folder and build its manifest.

    Raises:
        CodeFolderError: the folder is missing, has no ``run.sh``, holds a symlink, hard
            link, FIFO, device or a file too large to sync, or has too many files.
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
    files: list[FileEntry] = []
    skipped: list[tuple[str, str]] = []
    for rel, entry in walk_files(root):
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
        reason = sync_ignored(rel)
        if reason is not None:
            skipped.append((rel, reason))
            continue
        if st.st_size > MAX_SYNC_FILE_BYTES:
            raise CodeFolderError(
                f"'{rel}' is {st.st_size} bytes; SyftBox does not sync files over "
                f"{MAX_SYNC_FILE_BYTES} bytes — make it smaller or let the job fetch it"
            )
        digest, size = sha256_file(Path(entry.path))
        files.append(FileEntry(path=rel, sha256=digest, size=size))
        if len(files) > MAX_FILES:
            raise CodeFolderError(f"code folder '{root}' has more than {MAX_FILES} files")
    return CodeFolderScan(root=root, files=tuple(files), skipped=tuple(skipped))
