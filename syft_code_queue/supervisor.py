"""Approved jobs while they run: start them, watch their limits, collect their results.

Every way a run ends — finished, killed, cancelled, its results unusable, the server
stopping or found dead — ends the job in the ledger; no job is left ``running`` here
without a process the supervisor tracks. On a queue with ``release="manual"`` the results
of a run are held in private (:mod:`syft_code_queue.release`) and the job waits in
``awaiting_release``; no log tail is published while it runs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from syft_code_queue import store
from syft_code_queue.errors import InvalidTransitionError
from syft_code_queue.fsio import read_tail, remove_tree
from syft_code_queue.ledger import JobRecord, Ledger, Transition
from syft_code_queue.models import FailureReason, FileList, JobStatus, QueueConfig
from syft_code_queue.provision import ProvisioningError
from syft_code_queue.release import ResultsGate
from syft_code_queue.runner import (
    RunHandle,
    RunResult,
    RunSpec,
    SafeCodeRunner,
    StagingError,
    kill_run,
)
from syft_code_queue.sandbox import SandboxUnavailableError

log = logging.getLogger("syft_code_queue.server")

LIVE_LOG_EVERY = timedelta(seconds=1)
LIVE_LOG_TAIL = 64 * 1024


class Supervisor:
    """The jobs this server runs, from the approved job to its result in the ledger.

    Args:
        owner: the owner's email (the actor of every change made here).
        wake: called when a job's process ends, to wake the server's loop.
        results: where results are held for release (used when ``config.release`` is
            ``"manual"``).
    """

    def __init__(  # noqa: PLR0917 - the server's parts, passed as they are
        self,
        config: QueueConfig,
        ledger: Ledger,
        runner: SafeCodeRunner,
        owner: str,
        snapshots: Path,
        jobs_dir: Path,
        private_dir: Path,
        wake: Callable[[], None],
        results: ResultsGate,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.runner = runner
        self.owner = owner
        self.snapshots = snapshots
        self.jobs_dir = jobs_dir
        self.private_dir = private_dir
        self.wake = wake
        self.results = results
        self.running: dict[str, RunHandle] = {}
        self._last_live_logs: datetime | None = None

    def runs_dir(self, uid: str) -> Path:
        return self.private_dir / "runs" / uid

    def check_running(self, now: datetime) -> int:
        publish_live = self.config.release == "auto" and (
            self._last_live_logs is None or now - self._last_live_logs >= LIVE_LOG_EVERY
        )
        ended: list[tuple[str, RunHandle]] = []
        for uid, handle in list(self.running.items()):
            try:
                if self.runner.check(handle, now):
                    ended.append((uid, handle))
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
        return self.finish_many(ended, now)

    def finish(self, uid: str, handle: RunHandle, now: datetime) -> None:
        self.finish_many([(uid, handle)], now)

    def finish_many(self, ended: list[tuple[str, RunHandle]], now: datetime) -> int:
        """Collect the results of ended runs and end their jobs, all in one ledger
        transaction (one audit fsync however many ended in this step)."""
        moves: list[Transition] = []
        for uid, handle in ended:
            self.running.pop(uid, None)
            if self.config.release == "manual":
                self._hold(uid, handle, now)
                continue
            job_dir = self.jobs_dir / uid
            try:
                result = self.runner.finish(handle, job_dir / store.OUTPUT_DIR)
                logs = store.publish_logs(job_dir, result.stdout, result.stderr)
            except Exception as exc:
                # The job is no longer tracked: it must not stay "running" in the ledger.
                log.exception("job %s: collecting its results failed", uid)
                kill_run(handle.spec.run_id, handle.pid)
                message = f"results could not be kept: {exc}"
                try:
                    self.fail(uid, FailureReason.internal_error, message, now)
                except InvalidTransitionError:
                    log.exception("job %s could not be marked failed", uid)
                continue
            status = JobStatus.failed if result.failure_reason else JobStatus.completed
            changes = {
                "exit_code": result.exit_code,
                "failure_reason": result.failure_reason,
                "error_message": result.error_message,
                "completed_at": now,
                "output_files": FileList(result.outputs),
                "log_files": FileList(logs),
            }
            moves.append(
                Transition(uid, status, self.owner, now, result.error_message, changes=changes)
            )
        for move, done in zip(moves, self.ledger.transition_many(moves), strict=True):
            if isinstance(done, Exception):
                log.error("job %s could not be ended %s: %s", move.uid, move.new.value, done)
                continue
            log.info("job %s %s (exit code %s)", move.uid, move.new.value, done.exit_code)
        return len(ended)

    def _hold(self, uid: str, handle: RunHandle, now: datetime) -> None:
        """Keep a run's outputs and logs in private; the job waits for the owner's release."""
        data_dir = self.config.job_data_dir
        try:
            result: RunResult = self.runner.finish(handle, self.results.prepare(uid))
            held = self.results.hold(
                uid, result.stdout, result.stderr, None if data_dir is None else data_dir.resolve()
            )
        except Exception as exc:
            log.exception("job %s: holding its results failed", uid)
            kill_run(handle.spec.run_id, handle.pid)
            self.results.remove(uid)
            self.fail(uid, FailureReason.internal_error, f"results could not be kept: {exc}", now)
            return
        # The run's own outcome is kept; the release ends the job as it ran.
        self.ledger.transition(
            uid,
            JobStatus.awaiting_release,
            actor=self.owner,
            at=now,
            detail=result.error_message,
            audit_details={"held": held, "exit_code": result.exit_code},
            exit_code=result.exit_code,
            failure_reason=result.failure_reason,
            error_message=result.error_message,
            completed_at=now,
        )
        log.info("job %s ran (exit code %s); results held for release", uid, result.exit_code)

    def start_approved(self, now: datetime) -> int:
        """Start the oldest approved jobs there is room for: each prepared (provisioned and
        staged), all marked running in one ledger transaction, then each started."""
        free = self.config.max_concurrent_jobs - len(self.running)
        if free <= 0:
            return 0
        prepared: list[tuple[JobRecord, RunSpec, Path]] = []
        for record in self.ledger.records(JobStatus.approved, free, oldest_first=True):
            try:
                ready = self._prepare(record, now)
            except Exception as exc:
                log.exception("job %s could not be started", record.uid)
                self.fail_before_run(
                    record, now, FailureReason.internal_error, f"could not start: {exc}"
                )
                continue
            if ready is not None:
                prepared.append((record, *ready))
        if not prepared:
            return 0
        guarantees = self.runner.guarantees()
        moves = [
            Transition(
                record.uid,
                JobStatus.running,
                self.owner,
                now,
                expect=JobStatus.approved,
                changes={"started_at": now, "run_id": spec.run_id, "guarantees": guarantees},
            )
            for record, spec, _ in prepared
        ]
        pids: list[tuple[str, dict[str, Any]]] = []
        for (record, spec, job_dir), done in zip(
            prepared, self.ledger.transition_many(moves), strict=True
        ):
            try:
                if isinstance(done, Exception):
                    raise done
                handle = self.runner.start(spec, job_dir, now, self.wake)
            except Exception as exc:
                log.exception("job %s could not be started", record.uid)
                self.fail_before_run(
                    record, now, FailureReason.internal_error, f"could not start: {exc}"
                )
                continue
            self.running[record.uid] = handle
            pids.append(
                (record.uid, {"run_pid": handle.pid, "run_pid_started": handle.pid_started})
            )
        self.ledger.update_many(pids)
        return len(pids)

    def _prepare(self, record: JobRecord, now: datetime) -> tuple[RunSpec, Path] | None:
        """Provision and stage one approved job; ``None`` if it cannot run (now or at all:
        then it has failed)."""
        run_id = uuid.uuid4().hex
        spec = RunSpec(
            uid=record.uid,
            name=record.name,
            requester=record.requester,
            run_id=run_id,
            snapshot=self.snapshots / record.uid,
            files=record.files,
            approved_hash=record.approved_hash or "",
            run_root=self.runs_dir(record.uid),
        )
        try:
            self.runner.backend()  # fails closed when isolation is required
        except SandboxUnavailableError as exc:
            self.fail_before_run(record, now, FailureReason.sandbox_unavailable, f"not run: {exc}")
            return None
        try:
            # requirements.txt, installed (in the background, cached) before the run
            if not self.runner.provision(spec, self.wake):
                return None  # still installing: it stays approved until then
        except ProvisioningError as exc:
            reason = FailureReason.provisioning_failed
            self.fail_before_run(record, now, reason, f"not run: {exc}")
            return None
        try:
            job_dir = self.runner.stage(spec)
        except StagingError as exc:
            self.fail_before_run(record, now, FailureReason.hash_mismatch, f"not run: {exc}")
            return None
        return spec, job_dir

    def cancel(self, record: JobRecord, now: datetime) -> int:
        """End a job its requester cancelled; 1 if it was ended here."""
        message = "cancelled by the requester"
        handle = self.running.get(record.uid)
        if handle is not None:
            self.runner.kill(handle, FailureReason.cancelled, message)
            self.finish(record.uid, handle, now)
            return 1
        # A run whose results were held leaves nothing, not even its exit code.
        held = {"exit_code": None} if record.status is JobStatus.awaiting_release else {}
        try:
            self.fail(
                record.uid, FailureReason.cancelled, message, now, actor=record.requester, **held
            )
        except InvalidTransitionError:
            return 0
        return 1

    def stop_all(self, now: datetime) -> None:
        """Kill every job still running and mark it failed (interrupted)."""
        running = list(self.running.items())
        for _, handle in running:
            self.runner.kill(handle, FailureReason.interrupted, "the server was stopped")
        self.finish_many(running, now)

    def fail_before_run(
        self, record: JobRecord, now: datetime, reason: FailureReason, message: str
    ) -> None:
        remove_tree(self.runs_dir(record.uid))
        try:
            self.fail(record.uid, reason, message, now)
        except InvalidTransitionError:
            log.exception("job %s could not be marked failed", record.uid)

    def fail(
        self,
        uid: str,
        reason: FailureReason,
        message: str,
        now: datetime,
        *,
        actor: str | None = None,
        **changes: Any,
    ) -> JobRecord:
        """End a job as ``failed`` with why; raises InvalidTransitionError if it cannot."""
        changes.setdefault("completed_at", now)
        return self.ledger.transition(
            uid,
            JobStatus.failed,
            actor=actor or self.owner,
            at=now,
            detail=message,
            failure_reason=reason,
            error_message=message,
            **changes,
        )


def _tail(path: Path) -> bytes:
    return read_tail(path, LIVE_LOG_TAIL)
