"""Landlock + seccomp confinement of a job, for machines that refuse user namespaces."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syft_code_queue.sandbox import Backend


def unavailable_reason() -> str | None:
    """Why this backend cannot be used here, ``None`` if it can."""
    return "the Landlock backend is not available in this version"


def backend() -> Backend | None:
    return None
