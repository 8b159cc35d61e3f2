"""Errors of the output checks; each message says what to do."""

from __future__ import annotations

from syft_code_queue.errors import CodeQueueError


class AirlockNotInstalledError(CodeQueueError, ImportError):
    """The output checks need the ``airlock`` extra (polars), which is not installed."""


class ResultsFolderError(CodeQueueError):
    """The folder of held results cannot be checked (missing, or not a folder)."""
