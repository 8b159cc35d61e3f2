"""Text for a terminal: control characters made harmless, ages, sizes, tables."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any, Literal

from syft_code_queue.models import CodeJob, utcnow

NAME_WIDTH = 36


def clean(text: str, *, multiline: bool = False) -> str:
    """``text`` safe for a terminal: control characters (escape sequences) become ``?``.

    Names, reasons and logs come from the other party; printing them raw would let them
    move the cursor or rewrite what the reader sees.
    """
    keep = "\n\t" if multiline else ""
    return "".join(
        c if c in keep or not unicodedata.category(c).startswith("C") else "?" for c in text
    )


def age(then: datetime, now: datetime | None = None) -> str:
    """A short age such as ``12s``, ``5m``, ``3h`` or ``2d``."""
    seconds = max(0, int(((now or utcnow()) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def shorten(text: str, width: int) -> str:
    text = clean(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def job_table(jobs: list[CodeJob], peer: Literal["requester", "target"]) -> str:
    """An aligned table of jobs: short uid, name, the other person, status, age."""
    now = utcnow()
    header = ("UID", "NAME", peer.upper(), "STATUS", "AGE")
    rows = [
        (
            job.short_id,
            shorten(job.name, NAME_WIDTH),
            clean(job.requester_email if peer == "requester" else job.target_email),
            job.status.value,
            age(job.created_at, now),
        )
        for job in jobs
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def dump(job: CodeJob) -> dict[str, Any]:
    return job.model_dump(mode="json")
