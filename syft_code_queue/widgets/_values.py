"""Plain JSON values for the front end."""

from __future__ import annotations

from datetime import datetime


def iso(value: datetime | None) -> str | None:
    """An ISO 8601 time with its offset (the browser shows it in local time), or ``None``."""
    return None if value is None else value.isoformat()
