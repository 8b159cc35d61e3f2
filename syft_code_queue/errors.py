"""Typed errors a user can hit; each message says what to do about it."""

from __future__ import annotations


class CodeQueueError(Exception):
    """Base class of every error raised on purpose by syft-code-queue."""


class WorkspaceError(CodeQueueError):
    """The SyftBox folder or the user's identity could not be found."""


class InvalidEmailError(CodeQueueError, ValueError):
    """A string that should be an email address is not one."""


class CodeFolderError(CodeQueueError):
    """A code folder cannot be submitted as it is."""


class JobNotFoundError(CodeQueueError, LookupError):
    """No job with this uid is known here."""


class InvalidTransitionError(CodeQueueError):
    """A job cannot move from its current status to the requested one."""


class InvalidRequestError(CodeQueueError):
    """A submitted request is malformed, forged or does not match its files."""


class ServerAlreadyRunningError(CodeQueueError):
    """Another server already runs the queue of this datasite."""


class AuditVerificationError(CodeQueueError):
    """The audit log was edited, reordered or truncated."""


class WidgetsNotInstalledError(CodeQueueError, ImportError):
    """The notebook widgets need the ``widgets`` extra, which is not installed."""


class UntransferableFileWarning(UserWarning):
    """A file in a code folder will not travel over SyftBox sync and was left out."""


class ResultsNotHeldError(CodeQueueError, LookupError):
    """A job holds no results for release (it did not run on a queue with
    ``release="manual"``, or its held results were cleaned up)."""


class ResultsNotCheckedError(CodeQueueError):
    """Results cannot be released before they were checked with ``check_results``."""


class ResultsChangedError(CodeQueueError):
    """A held file changed after it was checked; what was checked is all that may leave."""


class HeldFileNotFoundError(CodeQueueError, FileNotFoundError):
    """A job holds no such file for release (or it is not a regular file)."""
