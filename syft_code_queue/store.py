"""Reading and writing the synced files of the layout (see :mod:`workspace`).

The data scientist writes requests and cancellations in their own outbox; the data owner
publishes status, events, logs and outputs in their own ``jobs/<uid>/`` folder. Nothing here
decides anything: the owner's ledger does.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from syft_code_queue.errors import InvalidRequestError
from syft_code_queue.fsio import (
    append_if_grown,
    atomic_write_bytes,
    new_temp_dir,
    publish_dir,
    read_bytes,
    read_tail,
    write_if_changed,
)
from syft_code_queue.models import CancelRequest, FileEntry, JobRequest, PublishedStatus
from syft_code_queue.workspace import grant_read

REQUEST_FILE = "request.json"
STATUS_FILE = "status.json"
EVENTS_FILE = "events.jsonl"
STDOUT_FILE = "stdout.txt"
STDERR_FILE = "stderr.txt"
OUTPUT_DIR = "output"
CODE_DIR = "code"
CANCEL_DIR = "cancellations"
MAX_REQUEST_BYTES = 4 * 1024 * 1024


# The data scientist's side


def new_submission(outbox: Path, uid: UUID) -> Path:
    """A never-synced temp folder in ``outbox`` to build a submission in."""
    return new_temp_dir(outbox, str(uid))


def commit_submission(tmp: Path, request: JobRequest) -> Path:
    """Write ``request.json`` last, then make the folder appear under its uid in one rename.

    The temp folder is invisible to readers and to sync until the rename, so the request
    is written in place; a crash before the data reaches the disk leaves a request whose
    hashes do not match, which the owner treats as incomplete, never as valid.
    """
    with (tmp / REQUEST_FILE).open("xb") as f:
        unset = {"supersedes"} if request.supersedes is None else None
        f.write(request.model_dump_json(indent=2, exclude=unset).encode())
    dest = tmp.parent / str(request.uid)
    publish_dir(tmp, dest)
    return dest


def write_cancellation(outbox: Path, uid: UUID, cancel: CancelRequest) -> None:
    atomic_write_bytes(outbox / CANCEL_DIR / f"{uid}.json", cancel.model_dump_json().encode())


def read_request(path: Path) -> JobRequest:
    """Parse a ``request.json``.

    Raises:
        FileNotFoundError: it is not there (yet).
        InvalidRequestError: it is not a valid request.
    """
    data = read_bytes(path, MAX_REQUEST_BYTES + 1)
    if len(data) > MAX_REQUEST_BYTES:
        raise InvalidRequestError(f"{path.name} is larger than {MAX_REQUEST_BYTES} bytes")
    return parse_request(data)


def parse_request(data: bytes) -> JobRequest:
    """Parse the bytes of a ``request.json``.

    Raises:
        InvalidRequestError: it is not a valid request; the message says where and why.
    """
    try:
        return JobRequest.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        what = first["msg"]
        if first["type"] == "string_pattern_mismatch":
            what = f"{str(first['input'])[:200]!r} is an unsafe path or malformed value"
        raise InvalidRequestError(f"{REQUEST_FILE} is invalid at {where}: {what}") from exc


# The data owner's side


def publish_status(
    job_dir: Path, requester: str, status: PublishedStatus, events: list[dict[str, Any]]
) -> None:
    """Write the requester-readable projection of one job: permissions first, then files.

    ``status.json`` is replaced atomically; ``events.jsonl`` only grows, so new events are
    appended to it in place (its last line can be seen half-written). Neither is fsynced:
    the ledger is the durable record, and the server republishes recently changed jobs when
    it starts (after a crash; a torn history is then replaced whole). A file that already
    says the same is left alone: each rewrite is a new file for the sync engine to send, and
    a change the requester cannot see (a process id recorded) changes nothing.
    """
    grant_read(job_dir, requester, durable=False)
    write_if_changed(job_dir / STATUS_FILE, status.model_dump_json(indent=2), durable=False)
    lines = "".join(json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in events)
    append_if_grown(job_dir / EVENTS_FILE, lines)


def publish_logs(job_dir: Path, stdout: bytes, stderr: bytes) -> tuple[FileEntry, FileEntry]:
    """Write both logs and return their entries (for the data scientist to check arrival)."""
    entries = []
    for name, data in ((STDOUT_FILE, stdout), (STDERR_FILE, stderr)):
        atomic_write_bytes(job_dir / name, data, durable=False)
        entries.append(
            FileEntry(path=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        )
    return entries[0], entries[1]


STDERR_MARK = "--- stderr ---\n"


def read_text(path: Path, limit: int | None = None) -> str:
    try:
        return read_bytes(path, limit).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def combine_logs(job_dir: Path, tail: int | None = None) -> str:
    """stdout, then stderr after a separator line when there is any.

    With ``tail``, only the last ``tail`` bytes of each are read (a live view of a long log).
    """
    if tail is None:
        out, err = read_text(job_dir / STDOUT_FILE), read_text(job_dir / STDERR_FILE)
    else:
        out, err = (
            read_tail(job_dir / name, tail).decode("utf-8", errors="replace")
            for name in (STDOUT_FILE, STDERR_FILE)
        )
    return join_logs(out, err)


def join_logs(out: str, err: str) -> str:
    """stdout, then stderr after a separator line when there is any."""
    if not err:
        return out
    if out and not out.endswith("\n"):
        out += "\n"
    return f"{out}{STDERR_MARK}{err}"


def is_uid_name(name: str) -> bool:
    try:
        return str(UUID(name)) == name
    except ValueError:
        return False
