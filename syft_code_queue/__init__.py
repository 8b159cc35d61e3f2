"""syft-code-queue: run a data scientist's code on a data owner's datasite after manual approval.

Importing this package touches no file; the SyftBox folder and identity are looked up only
when a client or server is created.
"""

from __future__ import annotations

from syft_code_queue.client import CodeQueueClient, create_client, submit_code
from syft_code_queue.diffs import FileDiff, JobDiff
from syft_code_queue.errors import (
    AuditVerificationError,
    CodeFolderError,
    CodeQueueError,
    InvalidEmailError,
    InvalidRequestError,
    InvalidTransitionError,
    JobNotFoundError,
    ServerAlreadyRunningError,
    UntransferableFileWarning,
    WidgetsNotInstalledError,
    WorkspaceError,
)
from syft_code_queue.hints import HintKind, ReviewHint, ReviewHints
from syft_code_queue.models import (
    CodeJob,
    FailureReason,
    FileEntry,
    Guarantees,
    JobStatus,
    QueueConfig,
)
from syft_code_queue.review import FileReview, ReviewStatus
from syft_code_queue.runner import SafeCodeRunner
from syft_code_queue.server import CodeQueueServer, TickReport, create_server
from syft_code_queue.views import ReviewPage
from syft_code_queue.workspace import Workspace, resolve_workspace

__version__ = "0.2.0"

__all__ = [
    "AuditVerificationError",
    "CodeFolderError",
    "CodeJob",
    "CodeQueueClient",
    "CodeQueueError",
    "CodeQueueServer",
    "FailureReason",
    "FileDiff",
    "FileEntry",
    "FileReview",
    "Guarantees",
    "HintKind",
    "InvalidEmailError",
    "InvalidRequestError",
    "InvalidTransitionError",
    "JobDiff",
    "JobNotFoundError",
    "JobStatus",
    "QueueConfig",
    "ReviewHint",
    "ReviewHints",
    "ReviewPage",
    "ReviewStatus",
    "SafeCodeRunner",
    "ServerAlreadyRunningError",
    "TickReport",
    "UntransferableFileWarning",
    "WidgetsNotInstalledError",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "create_client",
    "create_server",
    "resolve_workspace",
    "submit_code",
]
