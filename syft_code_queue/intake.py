"""The owner's side of receiving requests: verify every file, snapshot, record.

A request exists for the owner only when ``request.json`` is there and every file it lists
has arrived with its hash; sync may deliver them in any order, so an incomplete request
waits (up to ``arrival_timeout``). A request that can never be valid — it claims another
requester, another target or uid, its manifest does not match its own hash, or it is over
the queue's size limits — is recorded as ``rejected`` at once with the reason, so the data
scientist learns why.

Every other datasite is hostile input. Names that are not plain emails are skipped (logged
once); everything is read through :mod:`syft_code_queue.safewalk`, one request at a time by
:mod:`syft_code_queue.arrival`; each requester and each request is its own failure domain,
so an error on one never stops the scan for the others. Work per scan is bounded
(``max_requests_per_tick``) and shared round-robin between requesters. An incomplete
request keeps the files verified so far and is looked at again when something of it
changed (or, once it has been quiet a while, with a growing back-off); only its new or
changed files are read.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from syft_code_queue import safewalk
from syft_code_queue.arrival import (
    Arrival,
    Incomplete,
    Invalid,
    Refusal,
    RequestReader,
    light_stamp,
)
from syft_code_queue.errors import InvalidEmailError
from syft_code_queue.fsio import (
    FolderChanges,
    fsync_dir,
    is_transient_name,
    list_entries,
    publish_dir,
    remove_tree,
)
from syft_code_queue.ledger import JobRecord, Ledger
from syft_code_queue.models import (
    FailureReason,
    FileList,
    JobRequest,
    JobStatus,
    QueueConfig,
    validate_email,
)
from syft_code_queue.store import is_uid_name
from syft_code_queue.workspace import Workspace

log = logging.getLogger("syft_code_queue.intake")

NO_HASH = "0" * 64
BATCH = 256
VISIT = 16  # requests of one requester looked at before the next requester's turn
STAMPS_KEY = "outbox_stamps"
ARRIVING_DIR = "arriving"


@dataclass
class _Requester:
    email: str
    outbox: str
    parts: tuple[str, ...]  # the outbox below datasites/, opened one level at a time
    queue: deque[str] = field(default_factory=deque)
    queued: set[str] = field(default_factory=set)
    arriving: dict[str, Arrival] = field(default_factory=dict)
    logged: set[str] = field(default_factory=set)
    safe: bool | None = None  # whether its outbox opened without meeting a link

    def log_once(self, key: str, message: str, *args: object) -> None:
        if key not in self.logged:
            self.logged.add(key)
            log.warning(message, *args)


@dataclass(frozen=True)
class _Candidate:
    record: JobRecord
    tmp: Path


@dataclass
class IntakeResult:
    received: int = 0
    rejected: int = 0
    waiting: int = 0
    more: bool = False  # work was left for the next scan (the per-scan bound was reached)


@dataclass
class _Scan:
    """One scan's time, tally and verified requests not yet recorded."""

    now: datetime
    result: IntakeResult = field(default_factory=IntakeResult)
    batch: list[_Candidate] = field(default_factory=list)
    outbox_fds: dict[str, int] = field(default_factory=dict)  # opened once per scan

    def close(self) -> None:
        for fd in self.outbox_fds.values():
            os.close(fd)
        self.outbox_fds.clear()


class Intake:
    """Scans every data scientist's outbox for this owner and receives complete requests."""

    def __init__(self, ws: Workspace, config: QueueConfig, ledger: Ledger, snapshots: Path) -> None:
        self.ws = ws
        self.config = config
        self.ledger = ledger
        self.snapshots = snapshots
        # What was verified of incomplete requests, kept apart from the snapshots.
        self.arriving_dir = snapshots.parent / ARRIVING_DIR
        self.reader = RequestReader(config, ws.email, self.arriving_dir, self._held_bytes)
        self._datasites = str(ws.datasites)
        self._datasites_changes = FolderChanges()
        self._changes = FolderChanges()
        self._saved_stamps: dict[str, int] | None = None
        self._requesters: dict[str, _Requester] = {}
        self._odd_names: set[str] = set()
        self._turn = 0
        self._known_cache: set[str] | None = None
        self._queued_bytes: dict[str, int] = {}
        self.outboxes: list[tuple[str, Path]] = []

    @property
    def known(self) -> set[str]:
        """Uids this queue has recorded (received or refused)."""
        if self._known_cache is None:
            self._known_cache = self.ledger.uids()
        return self._known_cache

    def requester(self, email: str) -> _Requester | None:
        return self._requesters.get(email)

    # Finding the outboxes

    def _refresh_requesters(self) -> None:
        """Re-list ``datasites/`` only when it changed; only plain emails become requesters."""
        stamp = self._datasites_changes.stamp(self.ws.datasites)
        if self._datasites_changes.unchanged("", stamp) and self._requesters:
            return
        seen = set()
        for entry in list_entries(self.ws.datasites):
            name = entry.name
            if not entry.is_dir(follow_symlinks=False) or not self._valid_name(name):
                continue
            seen.add(name)
            if name not in self._requesters:
                parts = (name, "app_data", self.config.queue_name, "outbox", self.ws.email)
                outbox = str(self.ws.datasites.joinpath(*parts))
                self._requesters[name] = _Requester(name, outbox, parts)
        for gone in set(self._requesters) - seen:
            for arrival in self._requesters.pop(gone).arriving.values():
                arrival.discard()
        self._datasites_changes.listed("", stamp)

    def _valid_name(self, name: str) -> bool:
        try:
            if validate_email(name) == name:
                return True
        except InvalidEmailError:
            pass
        if name not in self._odd_names and not is_transient_name(name):
            self._odd_names.add(name)
            log.warning("skipping datasite %r: its name is not a plain lower-case email", name)
        return False

    # Scanning

    def scan(self, now: datetime) -> IntakeResult:
        """Receive every request that is complete; remember the incomplete ones."""
        scan = _Scan(now)
        try:
            return self._scan(scan)
        finally:
            scan.close()

    def _scan(self, scan: _Scan) -> IntakeResult:
        result = scan.result
        if self._saved_stamps is None:
            # Settled outbox stamps recorded by any earlier scan, in any process: an
            # unchanged outbox need not be listed again.
            self._saved_stamps = self.ledger.get_meta(STAMPS_KEY, {})
            self._changes.restore(self._saved_stamps)
            self._refresh_requesters()
            self._restore_arrivals()
        else:
            self._refresh_requesters()
        present = []
        for requester in self._requesters.values():
            stamp = _mtime(requester.outbox)
            if stamp is None:
                continue
            present.append(requester)
            if not self._changes.unchanged(requester.email, stamp):
                self._list(requester, stamp, scan)
            elif requester.safe is None:
                with contextlib.suppress(OSError):
                    self._outbox_fd(requester, scan)
        self._work(scan)
        # Only outboxes reached without a link are watched and read for cancellations.
        self.outboxes = [(r.email, Path(r.outbox)) for r in present if r.safe]
        self._commit(scan)
        result.waiting = sum(len(r.arriving) for r in self._requesters.values())
        result.more = any(r.queue for r in self._requesters.values())
        stamps = {
            email: stamp
            for email, stamp in self._changes.export().items()
            if email in self._requesters and not self._requesters[email].queue
        }
        if stamps != self._saved_stamps:
            # Saved only after everything listed was committed or noted as arriving.
            self.ledger.set_meta(STAMPS_KEY, stamps)
            self._saved_stamps = stamps
        return result

    def _restore_arrivals(self) -> None:
        """Incomplete requests an earlier process noted keep their first-seen time."""
        for email, uid, first_seen, problem in self.ledger.arrivals():
            requester = self._requesters.get(email)
            if requester is None or uid in self.known:
                self.ledger.drop_arrival(email, uid)
                continue
            requester.arriving[uid] = Arrival(email, uid, first_seen, noted=problem)

    def _outbox_fd(self, requester: _Requester, scan: _Scan) -> int:
        """The requester's outbox, opened one level at a time without following links."""
        fd = scan.outbox_fds.get(requester.email)
        if fd is None:
            try:
                fd = safewalk.open_path(self._datasites, requester.parts)
            except FileNotFoundError:
                raise
            except OSError:
                requester.safe = False
                raise
            requester.safe = True
            scan.outbox_fds[requester.email] = fd
        return fd

    def _list(self, requester: _Requester, stamp: int, scan: _Scan) -> None:
        try:
            fd = self._outbox_fd(requester, scan)
            names = safewalk.names(fd)
        except FileNotFoundError:
            return
        except OSError as exc:
            requester.log_once(
                "list", "skipping the outbox of %s: it cannot be listed safely (%s)",
                requester.email, exc.strerror or exc,
            )  # fmt: skip
            self._changes.listed(requester.email, stamp)
            return
        # Set operations: with ten thousand jobs present, listing stays a few milliseconds.
        names -= self.known
        names -= requester.arriving.keys()
        names -= requester.queued
        for name in sorted(names):
            if is_uid_name(name) and safewalk.is_folder(fd, name):
                requester.queue.append(name)
                requester.queued.add(name)
        self._changes.listed(requester.email, stamp)

    def _work(self, scan: _Scan) -> None:
        """Round-robin over requesters with work, ``VISIT`` requests per turn, until the
        per-scan bound is reached; the starting requester rotates between scans."""
        budget = self.config.max_requests_per_tick
        pending = {email: self._due(r, scan) for email, r in self._requesters.items()}
        order = [e for e, r in self._requesters.items() if r.queue or pending[e]]
        if not order:
            return
        self._turn = (self._turn + 1) % len(order)
        order = order[self._turn :] + order[: self._turn]
        while budget > 0 and order:
            still = []
            for email in order:
                if budget <= 0:
                    break
                requester = self._requesters[email]
                take = min(VISIT, budget)
                budget -= self._visit(requester, pending[email], take, scan)
                if requester.queue or pending[email]:
                    still.append(email)
            order = still

    def _due(self, requester: _Requester, scan: _Scan) -> deque[str]:
        """The incomplete requests to look at now: those whose folder or request.json
        changed (two ``lstat`` each), those that changed recently, and those whose back-off
        has run out."""
        due: deque[str] = deque()
        if not requester.arriving:
            return due
        try:
            fd = self._outbox_fd(requester, scan)
            stamps = {uid: light_stamp(fd, uid) for uid in requester.arriving}
        except OSError:
            stamps = {}
        for uid, arrival in requester.arriving.items():
            stamp = stamps.get(uid)
            if stamp != arrival.light:
                arrival.light = stamp
                arrival.witness = None  # look at it all again
                due.append(uid)
            elif arrival.due(scan.now):
                due.append(uid)
        return due

    def _visit(self, requester: _Requester, due: deque[str], take: int, scan: _Scan) -> int:
        """Look at up to ``take`` requests of one requester; return how many were looked at."""
        done = 0
        try:
            outbox_fd = self._outbox_fd(requester, scan)
        except OSError as exc:
            requester.log_once(
                "open", "skipping the outbox of %s: it cannot be opened safely (%s)",
                requester.email, exc.strerror or exc,
            )  # fmt: skip
            requester.queue.clear()
            requester.queued.clear()
            unreachable = Incomplete(Refusal.not_regular, "its outbox is reached through a link")
            for uid in due:  # they wait, and are refused once arrival_timeout has passed
                arrival = requester.arriving[uid]
                if isinstance(exc, FileNotFoundError):
                    self._forget_arrival(requester, arrival)
                else:
                    self._waiting(requester, arrival, unreachable, scan)
            due.clear()
            return 1
        while done < take and (requester.queue or due):
            if requester.queue:
                uid = requester.queue.popleft()
                requester.queued.discard(uid)
                if uid in self.known or uid in requester.arriving:
                    continue
                if self.ledger.find(uid) is not None:
                    self.known.add(uid)  # another process received it meanwhile
                    continue
                arrival = Arrival(requester.email, uid, scan.now)
                requester.arriving[uid] = arrival
            else:
                arrival = requester.arriving[due.popleft()]
            done += 1
            self._examine_safely(requester, arrival, outbox_fd, scan)
        return max(done, 1)

    def _examine_safely(
        self, requester: _Requester, arrival: Arrival, outbox_fd: int, scan: _Scan
    ) -> None:
        """One request, in its own failure domain."""
        uid = arrival.uid
        try:
            request = self.reader.examine(arrival, outbox_fd, scan.now)
            candidate = self._candidate(arrival, request, scan.now)
        except FileNotFoundError:
            # The request folder is gone (withdrawn, or cleaned up by the requester).
            self._forget_arrival(requester, arrival)
            return
        except Incomplete as exc:
            self._waiting(requester, arrival, exc, scan)
            return
        except Invalid as exc:
            log.warning("refusing request %s from %s: %s", uid, requester.email, exc.reason)
            self._forget_arrival(requester, arrival)
            self._reject(requester.email, uid, exc.request, scan.now, exc.reason)
            scan.result.rejected += 1
            return
        except Exception:
            if not arrival.logged:
                arrival.logged = True
                log.exception("request %s from %s could not be examined", uid, requester.email)
            unreadable = Incomplete(Refusal.not_arrived, "it could not be read")
            self._waiting(requester, arrival, unreadable, scan)
            return
        requester.arriving.pop(uid, None)
        arrival.tmp = None  # now the candidate's
        scan.batch.append(candidate)
        if len(scan.batch) >= BATCH:
            self._commit(scan)

    def _waiting(
        self, requester: _Requester, arrival: Arrival, exc: Incomplete, scan: _Scan
    ) -> None:
        now = scan.now
        if (now - arrival.first_seen).total_seconds() >= self.config.arrival_timeout:
            self._forget_arrival(requester, arrival)
            self._reject(
                requester.email, arrival.uid, None, now,
                f"request never completed: {exc.refusal.value} ({exc.detail})",
            )  # fmt: skip
            scan.result.rejected += 1
            return
        arrival.refusal = exc.refusal
        if arrival.noted != exc.detail:
            first = self.ledger.note_arrival(requester.email, arrival.uid, now, exc.detail)
            arrival.first_seen = min(arrival.first_seen, first)
            arrival.noted = exc.detail
        arrival.back_off(now)

    def _forget_arrival(self, requester: _Requester, arrival: Arrival) -> None:
        requester.arriving.pop(arrival.uid, None)
        arrival.discard()
        if arrival.noted is not None:
            self.ledger.drop_arrival(requester.email, arrival.uid)

    # One request

    def _held_bytes(self, requester: str, total: int) -> int | None:
        """The bytes ``requester``'s open jobs hold if ``total`` more would be over the
        limit, else ``None``."""
        limit = self.config.max_requester_bytes
        if requester not in self._queued_bytes:
            self._queued_bytes[requester] = self.ledger.queued_bytes(requester)
        if self._queued_bytes[requester] + total <= limit:
            return None
        # Jobs may have ended since the count was taken: count again before refusing.
        held = self._queued_bytes[requester] = self.ledger.queued_bytes(requester)
        return held if held + total > limit else None

    def _candidate(self, arrival: Arrival, request: JobRequest, now: datetime) -> _Candidate:
        if arrival.tmp is None:
            raise Incomplete(Refusal.not_arrived, "nothing was copied")
        record = JobRecord(
            uid=arrival.uid,
            requester=arrival.requester,
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
        return _Candidate(record, arrival.tmp)

    def _commit(self, scan: _Scan) -> None:
        """Record a batch of verified requests in one ledger transaction (one audit fsync)."""
        batch = scan.batch
        if not batch:
            return
        temps = {c.record.uid: c.tmp for c in batch}

        def publish_snapshots(fresh: list[JobRecord]) -> None:
            self.snapshots.mkdir(parents=True, exist_ok=True)
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
        except BaseException:
            for candidate in batch:  # examined again from the start at the next scan
                requester = self._requesters.get(candidate.record.requester)
                if requester is not None and candidate.record.uid not in requester.queued:
                    requester.queue.append(candidate.record.uid)
                    requester.queued.add(candidate.record.uid)
            raise
        else:
            self.known.update(c.record.uid for c in batch)
        finally:
            for tmp in temps.values():
                remove_tree(tmp)
            batch.clear()
        for record in fresh:
            self._queued_bytes[record.requester] = self._queued_bytes.get(
                record.requester, 0
            ) + sum(f.size for f in record.files)
            log.info("received job %s (%s) from %s", record.uid, record.name, record.requester)
        scan.result.received += len(fresh)

    def _reject(
        self, requester: str, uid: str, request: JobRequest | None, now: datetime, reason: str
    ) -> None:
        if uid in self.known or self.ledger.find(uid) is not None:
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
        self.known.add(uid)


def _mtime(path: str) -> int | None:
    """A folder's modification time (``None`` if it is missing). Only metadata is read."""
    try:
        return os.stat(path).st_mtime_ns  # noqa: PTH116 - a str path, many times per scan
    except OSError:
        return None
