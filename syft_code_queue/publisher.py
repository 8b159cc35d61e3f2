"""What the requester sees of a job, written from the committed ledger record.

The ledger commits first and calls :meth:`Publisher.publish` afterwards, so a published
``status.json`` never shows a state the ledger rolled back. Each change marks the job
unpublished inside its transaction; the publisher clears the mark only once the files are
written, so a failed write is retried (:meth:`Publisher.retry`) and never leaves the job
itself untracked. The projection reads the record *now*, under a lock shared by every
process of this owner, so the last write always shows the last commit.

Messages meant for the owner stay in the private ledger: internal errors and anything that
names a path on the owner's machine become a short reason for the requester. On a queue
that holds results for release (:mod:`syft_code_queue.release`), the files the owner
released are published here too, after the commit of the release and before the status.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from syft_code_queue import store
from syft_code_queue.ledger import JobRecord, Ledger
from syft_code_queue.models import UNDER_REVIEW, FailureReason, JobStatus, PublishedStatus

log = logging.getLogger("syft_code_queue.publisher")

RETRY_BATCH = 256
HIDDEN_PATH = "<owner path>"

# Failures whose owner-side message is about the owner's machine, not the requester's code.
_FOR_THE_REQUESTER = {
    FailureReason.internal_error: (
        "the owner's server could not complete this job (an internal error); "
        "the owner has the details"
    ),
    FailureReason.hash_mismatch: "not run: the code to run did not match the approved code",
    FailureReason.sandbox_unavailable: (
        "not run: the owner's machine cannot isolate jobs as this queue requires"
    ),
}


def requester_message(record: JobRecord, owner_paths: Sequence[str] = ()) -> str | None:
    """The reason the requester is shown: the owner's own words for a decision, a short
    fixed reason for failures of the owner's machine, never a path on it."""
    if record.error_message is None:
        return None
    if record.failure_reason in _FOR_THE_REQUESTER:
        return _FOR_THE_REQUESTER[record.failure_reason]
    return hide_paths(record.error_message, owner_paths)


def hide_paths(text: str, owner_paths: Sequence[str]) -> str:
    for path in sorted(owner_paths, key=len, reverse=True):
        if path:
            text = text.replace(path, HIDDEN_PATH)
    return text


def requester_view(record: JobRecord, owner_paths: Sequence[str] = ()) -> PublishedStatus:
    """The requester-readable projection of a ledger record (``status.json``).

    While a job's results await the owner's release, only its status and times are shown:
    not its exit code, nor its failure, nor any file (each could carry what the job read).
    A job whose results were withheld shows the owner's reason and nothing of its run.
    """
    held = record.status is JobStatus.awaiting_release
    withheld = record.failure_reason is FailureReason.withheld
    reason = record.release_reason
    return PublishedStatus(
        uid=UUID(record.uid),
        status=record.status,
        updated_at=record.updated_at,
        received_at=record.received_at,
        decided_at=record.decided_at,
        started_at=record.started_at,
        completed_at=record.completed_at,
        decision_reason=record.decision_reason,
        error_message=None if held else requester_message(record, owner_paths),
        failure_reason=None if held else record.failure_reason,
        exit_code=None if held or withheld else record.exit_code,
        code_hash=record.code_hash,
        output_files=record.output_files,
        log_files=record.log_files,
        guarantees=record.guarantees,
        withheld_files=() if withheld else record.withheld_files,
        release_reason=None if reason is None else hide_paths(reason, owner_paths),
        results_removed_at=record.cleaned_at,
    )


def requester_events(
    record: JobRecord, events: list[dict[str, Any]], owner_paths: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The job's events as the requester sees them: the end carries the same short reason
    as ``status.json``; the end of a run whose results are held says only that."""
    public = requester_message(record, owner_paths)
    out = []
    for event in events:
        detail = event["detail"]
        if event["status"] == JobStatus.awaiting_release.value:
            detail = UNDER_REVIEW
        elif event["status"] == JobStatus.failed.value:
            detail = public
        elif detail is not None:
            detail = hide_paths(detail, owner_paths)
        out.append({**event, "detail": detail})
    return out


class Publisher:
    """Writes ``status.json`` and ``events.jsonl`` of jobs from the committed ledger.

    Args:
        ledger: the owner's ledger (its ``on_change`` hook is set to :meth:`publish`).
        jobs_dir: the owner's published jobs folder.
        lock_path: a private file every process of this queue locks while publishing.
        owner_paths: paths on the owner's machine that published text must never show.
        publish_results: writes the files a job's owner released into its folder, before
            its status (see :meth:`syft_code_queue.release.ResultsGate.publish_released`).
    """

    def __init__(
        self,
        ledger: Ledger,
        jobs_dir: Path,
        lock_path: Path,
        owner_paths: Sequence[Path],
        publish_results: Callable[[JobRecord, Path], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.jobs_dir = jobs_dir
        self.lock_path = lock_path
        self.owner_paths = tuple(dict.fromkeys(str(p) for p in owner_paths))
        self.publish_results = publish_results
        # Marks of what was written, cleared in one transaction at the next retry or flush
        # (not one extra commit per change on the approval path).
        self._written: list[tuple[str, int]] = []
        self._written_lock = threading.Lock()
        self._failing: set[str] = set()
        ledger.on_change = self.publish

    def publish(self, uids: list[str]) -> int:
        """Publish these jobs as the ledger holds them now; return how many marked jobs
        were written.

        Never raises for one job: a job that cannot be published keeps its mark.
        """
        with self._locked():
            marks = self.ledger.unpublished_marks(uids)  # read before the records
            written: list[tuple[str, int]] = []
            for uid in uids:
                try:
                    record = self.ledger.find(uid)
                    if record is not None:
                        self._write(record)
                except Exception as exc:
                    if uid not in self._failing:  # once, not at every retry
                        self._failing.add(uid)
                        log.warning(
                            "job %s: publishing its status failed (%s); will retry", uid, exc
                        )
                    continue
                self._failing.discard(uid)
                if uid in marks:
                    written.append((uid, marks[uid]))
        with self._written_lock:
            self._written.extend(written)
        return len(written)

    def retry(self, limit: int = RETRY_BATCH) -> int:
        """Publish jobs whose last publishing failed or was cut short by a crash."""
        self.flush()
        uids = self.ledger.unpublished(limit)
        return self.publish(uids) if uids else 0

    def flush(self) -> None:
        """Clear the marks of what was written (a mark a newer change set stays)."""
        with self._written_lock:
            written, self._written = self._written, []
        self.ledger.mark_published(written)

    def republish_changed_since(self, since: datetime) -> None:
        """Write again the jobs changed since ``since``: published files are not fsynced,
        so after a crash of the machine the last few may be stale."""
        self.ledger.republish(self.ledger.changed_since(since))

    def _write(self, record: JobRecord) -> None:
        if self.publish_results is not None:
            # The files first: a status never announces released files that are not there.
            self.publish_results(record, self.jobs_dir / record.uid)
        events = requester_events(record, self.ledger.events(record.uid), self.owner_paths)
        store.publish_status(
            self.jobs_dir / record.uid,
            record.requester,
            requester_view(record, self.owner_paths),
            events,
        )

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # flock locks belong to the open file, so this also orders threads of one process.
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
