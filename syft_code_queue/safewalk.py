"""Reading what other datasites wrote: the one way the owner's server opens synced files.

Anyone can write their own datasite, so every name below another datasite is hostile
input. Folders and files are opened relative to their parent's descriptor
(``openat``-style) with ``O_NOFOLLOW`` at every level, so a symbolic link anywhere on the
way is refused, never followed; files are opened ``O_NONBLOCK`` and must be regular files
with one name (a FIFO, socket, device or hard link is refused before a byte is read);
reads are bounded. Nothing here raises anything but :class:`OSError` and its subclasses.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | _O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _O_CLOEXEC | _O_NOCTTY
# What opening a link, a non-folder or a socket without following it fails with.
_REFUSED_ERRNOS = frozenset({errno.ELOOP, errno.ENOTDIR, errno.ENXIO, errno.EMLINK})


class NotRegularError(OSError):
    """A link, FIFO, socket, device, hard link, or a folder where a file belongs (or the
    reverse): never opened for reading."""


class TooLargeError(OSError):
    """A file larger than the limit it is read under."""


@dataclass(frozen=True)
class FileStamp:
    """What identifies one version of a file without reading it."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStamp:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _refused(exc: OSError, what: str) -> OSError:
    if exc.errno in _REFUSED_ERRNOS:
        return NotRegularError(exc.errno, f"{what} is not a regular file or folder")
    return exc


def open_dir(name: str, dir_fd: int | None = None) -> int:
    """Open the folder ``name`` (relative to ``dir_fd``) without following a link."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise _refused(exc, "a folder") from None


def open_path(root: str | Path, parts: Sequence[str]) -> int:
    """Open the folder ``root/parts[0]/parts[1]/...``; ``root`` is trusted, each part is not.

    Raises:
        NotRegularError: a part is a link or not a folder.
        FileNotFoundError: a part is missing.
    """
    fd = open_dir(os.fspath(root))
    try:
        for part in parts:
            child = open_dir(part, fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def opened(fd: int) -> Iterator[int]:
    """Close ``fd`` when the block ends."""
    try:
        yield fd
    finally:
        os.close(fd)


def list_dir(dir_fd: int) -> list[tuple[str, bool]]:
    """(name, is a real folder) of every entry of an open folder; links count as files."""
    out = []
    with os.scandir(dir_fd) as it:
        for entry in it:
            out.append((entry.name, entry.is_dir(follow_symlinks=False)))
    return out


def names(dir_fd: int) -> set[str]:
    """Names of every entry of an open folder (``listdir``: no per-entry Python work)."""
    return set(os.listdir(dir_fd))


def is_folder(dir_fd: int, name: str) -> bool:
    """Whether ``name`` is a real folder (not a link to one)."""
    try:
        return stat.S_ISDIR(lstat(dir_fd, name).st_mode)
    except OSError:
        return False


def lstat(dir_fd: int, name: str) -> os.stat_result:
    return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)


def _check_regular(st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        raise NotRegularError(errno.EINVAL, "a file is not a regular file")


def open_file(dir_fd: int, name: str) -> tuple[int, os.stat_result]:
    """Open a regular file with one name for reading, without following a link or
    blocking on a FIFO; returns the descriptor and its ``fstat``."""
    _check_regular(lstat(dir_fd, name))  # never even open a FIFO or device
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise _refused(exc, "a file") from None
    try:
        st = os.fstat(fd)
        _check_regular(st)  # it may have been swapped since the lstat
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_file(dir_fd: int, name: str, limit: int) -> bytes:
    """The whole of a regular file of at most ``limit`` bytes.

    Raises:
        TooLargeError: it is larger than ``limit``.
        NotRegularError: it is not a regular file with one name.
        FileNotFoundError: it is not there.
    """
    fd, st = open_file(dir_fd, name)
    with opened(fd):
        if st.st_size > limit:
            raise TooLargeError(errno.EFBIG, f"a file is larger than {limit} bytes")
        data = os.read(fd, limit + 1)
        chunks = [data]
        total = len(data)
        while data and total <= limit:
            data = os.read(fd, limit + 1 - total)
            chunks.append(data)
            total += len(data)
    if total > limit:
        raise TooLargeError(errno.EFBIG, f"a file is larger than {limit} bytes")
    return b"".join(chunks)


def copy_file(dir_fd: int, name: str, dest: Path, limit: int) -> tuple[str, int, FileStamp]:
    """Copy a regular file into ``dest`` (replaced, read-only); (sha256, size, source stamp).

    At most ``limit`` bytes are read: a larger file raises :class:`TooLargeError` (its
    size on disk says so before any byte is copied).
    """
    fd, st = open_file(dir_fd, name)
    with opened(fd):
        if st.st_size > limit:
            raise TooLargeError(errno.EFBIG, f"a file is larger than {limit} bytes")
        digest = hashlib.sha256()
        size = 0
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC
        try:
            out = os.open(dest, flags, 0o444)
        except FileExistsError:  # an earlier copy that did not verify
            dest.unlink()
            out = os.open(dest, flags, 0o444)
        with opened(out):
            while chunk := os.read(fd, min(CHUNK, limit + 1 - size)):
                size += len(chunk)
                if size > limit:
                    raise TooLargeError(errno.EFBIG, f"a file is larger than {limit} bytes")
                digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view) :]
    return digest.hexdigest(), size, FileStamp.of(st)


class DirChain:
    """Open folders along sorted relative paths, each opened once and relative to its parent.

    Files of one folder are contiguous in a sorted list of paths, so keeping only the
    chain of folders of the current path opens every folder once and holds at most one
    descriptor per level.
    """

    def __init__(self, root_fd: int) -> None:
        self._root = root_fd
        self._names: list[str] = []
        self._fds: list[int] = []

    def folder_of(self, parts: Sequence[str]) -> int:
        """The descriptor of the folder ``parts`` (relative to the root)."""
        common = 0
        while (
            common < len(self._names)
            and common < len(parts)
            and self._names[common] == parts[common]
        ):
            common += 1
        while len(self._fds) > common:
            os.close(self._fds.pop())
            self._names.pop()
        for part in parts[common:]:
            parent = self._fds[-1] if self._fds else self._root
            self._fds.append(open_dir(part, parent))
            self._names.append(part)
        return self._fds[-1] if self._fds else self._root

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.pop())
        self._names.clear()

    def __enter__(self) -> DirChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
