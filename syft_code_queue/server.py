"""The data owner's side: review API, approve/reject, and the run loop.

``tick(now)`` does one step — receive new requests (:mod:`intake`), apply cancellations
(:mod:`cancellations`), enforce limits on running jobs and collect finished ones, start
approved jobs (:mod:`supervisor`), publish what failed to publish (:mod:`publisher`), clean
up old ones (:mod:`cleanup`) — so a test can drive the server with a fake clock. Taking
over the queue puts right what a dead server left (:mod:`recovery`). ``start()`` runs
ticks in a background thread, woken by a file watcher on the outboxes and the ledger, with
a polling fallback.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from syft_code_queue import store
from syft_code_queue.audit import AuditReport
from syft_code_queue.blobs import BlobStore
from syft_code_queue.cancellations import Cancellations
from syft_code_queue.cleanup import CLEANUP_EVERY, cleanup
from syft_code_queue.diffs import BaseKind, JobDiff, compare
from syft_code_queue.errors import (
    JobNotFoundError,
    ServerAlreadyRunningError,
)
from syft_code_queue.fsio import (
    find_refused,
)
from syft_code_queue.hints import ReviewHints
from syft_code_queue.intake import Intake
from syft_code_queue.ledger import JobRecord, Ledger
from syft_code_queue.models import (
    CodeJob,
    Guarantees,
    JobList,
    JobStatus,
    QueueConfig,
    parse_uid,
    utcnow,
)
from syft_code_queue.publisher import Publisher
from syft_code_queue.recovery import recover
from syft_code_queue.release import ResultsGate
from syft_code_queue.review import Reviewer, ReviewStatus
from syft_code_queue.runner import SafeCodeRunner
from syft_code_queue.supervisor import Supervisor
from syft_code_queue.views import JobViews, ReviewPage
from syft_code_queue.watcher import FolderWatcher
from syft_code_queue.workspace import Workspace, resolve_workspace

if TYPE_CHECKING:
    from syft_code_queue.airlock import Check, CheckConfig, ResultsReport
    from syft_code_queue.doctor import DoctorReport
    from syft_code_queue.widgets.review import ResultsWidget, ReviewWidget

log = logging.getLogger("syft_code_queue.server")


def _check_now(now: datetime | None) -> datetime:
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC); use datetime.now(timezone.utc)")
    return now


@dataclass
class TickReport:
    """What one :meth:`CodeQueueServer.tick` did."""

    received: int = 0
    rejected_invalid: int = 0
    waiting: int = 0
    cancelled: int = 0
    started: int = 0
    finished: int = 0
    cleaned: int = 0


class CodeQueueServer:
    """The data owner's queue: review, approve or reject, and run approved jobs.

    Args:
        config: queue settings; defaults to ``QueueConfig()``.
        email: the owner's SyftBox email (else found as in :func:`resolve_workspace`).
        syftbox_dir: the SyftBox folder (else found as in :func:`resolve_workspace`).
        workspace: an already resolved workspace; overrides ``email`` and ``syftbox_dir``.
    """

    def __init__(
        self,
        config: QueueConfig | None = None,
        *,
        email: str | None = None,
        syftbox_dir: str | os.PathLike[str] | None = None,
        workspace: Workspace | None = None,
    ) -> None:
        self.config = config or QueueConfig()
        self.workspace = workspace or resolve_workspace(email, syftbox_dir)
        self.private_dir = self.workspace.private_dir(self.config.queue_name)
        self.jobs_dir = self.workspace.jobs_dir(self.workspace.email, self.config.queue_name)
        self.snapshots = self.private_dir / "snapshots"
        self.ledger = Ledger(self.private_dir / "queue.db", self.private_dir / "audit.jsonl")
        owner_paths = {self.workspace.data_dir, self.workspace.data_dir.resolve()}
        if self.config.job_data_dir is not None:
            owner_paths.add(self.config.job_data_dir)
        self.results = ResultsGate(self.private_dir, self.ledger, self.workspace.email)
        self.publisher = Publisher(
            self.ledger,
            self.jobs_dir,
            self.private_dir / "publish.lock",
            sorted(owner_paths),
            self.results.publish_released,
        )
        self.runner = SafeCodeRunner(self.config, self.private_dir)
        self._intake = Intake(self.workspace, self.config, self.ledger, self.snapshots)
        self._intake_lock = threading.Lock()
        self._tick_lock = threading.RLock()
        self._wake = threading.Event()
        self._supervisor = Supervisor(
            self.config,
            self.ledger,
            self.runner,
            self.workspace.email,
            self.snapshots,
            self.jobs_dir,
            self.private_dir,
            self._wake.set,
            self.results,
        )
        self._cancellations = Cancellations(
            self.config, self.ledger, self._intake, self._supervisor.cancel
        )
        self._last_cleanup: datetime | None = None
        self._lock_fd: int | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._views = JobViews(self.ledger, self.email, self.snapshots, self.jobs_dir)
        self._watcher = FolderWatcher(self._watch_paths, self._wakes, self._wake, self._stop)

    @property
    def email(self) -> str:
        return self.workspace.email

    # Review API

    def list_pending_jobs(self) -> JobList:
        """Jobs waiting for a decision, oldest first (so they are reviewed in order).

        In a notebook the list shows as the review widget (see :meth:`review_widget`).
        """
        self._receive()
        jobs = self._views.listing(JobStatus.pending, None, oldest_first=True)
        return JobList(jobs, live=self.review_widget)

    def list_jobs(self, status: JobStatus | str | None = None, limit: int | None = None) -> JobList:
        """All jobs of this queue, newest first; ``status`` filters before ``limit`` applies."""
        self._receive()
        wanted = JobStatus(status) if status is not None else None
        return JobList(self._views.listing(wanted, limit, oldest_first=False), self.review_widget)

    def review_widget(self, interval: float = 2.0, history: int = 200) -> ReviewWidget:
        """The review table for a notebook: pending jobs first, their files, and Approve /
        Reject buttons that call :meth:`approve_job` and :meth:`reject_job`.

        Needs the ``widgets`` extra (``pip install 'syft-code-queue[widgets]'``).
        """
        from syft_code_queue.widgets.review import ReviewWidget

        return ReviewWidget(self, interval=interval, history=history)

    def get_job(self, uid: str | UUID) -> CodeJob:
        """One job of this queue, received first if it has just arrived.

        Raises:
            JobNotFoundError: no such job has arrived.
        """
        return self._to_job(self._record(parse_uid(uid)))

    def _record(self, key: str) -> JobRecord:
        record = self.ledger.find(key)
        if record is None:
            self._receive()
            record = self.ledger.get(key)
        return record

    def job_events(self, uid: str | UUID) -> list[dict[str, Any]]:
        return self.ledger.events(parse_uid(uid))

    def read_job_file(self, uid: str | UUID, path: str, limit: int | None = None) -> bytes:
        """The bytes of one file of the job's verified snapshot, as it will run."""
        record = self.ledger.get(parse_uid(uid))
        if path not in {f.path for f in record.files}:
            raise JobNotFoundError(f"job {record.uid} has no file {path!r}")
        return (self.snapshots / record.uid / path).read_bytes()[:limit]

    def approve_job(
        self,
        uid: str | UUID,
        reason: str | None = None,
        *,
        note: str | None = None,
        unread: Iterable[str] | None = None,
        approved_unread: bool = False,
    ) -> CodeJob:
        """Approve a pending job to run exactly the code that was reviewed.

        The approval records the code hash, the reviewer, the time (UTC) and the reason
        (the data scientist sees the reason).

        Args:
            uid: the job.
            reason: why, shown to the data scientist; ``None`` for none.
            note: a private note of the owner's, kept in the ledger and the audit log
                only (``CodeJob.approval_note``); never sent to the data scientist.
            unread: the files the owner approves without having viewed them (e.g. binary
                or truncated ones); recorded in the audit log as an explicit "approved
                unread" confirmation and in ``CodeJob.approved_unread``.
            approved_unread: confirm approving without having read the files, without
                naming them: every file of the job is recorded as unread.

        Raises:
            JobNotFoundError: no such job.
            InvalidTransitionError: the job is not pending.
            ValueError: ``unread`` names a file the job does not have.
        """
        key = parse_uid(uid)
        current = self._record(key)
        not_read = _unread_files(current, unread, approved_unread)
        record = self._decide(
            key,
            JobStatus.approved,
            reason,
            expect=JobStatus.pending,
            approved_hash=current.code_hash,
            approval_note=note.strip() if note and note.strip() else None,
            unread_files=not_read,
        )
        log.info("approved job %s (%s)", key, record.name)
        self._wake.set()
        return self._to_job(record)

    def reject_job(self, uid: str | UUID, reason: str) -> CodeJob:
        """Reject a pending or approved job; the reason is shown to the data scientist.

        Raises:
            ValueError: no reason was given.
            JobNotFoundError: no such job.
            InvalidTransitionError: the job already runs or has ended.
        """
        if not reason or not str(reason).strip():
            raise ValueError("reject_job needs a reason; the data scientist sees it")
        key = parse_uid(uid)
        self._record(key)
        record = self._decide(key, JobStatus.rejected, reason, error_message=reason)
        log.info("rejected job %s: %s", key, reason)
        return self._to_job(record)

    def _decide(
        self,
        key: str,
        status: JobStatus,
        reason: str | None,
        *,
        expect: JobStatus | None = None,
        **changes: Any,
    ) -> JobRecord:
        """Record the owner's decision: who, when (UTC) and why, with the status change."""
        now = utcnow()
        return self.ledger.transition(
            key,
            status,
            actor=self.email,
            at=now,
            detail=reason,
            expect=expect,
            reviewer=self.email,
            decided_at=now,
            decision_reason=reason,
            **changes,
        )

    def get_job_logs(self, uid: str | UUID, tail: int | None = None) -> str:
        """stdout (and stderr, after a separator) of a job, as far as it has run.

        ``tail``: only the last ``tail`` bytes of each, without reading the rest. For a job
        whose results await release, the held logs (only the owner sees them).
        """
        record = self._record(parse_uid(uid))
        if record.status is JobStatus.awaiting_release:
            return store.combine_logs(self.results.held_dir(record.uid), tail)
        return store.combine_logs(self.jobs_dir / record.uid, tail)

    def get_job_output(self, uid: str | UUID) -> Path | None:
        """The published results folder of a job, or ``None`` while there is none."""
        path = self.jobs_dir / self._record(parse_uid(uid)).uid / store.OUTPUT_DIR
        return path if path.is_dir() else None

    def wait(self, uid: str | UUID, timeout: float = 600.0, interval: float = 0.05) -> CodeJob:
        """Block until the job reaches a final state, or waits for your release of its
        results (``awaiting_release``), and return it.

        With the loop started (``start()``) this only watches; otherwise it drives the
        server itself with ``tick()`` meanwhile.

        Raises:
            JobNotFoundError: no such job.
            TimeoutError: it did not end within ``timeout`` seconds.
        """
        key = parse_uid(uid)
        deadline = time.monotonic() + timeout
        while True:
            if not self.is_running:
                self.tick()
            job = self.get_job(key)
            if job.status.is_terminal or job.status is JobStatus.awaiting_release:
                return job
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {key} is still {job.status.value} after {timeout:g} s")
            self._wake.wait(min(interval, max(0.0, deadline - time.monotonic())))

    # Output release (QueueConfig(release="manual"))

    def list_awaiting_release(self) -> JobList:
        """Jobs that ran and whose results wait for your release, oldest first.

        In a notebook the list shows as the review table's Results view (see
        :meth:`results_widget`).
        """
        jobs = self._views.listing(JobStatus.awaiting_release, None, oldest_first=True)
        return JobList(jobs, live=self.results_widget)

    def results_widget(self, interval: float = 2.0) -> ResultsWidget:
        """The review table opened on its Results view: jobs awaiting release, oldest
        first; opening one runs :meth:`check_results` and shows each held file with its
        findings and a preview; **Release selected** and **Withhold** (each with a reason)
        call :meth:`release_results` and :meth:`withhold_results`. With ``release="auto"``
        the view says that the airlock is off, and how to turn it on.

        Needs the ``widgets`` extra (``pip install 'syft-code-queue[widgets]'``).
        """
        from syft_code_queue.widgets.review import ResultsWidget

        return ResultsWidget(self, interval=interval)

    def check_results(
        self,
        uid: str | UUID,
        *,
        config: CheckConfig | None = None,
        checks: Sequence[Check] | None = None,
    ) -> ResultsReport:
        """Run the output checks over a job's held results (outputs, stdout, stderr)
        against the ``DATA_DIR`` the job was given, and keep the report for the release.

        Every held file is listed with its size, sha256, detected kind and a safe preview,
        and every finding with its severity (``block``, ``review``, ``info``), message and
        place. The checks help you decide; they never release anything. The release that
        follows publishes only files whose bytes still have the sha256 checked here.

        Args:
            config: thresholds and severities (default ``CheckConfig()``).
            checks: the checks to run (default ``airlock.DEFAULT_CHECKS``).

        Raises:
            ResultsNotHeldError: the job holds no results.
            AirlockNotInstalledError: the ``airlock`` extra (polars) is not installed.
        """
        record = self._record(parse_uid(uid))
        return self.results.check(
            record, data_dir=self.config.job_data_dir, config=config, checks=checks, now=utcnow()
        )

    def read_result_file(self, uid: str | UUID, path: str, limit: int | None = None) -> bytes:
        """The bytes of one held file (``output/...``, ``stdout.txt``, ``stderr.txt``),
        at most ``limit``; links and other non-regular files are never read.

        Raises:
            ResultsNotHeldError: the job holds no results.
            HeldFileNotFoundError: no such held file (a ``FileNotFoundError``).
        """
        return self.results.read(self._record(parse_uid(uid)), path, limit)

    def release_results(
        self, uid: str | UUID, files: Sequence[str] | None = None, reason: str | None = None
    ) -> CodeJob:
        """Publish the named held files (default: all that were checked) to the requester
        and end the job as it ran: ``completed``, or ``failed`` with its own reason. The
        files not released are listed to the requester as withheld, with ``reason``.

        The release needs a prior :meth:`check_results`; a file whose bytes changed since
        is refused, and then nothing is released. The decision goes into the audit chain
        with the sha256 of every released file.

        Raises:
            InvalidTransitionError: the job is not awaiting release.
            ResultsNotCheckedError: run :meth:`check_results` first.
            ResultsChangedError: a file changed after the check; check again.
            HeldFileNotFoundError: a named file is not among the checked ones.
        """
        record = self.results.release(self._record(parse_uid(uid)), files, reason, utcnow())
        log.info("released results of job %s (%d files)", record.uid, len(record.output_files))
        return self._to_job(record)

    def withhold_results(self, uid: str | UUID, reason: str) -> CodeJob:
        """Publish nothing of a job's results; it ends ``failed`` (withheld) with ``reason``,
        which the requester sees.

        Raises:
            ValueError: no reason was given.
            InvalidTransitionError: the job is not awaiting release.
        """
        if not reason or not str(reason).strip():
            raise ValueError("withhold_results needs a reason; the data scientist sees it")
        record = self.results.withhold(self._record(parse_uid(uid)), reason, utcnow())
        log.info("withheld the results of job %s: %s", record.uid, reason)
        return self._to_job(record)

    def sync_problems(self) -> list[Path]:
        """Files in this queue's published folder that the SyftBox engine refused to sync."""
        return find_refused(self.jobs_dir)

    def guarantees(self) -> Guarantees:
        """What an approved job will be held to when it runs here: network, files,
        processes, memory, CPU, time and output, each with the mechanism that enforces it
        or ``NOT ENFORCED``. Read it before approving."""
        return self.runner.guarantees()

    def doctor(self, timeout: float = 60.0) -> DoctorReport:
        """Print-ready check of this queue's settings on this machine: the guarantees, and
        real hostile jobs (network, foreign file, write outside, memory, processes, setsid
        escape) run through the real runner in a throwaway folder. ``report.ok`` is false
        when a guarantee these settings require does not hold. See ``scq doctor``."""
        from syft_code_queue.doctor import run

        return run(self.config, timeout)

    def verify_audit(self) -> AuditReport:
        return self.ledger.verify_audit()

    # The loop

    def tick(self, now: datetime | None = None) -> TickReport:
        """Do one step of the server's work at time ``now`` (UTC; default: the clock)."""
        now = _check_now(now)
        report = TickReport()
        with self._tick_lock:
            self._acquire_lock(now)
            with self._intake_lock:
                got = self._intake.scan(now)
            report.received, report.rejected_invalid, report.waiting = (
                got.received,
                got.rejected,
                got.waiting,
            )
            if got.more:
                self._wake.set()  # the per-step bound left requests for the next step
            if self._threads:
                self._watcher.refresh()  # a new data scientist's outbox may have appeared
            report.cancelled = self._cancellations.apply(now)
            report.finished = self._supervisor.check_running(now)
            report.started = self._supervisor.start_approved(now)
            self.publisher.retry()
            if self._last_cleanup is None or now - self._last_cleanup >= CLEANUP_EVERY:
                cleaned = cleanup(
                    self.ledger,
                    self.config,
                    self.workspace,
                    self.snapshots,
                    self.jobs_dir,
                    now,
                    self.results,
                    self._kept,
                )
                report.cleaned = len(cleaned)
                self._last_cleanup = now
        return report

    def start(self) -> None:
        """Run the queue in the background until :meth:`stop`; returns at once.

        Raises:
            ServerAlreadyRunningError: another server runs this datasite's queue.
        """
        if self._threads:
            return
        self._acquire_lock(utcnow())
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._loop, name="scq-server", daemon=True),
            threading.Thread(target=self._watcher.run, name="scq-watch", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info("server for %s started", self.email)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the loop; jobs still running are killed and marked failed (interrupted)."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        with self._tick_lock:
            self._supervisor.stop_all(utcnow())
            self._release_lock()

    @property
    def is_running(self) -> bool:
        return bool(self._threads) and not self._stop.is_set()

    def close(self) -> None:
        self.stop()
        self.runner.close()
        self.publisher.flush()
        self.ledger.close()

    def __enter__(self) -> CodeQueueServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before the tick: a wake during it means "look again"
            try:
                self.tick()
            except Exception:
                log.exception("server tick failed; carrying on")
            self._wake.wait(self.config.poll_interval)

    def _watch_paths(self) -> set[Path]:
        paths = {self.private_dir}
        for _, outbox in self._intake.outboxes:  # only those reached without a link
            paths.add(outbox)
            cancellations = outbox / store.CANCEL_DIR
            if _is_real_dir(cancellations):
                paths.add(cancellations)
        return paths

    def _wakes(self, path: str) -> bool:
        """Which file events wake the loop: anything in an outbox, the ledger in private."""
        if path.startswith(str(self.private_dir)):
            return Path(path).name.startswith("queue.db")
        return True

    # Steps

    def _receive(self) -> None:
        """Receive what arrived before a listing; with the loop running, a step left over
        by the per-step bound is the loop's to do."""
        with self._intake_lock:
            while self._intake.scan(utcnow()).more:
                if self.is_running:
                    self._wake.set()
                    break

    def _acquire_lock(self, now: datetime) -> None:
        if self._lock_fd is not None:
            return
        self.private_dir.mkdir(parents=True, exist_ok=True)
        path = self.private_dir / "server.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = path.read_text().strip() or "another process"
            raise ServerAlreadyRunningError(
                f"a server already runs the '{self.config.queue_name}' queue of {self.email} "
                f"(lock {path} held by pid {holder}); stop it first, or use that one"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd
        recover(self.ledger, self._supervisor, self.publisher, self.snapshots, now)

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # Projections

    def _to_job(self, record: JobRecord) -> CodeJob:
        return self._views.of(record)

    # The reviewer's workbench (see syft_code_queue.review)

    @cached_property
    def _reviewer(self) -> Reviewer:
        return Reviewer(self.private_dir / "review", self._job_file)

    @cached_property
    def _kept(self) -> BlobStore:
        return BlobStore(self.private_dir / "kept")

    def _job_file(self, record: JobRecord, path: str) -> Path | None:
        """Where a file of a job can be read as it was received (its snapshot, or the copy
        kept by hash after cleanup), or ``None``."""
        snapshot = self.snapshots / record.uid / path
        if snapshot.is_file():
            return snapshot
        entry = next((f for f in record.files if f.path == path), None)
        return None if entry is None else self._kept.find(entry.sha256)

    def job_diff(self, uid: str | UUID, *, unified: bool = True) -> JobDiff:
        """What changed in a job since the last approved version of it, file by file.

        Versions: a job supersedes the earlier job its request names
        (``submit_code(..., supersedes=uid)``), else the requester's latest earlier job of
        the same name. The base is the last approved version before this one, or the
        previous version when none was approved (``base_kind`` says which); a first version
        has no base and all its files are ``added``. Each file is ``added``, ``removed``,
        ``changed`` or ``unchanged``; changed text files carry a unified diff (capped),
        binary ones the note "binary changed". ``summary`` reads like
        "changed since approved v2: 1 of 7 files". ``unified=False`` compares the
        manifests only (no file is read): enough for the counts.

        Raises:
            JobNotFoundError: no such job.
        """
        record = self._record(parse_uid(uid))
        base = self.ledger.find(record.diff_base) if record.diff_base else None
        kind: BaseKind | None = None
        if base is not None:
            approved = base.approved_hash is not None and base.status is not JobStatus.rejected
            kind = "approved" if approved else "previous"
        return compare(record, base, kind, self._job_file, unified=unified)

    def review_page(
        self,
        status: JobStatus | str | None = None,
        *,
        search: str | None = None,
        sort: str = "received_at",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
        requester: str | None = None,
    ) -> ReviewPage:
        """One page of the review table, answered by the ledger's indexes.

        Args:
            status: only jobs in this status (a ``JobStatus`` or its value); ``None``: all.
            search: whitespace-separated terms; each must occur (case-insensitively) in the
                name, the requester's email or a tag, or begin the uid.
            sort: ``"received_at"`` (default), ``"name"`` (case-insensitive),
                ``"requester"`` or ``"status"``; ties in time order, then by uid.
            descending: reverse the order (default: ascending, so pending jobs come
                oldest first, in the order they should be reviewed).
            offset: how many matching jobs to skip (``0``-based).
            limit: at most this many rows (1 to 1000).
            requester: only this data scientist's jobs (an email).

        Returns:
            ``ReviewPage(rows, total)``: a named tuple of the page's ``CodeJob`` list and
            the number of jobs that match in all (for "1-50 of 2,000"). Cleaned-up jobs
            are not listed. It reads the ledger only: new requests arrive through
            ``tick()`` / ``start()``, not through this call.

        Raises:
            ValueError: an unknown ``sort`` or ``status``, or ``limit``/``offset`` out of range.
        """
        if sort not in PAGE_SORTS:
            raise ValueError(f"sort must be one of {', '.join(PAGE_SORTS)}, not {sort!r}")
        if not 1 <= int(limit) <= MAX_PAGE or int(offset) < 0:
            raise ValueError(f"limit must be 1 to {MAX_PAGE} and offset 0 or more")
        stamps, total = self.ledger.page(
            status=JobStatus(status) if status is not None else None,
            search=search,
            sort=sort,
            descending=descending,
            offset=int(offset),
            limit=int(limit),
            requester=requester.strip().lower() if requester else None,
        )
        return ReviewPage(self._views.of_stamps(stamps), total)

    def review_hints(self, uid: str | UUID) -> ReviewHints:
        """Lines worth a look in a job's code, each with file, line, column, kind, severity
        (``"look"`` or ``"warn"``), a short message and the line's text.

        ``run.sh`` and other shell scripts are parsed with tree-sitter-bash, Python files
        with ``ast``; every text file is searched for invisible and bidirectional Unicode.
        A file that cannot be parsed gets an ``unparsed`` hint ("review manually"). Hints
        never block an approval. Cached by the job's code hash.

        Raises:
            JobNotFoundError: no such job.
        """
        return self._reviewer.hints(self._record(parse_uid(uid)))

    def review_status(self, uid: str | UUID) -> ReviewStatus:
        """A job's files in review order (``run.sh`` first), each with its true size and
        line count (over the whole file), and whether it is binary, unreadable, or
        truncated in the viewer (over ``DISPLAY_LIMIT`` bytes); ``attention`` lists those.

        Raises:
            JobNotFoundError: no such job.
        """
        return self._reviewer.status(self._record(parse_uid(uid)))


PAGE_SORTS = ("received_at", "name", "requester", "status")
MAX_PAGE = 1000


def _unread_files(
    record: JobRecord, unread: Iterable[str] | None, approved_unread: bool
) -> tuple[str, ...]:
    """The files an approval confirms as not read, checked against the job's files."""
    paths = [f.path for f in record.files]
    if isinstance(unread, str):
        unread = [unread]
    named = list(dict.fromkeys(unread or ()))
    unknown = sorted(set(named) - set(paths))
    if unknown:
        raise ValueError(
            f"job {record.uid} has no file {', '.join(map(repr, unknown))}; unread lists "
            "files of the job (see review_status)"
        )
    if not named and approved_unread:
        return tuple(paths)
    return tuple(named)


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def create_server(
    max_concurrent_jobs: int = 3,
    job_timeout: float = 600,
    *,
    email: str | None = None,
    syftbox_dir: str | os.PathLike[str] | None = None,
    config: QueueConfig | None = None,
    **settings: Any,
) -> CodeQueueServer:
    """Create the data owner's server (it does not start running until ``start()``).

    Args:
        max_concurrent_jobs: how many approved jobs run at once.
        job_timeout: seconds before a job's whole process tree is killed.
        email: the owner's SyftBox email; found from the environment or config if omitted.
        syftbox_dir: the SyftBox folder; found from the environment or config if omitted.
        config: a full ``QueueConfig``; when given, the other settings are ignored.
        **settings: any other ``QueueConfig`` field, e.g. ``queue_name``.
    """
    if config is None:
        config = QueueConfig(
            max_concurrent_jobs=max_concurrent_jobs, job_timeout=job_timeout, **settings
        )
    return CodeQueueServer(config, email=email, syftbox_dir=syftbox_dir)
