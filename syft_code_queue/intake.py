"""The owner's side of receiving requests: verify every file, snapshot, record.

A request exists for the owner only when ``request.json`` is there and every file it lists
has arrived with its hash; sync may deliver them in any order, so an incomplete request
waits (up to ``arrival_timeout``). A request that can never be valid — it claims another
requester, another target or uid, its manifest does not match its own hash, or it is over
the queue's size limits — is recorded as ``rejected`` at once with the reason, so the data
scientist learns why.

Every other datasite is hostile input. Names that are not plain emails are skipped (logged
once); everything is read through :mod:`syft_code_queue.safewalk`; each requester and each
request is its own failure domain, so an error on one never stops the scan for the others.
Work per scan is bounded (``max_requests_per_tick``) and shared round-robin between
requesters. An incomplete request keeps the files verified so far and is looked at again
when something of it changed (or, once it has been quiet a while, with a growing back-off);
only its new or changed files are read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path

from syft_code_queue import safewalk
from syft_code_queue.errors import InvalidEmailError, InvalidRequestError
from syft_code_queue.fsio import (
    FolderChanges,
    fsync_dir,
    is_transient_name,
    list_entries,
    new_temp_dir,
    publish_dir,
    remove_tree,
)
from syft_code_queue.ledger import JobRecord, Ledger
from syft_code_queue.manifest import code_hash, manifest_problem
from syft_code_queue.models import (
    FailureReason,
    FileEntry,
    FileList,
    JobRequest,
    JobStatus,
    QueueConfig,
    validate_email,
)
from syft_code_queue.store import CODE_DIR, REQUEST_FILE, is_uid_name, parse_request
from syft_code_queue.workspace import Workspace

log = logging.getLogger("syft_code_queue.intake")

NO_HASH = "0" * 64
BATCH = 256
VISIT = 16  # requests of one requester looked at before the next requester's turn
MAX_DEPTH = 32  # folders deep a submitted file may be
WATCHED_FILES = 64  # files of an incomplete request whose stamps tell it changed
ACTIVE = timedelta(seconds=10)  # a request that changed this recently is looked at every scan
MAX_BACKOFF = timedelta(seconds=30)
STAMPS_KEY = "outbox_stamps"
ARRIVING_DIR = "arriving"


class Refusal(str, Enum):
    """Why an incomplete request was refused, as the requester is told: one generic reason
    per class, naming nothing on the owner's machine, and never telling a file that is
    missing from one that is not allowed (a link is refused without being followed)."""

    not_arrived = "not arrived: its files did not all arrive within the arrival timeout"
    too_large = "too large: the request is over this queue's limits on files and bytes"
    not_regular = (
        "not a regular file: only regular files and folders can be submitted "
        "(no links, FIFOs, sockets, devices or hard links)"
    )
    hash_mismatch = "hash mismatch: a file does not match its manifest hash"


class _Incomplete(Exception):
    """The request may still be arriving."""

    def __init__(self, refusal: Refusal, detail: str) -> None:
        super().__init__(detail)
        self.refusal = refusal
        # What of the request it is: names from the request only, never an owner path.
        self.detail = detail


class _Invalid(Exception):
    """The request can never become valid."""

    def __init__(self, reason: str, request: JobRequest | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request = request


@dataclass
class _Arrival:
    """An incomplete request: what was verified of it so far, and when to look again."""

    requester: str
    uid: str
    first_seen: datetime
    noted: str | None = None  # the problem last written to the ledger's arrivals
    refusal: Refusal = Refusal.not_arrived
    request: JobRequest | None = None
    request_stamp: safewalk.FileStamp | None = None
    tmp: Path | None = None
    verified: set[str] = field(default_factory=set)
    witness: tuple[object, ...] | None = None
    light: object = None  # the request folder's and request.json's stamps
    changed_at: datetime | None = None
    next_check: datetime | None = None
    delay: timedelta = timedelta(seconds=1)
    logged: bool = False

    def due(self, now: datetime) -> bool:
        if self.changed_at is None or now - self.changed_at < ACTIVE:
            return True
        return self.next_check is None or now >= self.next_check

    def discard(self) -> None:
        if self.tmp is not None:
            remove_tree(self.tmp)
            self.tmp = None
        self.verified.clear()


@dataclass
class _Requester:
    email: str
    outbox: str
    parts: tuple[str, ...]  # the outbox below datasites/, opened one level at a time
    queue: deque[str] = field(default_factory=deque)
    queued: set[str] = field(default_factory=set)
    arriving: dict[str, _Arrival] = field(default_factory=dict)
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
            requester.arriving[uid] = _Arrival(email, uid, first_seen, noted=problem)

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
            entries = safewalk.list_dir(self._outbox_fd(requester, scan))
        except FileNotFoundError:
            return
        except OSError as exc:
            requester.log_once(
                "list", "skipping the outbox of %s: it cannot be listed safely (%s)",
                requester.email, exc.strerror or exc,
            )  # fmt: skip
            self._changes.listed(requester.email, stamp)
            return
        known = self.known
        for name, is_dir in entries:
            if (
                not is_dir
                or name in known
                or name in requester.arriving
                or name in requester.queued
                or not is_uid_name(name)
            ):
                continue
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
            stamps = {uid: _light_stamp(fd, uid) for uid in requester.arriving}
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
            unreachable = _Incomplete(Refusal.not_regular, "its outbox is reached through a link")
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
                arrival = _Arrival(requester.email, uid, scan.now)
                requester.arriving[uid] = arrival
            else:
                arrival = requester.arriving[due.popleft()]
            done += 1
            self._examine_safely(requester, arrival, outbox_fd, scan)
        return max(done, 1)

    def _examine_safely(
        self, requester: _Requester, arrival: _Arrival, outbox_fd: int, scan: _Scan
    ) -> None:
        """One request, in its own failure domain."""
        uid = arrival.uid
        try:
            candidate = self._examine(arrival, outbox_fd, scan.now)
        except FileNotFoundError:
            # The request folder is gone (withdrawn, or cleaned up by the requester).
            self._forget_arrival(requester, arrival)
            return
        except _Incomplete as exc:
            self._waiting(requester, arrival, exc, scan)
            return
        except _Invalid as exc:
            log.warning("refusing request %s from %s: %s", uid, requester.email, exc.reason)
            self._forget_arrival(requester, arrival)
            self._reject(requester.email, uid, exc.request, scan.now, exc.reason)
            scan.result.rejected += 1
            return
        except Exception:
            if not arrival.logged:
                arrival.logged = True
                log.exception("request %s from %s could not be examined", uid, requester.email)
            unreadable = _Incomplete(Refusal.not_arrived, "it could not be read")
            self._waiting(requester, arrival, unreadable, scan)
            return
        requester.arriving.pop(uid, None)
        arrival.tmp = None  # now the candidate's
        scan.batch.append(candidate)
        if len(scan.batch) >= BATCH:
            self._commit(scan)

    def _waiting(
        self, requester: _Requester, arrival: _Arrival, exc: _Incomplete, scan: _Scan
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
        if arrival.changed_at is not None and now - arrival.changed_at >= ACTIVE:
            # Quiet for a while: look again later and later (a change seen by the witness
            # or the watcher's wake-up is still noticed at the next due look).
            arrival.next_check = now + arrival.delay
            arrival.delay = min(MAX_BACKOFF, arrival.delay * 2)

    def _forget_arrival(self, requester: _Requester, arrival: _Arrival) -> None:
        requester.arriving.pop(arrival.uid, None)
        arrival.discard()
        if arrival.noted is not None:
            self.ledger.drop_arrival(requester.email, arrival.uid)

    # One request

    def _examine(self, arrival: _Arrival, outbox_fd: int, now: datetime) -> _Candidate:
        """Read what changed of a request; a candidate once every file is verified.

        Raises:
            FileNotFoundError: the request folder is gone.
            _Incomplete: it may still be arriving.
            _Invalid: it can never be valid.
        """
        try:
            uid_fd = safewalk.open_dir(arrival.uid, outbox_fd)
        except safewalk.NotRegularError:
            raise _Incomplete(Refusal.not_regular, "the request folder is a link") from None
        with safewalk.opened(uid_fd):
            witness = self._witness(arrival, uid_fd)
            quiet = arrival.changed_at is not None and now - arrival.changed_at >= ACTIVE
            if witness == arrival.witness and not quiet:
                raise _Incomplete(arrival.refusal, arrival.noted or "unchanged")
            if witness != arrival.witness:
                arrival.changed_at = now
                arrival.delay = timedelta(seconds=1)
                arrival.next_check = None
            arrival.witness = witness
            request = self._load(arrival, uid_fd)
            self._check_limits(arrival.requester, request)
            self._copy_verified(arrival, request, uid_fd)
        return self._candidate(arrival, request, now)

    def _witness(self, arrival: _Arrival, uid_fd: int) -> tuple[object, ...]:
        """Stamps that change when the request may have changed: the folder, request.json
        and the first few files not verified yet. Nothing is opened but folders."""
        stamps: list[object] = [_lstamp(uid_fd, REQUEST_FILE)]
        request = arrival.request
        if request is None:
            stamps.append(_lstamp(uid_fd, "."))
            return tuple(stamps)
        try:
            code_fd = safewalk.open_dir(CODE_DIR, uid_fd)
        except OSError as exc:
            return (*stamps, exc.errno)
        with safewalk.opened(code_fd), safewalk.DirChain(code_fd) as chain:
            stamps.append(_lstamp(code_fd, "."))
            watched = 0
            for entry in request.files:
                if entry.path in arrival.verified:
                    continue
                *folders, name = entry.path.split("/")
                try:
                    stamps.append(_lstamp(chain.folder_of(folders), name))
                except OSError as exc:
                    stamps.append(exc.errno)
                watched += 1
                if watched >= WATCHED_FILES:
                    break
        return tuple(stamps)

    def _load(self, arrival: _Arrival, uid_fd: int) -> JobRequest:
        """The parsed, checked request.json (read again only when it changed)."""
        try:
            st = safewalk.lstat(uid_fd, REQUEST_FILE)
        except FileNotFoundError:
            raise _Incomplete(Refusal.not_arrived, "request.json has not arrived") from None
        stamp = safewalk.FileStamp.of(st)
        if arrival.request is not None and stamp == arrival.request_stamp:
            return arrival.request
        limit = self.config.max_request_json_bytes
        try:
            data = safewalk.read_file(uid_fd, REQUEST_FILE, limit)
        except safewalk.TooLargeError:
            raise _Invalid(f"{Refusal.too_large.value} (request.json over {limit} bytes)") from None
        except safewalk.NotRegularError:
            raise _Incomplete(Refusal.not_regular, "request.json is not a regular file") from None
        except FileNotFoundError:
            raise _Incomplete(Refusal.not_arrived, "request.json has not arrived") from None
        except OSError as exc:
            # Unreadable for now (permissions, sync mid-write): wait, and refuse it once
            # arrival_timeout has passed.
            raise _Incomplete(
                Refusal.not_arrived, f"request.json cannot be read ({exc.strerror})"
            ) from None
        try:
            request = parse_request(data)
        except InvalidRequestError as exc:
            try:
                json.loads(data)
            except ValueError:
                raise _Incomplete(
                    Refusal.not_arrived, f"request.json is incomplete or corrupt ({exc})"
                ) from None
            except RecursionError:
                raise _Invalid("request.json is nested too deeply") from None
            raise _Invalid(str(exc)) from None
        self._check(arrival, request)
        if arrival.request is not None and arrival.request != request:
            arrival.discard()  # a different request now: what was verified is void
        arrival.request, arrival.request_stamp = request, stamp
        return request

    def _check(self, arrival: _Arrival, request: JobRequest) -> None:
        problem = None
        if str(request.uid) != arrival.uid:
            problem = f"request.json names uid {request.uid} but lives in folder {arrival.uid}"
        elif request.requester != arrival.requester:
            problem = (
                f"request claims requester {request.requester} but was submitted from "
                f"{arrival.requester}'s datasite (forged requester)"
            )
        elif request.target != self.ws.email:
            problem = f"request is addressed to {request.target}, not {self.ws.email}"
        elif code_hash(request.files) != request.code_hash:
            problem = "request's code_hash does not match its own file list"
        else:
            problem = manifest_problem(request.files)
        if problem is not None:
            raise _Invalid(problem, request)

    def _check_limits(self, requester: str, request: JobRequest) -> None:
        cfg = self.config
        total = sum(f.size for f in request.files)
        problem = None
        if len(request.files) > cfg.max_request_files:
            problem = f"{len(request.files)} files, over {cfg.max_request_files}"
        elif any(f.size > cfg.max_file_bytes for f in request.files):
            problem = f"a file over {cfg.max_file_bytes} bytes"
        elif total > cfg.max_request_bytes:
            problem = f"{total} bytes, over {cfg.max_request_bytes}"
        elif any(f.path.count("/") >= MAX_DEPTH for f in request.files):
            problem = f"a file more than {MAX_DEPTH} folders deep"
        elif self._over_requester_limit(requester, total):
            problem = (
                f"this requester's jobs waiting or running already hold "
                f"{self._queued_bytes[requester]} bytes, over {cfg.max_requester_bytes} with it"
            )
        if problem is not None:
            raise _Invalid(f"{Refusal.too_large.value} ({problem})", request)

    def _over_requester_limit(self, requester: str, total: int) -> bool:
        limit = self.config.max_requester_bytes
        if requester not in self._queued_bytes:
            self._queued_bytes[requester] = self.ledger.queued_bytes(requester)
        if self._queued_bytes[requester] + total <= limit:
            return False
        # Jobs may have ended since the count was taken: count again before refusing.
        self._queued_bytes[requester] = self.ledger.queued_bytes(requester)
        return self._queued_bytes[requester] + total > limit

    def _copy_verified(self, arrival: _Arrival, request: JobRequest, uid_fd: int) -> None:
        """Copy and verify the files not verified yet into the request's private folder."""
        if arrival.tmp is None:
            arrival.tmp = new_temp_dir(self.arriving_dir, arrival.uid)
            arrival.verified.clear()
        missing = 0
        try:
            code_fd = safewalk.open_dir(CODE_DIR, uid_fd)
        except FileNotFoundError:
            code_fd = None
        except safewalk.NotRegularError:
            raise _Incomplete(Refusal.not_regular, "code/ is not a folder") from None
        root = uid_fd if code_fd is None else code_fd
        made: set[Path] = set()  # folders of the copy already created
        with _maybe_opened(code_fd), safewalk.DirChain(root) as chain:
            for entry in sorted(request.files, key=lambda f: f.path):
                if entry.path in arrival.verified:
                    continue
                target = arrival.tmp / entry.path
                if target.parent not in made:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    made.add(target.parent)
                if entry.size == 0:
                    # SyftBox never syncs empty files; the manifest is enough to recreate one.
                    target.touch(mode=0o444)
                elif code_fd is None or not _copy_one(entry, chain, target):
                    missing += 1
                    continue
                arrival.verified.add(entry.path)
        if missing:
            raise _Incomplete(
                Refusal.not_arrived, f"{missing} of {len(request.files)} files have not arrived"
            )

    def _candidate(self, arrival: _Arrival, request: JobRequest, now: datetime) -> _Candidate:
        if arrival.tmp is None:
            raise _Incomplete(Refusal.not_arrived, "nothing was copied")
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


def _light_stamp(outbox_fd: int, uid: str) -> object:
    """Stamps of a request folder and its request.json, without opening either."""
    folder = _lstamp(outbox_fd, uid)
    try:
        st = os.stat(f"{uid}/{REQUEST_FILE}", dir_fd=outbox_fd, follow_symlinks=False)
    except OSError as exc:
        return (folder, exc.errno)
    return (folder, st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _lstamp(dir_fd: int, name: str) -> object:
    try:
        st = safewalk.lstat(dir_fd, name)
    except OSError as exc:
        return exc.errno
    return (st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _copy_one(entry: FileEntry, chain: safewalk.DirChain, target: Path) -> bool:
    """Copy one file of a request and check its hash; ``False`` while it has not arrived.

    Raises:
        _Incomplete: it is not a regular file, or it does not match its manifest entry.
    """
    *folders, name = entry.path.split("/")
    mismatch = _Incomplete(
        Refusal.hash_mismatch, f"'{entry.path}' does not match its manifest hash"
    )
    not_regular = _Incomplete(Refusal.not_regular, f"'{entry.path}' is not a regular file")
    try:
        folder_fd = chain.folder_of(folders)
        st = safewalk.lstat(folder_fd, name)
    except FileNotFoundError:
        return False
    except safewalk.NotRegularError:
        raise not_regular from None
    if not _is_regular(st):
        raise not_regular
    if st.st_size != entry.size:
        raise mismatch  # still being written, or not what was declared: not read at all
    try:
        digest, size, _ = safewalk.copy_file(folder_fd, name, target, entry.size)
    except FileNotFoundError:
        return False
    except safewalk.NotRegularError:
        raise not_regular from None
    except safewalk.TooLargeError:
        target.unlink(missing_ok=True)
        raise mismatch from None
    if (digest, size) != (entry.sha256, entry.size):
        target.unlink(missing_ok=True)
        raise mismatch
    return True


def _is_regular(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode) and st.st_nlink == 1


class _maybe_opened:
    """Close ``fd`` at the end of the block, if there is one."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def __enter__(self) -> int | None:
        return self.fd

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
