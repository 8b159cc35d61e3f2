"""The data that crosses module and machine boundaries: pydantic models and enums."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from syft_code_queue.errors import InvalidEmailError

# Conservative on purpose: an email becomes a folder name in every datasite.
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+$")
_SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")

REQUEST_FORMAT = "syft-code-queue/request/1"
STATUS_FORMAT = "syft-code-queue/status/1"


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def validate_email(value: str) -> str:
    """Return ``value`` lower-cased if it is a plain email address, else raise.

    Raises:
        InvalidEmailError: the value cannot be an email address (and so a datasite name).
    """
    if not isinstance(value, str) or not _EMAIL_RE.match(value) or ".." in value:
        raise InvalidEmailError(
            f"{value!r} is not a valid email address; use the SyftBox email of the person, "
            "e.g. 'owner@university.edu'"
        )
    return value.lower()


class JobStatus(str, Enum):
    """The six states of a job, exactly as in the seed's lifecycle."""

    pending = "pending"
    approved = "approved"
    running = "running"
    completed = "completed"
    failed = "failed"
    rejected = "rejected"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.completed, JobStatus.failed, JobStatus.rejected)

    def __str__(self) -> str:
        return self.value


class FailureReason(str, Enum):
    """Why a job ended in ``failed`` (or an invalid request in ``rejected``)."""

    exit_code = "exit_code"
    timeout = "timeout"
    output_limit = "output_limit"
    interrupted = "interrupted"
    hash_mismatch = "hash_mismatch"
    cancelled = "cancelled"
    invalid_request = "invalid_request"
    internal_error = "internal_error"

    def __str__(self) -> str:
        return self.value


class QueueConfig(BaseModel):
    """How a queue behaves. Every field takes effect.

    Args:
        queue_name: the folder name under ``app_data/`` of both datasites.
        max_concurrent_jobs: how many approved jobs run at once.
        job_timeout: wall-clock seconds before a job's whole process tree is killed.
        cleanup_completed_after: seconds after which finished jobs leave the views and
            their files are removed; ``None`` keeps them forever.
        max_log_bytes: cap of each of stdout and stderr; a job writing more is killed.
        max_output_bytes: cap of the total size of a job's output folder.
        poll_interval: seconds between two scans when no file watcher wakes the server.
        arrival_timeout: seconds a request may stay incomplete (files missing or not
            matching the manifest) before it is rejected as invalid.
        job_data_dir: an optional folder of the owner's data, given to jobs as ``DATA_DIR``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    queue_name: str = "code-queue"
    max_concurrent_jobs: int = Field(default=3, ge=1, le=256)
    job_timeout: float = Field(default=600.0, gt=0)
    cleanup_completed_after: float | None = Field(default=86400.0, gt=0)
    max_log_bytes: int = Field(default=1_000_000, ge=1024)
    max_output_bytes: int = Field(default=100_000_000, ge=0)
    poll_interval: float = Field(default=0.25, gt=0, le=60)
    arrival_timeout: float = Field(default=3600.0, gt=0)
    job_data_dir: Path | None = None

    @field_validator("queue_name")
    @classmethod
    def _safe_queue_name(cls, value: str) -> str:
        if not _SAFE_NAME_RE.match(value):
            raise ValueError(
                f"queue_name {value!r} must be 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return value


def check_relative_path(value: str) -> str:
    """Accept only a plain relative POSIX path that stays inside its folder."""
    if not value or "\\" in value or "\x00" in value or value.startswith("/"):
        raise ValueError(f"unsafe path {value!r}")
    parts = PurePosixPath(value).parts
    if any(part in ("", ".", "..") for part in parts) or "/".join(parts) != value:
        raise ValueError(f"unsafe path {value!r}")
    return value


class FileEntry(BaseModel):
    """One file of a code package: where it is, its sha256 and its size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        return check_relative_path(value)


class JobRequest(BaseModel):
    """The content of ``request.json``: the commit marker of a submission."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["syft-code-queue/request/1"] = "syft-code-queue/request/1"
    uid: UUID
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    tags: tuple[str, ...] = Field(default=(), max_length=50)
    requester: str
    target: str
    created_at: AwareDatetime
    files: tuple[FileEntry, ...] = Field(min_length=1, max_length=10_000)
    code_hash: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("requester", "target")
    @classmethod
    def _email(cls, value: str) -> str:
        return validate_email(value)


class CodeJob(BaseModel):
    """A job as either side sees it.

    ``code_folder`` is the owner's verified snapshot on the owner's side and the submitted
    folder on the data scientist's side; ``output_folder`` is set once results exist.
    ``error_message`` carries the reason of a rejection or a failure.
    """

    model_config = ConfigDict(extra="forbid")

    uid: UUID
    name: str
    description: str = ""
    tags: tuple[str, ...] = ()
    requester_email: str
    target_email: str
    status: JobStatus
    created_at: AwareDatetime
    updated_at: AwareDatetime
    received_at: AwareDatetime | None = None
    decided_at: AwareDatetime | None = None
    started_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None
    reviewer: str | None = None
    decision_reason: str | None = None
    error_message: str | None = None
    failure_reason: FailureReason | None = None
    exit_code: int | None = None
    code_hash: str
    files: tuple[FileEntry, ...] = ()
    code_folder: Path | None = None
    output_folder: Path | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def short_id(self) -> str:
        return str(self.uid)[:8]


class PublishedStatus(BaseModel):
    """The content of ``status.json`` in the owner's job folder: a projection of the ledger.

    It informs the data scientist; the owner's server never reads it back to decide anything.
    """

    model_config = ConfigDict(extra="ignore")

    format: Literal["syft-code-queue/status/1"] = "syft-code-queue/status/1"
    uid: UUID
    status: JobStatus
    updated_at: AwareDatetime
    received_at: AwareDatetime | None = None
    decided_at: AwareDatetime | None = None
    started_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None
    decision_reason: str | None = None
    error_message: str | None = None
    failure_reason: FailureReason | None = None
    exit_code: int | None = None
    code_hash: str
    output_files: tuple[FileEntry, ...] = ()


class CancelRequest(BaseModel):
    """The content of a cancellation marker written by the data scientist."""

    model_config = ConfigDict(extra="ignore")

    uid: UUID
    requested_at: AwareDatetime
