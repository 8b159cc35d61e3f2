"""The data scientist's live status cell for one job or for all of their jobs."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from uuid import UUID

import anywidget
import traitlets

from syft_code_queue.assets import asset
from syft_code_queue.errors import CodeQueueError, JobNotFoundError
from syft_code_queue.models import CodeJob, parse_uid
from syft_code_queue.widgets._poller import Poller
from syft_code_queue.widgets._values import iso
from syft_code_queue.widgets.outputs import media_type, outputs_of, read_output

if TYPE_CHECKING:
    from syft_code_queue.client import CodeQueueClient

LOG_TAIL_BYTES = 4000  # of stdout and of stderr, read from the end of the files


STDERR_MARK = "--- stderr ---\n"  # where store.combine_logs starts stderr
STDERR_TAIL_LINES = 20


def stderr_tail(logs: str, lines: int = STDERR_TAIL_LINES) -> str:
    """The last ``lines`` lines of stderr in a combined log ("" when there is none)."""
    _, mark, err = logs.rpartition(STDERR_MARK)
    return "\n".join(err.rstrip("\n").splitlines()[-lines:]) if mark else ""


def status_row(job: CodeJob, outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What the status cell shows of a job: plain JSON values, rendered as text."""
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
        "outputs": outputs if outputs is not None else outputs_of(job.output_folder),
        "failure": job.failure_reason.value if job.failure_reason else None,
        "guarantees": job.guarantees.model_dump() if job.guarantees else None,
    }


def _stamp(job: CodeJob) -> object:
    """Changes when the job or the folder of its results changed."""
    folder = job.output_folder
    try:
        mtime = folder.stat().st_mtime_ns if folder is not None else None
    except OSError:
        mtime = None
    return (job.updated_at, mtime)


class JobStatusWidget(anywidget.AnyWidget):
    """Follows one job (``uid``) or all of your jobs.

    Shows status, timestamps, elapsed time, the tail of the logs (kept once the job ended;
    a failure's stderr tail apart) and its outputs with sizes and previews once done.
    Polls in a daemon thread every ``interval`` seconds: for one job it stops once the job
    has ended; for all of your jobs it looks every ``idle_interval`` seconds while none is
    under way, so new submissions appear. ``close()`` stops it, and so does removing its
    last view from the page (clearing its output).
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
        # Ended jobs change no more once their results synced: read again only when the
        # job or its output folder changed.
        self._ended: dict[str, tuple[object, list[dict[str, Any]], str]] = {}
        self._work = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scq-status")
        self._views = 0  # views drawn in the browser and not removed yet
        self.on_msg(self._on_message)
        self._poller = Poller(self._poll, interval, "scq-status-widget")
        self.refresh()
        self._follow()

    def refresh(self) -> bool:
        """Read the job(s) again; returns whether any is still to end."""
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
        rows, logs = [], {}
        for job in jobs:
            uid = str(job.uid)
            stamp = _stamp(job)
            cached = self._ended.get(uid)
            if cached is not None and cached[0] == stamp and job.is_terminal:
                _, outputs, log = cached
            else:
                log = (
                    self.client.get_job_logs(job.uid, tail=LOG_TAIL_BYTES)
                    if job.started_at is not None
                    else ""
                )
                outputs = outputs_of(job.output_folder)
                if job.is_terminal:
                    self._ended[uid] = (stamp, outputs, log)
            row = status_row(job, outputs)
            row["stderr"] = stderr_tail(log) if job.status.value == "failed" else ""
            rows.append(row)
            if log:
                logs[uid] = log
        with self._lock:  # only the comparisons; the reads above held no lock
            if rows != self.jobs:
                self.jobs = rows
            if logs != self.logs:
                self.logs = logs
        return any(not job.is_terminal for job in jobs)

    def close(self) -> None:
        self._poller.stop()
        self._work.shutdown(wait=False, cancel_futures=True)
        super().close()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until the work asked for so far is done (for tests and scripts)."""
        self._work.submit(lambda: None).result(timeout)

    def _follow(self) -> None:
        self.watching = any(not row["terminal"] for row in self.jobs)
        if self.watching or self.uid is None:
            self._poller.start()

    def _poll(self) -> float | None:
        self.watching = self.refresh()
        if self.watching:
            return self.interval
        return None if self.uid is not None else self.idle_interval

    def download(self, uid: str, path: str) -> tuple[bytes, str]:
        """The bytes and MIME type of one output of a job this cell shows.

        Raises:
            JobNotFoundError: the cell shows no such job.
            ValueError, OSError: no such output (see :func:`read_output`).
        """
        if uid not in {row["uid"] for row in self.jobs}:
            raise JobNotFoundError(f"this cell shows no job {uid}")
        folder = self.client.get_job(uid).output_folder
        if folder is None:
            raise FileNotFoundError(f"job {uid} has no outputs yet")
        return read_output(folder, path), media_type(path)

    def _on_message(self, _widget: object, content: dict[str, Any], _buffers: object) -> None:
        if content.get("action") == "refresh":
            self._work.submit(self._refresh_and_follow)
        elif content.get("action") == "view":
            self._work.submit(self._view_shown, bool(content.get("shown")))
        elif content.get("action") == "download":
            self._work.submit(
                self._send_download,
                content.get("request"),
                str(content.get("uid")),
                str(content.get("path")),
            )

    def _send_download(self, request: object, uid: str, path: str) -> None:
        """Answer the browser's request for an output's bytes (a custom message)."""
        reply: dict[str, Any] = {"kind": "download", "request": request, "path": path}
        try:
            data, kind = self.download(uid, path)
        except (CodeQueueError, ValueError, OSError) as exc:
            self.send({**reply, "ok": False, "error": f"{path} cannot be downloaded: {exc}"})
            return
        self.send({**reply, "ok": True, "type": kind, "size": len(data)}, buffers=[data])

    def _view_shown(self, shown: bool) -> None:
        """A view was drawn or removed (its output cleared): with none left the cell stops
        polling; drawn again, it reads the jobs again and follows them as before. A page
        closed or reloaded says nothing: its cells keep polling until closed."""
        self._views = max(0, self._views + (1 if shown else -1))
        if self._views == 0:
            self._poller.stop()
        else:
            self._refresh_and_follow()

    def _refresh_and_follow(self) -> None:
        self.refresh()
        self._follow()
