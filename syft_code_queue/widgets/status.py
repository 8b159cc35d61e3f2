"""The data scientist's live status cell for one job or for all of their jobs."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from uuid import UUID

import anywidget
import traitlets

from syft_code_queue.assets import asset
from syft_code_queue.errors import CodeQueueError
from syft_code_queue.models import CodeJob, parse_uid
from syft_code_queue.widgets._poller import Poller
from syft_code_queue.widgets._values import iso

if TYPE_CHECKING:
    from syft_code_queue.client import CodeQueueClient

LOG_TAIL_BYTES = 4000  # of stdout and of stderr, read from the end of the files


def status_row(job: CodeJob) -> dict[str, Any]:
    outputs: list[str] = []
    if job.output_folder is not None and job.output_folder.is_dir():
        outputs = sorted(
            p.relative_to(job.output_folder).as_posix()
            for p in job.output_folder.rglob("*")
            if p.is_file()
        )
    return {
        "uid": str(job.uid),
        "short_id": job.short_id,
        "name": job.name,
        "target": job.target_email,
        "status": job.status.value,
        "terminal": job.status.is_terminal,
        "created_at": iso(job.created_at),
        "received_at": iso(job.received_at),
        "decided_at": iso(job.decided_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "error": job.error_message,
        "note": job.status_note,  # "ran; results under review", the withheld files
        "withheld_files": list(job.withheld_files),
        "release_reason": job.release_reason,
        "exit_code": job.exit_code,
        "output_folder": str(job.output_folder) if job.output_folder else None,
        "outputs": outputs,
        "guarantees": job.guarantees.model_dump() if job.guarantees else None,
    }


class JobStatusWidget(anywidget.AnyWidget):
    """Follows one job (``uid``) or all of your jobs.

    Shows status, timestamps, elapsed time, the tail of the logs while a job runs and its
    outputs once done. Polls in a daemon thread every ``interval`` seconds: for one job it
    stops once the job has ended; for all of your jobs it looks every ``idle_interval``
    seconds while none is under way, so new submissions appear. ``close()`` stops it.
    """

    _esm = asset("widgets.js")
    _css = asset("widgets.css")

    kind = traitlets.Unicode("status").tag(sync=True)
    jobs = traitlets.List(traitlets.Dict()).tag(sync=True)
    logs = traitlets.Dict().tag(sync=True)
    watching = traitlets.Bool(False).tag(sync=True)
    single = traitlets.Bool(False).tag(sync=True)
    problem = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        client: CodeQueueClient,
        uid: str | UUID | None = None,
        interval: float = 1.0,
        limit: int = 50,
        idle_interval: float = 5.0,
    ) -> None:
        super().__init__(single=uid is not None)
        self.client = client
        self.uid = parse_uid(uid) if uid is not None else None
        self.limit = limit
        self.interval = interval
        self.idle_interval = idle_interval
        self._lock = threading.Lock()
        self.on_msg(self._on_message)
        self._poller = Poller(self._poll, interval, "scq-status-widget")
        self.refresh()
        self._follow()

    def refresh(self) -> bool:
        """Read the job(s) again; returns whether any is still to end."""
        with self._lock:
            try:
                jobs = (
                    [self.client.get_job(self.uid)]
                    if self.uid is not None
                    else list(self.client.list_jobs(limit=self.limit))
                )
                self.problem = ""
            except CodeQueueError as exc:
                self.problem = str(exc)
                return True
            rows = [status_row(job) for job in jobs]
            if rows != self.jobs:
                self.jobs = rows
            logs = {
                str(job.uid): self.client.get_job_logs(job.uid, tail=LOG_TAIL_BYTES)
                for job in jobs
                if job.started_at is not None and (self.uid is not None or not job.is_terminal)
            }
            if logs != self.logs:
                self.logs = logs
            return any(not job.is_terminal for job in jobs)

    def close(self) -> None:
        self._poller.stop()
        super().close()

    def _follow(self) -> None:
        self.watching = any(not row["terminal"] for row in self.jobs)
        if self.watching or self.uid is None:
            self._poller.start()

    def _poll(self) -> float | None:
        self.watching = self.refresh()
        if self.watching:
            return self.interval
        return None if self.uid is not None else self.idle_interval

    def _on_message(self, _widget: object, content: dict[str, Any], _buffers: object) -> None:
        if content.get("action") == "refresh":
            self.refresh()
            self._follow()
