"""The data owner's side: review API, approve/reject, and the run loop.

``tick(now)`` does one step — receive new requests, apply cancellations, enforce limits on
running jobs and collect finished ones, start approved jobs, clean up old ones — so a test
can drive the server with a fake clock. ``start()`` runs ticks in a background thread,
woken by a file watcher on the outboxes and the ledger, with a polling fallback.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from syft_code_queue import store
from syft_code_queue.audit import AuditReport
from syft_code_queue.errors import (
    InvalidTransitionError,
    JobNotFoundError,
    ServerAlreadyRunningError,
)
from syft_code_queue.fsio import (
    FolderChanges,
    find_refused,
    is_transient_name,
    list_entries,
    list_entries_with_temps,
    read_tail,
    remove_tree,
)
from syft_code_queue.intake import Intake
from syft_code_queue.ledger import JobRecord, Ledger
from syft_code_queue.models import (
    CodeJob,
    FailureReason,
    FileList,
    Guarantees,
    JobList,
    JobStatus,
    QueueConfig,
    parse_uid,
    utcnow,
)
from syft_code_queue.provision import ProvisioningError
from syft_code_queue.runner import RunHandle, RunSpec, SafeCodeRunner, StagingError, kill_run
from syft_code_queue.sandbox import SandboxUnavailableError
from syft_code_queue.views import JobViews, published_status
from syft_code_queue.watcher import FolderWatcher
from syft_code_queue.workspace import Workspace, resolve_workspace

if TYPE_CHECKING:
    from syft_code_queue.doctor import DoctorReport
    from syft_code_queue.widgets.review import ReviewWidget

log = logging.getLogger("syft_code_queue.server")

LIVE_LOG_EVERY = timedelta(seconds=1)
CLEANUP_EVERY = timedelta(seconds=60)
LIVE_LOG_TAIL = 64 * 1024
REPUBLISH_WINDOW = timedelta(minutes=10)


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
        self.ledger = Ledger(
            self.private_dir / "queue.db", self.private_dir / "audit.jsonl", self._publish
        )
        self.runner = SafeCodeRunner(self.config, self.private_dir)
        self._intake = Intake(self.workspace, self.config, self.ledger, self.snapshots)
        self._intake_lock = threading.Lock()
        self._tick_lock = threading.RLock()
        self._running: dict[str, RunHandle] = {}
        self._done_cancels: set[tuple[str, str]] = set()
        self._unresolved_cancels: set[tuple[str, str]] = set()
        self._cancel_changes = FolderChanges()
        self._last_cleanup: datetime | None = None
        self._last_live_logs: datetime | None = None
        self._lock_fd: int | None = None
        self._wake = threading.Event()
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

    def approve_job(self, uid: str | UUID, reason: str | None = None) -> CodeJob:
        """Approve a pending job to run exactly the code that was reviewed.

        The approval records the code hash, the reviewer, the time (UTC) and the reason.

        Raises:
            JobNotFoundError: no such job.
            InvalidTransitionError: the job is not pending.
        """
        key = parse_uid(uid)
        record = self._decide(
            key,
            JobStatus.approved,
            reason,
            expect=JobStatus.pending,
            approved_hash=self._record(key).code_hash,
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

        ``tail``: only the last ``tail`` bytes of each, without reading the rest.
        """
        return store.combine_logs(self.jobs_dir / self._record(parse_uid(uid)).uid, tail)

    def get_job_output(self, uid: str | UUID) -> Path | None:
        """The published results folder of a job, or ``None`` while there is none."""
        path = self.jobs_dir / self._record(parse_uid(uid)).uid / store.OUTPUT_DIR
        return path if path.is_dir() else None

    def wait(self, uid: str | UUID, timeout: float = 600.0, interval: float = 0.05) -> CodeJob:
        """Block until the job reaches a final state and return it.

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
            if job.status.is_terminal:
                return job
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {key} is still {job.status.value} after {timeout:g} s")
            self._wake.wait(min(interval, max(0.0, deadline - time.monotonic())))

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
            if self._threads:
                self._watcher.refresh()  # a new data scientist's outbox may have appeared
            report.cancelled = self._apply_cancellations(now)
            report.finished = self._check_running(now)
            report.started = self._start_approved(now)
            if self._last_cleanup is None or now - self._last_cleanup >= CLEANUP_EVERY:
                report.cleaned = self._cleanup(now)
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
            now = utcnow()
            for uid, handle in list(self._running.items()):
                self.runner.kill(handle, FailureReason.interrupted, "the server was stopped")
                self._finish(uid, handle, now)
            self._release_lock()

    @property
    def is_running(self) -> bool:
        return bool(self._threads) and not self._stop.is_set()

    def close(self) -> None:
        self.stop()
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
        return {self.private_dir, *(p for _, p in self._intake.outboxes)}

    def _wakes(self, path: str) -> bool:
        """Which file events wake the loop: anything in an outbox, the ledger in private."""
        if path.startswith(str(self.private_dir)):
            return Path(path).name.startswith("queue.db")
        return True

    # Steps

    def _receive(self) -> None:
        with self._intake_lock:
            self._intake.scan(utcnow())

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
        self._recover_interrupted(now)
        self._remove_leftovers()
        self._republish_recent(now)

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _remove_leftovers(self) -> None:
        """Temp copies and run folders a dead server left behind; nothing runs now."""
        for entry in list_entries_with_temps(self.snapshots):
            if is_transient_name(entry.name):
                remove_tree(Path(entry.path))
        for entry in list_entries_with_temps(self.private_dir / "runs"):
            remove_tree(Path(entry.path))

    def _republish_recent(self, now: datetime) -> None:
        """Rewrite the published files of recently changed jobs.

        Published files are not fsynced (the ledger is the durable record), so after a
        crash of the machine the last few may be stale; the ledger puts them right.
        """
        for uid in self.ledger.changed_since(now - REPUBLISH_WINDOW):
            self.ledger.republish(uid)

    def _recover_interrupted(self, now: datetime) -> None:
        """Jobs left ``running`` by a server that died are failed, never re-run."""
        for record in self.ledger.records(JobStatus.running, include_cleaned=True):
            if record.uid in self._running:
                continue
            if record.run_id:
                kill_run(record.run_id, _live_pgid(record))
            remove_tree(self.private_dir / "runs" / record.uid)
            self._fail(
                record.uid,
                FailureReason.interrupted,
                "interrupted: the server stopped while the job was running; "
                "it will not run again unless it is submitted and approved anew",
                now,
            )
            log.warning("job %s was running when the server stopped; marked failed", record.uid)

    def _apply_cancellations(self, now: datetime) -> int:
        """Apply the data scientists' cancellation markers.

        A marker can arrive before its request, or half-synced; it stays unresolved and is
        retried every tick until it applies to a job of the same requester or that job ends.
        """
        count = 0
        retry = {requester for requester, _ in self._unresolved_cancels}
        for requester, outbox in self._intake.outboxes:
            folder = outbox / store.CANCEL_DIR
            stamp = self._cancel_changes.stamp(folder)
            if stamp is None:
                continue
            if self._cancel_changes.unchanged(requester, stamp) and requester not in retry:
                continue
            self._cancel_changes.listed(requester, stamp)
            for entry in list_entries(folder):
                uid = entry.name.removesuffix(".json")
                if not store.is_uid_name(uid) or (requester, uid) in self._done_cancels:
                    continue
                record = self.ledger.find(uid)
                if record is not None and (
                    record.requester != requester or record.status.is_terminal
                ):
                    self._done_cancels.add((requester, uid))
                    self._unresolved_cancels.discard((requester, uid))
                    continue
                if record is None or store.read_cancellation(Path(entry.path)) is None:
                    self._unresolved_cancels.add((requester, uid))
                    continue
                count += self._cancel(record, now)
                self._done_cancels.add((requester, uid))
                self._unresolved_cancels.discard((requester, uid))
        return count

    def _cancel(self, record: JobRecord, now: datetime) -> int:
        message = "cancelled by the requester"
        handle = self._running.get(record.uid)
        if handle is not None:
            self.runner.kill(handle, FailureReason.cancelled, message)
            self._finish(record.uid, handle, now)
            return 1
        try:
            self._fail(record.uid, FailureReason.cancelled, message, now, actor=record.requester)
        except InvalidTransitionError:
            return 0
        return 1

    def _check_running(self, now: datetime) -> int:
        finished = 0
        publish_live = self._last_live_logs is None or now - self._last_live_logs >= LIVE_LOG_EVERY
        for uid, handle in list(self._running.items()):
            try:
                if self.runner.check(handle, now):
                    self._finish(uid, handle, now)
                    finished += 1
                elif publish_live:
                    store.publish_logs(
                        self.jobs_dir / uid,
                        _tail(handle.stdout_path),
                        _tail(handle.stderr_path),
                    )
            except Exception:
                log.exception("job %s: checking its run failed", uid)
        if publish_live:
            self._last_live_logs = now
        return finished

    def _finish(self, uid: str, handle: RunHandle, now: datetime) -> None:
        self._running.pop(uid, None)
        job_dir = self.jobs_dir / uid
        try:
            result = self.runner.finish(handle, job_dir / store.OUTPUT_DIR)
            logs = store.publish_logs(job_dir, result.stdout, result.stderr)
        except Exception as exc:
            # The job is no longer tracked: it must not stay "running" in the ledger.
            log.exception("job %s: collecting its results failed", uid)
            kill_run(handle.spec.run_id, handle.pid)
            self._fail(uid, FailureReason.internal_error, f"results could not be kept: {exc}", now)
            return
        status = JobStatus.failed if result.failure_reason else JobStatus.completed
        self.ledger.transition(
            uid,
            status,
            actor=self.email,
            at=now,
            detail=result.error_message,
            exit_code=result.exit_code,
            failure_reason=result.failure_reason,
            error_message=result.error_message,
            completed_at=now,
            output_files=FileList(result.outputs),
            log_files=FileList(logs),
        )
        log.info("job %s %s (exit code %s)", uid, status.value, result.exit_code)

    def _start_approved(self, now: datetime) -> int:
        free = self.config.max_concurrent_jobs - len(self._running)
        if free <= 0:
            return 0
        started = 0
        for record in self.ledger.records(JobStatus.approved, free, oldest_first=True):
            try:
                started += self._start_one(record, now)
            except Exception as exc:
                log.exception("job %s could not be started", record.uid)
                self._fail_before_run(
                    record, now, FailureReason.internal_error, f"could not start: {exc}"
                )
        return started

    def _start_one(self, record: JobRecord, now: datetime) -> int:
        run_id = uuid.uuid4().hex
        spec = RunSpec(
            uid=record.uid,
            name=record.name,
            requester=record.requester,
            run_id=run_id,
            snapshot=self.snapshots / record.uid,
            files=record.files,
            approved_hash=record.approved_hash or "",
            run_root=self.private_dir / "runs" / record.uid,
        )
        try:
            self.runner.backend()  # fails closed when isolation is required
        except SandboxUnavailableError as exc:
            self._fail_before_run(record, now, FailureReason.sandbox_unavailable, f"not run: {exc}")
            return 0
        try:
            # requirements.txt, installed (in the background, cached) before the run
            if not self.runner.provision(spec, self._wake.set):
                return 0  # still installing: it stays approved until then
        except ProvisioningError as exc:
            reason = FailureReason.provisioning_failed
            self._fail_before_run(record, now, reason, f"not run: {exc}")
            return 0
        try:
            job_dir = self.runner.stage(spec)
        except StagingError as exc:
            self._fail_before_run(record, now, FailureReason.hash_mismatch, f"not run: {exc}")
            return 0
        self.ledger.transition(
            record.uid,
            JobStatus.running,
            actor=self.email,
            at=now,
            expect=JobStatus.approved,
            started_at=now,
            run_id=run_id,
            guarantees=self.runner.guarantees(),
        )
        handle = self.runner.start(spec, job_dir, now, self._wake.set)
        self._running[record.uid] = handle
        self.ledger.update(record.uid, run_pid=handle.pid, run_pid_started=handle.pid_started)
        return 1

    def _fail_before_run(
        self, record: JobRecord, now: datetime, reason: FailureReason, message: str
    ) -> None:
        remove_tree(self.private_dir / "runs" / record.uid)
        try:
            self._fail(record.uid, reason, message, now)
        except InvalidTransitionError:
            log.exception("job %s could not be marked failed", record.uid)

    def _fail(
        self,
        uid: str,
        reason: FailureReason,
        message: str,
        now: datetime,
        *,
        actor: str | None = None,
    ) -> JobRecord:
        """End a job as ``failed`` with why; raises InvalidTransitionError if it cannot."""
        return self.ledger.transition(
            uid,
            JobStatus.failed,
            actor=actor or self.email,
            at=now,
            detail=message,
            failure_reason=reason,
            error_message=message,
            completed_at=now,
        )

    def _cleanup(self, now: datetime) -> int:
        """Remove terminal jobs older than ``cleanup_completed_after`` from every view."""
        keep = self.config.cleanup_completed_after
        if keep is None:
            return 0
        cutoff = now - timedelta(seconds=keep)
        for uid, requester in self.ledger.tombstones():
            # Forget a cleaned job only once its request left the outbox, or it would
            # look new again.
            outbox = self.workspace.outbox(requester, self.email, self.config.queue_name)
            if not (outbox / uid).exists():
                remove_tree(self.jobs_dir / uid)
                self.ledger.forget(uid)
        cleaned = 0
        for record in self.ledger.ended_before(cutoff):
            job_dir = self.jobs_dir / record.uid
            remove_tree(self.snapshots / record.uid)
            remove_tree(job_dir / store.OUTPUT_DIR)
            for name in (store.STDOUT_FILE, store.STDERR_FILE):
                (job_dir / name).unlink(missing_ok=True)
            self.ledger.update(record.uid, cleaned_at=now)
            cleaned += 1
        return cleaned

    # Projections

    def _publish(self, record: JobRecord, events: list[dict[str, Any]]) -> None:
        store.publish_status(
            self.jobs_dir / record.uid, record.requester, published_status(record), events
        )

    def _to_job(self, record: JobRecord) -> CodeJob:
        return self._views.of(record)


def _live_pgid(record: JobRecord) -> int | None:
    """The job's process group if its leader is still the process we started."""
    import psutil

    if record.run_pid is None:
        return None
    try:
        proc = psutil.Process(record.run_pid)
        if record.run_pid_started and abs(proc.create_time() - record.run_pid_started) > 0.01:
            return None
    except psutil.Error:
        return None
    return record.run_pid


def _tail(path: Path) -> bytes:
    return read_tail(path, LIVE_LOG_TAIL)


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
