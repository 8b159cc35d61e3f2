"""The data owner's review table: jobs, their files, and Approve / Reject buttons.

The buttons call the same :class:`CodeQueueServer` methods as code does; nothing here
decides on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import anywidget
import traitlets

from syft_code_queue.assets import asset
from syft_code_queue.errors import CodeQueueError
from syft_code_queue.models import CodeJob, JobStatus
from syft_code_queue.widgets._poller import Poller
from syft_code_queue.widgets._values import iso
from syft_code_queue.widgets.viewer import MAX_VIEW_BYTES, file_view, highlight_css

if TYPE_CHECKING:
    from syft_code_queue.server import CodeQueueServer


def job_row(job: CodeJob) -> dict[str, Any]:
    """What the table shows of a job: plain JSON values, rendered as text by the front end.

    The description, the code hash and the files come with :meth:`ReviewWidget.open_job`.
    """
    return {
        "uid": str(job.uid),
        "short_id": job.short_id,
        "name": job.name,
        "tags": list(job.tags),
        "requester": job.requester_email,
        "status": job.status.value,
        "created_at": iso(job.created_at),
        "decided_at": iso(job.decided_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "reviewer": job.reviewer,
        "reason": job.decision_reason,
        "error": job.error_message,
        "exit_code": job.exit_code,
        "files": len(job.files),
        "bytes": sum(f.size for f in job.files),
    }


class ReviewWidget(anywidget.AnyWidget):
    """Pending jobs first, then the latest others; open one to read its files; decide.

    Args:
        server: the owner's queue.
        interval: seconds between refreshes of the listing (in a daemon thread).
        history: how many decided or finished jobs are listed after the pending ones.
    """

    _esm = asset("widgets.js")
    _css = asset("widgets.css").read_text(encoding="utf-8") + highlight_css()

    kind = traitlets.Unicode("review").tag(sync=True)
    owner = traitlets.Unicode("").tag(sync=True)
    jobs = traitlets.List(traitlets.Dict()).tag(sync=True)
    detail = traitlets.Dict().tag(sync=True)
    file = traitlets.Dict().tag(sync=True)
    notice = traitlets.Dict().tag(sync=True)

    def __init__(self, server: CodeQueueServer, interval: float = 2.0, history: int = 200) -> None:
        super().__init__(owner=server.email)
        self.server = server
        self.history = history
        self.interval = interval
        self._lock = threading.Lock()
        self._notices = 0
        self._stamps: list[tuple[UUID, datetime]] = []
        self._rows: dict[UUID, tuple[datetime, dict[str, Any]]] = {}
        self.on_msg(self._on_message)
        self.refresh()
        self._poller = Poller(self._poll, interval, "scq-review-widget")
        self._poller.start()

    def refresh(self) -> None:
        """Read the listing again (the poller does this every ``interval`` seconds).

        Rows are rebuilt only for jobs whose ledger entry changed, and nothing is sent to the
        browser when no job did.
        """
        with self._lock:
            jobs = [*self.server.list_pending_jobs(), *self._latest_decided()]
            stamps = [(job.uid, job.updated_at) for job in jobs]
            if stamps == self._stamps:
                return
            cache = self._rows
            self._rows = {
                job.uid: cache[job.uid]
                if job.uid in cache and cache[job.uid][0] == job.updated_at
                else (job.updated_at, job_row(job))
                for job in jobs
            }
            self.jobs = [self._rows[job.uid][1] for job in jobs]
            self._stamps = stamps

    def _latest_decided(self) -> list[CodeJob]:
        """The ``history`` latest jobs that are no longer pending, newest first."""
        jobs = [
            job
            for status in JobStatus
            if status is not JobStatus.pending
            for job in self.server.list_jobs(status=status, limit=self.history)
        ]
        jobs.sort(key=lambda job: (job.created_at, str(job.uid)), reverse=True)
        return jobs[: self.history]

    def approve(self, uids: list[str], reason: str | None = None) -> None:
        """Approve each job, as the Approve button does; failures show as a notice."""
        self._decide(uids, lambda uid: self.server.approve_job(uid, reason or None), "approved")

    def reject(self, uids: list[str], reason: str) -> None:
        """Reject each job with the reason the data scientist will see."""
        if not reason.strip():
            self._notify("error", "Write a reason before rejecting: the data scientist sees it.")
            return
        self._decide(uids, lambda uid: self.server.reject_job(uid, reason), "rejected")

    def open_job(self, uid: str) -> None:
        """Show a job's files and history below its row."""
        job = self.server.get_job(uid)
        self.detail = {
            "uid": str(job.uid),
            "description": job.description,
            "code_hash": job.code_hash,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in job.files],
            "events": self.server.job_events(uid),
            "guarantees": self.server.guarantees().model_dump(),
        }
        self.file = {}

    def open_file(self, uid: str, path: str) -> None:
        """Show one file of the job's verified snapshot, exactly as it will run."""
        job = self.server.get_job(uid)
        size = next((f.size for f in job.files if f.path == path), 0)
        data = self.server.read_job_file(uid, path, limit=MAX_VIEW_BYTES)
        self.file = {"uid": str(job.uid), **file_view(path, data, size)}

    def close(self) -> None:
        self._poller.stop()
        super().close()

    def _poll(self) -> float:
        self.refresh()
        return self.interval

    def _decide(self, uids: list[str], act: Callable[[str], object], verb: str) -> None:
        done, problems = 0, []
        for uid in uids:
            try:
                act(uid)
                done += 1
            except (CodeQueueError, ValueError) as exc:
                problems.append(str(exc))
        self.refresh()
        if problems:
            self._notify("error", f"{verb} {done}; not {verb}: " + "; ".join(problems))
        else:
            self._notify("ok", f"{verb} {done} job{'s' if done != 1 else ''}")

    def _notify(self, kind: str, text: str) -> None:
        self._notices += 1
        self.notice = {"seq": self._notices, "kind": kind, "text": text}

    def _on_message(self, _widget: object, content: dict[str, Any], _buffers: object) -> None:
        action = content.get("action")
        try:
            if action == "approve":
                self.approve(list(content["uids"]), content.get("reason"))
            elif action == "reject":
                self.reject(list(content["uids"]), str(content.get("reason") or ""))
            elif action == "open":
                self.open_job(str(content["uid"]))
            elif action == "file":
                self.open_file(str(content["uid"]), str(content["path"]))
            elif action == "refresh":
                self.refresh()
        except (CodeQueueError, OSError, KeyError) as exc:
            self._notify("error", f"{action} failed: {exc}")
