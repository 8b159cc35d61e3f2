"""The ``scq`` command: submit, review, run and inspect jobs from a shell.

Human output is an aligned table or a few short lines; ``--json`` prints one JSON document
on stdout for automation. Errors print ``error: <message>`` on stderr, never a traceback,
and the exit code says what happened (``EXIT_*`` below, shown by ``scq --help``).
"""

from __future__ import annotations

from syft_code_queue.cli import jobs, owner, results  # noqa: F401  (registers the commands)
from syft_code_queue.cli.app import (
    EXIT_AUDIT_FAILED,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    main,
)

__all__ = ["EXIT_AUDIT_FAILED", "EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "main"]
