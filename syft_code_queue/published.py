"""What an owner published about a job, as the data scientist reads it: hostile input.

The owner's job folder (``datasites/<owner>/app_data/<q>/jobs/<uid>/``) is written by
someone else, so it is read the way the owner reads outboxes (:mod:`syft_code_queue.safewalk`):
no link followed at any level below the datasites folder, regular files only, never blocking
on a FIFO, every read bounded. What cannot be read counts as not arrived (yet), so a job
shows as the owner last published it readably, or as pending.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from pydantic import ValidationError

from syft_code_queue import safewalk
from syft_code_queue.manifest import MAX_SYNC_FILE_BYTES
from syft_code_queue.models import FileEntry, PublishedStatus
from syft_code_queue.store import OUTPUT_DIR, STATUS_FILE, STDERR_FILE, STDOUT_FILE, join_logs

MAX_STATUS_BYTES = 1 << 20
# No larger file travels over SyftBox: a larger log was not written by a real publisher.
MAX_LOG_BYTES = MAX_SYNC_FILE_BYTES


@contextmanager
def job_folder(datasites: Path, job_dir: Path) -> Iterator[int | None]:
    """The open folder ``job_dir`` (below the trusted ``datasites``), or ``None`` when it is
    missing or is not a real folder at some level (a link is never followed)."""
    try:
        fd: int | None = safewalk.open_path(datasites, job_dir.relative_to(datasites).parts)
    except (ValueError, OSError):
        fd = None
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


def read_status(folder: int | None) -> PublishedStatus | None:
    """The published status in ``folder``, or ``None`` if none is readable (yet)."""
    if folder is None:
        return None
    try:
        return PublishedStatus.model_validate_json(
            safewalk.read_file(folder, STATUS_FILE, MAX_STATUS_BYTES)
        )
    except (OSError, ValidationError):
        return None


def has_output(folder: int | None) -> bool:
    """Whether the job's output folder is there as a real folder."""
    return folder is not None and safewalk.is_folder(folder, OUTPUT_DIR)


def results_arrived(folder: int | None, status: PublishedStatus) -> bool:
    """Whether every log and output ``status`` announces is here, whole, with its hash.

    Sync delivers small files first and writes them in place, so ``status.json`` can
    arrive before the results it announces.
    """
    if folder is None:
        return False
    wanted: list[tuple[tuple[str, ...], FileEntry]] = [((), f) for f in status.log_files]
    wanted += [((OUTPUT_DIR,), f) for f in status.output_files]
    with safewalk.DirChain(folder) as chain:
        for prefix, entry in sorted(wanted, key=lambda w: (*w[0], *PurePosixPath(w[1].path).parts)):
            if not entry.size:
                continue  # some engines never sync empty files
            path = PurePosixPath(entry.path)
            try:
                where = chain.folder_of((*prefix, *path.parent.parts))
                if _sha256(where, path.name, entry.size) != entry.sha256:
                    return False
            except OSError:  # missing, or not a regular file
                return False
    return True


def combine_logs(folder: int | None, tail: int | None = None) -> str:
    """stdout, then stderr after a separator line when there is any.

    With ``tail``, only the last ``tail`` bytes of each are read (a live view of a long log).
    A log that is not a readable regular file is left out; one larger than any published
    log can be is named with its size, not read.
    """
    if folder is None:
        return ""
    out, err = (_log(folder, name, tail) for name in (STDOUT_FILE, STDERR_FILE))
    return join_logs(out, err)


def _log(folder: int, name: str, tail: int | None) -> str:
    try:
        fd, st = safewalk.open_file(folder, name)
    except OSError:
        return ""
    with safewalk.opened(fd):
        if tail is None and st.st_size > MAX_LOG_BYTES:
            return (
                f"[{name} is {st.st_size:,} bytes, more than a published log can be "
                f"({MAX_LOG_BYTES:,}): not read]\n"
            )
        want = MAX_LOG_BYTES if tail is None else min(tail, MAX_LOG_BYTES)
        start = max(0, st.st_size - want) if tail is not None else 0
        data = os.pread(fd, want, start)
    return data.decode("utf-8", errors="replace")


def _sha256(folder: int, name: str, size: int) -> str:
    """The sha256 of a regular file of exactly ``size`` bytes (else ``""``)."""
    fd, st = safewalk.open_file(folder, name)
    with safewalk.opened(fd):
        if st.st_size != size:
            return ""
        digest = hashlib.sha256()
        read = 0
        while read < size and (chunk := os.read(fd, min(safewalk.CHUNK, size - read))):
            digest.update(chunk)
            read += len(chunk)
    return digest.hexdigest() if read == size else ""
