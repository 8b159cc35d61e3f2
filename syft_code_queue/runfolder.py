"""The private folders approved jobs run in, kept for the next run when the job left them
as they were made.

A run folder holds ``job/`` (the staged code), ``home/``, ``tmp/``, ``output/``, the two logs
and the launch script. Making and deleting those ten files and folders is most of what a
trivial job costs the server's file system, and on some file systems much more than it
looks: ext4 without a journal reads every inode deleted in the last minutes each time it
creates a file, so each deletion slows every later creation for a while.

So the folder of a run that is known to be over (every process of the job was held by its
cgroups, and they are gone) is kept for the next run, with only what the job left exactly
as it was made:

- ``home/``, ``tmp/`` and ``output/`` are kept when they are still empty, with the same inode,
  change time (user space cannot set it), mode, owner and extended attributes as when they
  were made; otherwise they are moved away and deleted in the background, and made again;
- ``job/`` is always moved away (the next job's code is staged into a fresh folder);
- the logs and the launch script are kept as files, and emptied in place when the next run
  opens them (:func:`open_empty`), unless they are no longer plain single-link files of the
  server's without extended attributes: then they are made again.

Anything else found in the folder is moved away. A folder that cannot be checked or moved is
deleted whole, as every folder was before; the next start of the server deletes kept folders
with the rest of the runs folder (:func:`syft_code_queue.recovery.remove_leftovers`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import stat
import threading
from collections import OrderedDict
from pathlib import Path

from syft_code_queue.fsio import remove_tree

log = logging.getLogger("syft_code_queue.runner")

SUBFOLDERS = ("job", "home", "tmp", "output")
REUSED_FOLDERS = frozenset({"home", "tmp", "output"})
REUSED_FILES = frozenset({"stdout.txt", "stderr.txt", "launch.sh"})
FREE_PREFIX = ".free-"
GONE_PREFIX = ".gone-"
_FILE_MODE = 0o600
_MAX_STAMPS = 1024  # runs whose folders are remembered (more: the oldest are not reused)

# (inode, change time, mode, owner, group, extended attribute names) of a folder as made
Stamp = tuple[int, int, int, int, int, tuple[str, ...]]


def _xattrs(target: int | str) -> tuple[str, ...]:
    """Extended attribute names of an fd, or of a path itself (not what it links to)."""
    try:
        if isinstance(target, int):
            return tuple(sorted(os.listxattr(target)))
        return tuple(sorted(os.listxattr(target, follow_symlinks=False)))
    except OSError:
        return ()


def _stamp(path: Path) -> Stamp:
    st = os.lstat(path)
    return (st.st_ino, st.st_ctime_ns, st.st_mode, st.st_uid, st.st_gid, _xattrs(str(path)))


class RunFolders:
    """Makes run folders, and keeps up to ``keep`` ended ones for the next runs."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._free: list[Path] = []
        self._stamps: OrderedDict[Path, dict[str, Stamp]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def kept(self) -> list[Path]:
        """The ended run folders waiting for a next run."""
        with self._lock:
            return list(self._free)

    def make(self, run_root: Path) -> None:
        """A run folder at ``run_root`` with its four subfolders empty (a kept one if any);
        whatever was at ``run_root`` is deleted first."""
        remove_tree(run_root)
        with self._lock:
            kept = next((p for p in reversed(self._free) if p.parent == run_root.parent), None)
            if kept is not None:
                self._free.remove(kept)
        if kept is not None:
            try:
                kept.rename(run_root)
            except FileNotFoundError:  # deleted with the runs folder when the server restarted
                kept = None
            except OSError:
                log.warning("kept run folder %s could not be reused", kept, exc_info=True)
                remove_tree(kept)
                kept = None
        if kept is None:
            run_root.mkdir(parents=True)
        stamps: dict[str, Stamp] = {}
        for sub in SUBFOLDERS:
            with contextlib.suppress(FileExistsError):  # kept: checked when its run ended
                (run_root / sub).mkdir()
            stamps[sub] = _stamp(run_root / sub)
        with self._lock:
            self._stamps[run_root] = stamps
            while len(self._stamps) > _MAX_STAMPS:
                self._stamps.popitem(last=False)

    def done(self, run_root: Path, run_id: str, *, reusable: bool) -> None:
        """The run in ``run_root`` is over: keep its folder for a next run if ``reusable``
        (no process of the job can be left) and there is room, else discard it. Never
        blocks on deleting: what goes is moved away and deleted in the background."""
        with self._lock:
            stamps = self._stamps.pop(run_root, None)
            room = len(self._free) < self._keep
        if not (reusable and room and stamps is not None):
            discard(run_root, run_id)
            return
        free = run_root.with_name(f"{FREE_PREFIX}{run_id}")
        try:
            with os.scandir(run_root) as it:
                entries = list(it)
            for entry in entries:
                if not _as_made(entry, stamps):
                    gone = run_root.with_name(f"{GONE_PREFIX}{run_id}-{entry.name}")
                    Path(entry.path).rename(gone)
                    _remove_later(gone)
            run_root.rename(free)
        except OSError:
            log.warning("run folder %s could not be kept", run_root, exc_info=True)
            discard(run_root, run_id)
            return
        with self._lock:
            self._free.append(free)


def _as_made(entry: os.DirEntry[str], stamps: dict[str, Stamp]) -> bool:
    """Whether a run folder's entry can stay for the next run."""
    if entry.name in REUSED_FILES:
        st = entry.stat(follow_symlinks=False)
        return stat.S_ISREG(st.st_mode) and st.st_nlink == 1
    if entry.name not in REUSED_FOLDERS:
        return False
    path = Path(entry.path)
    if _stamp(path) != stamps.get(entry.name):
        return False
    with os.scandir(path) as it:
        return next(it, None) is None


def open_empty(path: Path) -> int:
    """An fd open for writing on an empty, private, plain file at ``path``: a kept one
    emptied in place, or a new one if there is none or it is not plain."""
    flags = os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)  # emptied only once known to be ours alone
    except FileNotFoundError:
        return os.open(path, flags | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    except OSError:
        fd = -1
    if fd >= 0:
        st = os.fstat(fd)
        if (
            stat.S_ISREG(st.st_mode)
            and st.st_nlink == 1
            and st.st_uid == os.geteuid()
            and not _xattrs(fd)
        ):
            os.ftruncate(fd, 0)
            os.fchmod(fd, _FILE_MODE)
            return fd
        os.close(fd)
    path.unlink(missing_ok=True)
    return os.open(path, flags | os.O_CREAT | os.O_EXCL, _FILE_MODE)


# Deleting in the background

_discarded: queue.SimpleQueue[Path] = queue.SimpleQueue()
_remover_lock = threading.Lock()
_remover: threading.Thread | None = None


def discard(run_root: Path, run_id: str) -> None:
    """Take an ended run's folder out of the way at once (one rename) and delete it in the
    background, off the server's loop."""
    gone = run_root.with_name(f"{GONE_PREFIX}{run_id}")
    try:
        run_root.rename(gone)
    except OSError:
        remove_tree(run_root)  # not there, or cannot be moved: remove it here
        return
    _remove_later(gone)


def _remove_later(path: Path) -> None:
    global _remover  # noqa: PLW0603 - one remover thread per process, started on first use
    _discarded.put(path)
    with _remover_lock:
        if _remover is None or not _remover.is_alive():
            _remover = threading.Thread(target=_remove_discarded, name="scq-remove", daemon=True)
            _remover.start()


def _remove_discarded() -> None:
    while True:
        path = _discarded.get()
        try:
            remove_tree(path)
        except OSError:
            log.warning("could not remove the ended run's folder %s", path, exc_info=True)
