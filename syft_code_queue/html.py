"""Static HTML for notebooks without live widgets: one small, escaping template function.

Templates live in ``js/templates/``; every value is escaped unless it is :class:`Html` made
by :func:`render` itself, so names, reasons and file names are always text, never markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from string import Template
from typing import TYPE_CHECKING

from syft_code_queue.assets import asset

if TYPE_CHECKING:
    from syft_code_queue.models import CodeJob


class Html(str):
    """Markup produced by :func:`render`; the only kind of value inserted unescaped."""

    __slots__ = ()


def render(template: str, **values: object) -> Html:
    """Fill ``js/templates/<template>`` with ``values``, escaping all but :class:`Html`."""
    safe = {
        key: value if isinstance(value, Html) else html.escape(_text(value), quote=True)
        for key, value in values.items()
    }
    return Html(_template(template).substitute(safe).strip())


@cache
def _template(name: str) -> Template:
    return Template(asset(f"templates/{name}").read_text(encoding="utf-8"))


def join(parts: Iterable[Html]) -> Html:
    return Html("".join(parts))


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def job_row(job: CodeJob) -> Html:
    return render(
        "job_row.html",
        status=job.status.value,
        short_id=job.short_id,
        uid=job.uid,
        name=job.name,
        requester=job.requester_email,
        target=job.target_email,
        created=job.created_at,
        tags=", ".join(job.tags),
        message=job.status_note or job.error_message or job.decision_reason or "",
    )


def jobs_table(jobs: Iterable[CodeJob]) -> Html:
    rows = [job_row(job) for job in jobs]
    return render("jobs_table.html", count=len(rows), rows=join(rows))
