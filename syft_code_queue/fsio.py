"""The only raw file I/O of the package: atomic writes, safe listings, hashing copies.

Temporary names end in ``.syft.tmp`` so that SyftBox's ``*.tmp`` ignore rule keeps them
from ever being synced, and readers never see a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TEMP_SUFFIX = ".syft.tmp"
_SKIP_MARKERS = (".syft.tmp", ".conflict.", ".rejected.", ".syftrejected")
CHUNK = 1 << 20


def is_transient_name(name: str) -> bool:
    """Temp, conflict and rejected files that listings must skip."""
    return any(marker in name for marker in _SKIP_MARKERS) or name.endswith(TEMP_SUFFIX)


def is_refused_name(name: str) -> bool:
    """A file the sync engine refused to upload and renamed on this machine.

    SyftBox 0.4 renames ``a.json`` to ``a.syftrejected.json`` (``EMPTY`` to
    ``EMPTY.syftrejected``); later engines use ``.rejected.``.
    """
    return ".syftrejected" in name or ".rejected." in name


def find_refused(root: Path) -> list[Path]:
    """Every file below ``root`` that the sync engine refused, sorted."""
    found: list[Path] = []
    for folder, _dirs, names in os.walk(root):
        found.extend(Path(folder) / n for n in names if is_refused_name(n))
    return sorted(found)


def temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    tmp.replace(path)
    if durable:
        fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_json(path: Path, obj: Any, *, durable: bool = True) -> None:
    atomic_write_bytes(path, dumps(obj).encode("utf-8"), durable=durable)


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_if_changed(path: Path, text: str, *, durable: bool = True) -> bool:
    """Atomically write ``text`` unless the file already holds exactly it."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    atomic_write_text(path, text, durable=durable)
    return True


def append_if_grown(path: Path, text: str) -> bool:
    """Write ``text`` to an append-only file: append the new lines in place when the file
    holds the start of ``text`` (whole lines), else replace it atomically (not fsynced);
    nothing when it already holds exactly ``text``.

    A reader can see the last line half-written, so readers of such files skip a last
    line without its newline. Appending keeps the file: no new file per change.
    """
    data = text.encode("utf-8")
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        fd = -1
    if fd >= 0:
        try:
            st = os.fstat(fd)
            old = os.pread(fd, st.st_size + 1, 0) if stat.S_ISREG(st.st_mode) else None
            if old == data:
                return False
            if (
                old is not None
                and len(old) == st.st_size
                and (not old or old.endswith(b"\n"))
                and data.startswith(old)
            ):
                view = memoryview(data)[len(old) :]
                while view:
                    view = view[os.write(fd, view) :]
                return True
        finally:
            os.close(fd)
    atomic_write_bytes(path, data, durable=False)
    return True


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """Read a whole file, or its first ``limit`` bytes."""
    with path.open("rb") as f:
        return f.read() if limit is None else f.read(limit)


def read_tail(path: Path, limit: int) -> bytes:
    """The last ``limit`` bytes of a file (all of it when smaller); empty if it is missing."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - limit))
            return f.read()
    except FileNotFoundError:
        return b""


def list_entries(path: Path) -> list[os.DirEntry[str]]:
    """Entries of a folder without temp, conflict and rejected files; empty if it is missing."""
    try:
        with os.scandir(path) as it:
            return [e for e in it if not is_transient_name(e.name)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def list_entries_with_temps(path: Path) -> list[os.DirEntry[str]]:
    """Every entry of a folder, temp files included; empty if it is missing."""
    try:
        with os.scandir(path) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []


class FolderChanges:
    """Tells whether a folder may hold new entries since it was last listed.

    An unchanged modification time proves nothing while it is recent: on filesystems with
    coarse timestamps (FAT, SMB, HFS+, Linux before 6.13) an entry added within the same
    step leaves it equal. A listing is trusted only once its time stamp has settled.
    """

    SETTLE_NS = 2_000_000_000

    def __init__(self) -> None:
        self._listed: dict[str, int] = {}

    def stamp(self, path: Path) -> int | None:
        """The folder's modification time (``None`` if it is missing)."""
        try:
            return path.stat().st_mtime_ns
        except OSError:
            return None

    def unchanged(self, key: str, stamp: int | None) -> bool:
        return stamp is not None and self._listed.get(key) == stamp

    def listed(self, key: str, stamp: int | None) -> None:
        """Record a listing made after reading ``stamp``."""
        if stamp is not None and time.time_ns() - stamp >= self.SETTLE_NS:
            self._listed[key] = stamp
        else:
            self._listed.pop(key, None)

    def clear(self) -> None:
        self._listed.clear()

    def export(self) -> dict[str, int]:
        return dict(self._listed)

    def restore(self, listed: dict[str, int]) -> None:
        self._listed = dict(listed)


def walk_files(root: Path) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Every non-directory entry below ``root`` as (relative POSIX path, entry), sorted.

    Symbolic links are yielded, never followed; transient names are skipped.
    """
    stack = [("", root)]
    while stack:
        prefix, folder = stack.pop()
        entries = sorted(list_entries(folder), key=lambda e: e.name, reverse=True)
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                stack.append((f"{rel}/", Path(entry.path)))
            else:
                yield rel, entry


def sha256_file(path: Path) -> tuple[str, int]:
    """(sha256 hex digest, size) of a regular file, without following a final symlink."""
    digest = hashlib.sha256()
    size = 0
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def copy_hashed(src: Path, dst: Path, *, max_bytes: int | None = None) -> tuple[str, int]:
    """Copy one regular file and return (sha256, size) of what was copied.

    The source is opened without following symlinks and must be a regular file, so a
    swap for a link or a device between check and copy is refused.
    """
    digest = hashlib.sha256()
    size = 0
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fin:
        if not stat.S_ISREG(os.fstat(fin.fileno()).st_mode):
            raise OSError(f"{src} is not a regular file")
        try:
            fout = dst.open("xb")
        except FileNotFoundError:  # create the parent folder only when it is missing
            dst.parent.mkdir(parents=True, exist_ok=True)
            fout = dst.open("xb")
        with fout:
            while chunk := fin.read(CHUNK):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise OSError(f"{src} is larger than {max_bytes} bytes")
                digest.update(chunk)
                fout.write(chunk)
    return digest.hexdigest(), size


def new_temp_dir(parent: Path, name: str) -> Path:
    """Create an empty, never-synced folder beside where ``name`` will be published."""
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{name}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
    tmp.mkdir()
    return tmp


def publish_dir(tmp: Path, dest: Path, *, durable: bool = True) -> None:
    """Move a finished temp folder into place in one rename; fails if ``dest`` exists."""
    if dest.exists():
        raise FileExistsError(dest)
    tmp.rename(dest)
    if durable:
        fsync_dir(dest.parent)


def remove_tree(path: Path) -> None:
    """Delete a folder and everything in it; a missing folder is fine."""
    shutil.rmtree(path, ignore_errors=True)
    if path.exists() or path.is_symlink():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
