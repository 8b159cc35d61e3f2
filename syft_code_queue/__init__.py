"""syft-code-queue: run a data scientist's code on a data owner's datasite after manual approval.

Importing this package touches no file and loads almost nothing: each public name is imported
from its module the first time it is used (PEP 562), so ``import syft_code_queue`` stays cheap
and the SyftBox folder and identity are looked up only when a client or server is created.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# Each public name, and the module (under syft_code_queue) that defines it.
_EXPORTS: dict[str, str] = {
    "AuditVerificationError": "errors",
    "CodeFolderError": "errors",
    "CodeJob": "models",
    "CodeQueueClient": "client",
    "CodeQueueError": "errors",
    "CodeQueueServer": "server",
    "FailureReason": "models",
    "FileDiff": "diffs",
    "FileEntry": "models",
    "FileReview": "review",
    "Guarantees": "models",
    "HeldFileNotFoundError": "errors",
    "HintKind": "hints",
    "InvalidEmailError": "errors",
    "InvalidRequestError": "errors",
    "InvalidTransitionError": "errors",
    "JobDiff": "diffs",
    "JobNotFoundError": "errors",
    "JobStatus": "models",
    "QueueConfig": "models",
    "ResultsChangedError": "errors",
    "ResultsNotCheckedError": "errors",
    "ResultsNotHeldError": "errors",
    "ReviewHint": "hints",
    "ReviewHints": "hints",
    "ReviewPage": "views",
    "ReviewStatus": "review",
    "SafeCodeRunner": "runner",
    "ServerAlreadyRunningError": "errors",
    "TickReport": "server",
    "UntransferableFileWarning": "errors",
    "WidgetsNotInstalledError": "errors",
    "Workspace": "workspace",
    "WorkspaceError": "errors",
    "create_client": "client",
    "create_server": "server",
    "resolve_workspace": "workspace",
    "submit_code": "client",
}

__all__ = [*_EXPORTS, "__version__"]  # noqa: PLE0604 - the keys of _EXPORTS are strings


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'syft_code_queue' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"syft_code_queue.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ imports these
    from syft_code_queue.client import CodeQueueClient as CodeQueueClient
    from syft_code_queue.client import create_client as create_client
    from syft_code_queue.client import submit_code as submit_code
    from syft_code_queue.diffs import FileDiff as FileDiff
    from syft_code_queue.diffs import JobDiff as JobDiff
    from syft_code_queue.errors import AuditVerificationError as AuditVerificationError
    from syft_code_queue.errors import CodeFolderError as CodeFolderError
    from syft_code_queue.errors import CodeQueueError as CodeQueueError
    from syft_code_queue.errors import HeldFileNotFoundError as HeldFileNotFoundError
    from syft_code_queue.errors import InvalidEmailError as InvalidEmailError
    from syft_code_queue.errors import InvalidRequestError as InvalidRequestError
    from syft_code_queue.errors import InvalidTransitionError as InvalidTransitionError
    from syft_code_queue.errors import JobNotFoundError as JobNotFoundError
    from syft_code_queue.errors import ResultsChangedError as ResultsChangedError
    from syft_code_queue.errors import ResultsNotCheckedError as ResultsNotCheckedError
    from syft_code_queue.errors import ResultsNotHeldError as ResultsNotHeldError
    from syft_code_queue.errors import ServerAlreadyRunningError as ServerAlreadyRunningError
    from syft_code_queue.errors import UntransferableFileWarning as UntransferableFileWarning
    from syft_code_queue.errors import WidgetsNotInstalledError as WidgetsNotInstalledError
    from syft_code_queue.errors import WorkspaceError as WorkspaceError
    from syft_code_queue.hints import HintKind as HintKind
    from syft_code_queue.hints import ReviewHint as ReviewHint
    from syft_code_queue.hints import ReviewHints as ReviewHints
    from syft_code_queue.models import CodeJob as CodeJob
    from syft_code_queue.models import FailureReason as FailureReason
    from syft_code_queue.models import FileEntry as FileEntry
    from syft_code_queue.models import Guarantees as Guarantees
    from syft_code_queue.models import JobStatus as JobStatus
    from syft_code_queue.models import QueueConfig as QueueConfig
    from syft_code_queue.review import FileReview as FileReview
    from syft_code_queue.review import ReviewStatus as ReviewStatus
    from syft_code_queue.runner import SafeCodeRunner as SafeCodeRunner
    from syft_code_queue.server import CodeQueueServer as CodeQueueServer
    from syft_code_queue.server import TickReport as TickReport
    from syft_code_queue.server import create_server as create_server
    from syft_code_queue.views import ReviewPage as ReviewPage
    from syft_code_queue.workspace import Workspace as Workspace
    from syft_code_queue.workspace import resolve_workspace as resolve_workspace
