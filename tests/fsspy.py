"""Which files a process opens: Linux inotify (IN_OPEN), read through ctypes.

The tests use it as a witness that does not depend on how the server is written: a
folder's watch reports every open of the folder itself and of the files directly in it,
by any code path (Python, C, a child process).
"""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

IN_ACCESS = 0x00000001
IN_OPEN = 0x00000020
IN_Q_OVERFLOW = 0x00004000
IN_ISDIR = 0x40000000
_HEADER = struct.Struct("iIII")

_libc = ctypes.CDLL(None, use_errno=True)


class OpenSpy:
    """Records opens below the watched folders (each folder watched on its own, not recursive).

    ``opens()`` returns, since the last call, the paths opened: a folder itself when it was
    listed or opened, or a file directly inside a watched folder.
    """

    def __init__(self) -> None:
        self.fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._dirs: dict[int, Path] = {}

    def watch(self, folder: Path, *, recursive: bool = False) -> None:
        folders = [folder]
        if recursive:
            folders += [Path(d) for d, _, _ in os.walk(folder) if Path(d) != folder]
        for path in folders:
            wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), IN_OPEN | IN_ACCESS)
            if wd < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch failed for {path}")
            self._dirs[wd] = path

    def opens(self) -> list[Path]:
        found: list[Path] = []
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return found
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
                offset += _HEADER.size
                name = data[offset : offset + length].rstrip(b"\0")
                offset += length
                if mask & IN_Q_OVERFLOW:
                    raise AssertionError("inotify queue overflowed: too many events to count")
                if not mask & IN_OPEN:
                    continue
                folder = self._dirs.get(wd)
                if folder is not None:
                    found.append(folder / os.fsdecode(name) if name else folder)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> OpenSpy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
