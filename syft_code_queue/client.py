"""The data scientist's side: submit code, follow jobs, read logs and results, cancel."""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
import warnings
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

from syft_code_queue import published, store
from syft_code_queue.errors import (
    CodeFolderError,
    InvalidRequestError,
    InvalidTransitionError,
    JobNotFoundError,
    UntransferableFileWarning,
)
from syft_code_queue.fsio import find_refused, list_entries, remove_tree
from syft_code_queue.manifest import check_code_folder, scan_code_folder
from syft_code_queue.models import (
    CancelRequest,
    CodeJob,
    FileList,
    JobList,
    JobRequest,
    JobStatus,
    PublishedStatus,
    QueueConfig,
    parse_uid,
    utcnow,
    validate_email,
)
from syft_code_queue.workspace import Workspace, grant_read, resolve_workspace

if TYPE_CHECKING:
    from syft_code_queue.widgets.status import JobStatusWidget

log = logging.getLogger("syft_code_queue.client")


class CodeQueueClient:
    """Submit code to data owners and follow what happens to it.

    Args:
        config: queue settings (the ``queue_name`` must match the owner's).
        email: your SyftBox email (else found as in :func:`resolve_workspace`).
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
        self._granted: set[Path] = set()
        self._arrived_cache: set[tuple[str, datetime]] = set()

    @property
    def email(self) -> str:
        return self.workspace.email

    def _outbox(self, target: str) -> Path:
        return self.workspace.outbox(self.email, target, self.config.queue_name)

    def submit_code(
        self,
        target_email: str,
        code_folder: str | os.PathLike[str],
        name: str,
        description: str | None = None,
        tags: Iterable[str] | None = None,
        *,
        supersedes: str | UUID | None = None,
    ) -> CodeJob:
        """Submit a folder with a ``run.sh`` to ``target_email`` for review.

        Files SyftBox never syncs (caches, ``*.log``, ``.git`` ...) are left out with an
        :class:`UntransferableFileWarning`.

        ``supersedes``: the uid of your earlier job this is a new version of; the owner
        then reviews what changed since the version they last approved. Without it, the
        owner links the job to your latest earlier job of the same name.

        Raises:
            InvalidEmailError: ``target_email`` is not an email address.
            CodeFolderError: the folder is missing, has no ``run.sh``, or holds links,
                devices or files too large to sync.
            JobNotFoundError: ``supersedes`` is not a job uid.
        """
        target = validate_email(target_email)
        previous = UUID(parse_uid(supersedes)) if supersedes is not None else None
        if not isinstance(name, str) or not name.strip():
            raise CodeFolderError("a job needs a name; pass name='What this analysis does'")
        check_code_folder(code_folder)
        uid = uuid.uuid4()
        outbox = self._outbox(target)
        if outbox not in self._granted:
            grant_read(outbox, target)
            self._granted.add(outbox)
        tmp = store.new_submission(outbox, uid)
        try:
            scan = scan_code_folder(code_folder, copy_to=tmp / store.CODE_DIR)
            request = JobRequest(
                uid=uid,
                name=name.strip(),
                description=description or "",
                tags=tuple(str(t) for t in (tags or ())),
                requester=self.email,
                target=target,
                created_at=utcnow(),
                files=scan.files,
                code_hash=scan.code_hash,
                supersedes=previous,
            )
            folder = store.commit_submission(tmp, request)
        finally:
            remove_tree(tmp)
        for rel, reason in scan.skipped:
            warnings.warn(
                UntransferableFileWarning(f"'{rel}' was left out of the submission: {reason}"),
                stacklevel=2,
            )
        log.info("submitted job %s (%s) to %s", request.uid, request.name, target)
        return self._job(request, folder, None)

    def list_jobs(
        self,
        status: JobStatus | str | None = None,
        limit: int | None = None,
        target_email: str | None = None,
    ) -> JobList:
        """Your jobs, newest first; ``status`` filters before ``limit`` applies."""
        wanted = JobStatus(status) if status is not None else None
        jobs = [
            job
            for job in self._all_jobs(target_email, utcnow())
            if wanted is None or job.status is wanted
        ]
        jobs.sort(key=lambda j: (j.created_at, str(j.uid)), reverse=True)
        return JobList(jobs if limit is None else jobs[: max(0, limit)], self.status_widget)

    def status_widget(
        self, uid: str | UUID | None = None, interval: float = 1.0, idle_interval: float = 5.0
    ) -> JobStatusWidget:
        """A live status cell for a notebook that follows one job, or all of yours.

        It shows status, timestamps, elapsed time, the tail of the logs while a job runs and
        the outputs when done, refreshing every ``interval`` seconds. For one job it stops
        once the job has ended; for all of your jobs it looks every ``idle_interval`` seconds
        while none is under way. Needs the ``widgets`` extra
        (``pip install 'syft-code-queue[widgets]'``).
        """
        from syft_code_queue.widgets.status import JobStatusWidget

        return JobStatusWidget(self, uid, interval=interval, idle_interval=idle_interval)

    def cleanup(self, now: datetime | None = None) -> int:
        """Remove your copies of jobs that ended more than ``cleanup_completed_after`` ago.

        ``list_jobs`` does this too; returns how many jobs were removed.
        """
        before = len(self._job_folders(None))
        self._all_jobs(None, now or utcnow())
        return before - len(self._job_folders(None))

    def _all_jobs(self, target_email: str | None, now: datetime) -> list[CodeJob]:
        jobs = []
        for target, folder in self._job_folders(target_email):
            try:
                job = self._load(target, folder)
            except (InvalidRequestError, OSError):
                continue
            if self._expired(job, now):
                self._remove(target, folder)
                continue
            jobs.append(job)
        return jobs

    def get_job(self, uid: str | UUID) -> CodeJob:
        """One of your jobs, with its current status.

        Raises:
            JobNotFoundError: you submitted no job with this uid.
        """
        target, folder = self._find(parse_uid(uid))
        return self._load(target, folder)

    def get_job_output(self, uid: str | UUID) -> Path | None:
        """The folder of a completed job's results, or ``None`` while there are none."""
        job = self.get_job(uid)
        return job.output_folder

    def get_job_logs(self, uid: str | UUID, tail: int | None = None) -> str:
        """stdout (and stderr, after a separator) of a job, as far as it has run.

        ``tail``: only the last ``tail`` bytes of each, without reading the rest.
        """
        key = parse_uid(uid)
        target, _ = self._find(key)
        with self._published(target, key) as folder:
            return published.combine_logs(folder, tail)

    def sync_problems(self) -> list[Path]:
        """Files in your outboxes that the SyftBox engine refused to sync (renamed by it)."""
        root = self.workspace.app_dir(self.email, self.config.queue_name) / "outbox"
        return find_refused(root)

    def cancel_job(self, uid: str | UUID) -> CodeJob:
        """Ask the owner's server to cancel a job; it ends ``failed`` (cancelled).

        Raises:
            InvalidTransitionError: the job has already ended.
        """
        key = parse_uid(uid)
        target, folder = self._find(key)
        job = self._load(target, folder)
        if job.status.is_terminal:
            raise InvalidTransitionError(
                f"job {key} is already {job.status.value}; nothing to cancel"
            )
        store.write_cancellation(
            self._outbox(target), UUID(key), CancelRequest(uid=UUID(key), requested_at=utcnow())
        )
        return job

    def wait(self, uid: str | UUID, timeout: float = 600.0, interval: float = 0.2) -> CodeJob:
        """Block until the job reaches a final state and return it.

        Raises:
            TimeoutError: it did not end within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(uid)
            if job.status.is_terminal:
                return job
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {job.uid} is still {job.status.value} after {timeout:g} s")
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))

    # Internals

    def _status_dir(self, target: str, uid: str) -> Path:
        return self.workspace.jobs_dir(target, self.config.queue_name) / uid

    def _targets(self) -> list[str]:
        root = self.workspace.app_dir(self.email, self.config.queue_name) / "outbox"
        return [e.name for e in list_entries(root) if e.is_dir()]

    def _job_folders(self, target_email: str | None) -> list[tuple[str, Path]]:
        targets = [validate_email(target_email)] if target_email else self._targets()
        out = []
        for target in targets:
            for entry in list_entries(self._outbox(target)):
                if entry.is_dir() and store.is_uid_name(entry.name):
                    out.append((target, Path(entry.path)))
        return out

    def _find(self, uid: str) -> tuple[str, Path]:
        for target in self._targets():
            folder = self._outbox(target) / uid
            if (folder / store.REQUEST_FILE).is_file():
                return target, folder
        raise JobNotFoundError(
            f"you submitted no job {uid} (as {self.email}); list_jobs() shows yours"
        )

    def _published(self, target: str, uid: str) -> contextlib.AbstractContextManager[int | None]:
        """The owner's published folder of a job, opened as hostile input."""
        return published.job_folder(self.workspace.datasites, self._status_dir(target, uid))

    def _load(self, target: str, folder: Path) -> CodeJob:
        request = store.read_request(folder / store.REQUEST_FILE)
        with self._published(target, folder.name) as published_fd:
            return self._job(request, folder, published_fd)

    def _job(self, request: JobRequest, folder: Path, published_fd: int | None) -> CodeJob:
        status = published.read_status(published_fd)
        job = CodeJob(
            uid=request.uid,
            name=request.name,
            description=request.description,
            tags=request.tags,
            requester_email=request.requester,
            target_email=request.target,
            status=JobStatus.pending,
            created_at=request.created_at,
            updated_at=request.created_at,
            code_hash=request.code_hash,
            files=FileList(request.files),
            code_folder=folder / store.CODE_DIR,
            supersedes=request.supersedes,
        ).shown_live_by(self.status_widget)
        if status is None or status.uid != request.uid:
            refused = find_refused(folder)
            if refused:
                names = ", ".join(str(p.relative_to(folder)) for p in refused)
                return job.model_copy(
                    update={
                        "error_message": f"SyftBox refused to sync {names}; the owner cannot "
                        "receive this job — check the permission files of your outbox, "
                        "then submit again"
                    }
                )
            return job
        job_dir = self._status_dir(request.target, str(request.uid))
        if (
            status.status.is_terminal
            and status.results_removed_at is None
            and not self._arrived(published_fd, status)
        ):
            # The owner has finished, but the logs and results are still on their way:
            # show the job as still running until they are all here.
            return job.model_copy(
                update={
                    "status": JobStatus.running,
                    "updated_at": status.started_at or status.updated_at,
                    "received_at": status.received_at,
                    "decided_at": status.decided_at,
                    "started_at": status.started_at,
                    "decision_reason": status.decision_reason,
                    "guarantees": status.guarantees,
                }
            )
        output = job_dir / store.OUTPUT_DIR
        return job.model_copy(
            update={
                "status": status.status,
                "updated_at": status.updated_at,
                "received_at": status.received_at,
                "decided_at": status.decided_at,
                "started_at": status.started_at,
                "completed_at": status.completed_at,
                "decision_reason": status.decision_reason,
                "error_message": status.error_message,
                "failure_reason": status.failure_reason,
                "exit_code": status.exit_code,
                "guarantees": status.guarantees,
                "withheld_files": status.withheld_files,
                "release_reason": status.release_reason,
                "output_folder": output
                if status.status is JobStatus.completed and published.has_output(published_fd)
                else None,
            }
        )

    def _arrived(self, published_fd: int | None, status: PublishedStatus) -> bool:
        key = (str(status.uid), status.updated_at)
        if key in self._arrived_cache:
            return True
        if not published.results_arrived(published_fd, status):
            return False
        self._arrived_cache.add(key)
        return True

    def _expired(self, job: CodeJob, now: datetime) -> bool:
        keep = self.config.cleanup_completed_after
        if keep is None or not job.status.is_terminal:
            return False
        return (job.completed_at or job.updated_at) < now - timedelta(seconds=keep)

    def _remove(self, target: str, folder: Path) -> None:
        remove_tree(folder)
        (self._outbox(target) / store.CANCEL_DIR / f"{folder.name}.json").unlink(missing_ok=True)


def create_client(
    email: str | None = None,
    syftbox_dir: str | os.PathLike[str] | None = None,
    config: QueueConfig | None = None,
) -> CodeQueueClient:
    """Create a data scientist's client, finding the SyftBox folder and email if not given."""
    return CodeQueueClient(config, email=email, syftbox_dir=syftbox_dir)


def submit_code(
    target_email: str,
    code_folder: str | os.PathLike[str],
    name: str,
    description: str | None = None,
    tags: Iterable[str] | None = None,
    *,
    supersedes: str | UUID | None = None,
) -> CodeJob:
    """Submit a folder with a ``run.sh`` to ``target_email``, as the SyftBox user found here.

    See :meth:`CodeQueueClient.submit_code`.
    """
    return create_client().submit_code(
        target_email, code_folder, name, description, tags, supersedes=supersedes
    )
