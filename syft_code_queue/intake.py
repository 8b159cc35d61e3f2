"""The owner's side of receiving requests: verify every file, snapshot, record.

A request exists for the owner only when ``request.json`` is there and every file it lists
has arrived with its hash; sync may deliver them in any order, so an incomplete request
waits (up to ``arrival_timeout``). A request that can never be valid — it claims another
requester, another target or uid, or its manifest does not match its own hash — is
recorded as ``rejected`` at once with the reason, so the data scientist learns why.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from syft_code_queue.errors import InvalidRequestError
from syft_code_queue.fsio import (
    FolderChanges,
    copy_hashed,
    fsync_dir,
    list_entries,
    new_temp_dir,
    publish_dir,
    remove_tree,
)
from syft_code_queue.ledger import JobRecord, Ledger
from syft_code_queue.manifest import code_hash, manifest_problem
from syft_code_queue.models import FailureReason, FileList, JobRequest, JobStatus, QueueConfig
from syft_code_queue.store import CODE_DIR, REQUEST_FILE, is_uid_name, read_request
from syft_code_queue.workspace import Workspace

log = logging.getLogger("syft_code_queue.intake")

NO_HASH = "0" * 64


class _Incomplete(Exception):
    """The request may still be arriving."""


class _Invalid(Exception):
    """The request can never become valid."""

    def __init__(self, reason: str, request: JobRequest | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request = request


BATCH = 256
STAMPS_KEY = "outbox_stamps"


@dataclass(frozen=True)
class _Candidate:
    record: JobRecord
    tmp: Path


@dataclass
class IntakeResult:
    received: int = 0
    rejected: int = 0
    waiting: int = 0


class Intake:
    """Scans every data scientist's outbox for this owner and receives complete requests."""

    def __init__(self, ws: Workspace, config: QueueConfig, ledger: Ledger, snapshots: Path) -> None:
        self.ws = ws
        self.config = config
        self.ledger = ledger
        self.snapshots = snapshots
        self._changes = FolderChanges()
        self._saved_stamps: dict[str, int] | None = None
        self.outboxes: list[tuple[str, Path]] = []
        self._known_cache: set[str] | None = None

    @property
    def _known(self) -> set[str]:
        if self._known_cache is None:
            self._known_cache = self.ledger.uids()
        return self._known_cache

    def outbox_dirs(self) -> list[tuple[str, Path]]:
        """(requester, outbox folder for me) for every datasite that has one."""
        out = []
        for entry in list_entries(self.ws.datasites):
            if entry.is_dir():
                folder = self.ws.outbox(entry.name, self.ws.email, self.config.queue_name)
                if folder.is_dir():
                    out.append((entry.name, folder))
        return out

    def scan(self, now: datetime) -> IntakeResult:
        """Receive every request that is complete; remember the incomplete ones."""
        result = IntakeResult()
        batch: list[_Candidate] = []
        if self._saved_stamps is None:
            # Settled outbox stamps recorded by any earlier scan, in any process: an
            # unchanged outbox need not be listed again.
            self._saved_stamps = self.ledger.get_meta(STAMPS_KEY, {})
            self._changes.restore(self._saved_stamps)
        arriving = {(r, u) for r, u, _, _ in self.ledger.arrivals()}
        arriving_by = {r for r, _ in arriving}
        self.outboxes = self.outbox_dirs()
        for requester, outbox in self.outboxes:
            stamp = self._changes.stamp(outbox)
            if self._changes.unchanged(requester, stamp) and requester not in arriving_by:
                continue
            for entry in list_entries(outbox):
                if entry.name in self._known or not is_uid_name(entry.name):
                    continue
                if not entry.is_dir(follow_symlinks=False):
                    continue
                arriving.discard((requester, entry.name))
                self._try(requester, Path(entry.path), now, result, batch)
            self._changes.listed(requester, stamp)
        for requester, uid in arriving:
            if uid in self._known:
                self.ledger.drop_arrival(requester, uid)
                continue
            folder = self.ws.outbox(requester, self.ws.email, self.config.queue_name) / uid
            if folder.is_dir():
                self._try(requester, folder, now, result, batch)
            else:
                self.ledger.drop_arrival(requester, uid)
        self._commit(batch, result)
        stamps = self._changes.export()
        if stamps != self._saved_stamps:
            # Saved only after everything listed was committed or noted as arriving.
            self.ledger.set_meta(STAMPS_KEY, stamps)
            self._saved_stamps = stamps
        return result

    def _try(
        self,
        requester: str,
        folder: Path,
        now: datetime,
        result: IntakeResult,
        batch: list[_Candidate],
    ) -> None:
        uid = folder.name
        try:
            request = self._load(requester, folder)
            candidate = self._prepare(requester, request, folder, now)
        except _Incomplete as exc:
            first_seen = self.ledger.note_arrival(requester, uid, now, str(exc))
            if (now - first_seen).total_seconds() >= self.config.arrival_timeout:
                self._reject(requester, uid, None, now, f"request never completed: {exc}")
                result.rejected += 1
            else:
                result.waiting += 1
        except _Invalid as exc:
            log.warning("refusing request %s from %s: %s", uid, requester, exc.reason)
            self._reject(requester, uid, exc.request, now, exc.reason)
            result.rejected += 1
        else:
            if candidate is not None:
                batch.append(candidate)
                if len(batch) >= BATCH:
                    self._commit(batch, result)

    def _load(self, requester: str, folder: Path) -> JobRequest:
        path = folder / REQUEST_FILE
        try:
            request = read_request(path)
        except FileNotFoundError:
            raise _Incomplete("request.json has not arrived") from None
        except OSError as exc:
            # Unreadable for now (a folder in its place, permissions, sync mid-write):
            # wait, and refuse it once arrival_timeout has passed.
            raise _Incomplete(f"request.json cannot be read ({exc.strerror})") from None
        except InvalidRequestError as exc:
            try:
                json.loads(path.read_bytes())
            except (OSError, ValueError):
                raise _Incomplete(f"request.json is incomplete or corrupt ({exc})") from None
            raise _Invalid(str(exc)) from None
        problem = None
        if str(request.uid) != folder.name:
            problem = f"request.json names uid {request.uid} but lives in folder {folder.name}"
        elif request.requester != requester:
            problem = (
                f"request claims requester {request.requester} but was submitted from "
                f"{requester}'s datasite (forged requester)"
            )
        elif request.target != self.ws.email:
            problem = f"request is addressed to {request.target}, not {self.ws.email}"
        elif code_hash(request.files) != request.code_hash:
            problem = "request's code_hash does not match its own file list"
        else:
            problem = manifest_problem(request.files)
        if problem is not None:
            raise _Invalid(problem, request)
        return request

    def _prepare(
        self, requester: str, request: JobRequest, folder: Path, now: datetime
    ) -> _Candidate | None:
        """Copy and verify a complete request into a temp snapshot, ready to be recorded."""
        uid = str(request.uid)
        if self.ledger.find(uid) is not None:
            return None  # another process received it since our cache was loaded
        tmp = new_temp_dir(self.snapshots, uid)
        try:
            self._copy_verified(request, folder / CODE_DIR, tmp)
        except BaseException:
            remove_tree(tmp)
            raise
        record = JobRecord(
            uid=uid,
            requester=requester,
            name=request.name,
            description=request.description,
            tags=request.tags,
            created_at=request.created_at,
            received_at=now,
            code_hash=request.code_hash,
            files=FileList(request.files),
            status=JobStatus.pending,
            updated_at=now,
            supersedes=str(request.supersedes) if request.supersedes else None,
        )
        return _Candidate(record, tmp)

    def _commit(self, batch: list[_Candidate], result: IntakeResult) -> None:
        """Record a batch of verified requests in one ledger transaction (one audit fsync)."""
        if not batch:
            return
        temps = {c.record.uid: c.tmp for c in batch}

        def publish_snapshots(fresh: list[JobRecord]) -> None:
            for record in fresh:
                dest = self.snapshots / record.uid
                if dest.exists():
                    remove_tree(dest)  # left by a crash before the ledger recorded it
                publish_dir(temps[record.uid], dest, durable=False)
            fsync_dir(self.snapshots)

        try:
            fresh = self.ledger.insert_many(
                [(c.record, None) for c in batch], actor=self.ws.email, before=publish_snapshots
            )
        finally:
            for tmp in temps.values():
                remove_tree(tmp)
            batch.clear()
        for record in fresh:
            self._known.add(record.uid)
            log.info("received job %s (%s) from %s", record.uid, record.name, record.requester)
        result.received += len(fresh)

    def _copy_verified(self, request: JobRequest, code: Path, dest: Path) -> None:
        missing = 0
        for entry in request.files:
            target = dest / entry.path
            if entry.size == 0:
                # SyftBox never syncs empty files; the manifest is enough to recreate one.
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
                continue
            try:
                digest, size = copy_hashed(code / entry.path, target, max_bytes=entry.size)
            except FileNotFoundError:
                missing += 1
                continue
            except OSError as exc:
                raise _Incomplete(
                    f"'{entry.path}' cannot be read as a regular file ({exc})"
                ) from exc
            if (digest, size) != (entry.sha256, entry.size):
                raise _Incomplete(f"'{entry.path}' does not match its manifest hash")
        if missing:
            raise _Incomplete(f"{missing} of {len(request.files)} files have not arrived")
        for path in dest.rglob("*"):
            if path.is_file():
                path.chmod(0o444)

    def _reject(
        self, requester: str, uid: str, request: JobRequest | None, now: datetime, reason: str
    ) -> None:
        if uid in self._known or self.ledger.find(uid) is not None:
            return
        record = JobRecord(
            uid=uid,
            requester=requester,
            name=request.name if request else "(invalid request)",
            description=request.description if request else "",
            tags=request.tags if request else (),
            created_at=request.created_at if request else now,
            received_at=now,
            code_hash=request.code_hash if request else NO_HASH,
            files=FileList(),
            status=JobStatus.rejected,
            updated_at=now,
            decided_at=now,
            reviewer=self.ws.email,
            failure_reason=FailureReason.invalid_request,
            error_message=f"invalid request: {reason}",
        )
        self.ledger.insert(record, actor=self.ws.email, detail=record.error_message)
        self._known.add(uid)
