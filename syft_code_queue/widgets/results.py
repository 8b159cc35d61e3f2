"""The owner's results view: jobs whose results await release, their checks, and the
Release / Withhold decision (a queue with ``QueueConfig(release="manual")``)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from syft_code_queue.assets import asset
from syft_code_queue.errors import CodeQueueError
from syft_code_queue.models import CodeJob
from syft_code_queue.widgets._poller import Poller
from syft_code_queue.widgets._values import iso

if TYPE_CHECKING:
    from syft_code_queue.airlock import ResultsReport
    from syft_code_queue.server import CodeQueueServer


def awaiting_row(job: CodeJob) -> dict[str, Any]:
    return {
        "uid": str(job.uid),
        "short_id": job.short_id,
        "name": job.name,
        "requester": job.requester_email,
        "completed_at": iso(job.completed_at),
        "exit_code": job.exit_code,
        "error": job.error_message,
    }


def report_view(report: ResultsReport) -> dict[str, Any]:
    """The report as plain JSON values: each held file with its findings and safe preview."""
    files = []
    for held in report.files:
        findings = report.findings_for(held.path)
        counts = {s: sum(1 for f in findings if f.severity == s) for s in ("block", "review")}
        files.append(
            {
                "path": held.path,
                "size": held.size,
                "kind": held.kind,
                "releasable": held.sha256 is not None,
                "counts": counts,
                "findings": [
                    {
                        "severity": f.severity,
                        "check": f.check,
                        "where": str(f.where),
                        "message": f.message,
                    }
                    for f in findings
                ],
                "preview": held.preview.model_dump(),
            }
        )
    general = [
        {"severity": f.severity, "check": f.check, "where": "", "message": f.message}
        for f in report.findings
        if not f.where.file
    ]
    return {"uid": report.uid, "counts": dict(report.counts), "files": files, "general": general}


class ResultsWidget(anywidget.AnyWidget):
    """Jobs that ran and wait for your release, oldest first; **Check** runs the output
    checks and lists each held file with its findings and a preview; tick the files to
    release, then **Release selected** or **Withhold** (with a reason the requester sees).

    Every button calls the same :class:`CodeQueueServer` methods as code does
    (``check_results``, ``release_results``, ``withhold_results``).
    """

    _esm = asset("results.js")
    _css = asset("widgets.css")

    jobs = traitlets.List(traitlets.Dict()).tag(sync=True)
    report = traitlets.Dict().tag(sync=True)
    notice = traitlets.Dict().tag(sync=True)

    def __init__(self, server: CodeQueueServer, interval: float = 2.0) -> None:
        super().__init__()
        self.server = server
        self.interval = interval
        self._lock = threading.Lock()
        self._notices = 0
        self.on_msg(self._on_message)
        self.refresh()
        self._poller = Poller(self._poll, interval, "scq-results-widget")
        self._poller.start()

    def refresh(self) -> None:
        """Read the jobs awaiting release again."""
        with self._lock:
            rows = [awaiting_row(job) for job in self.server.list_awaiting_release()]
            if rows != self.jobs:
                self.jobs = rows
            if self.report and self.report.get("uid") not in {r["uid"] for r in rows}:
                self.report = {}

    def check(self, uid: str) -> None:
        """Run the checks over one job's held files and show the report."""
        self.report = report_view(self.server.check_results(uid))

    def release(self, uid: str, files: list[str], reason: str | None) -> None:
        """Release the ticked files, as the Release selected button does."""
        job = self.server.release_results(uid, files, reason or None)
        self.report = {}
        self.refresh()
        withheld = f"; withheld: {', '.join(job.withheld_files)}" if job.withheld_files else ""
        self._notify("ok", f"released {len(files)} file(s) of '{job.name}'{withheld}")

    def withhold(self, uid: str, reason: str) -> None:
        """Withhold every file, as the Withhold button does; a reason is required."""
        if not reason.strip():
            self._notify("error", "Write a reason before withholding: the data scientist sees it.")
            return
        job = self.server.withhold_results(uid, reason)
        self.report = {}
        self.refresh()
        self._notify("ok", f"withheld the results of '{job.name}'")

    def close(self) -> None:
        self._poller.stop()
        super().close()

    def _poll(self) -> float:
        self.refresh()
        return self.interval

    def _notify(self, kind: str, text: str) -> None:
        self._notices += 1
        self.notice = {"seq": self._notices, "kind": kind, "text": text}

    def _on_message(self, _widget: object, content: dict[str, Any], _buffers: object) -> None:
        action = content.get("action")
        try:
            if action == "check":
                self.check(str(content["uid"]))
            elif action == "release":
                files = [str(f) for f in content.get("files") or []]
                self.release(str(content["uid"]), files, content.get("reason"))
            elif action == "withhold":
                self.withhold(str(content["uid"]), str(content.get("reason") or ""))
            elif action == "refresh":
                self.refresh()
        except (CodeQueueError, OSError, KeyError, ValueError) as exc:
            self._notify("error", f"{action} failed: {exc}")
