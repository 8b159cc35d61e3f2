"""Requests whose files land in hostile orders on a plain shared folder.

Sync may deliver a request's files in any order, half-written, or never. The owner's server
must wait while a request is incomplete (no ledger row, nothing to review, nothing run),
receive it exactly once when it is complete, reject it with a reason once
``arrival_timeout`` has passed without it completing, and reject at once a request that can
never become valid (forged requester, a code hash that disagrees with its own manifest).
Time is driven with ``server.tick(now=...)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from faultlib import (
    DO_EMAIL,
    DS_EMAIL,
    PreconditionError,
    audit_count,
    audit_entries,
    build_request,
    entries,
    hash_tree,
    ledger_rows,
    outbox,
    precondition,
    request_bytes,
    wait_for,
    write_file,
)

import syft_code_queue as scq
from syft_code_queue import published, store
from syft_code_queue.manifest import EMPTY_SHA256
from syft_code_queue.models import FileEntry, JobRequest, JobStatus, PublishedStatus, utcnow

pytestmark = pytest.mark.faults

ARRIVAL_TIMEOUT = 600.0
EVE = "eve@example.com"


@pytest.fixture
def server(syftbox_dir: Path) -> Iterator[scq.CodeQueueServer]:
    srv = scq.create_server(
        email=DO_EMAIL,
        syftbox_dir=syftbox_dir,
        job_timeout=30,
        arrival_timeout=ARRIVAL_TIMEOUT,
        poll_interval=0.05,
    )
    try:
        yield srv
    finally:
        srv.close()


def published_status(server: scq.CodeQueueServer, uid: str) -> PublishedStatus | None:
    """The status the owner published for ``uid``, read as its requester reads it."""
    with published.job_folder(server.workspace.datasites, server.jobs_dir / uid) as folder:
        return published.read_status(folder)


def package(extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """A small job that says ``ran`` when it runs."""
    files = {
        "run.sh": b"#!/bin/bash\nset -e\necho ran\ncat data/input.csv\npython analyze.py\n",
        "data/input.csv": b"a,b\n1,2\n3,4\n",
        "analyze.py": b"print('analysis done')\n",
    }
    files.update(extra or {})
    return files


@pytest.fixture
def marker(syftbox_dir: Path) -> Ran:
    """Whether a job of this test ever started (see :class:`Ran`)."""
    return Ran(syftbox_dir.resolve() / ".syft_code_queue" / DO_EMAIL / "code-queue")


@dataclass(frozen=True)
class Ran:
    """Whether any job of the owner's queue ever started: every start is a committed
    ``running`` transition in the hash-chained audit log, written before the job's process
    exists (a job in its sandbox cannot leave a trace anywhere else)."""

    private_dir: Path

    def exists(self) -> bool:
        return any(e["event"] == "running" for e in audit_entries(self.private_dir))


@dataclass(frozen=True)
class Incoming:
    """A hand-built request of ds@ for do@ and its files, landing in ds@'s outbox piece by
    piece, in whatever order (and torn or forged) the test writes them."""

    files: dict[str, bytes]
    request: JobRequest
    folder: Path

    @classmethod
    def of(cls, syftbox_dir: Path, files: dict[str, bytes], **request_args: Any) -> Incoming:
        """A request for ``files`` (``build_request`` arguments), in the folder of its uid."""
        request = build_request(files, **request_args)
        return cls(files, request, outbox(syftbox_dir) / str(request.uid))

    @property
    def uid(self) -> str:
        return str(self.request.uid)

    def write_code(self, *names: str) -> None:
        """The code files ``names`` (default: all of them)."""
        for name in names or tuple(self.files):
            if self.files[name]:  # SyftBox never syncs empty files
                write_file(self.folder / "code" / name, self.files[name])

    def write_request(self, data: bytes | None = None) -> None:
        """request.json: the request, or ``data`` (say, a torn copy) in its place."""
        whole = request_bytes(self.request)
        write_file(self.folder / "request.json", whole if data is None else data)

    def write_all(self) -> None:
        """Every code file, then request.json: the request arrived whole."""
        self.write_code()
        self.write_request()


def drive(server: scq.CodeQueueServer, times: int = 3, now: datetime | None = None) -> None:
    for _ in range(times):
        server.tick(now)


def assert_waiting(server: scq.CodeQueueServer, uid: str, marker: Ran) -> None:
    """Incomplete: remembered as arriving, but not a job — no row, nothing published or run."""
    assert ledger_rows(server.private_dir, uid) == []
    assert uid in {u for _, u, _, _ in server.ledger.arrivals()}
    assert not (server.jobs_dir / uid).exists(), "an incomplete request got a status folder"
    assert not (server.snapshots / uid).exists(), "an incomplete request got a snapshot"
    assert not marker.exists(), "an incomplete request ran"
    leftovers = [p.name for p in server.snapshots.iterdir()] if server.snapshots.exists() else []
    assert not [n for n in leftovers if uid in n], f"staging leftovers: {leftovers}"


def assert_received_once(server: scq.CodeQueueServer, request: JobRequest) -> None:
    uid = str(request.uid)
    rows = ledger_rows(server.private_dir, uid)
    assert len(rows) == 1
    assert rows[0]["status"] == "pending"
    assert rows[0]["requester"] == request.requester
    assert rows[0]["code_hash"] == request.code_hash
    received = [e for e in server.job_events(uid) if e["detail"] == "received"]
    assert len(received) == 1, server.job_events(uid)
    assert audit_count(server.private_dir, uid, "received") == 1
    assert uid not in {u for _, u, _, _ in server.ledger.arrivals()}
    status = published_status(server, uid)
    assert status is not None and status.status is JobStatus.pending
    # The snapshot is exactly the manifest: every file, with its hash, and nothing else.
    expected = {f.path: (f.sha256, f.size) for f in request.files}
    assert hash_tree(server.snapshots / uid) == expected
    assert server.verify_audit().ok


def assert_rejected(
    server: scq.CodeQueueServer, uid: str, marker: Ran, *reason_parts: str
) -> dict[str, object]:
    rows = ledger_rows(server.private_dir, uid)
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["status"] == "rejected", row
    assert row["failure_reason"] == "invalid_request"
    message = str(row["error_message"])
    for part in reason_parts:
        assert part in message, message
    with pytest.raises(scq.InvalidTransitionError):
        server.approve_job(uid)
    drive(server, 3)
    drive(server, 2, now=utcnow() + timedelta(seconds=10 * ARRIVAL_TIMEOUT))
    assert ledger_rows(server.private_dir, uid)[0]["status"] == "rejected"
    assert audit_count(server.private_dir, uid, "received") == 1
    assert audit_count(server.private_dir, uid, "rejected") == 1
    assert not marker.exists(), "a rejected request ran"
    assert not (server.private_dir / "runs" / uid).exists()
    status = published_status(server, uid)
    assert status is not None and status.status is JobStatus.rejected
    assert status.error_message == message
    return row


def past_arrival_timeout(t0: datetime) -> datetime:
    """A moment just after ``arrival_timeout`` has passed since ``t0``."""
    return t0 + timedelta(seconds=ARRIVAL_TIMEOUT + 1)


def run_to_end(server: scq.CodeQueueServer, uid: str) -> scq.CodeJob:
    def ended() -> bool:
        server.tick()
        return server.get_job(uid).is_terminal

    wait_for(ended, 30, f"job {uid} to end", interval=0.02)
    return server.get_job(uid)


def test_request_json_before_code_files(
    server: scq.CodeQueueServer, syftbox_dir: Path, marker: Ran
) -> None:
    incoming = Incoming.of(syftbox_dir, package())
    uid = incoming.uid
    incoming.write_request()
    assert server.tick().waiting == 1
    assert_waiting(server, uid, marker)
    for name in ("run.sh", "data/input.csv"):
        incoming.write_code(name)
        report = server.tick()
        assert (report.waiting, report.received) == (1, 0)
        assert_waiting(server, uid, marker)
        assert uid not in {str(j.uid) for j in server.list_jobs()}
    incoming.write_code("analyze.py")
    assert server.tick().received == 1
    assert_received_once(server, incoming.request)
    drive(server, 5)
    assert_received_once(server, incoming.request)

    # A restarted server does not receive it a second time.
    server.close()
    with scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir, job_timeout=30) as again:
        drive(again, 3)
        assert_received_once(again, incoming.request)
        again.approve_job(uid)
        job = run_to_end(again, uid)
    assert job.status is JobStatus.completed, job.error_message
    assert audit_count(again.private_dir, uid, "running") == 1
    assert again.get_job_logs(uid).startswith("ran\n")


@pytest.mark.parametrize("wrong", ["same size", "shorter", "longer"])
def test_code_file_changes_mid_arrival(
    server: scq.CodeQueueServer, syftbox_dir: Path, marker: Ran, wrong: str
) -> None:
    files = package()
    right = files["analyze.py"]
    bad = {
        "same size": right.replace(b"done", b"DONE"),
        "shorter": right[: len(right) // 2],
        "longer": right + b"import os; os.system('evil')\n",
    }[wrong]
    assert bad != right
    incoming = Incoming.of(syftbox_dir, files)
    uid = incoming.uid
    analyze = incoming.folder / "code" / "analyze.py"
    incoming.write_code("run.sh", "data/input.csv")
    write_file(analyze, bad)
    incoming.write_request()
    for _ in range(3):
        assert server.tick().waiting == 1
        assert_waiting(server, uid, marker)
    row = next(a for a in server.ledger.arrivals() if a[1] == uid)
    assert "analyze.py" in str(row[3]), row

    write_file(analyze, right)
    assert server.tick().received == 1
    assert_received_once(server, incoming.request)
    assert server.read_job_file(uid, "analyze.py") == right

    # Later edits in the outbox change nothing the owner reviews or runs.
    write_file(analyze, bad)
    drive(server, 3)
    assert_received_once(server, incoming.request)
    assert server.read_job_file(uid, "analyze.py") == right


def test_file_that_never_arrives_is_rejected_after_arrival_timeout(
    server: scq.CodeQueueServer, syftbox_dir: Path, marker: Ran
) -> None:
    incoming = Incoming.of(syftbox_dir, package())
    uid = incoming.uid
    incoming.write_code("run.sh", "analyze.py")
    incoming.write_request()
    t0 = utcnow()
    for offset in (0.0, 1.0, ARRIVAL_TIMEOUT / 2, ARRIVAL_TIMEOUT - 1):
        report = server.tick(t0 + timedelta(seconds=offset))
        assert (report.waiting, report.rejected_invalid) == (1, 0), offset
        assert_waiting(server, uid, marker)
    report = server.tick(past_arrival_timeout(t0))
    assert report.rejected_invalid == 1
    assert_rejected(server, uid, marker, "never completed", "not arrived")

    # The file arrives after all: still rejected, never received again, never run.
    incoming.write_code("data/input.csv")
    drive(server, 3)
    assert_rejected(server, uid, marker, "never completed")
    ds = scq.create_client(email=DS_EMAIL, syftbox_dir=syftbox_dir)
    seen = ds.get_job(uid)
    assert seen.status is JobStatus.rejected
    assert "never completed" in (seen.error_message or "")


def test_mismatch_that_never_resolves_is_rejected_after_arrival_timeout(
    server: scq.CodeQueueServer, syftbox_dir: Path, marker: Ran
) -> None:
    incoming = Incoming.of(syftbox_dir, package())
    uid = incoming.uid
    incoming.write_code()
    write_file(incoming.folder / "code" / "analyze.py", b"print('swapped')\n")
    incoming.write_request()
    t0 = utcnow()
    server.tick(t0)
    assert_waiting(server, uid, marker)
    server.tick(t0 + timedelta(seconds=ARRIVAL_TIMEOUT - 1))
    assert_waiting(server, uid, marker)
    assert server.tick(past_arrival_timeout(t0)).rejected_invalid == 1
    assert_rejected(server, uid, marker, "analyze.py", "manifest")


def test_empty_files_in_manifest_are_recreated(
    server: scq.CodeQueueServer, syftbox_dir: Path, marker: Ran
) -> None:
    files = package({"empty.txt": b"", "pkg/__init__.py": b""})
    files["run.sh"] += b"test -f empty.txt && test ! -s empty.txt\n"
    files["run.sh"] += b"test -f pkg/__init__.py && test ! -s pkg/__init__.py && echo empty-ok\n"
    incoming = Incoming.of(syftbox_dir, files)
    assert {f.path: f.sha256 for f in incoming.request.files if f.size == 0} == {
        "empty.txt": EMPTY_SHA256,
        "pkg/__init__.py": EMPTY_SHA256,
    }
    uid = incoming.uid
    incoming.write_all()  # the empty files never arrive, as over SyftBox
    assert not (incoming.folder / "code" / "empty.txt").exists()
    assert server.tick().received == 1
    assert_received_once(server, incoming.request)
    server.approve_job(uid)
    job = run_to_end(server, uid)
    assert job.status is JobStatus.completed, (job.error_message, server.get_job_logs(uid))
    assert "empty-ok" in server.get_job_logs(uid)


def _cut_points() -> dict[str, object]:
    return {"first byte": 1, "inside a multibyte char": "mb", "half": 0.5, "all but last": -1}


@pytest.mark.parametrize("cut", list(_cut_points()))
def test_truncated_request_json_waits_then_is_received_once(
    server: scq.CodeQueueServer, syftbox_dir: Path, marker: Ran, cut: str
) -> None:
    incoming = Incoming.of(syftbox_dir, package(), name="Ünïcödé ✓ analysis")
    whole = request_bytes(incoming.request)
    where = _cut_points()[cut]
    if where == "mb":
        size = whole.index("✓".encode()) + 1
    elif isinstance(where, float):
        size = int(len(whole) * where)
    else:
        size = int(str(where)) % len(whole)
    partial = whole[:size]
    assert 0 < len(partial) < len(whole)
    uid = incoming.uid
    incoming.write_code()
    incoming.write_request(partial)
    t0 = utcnow()
    for offset in (0.0, ARRIVAL_TIMEOUT / 2, ARRIVAL_TIMEOUT - 1):
        report = server.tick(t0 + timedelta(seconds=offset))
        assert (report.waiting, report.rejected_invalid) == (1, 0)
        assert_waiting(server, uid, marker)
    incoming.write_request(whole)
    assert server.tick(t0 + timedelta(seconds=ARRIVAL_TIMEOUT - 1)).received == 1
    assert_received_once(server, incoming.request)
    drive(server, 3)
    assert_received_once(server, incoming.request)
    assert server.get_job(uid).name == "Ünïcödé ✓ analysis"


def test_truncated_request_json_that_never_completes_is_rejected(
    server: scq.CodeQueueServer, syftbox_dir: Path, marker: Ran
) -> None:
    incoming = Incoming.of(syftbox_dir, package())
    uid = incoming.uid
    incoming.write_code()
    whole = request_bytes(incoming.request)
    incoming.write_request(whole[: len(whole) // 3])
    t0 = utcnow()
    server.tick(t0)
    assert_waiting(server, uid, marker)
    assert server.tick(past_arrival_timeout(t0)).rejected_invalid == 1
    assert_rejected(server, uid, marker, "never completed")


def _forge(kind: str, files: dict[str, bytes]) -> JobRequest:
    if kind == "requester":
        return build_request(files, requester=EVE)
    if kind == "code_hash":
        return build_request(files, hash_override=hashlib.sha256(b"other code").hexdigest())
    if kind == "target":
        return build_request(files, target=EVE)
    return build_request(files)  # "uid": written into a folder named after another uid


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("requester", f"claims requester {EVE}"),
        ("code_hash", "code_hash does not match"),
        ("target", f"addressed to {EVE}"),
        ("uid", "lives in folder"),
    ],
)
def test_request_that_can_never_be_valid_is_rejected_at_once(
    server: scq.CodeQueueServer, syftbox_dir: Path, marker: Ran, kind: str, reason: str
) -> None:
    files = package()
    folder_uid = str(uuid.uuid4())
    request = _forge(kind, files)
    uid = folder_uid if kind == "uid" else str(request.uid)
    incoming = Incoming(files, request, outbox(syftbox_dir) / uid)  # always in ds@'s own outbox
    incoming.write_all()
    report = server.tick()  # no waiting for a timeout
    assert (report.rejected_invalid, report.received, report.waiting) == (1, 0, 0)
    row = assert_rejected(server, uid, marker, reason)
    assert row["requester"] == DS_EMAIL, "the requester is the datasite the outbox lives in"
    assert row["files"] == "[]", "nothing of a refused request is kept for review"
    assert not (server.snapshots / uid).exists()
    assert server.list_pending_jobs() == []
    ds = scq.create_client(email=DS_EMAIL, syftbox_dir=syftbox_dir)
    if kind != "uid":  # a uid/folder mismatch is not a job the DS client can name
        assert ds.get_job(uid).status is JobStatus.rejected


def test_empty_entry_with_a_non_empty_hash_is_never_received(
    server: scq.CodeQueueServer, syftbox_dir: Path, marker: Ran
) -> None:
    files = package()
    lie = FileEntry(path="config.txt", sha256=hashlib.sha256(b"secret config").hexdigest(), size=0)
    incoming = Incoming.of(syftbox_dir, files, manifest=(*entries(files), lie))
    uid = incoming.uid
    incoming.write_all()
    t0 = utcnow()
    server.tick(t0)
    server.tick(past_arrival_timeout(t0))
    rows = ledger_rows(server.private_dir, uid)
    assert rows == [] or rows[0]["status"] == "rejected", (
        f"received as {rows[0]['status']}; snapshot {hash_tree(server.snapshots / uid)} "
        f"vs manifest {json.loads(rows[0]['files'])}"
    )


def test_manifest_with_duplicate_paths_is_rejected_at_once(
    server: scq.CodeQueueServer, syftbox_dir: Path, marker: Ran
) -> None:
    files = package()
    listed = entries(files)
    incoming = Incoming.of(syftbox_dir, files, manifest=(*listed, listed[0]))
    incoming.write_all()
    report = server.tick()
    assert report.rejected_invalid == 1, report
    assert_rejected(server, incoming.uid, marker, listed[0].path)


# Cancellations arrive over sync too, in any order and half-written.


def write_cancel(syftbox_dir: Path, uid: str, data: bytes | None = None) -> Path:
    path = outbox(syftbox_dir) / store.CANCEL_DIR / f"{uid}.json"
    whole = json.dumps({"uid": uid, "requested_at": utcnow().isoformat()}).encode()
    write_file(path, whole if data is None else data)
    return path


def assert_cancelled_never_run(
    server: scq.CodeQueueServer, uid: str, marker: Ran, timeout: float = 5.0
) -> None:
    def cancelled() -> bool:
        server.tick()
        return server.get_job(uid).status is not JobStatus.pending

    wait_for(cancelled, timeout, f"the cancellation of {uid} to be applied", interval=0.02)
    job = server.get_job(uid)
    assert (job.status, job.failure_reason) == (JobStatus.failed, scq.FailureReason.cancelled)
    with pytest.raises(scq.InvalidTransitionError):
        server.approve_job(uid)
    drive(server, 3)
    assert not marker.exists()


def test_cancel_that_arrives_before_its_request_is_applied(
    server: scq.CodeQueueServer, syftbox_dir: Path, marker: Ran
) -> None:
    incoming = Incoming.of(syftbox_dir, package())
    uid = incoming.uid
    incoming.write_request()
    incoming.write_code("run.sh")
    write_cancel(syftbox_dir, uid)  # the small cancel file overtakes the code
    server.tick()
    assert_waiting(server, uid, marker)
    incoming.write_code()
    assert server.tick().received == 1
    assert_cancelled_never_run(server, uid, marker)


def test_truncated_cancel_marker_is_applied_once_whole(
    server: scq.CodeQueueServer, syftbox_dir: Path, marker: Ran
) -> None:
    incoming = Incoming.of(syftbox_dir, package())
    uid = incoming.uid
    incoming.write_all()
    assert server.tick().received == 1
    path = write_cancel(syftbox_dir, uid, b'{"uid": "')
    drive(server, 2)
    assert server.get_job(uid).status is JobStatus.pending
    write_cancel(syftbox_dir, uid)
    assert path.exists()
    assert_cancelled_never_run(server, uid, marker)


def _freeze_mtime(folder: Path, mtime_ns: int) -> None:
    """Give ``folder`` back an earlier mtime: what a filesystem with coarse timestamps
    (1 s on HFS+/SMB/NFS-with-coarse-time, 2 s on FAT, one jiffy on older Linux kernels)
    shows when two entries are added within one timestamp granule."""
    st = folder.stat()
    os.utime(folder, ns=(st.st_atime_ns, mtime_ns))


def test_request_published_within_one_mtime_granule_is_not_lost(
    server: scq.CodeQueueServer, syftbox_dir: Path, marker: Ran
) -> None:
    first, second = (Incoming.of(syftbox_dir, package()) for _ in range(2))
    box = outbox(syftbox_dir)
    first.write_all()
    granule = box.stat().st_mtime_ns
    precondition(server.tick().received == 1, "the first request is received")
    second.write_all()
    _freeze_mtime(box, granule)

    def received() -> bool:
        server.tick()
        return bool(ledger_rows(server.private_dir, second.uid))

    wait_for(received, 2, "the second request to be received", interval=0.02)
    assert_received_once(server, second.request)


def test_cancel_written_within_one_mtime_granule_is_not_lost(
    server: scq.CodeQueueServer, syftbox_dir: Path, marker: Ran
) -> None:
    incoming = [Incoming.of(syftbox_dir, package()) for _ in range(2)]
    for one in incoming:
        one.write_all()
    precondition(server.tick().received == 2, "both requests are received")
    a, b = (one.uid for one in incoming)
    cancels = write_cancel(syftbox_dir, a).parent
    granule = cancels.stat().st_mtime_ns
    try:
        assert_cancelled_never_run(server, a, marker)
    except AssertionError as exc:
        raise PreconditionError(f"the first cancellation is applied: {exc}") from exc
    write_cancel(syftbox_dir, b)
    _freeze_mtime(cancels, granule)
    assert_cancelled_never_run(server, b, marker, timeout=2.0)
