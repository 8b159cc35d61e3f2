"""What the review table's Results view shows of a job's held results (a queue with
``QueueConfig(release="manual")``): each held file with its findings and a safe preview.

The view itself is the review table's (:class:`~syft_code_queue.widgets.review.ReviewWidget`,
its ``tab == "results"``); this module turns a :class:`ResultsReport` into the plain JSON
values its front end draws, and knows which ticked files need an explicit confirmation.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from syft_code_queue.airlock.models import SEVERITIES

if TYPE_CHECKING:
    from syft_code_queue.airlock import Finding, ResultsReport

MAX_IMAGE_BYTES = 256 * 1024  # an image shown inline; a larger one says so
MAX_IMAGES_BYTES = 2 * 1024 * 1024  # all inline images of one report together
IMAGE_MIMES = {"image/png", "image/jpeg", "image/gif", "image/svg+xml"}


def finding_view(finding: Finding) -> dict[str, Any]:
    """One finding as JSON: where it is (for highlighting a line, or a table cell) too."""
    where = finding.where
    return {
        "severity": finding.severity,
        "check": finding.check,
        "message": finding.message,
        "where": str(where) if where.file else "",
        "line": where.line,
        "row": where.row,
        "column": where.column,
    }


def report_view(
    report: ResultsReport, name: str, read: Callable[[str, int], bytes] | None = None
) -> dict[str, Any]:
    """The report as plain JSON values: each held file with its findings (counted by
    severity) and safe preview, block files first unticked.

    Args:
        report: the last check of the job.
        name: the job's name (the front end names the job in every label).
        read: ``read(path, limit)`` of a held file; images small enough are shown inline
            from it (as a ``data:`` URL loaded by an ``<img>``, never as markup).
    """
    files = []
    images = 0
    for held in report.files:
        findings = report.findings_for(held.path)
        counts = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}
        preview: dict[str, Any] = held.preview.model_dump()
        if preview["kind"] == "image":
            mime = preview.get("mime") or held.mime
            preview["src"] = None
            fits = held.size <= MAX_IMAGE_BYTES and images + held.size <= MAX_IMAGES_BYTES
            if read is not None and mime in IMAGE_MIMES and fits and held.sha256 is not None:
                data = read(held.path, MAX_IMAGE_BYTES)
                images += len(data)
                preview["src"] = f"data:{mime};base64,{base64.b64encode(data).decode()}"
        files.append(
            {
                "path": held.path,
                "size": held.size,
                "kind": held.kind,
                "releasable": held.sha256 is not None,
                "counts": counts,
                "findings": [finding_view(f) for f in findings],
                "preview": preview,
            }
        )
    general = [finding_view(f) for f in report.findings if not f.where.file]
    return {
        "uid": report.uid,
        "name": name,
        "checked_at": report.checked_at.isoformat(),
        "counts": {s: int(report.counts.get(s, 0)) for s in SEVERITIES},
        "files": files,
        "general": general,
    }


def blocked_files(report: dict[str, Any], chosen: Iterable[str]) -> list[str]:
    """The chosen files that have a ``block`` finding (a release of them is confirmed)."""
    wanted = set(chosen)
    files = report.get("files", ())
    return [f["path"] for f in files if f["path"] in wanted and f["counts"]["block"]]


def releasable(report: dict[str, Any]) -> list[str]:
    """The files of a report view that can be released (regular files that were checked)."""
    return [f["path"] for f in report.get("files", ()) if f["releasable"]]
