"""The data that crosses module and machine boundaries: pydantic models and enums."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, overload
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    field_validator,
)

from syft_code_queue.errors import InvalidEmailError, JobNotFoundError

# Conservative on purpose: an email becomes a folder name in every datasite.
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+$")
_SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")

REQUEST_FORMAT = "syft-code-queue/request/1"
UNDER_REVIEW = "ran; results under review"
STATUS_FORMAT = "syft-code-queue/status/1"


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def parse_uid(uid: str | UUID) -> str:
    """A job uid in canonical text form, from a ``str`` or a ``UUID``.

    Raises:
        JobNotFoundError: the value is not a uid at all.
    """
    try:
        return str(uid if isinstance(uid, UUID) else UUID(str(uid).strip()))
    except ValueError:
        raise JobNotFoundError(
            f"{uid!r} is not a job uid; uids look like 1b4e28ba-2fa1-11d2-883f-0016d3cca427"
        ) from None


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
    """The six states of the seed's lifecycle, and ``awaiting_release``.

    ``awaiting_release`` exists only on a queue with ``QueueConfig(release="manual")``: the
    job ran (it will end ``completed`` or ``failed`` as it ran) and its results are held
    until the owner releases or withholds them.
    """

    pending = "pending"
    approved = "approved"
    running = "running"
    completed = "completed"
    failed = "failed"
    rejected = "rejected"
    awaiting_release = "awaiting_release"

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
    sandbox_unavailable = "sandbox_unavailable"
    withheld = "withheld"
    memory_limit = "memory_limit"
    process_limit = "process_limit"
    cpu_limit = "cpu_limit"
    log_limit = "log_limit"
    provisioning_failed = "provisioning_failed"

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
        max_log_bytes: cap of each of stdout and stderr (at most 10 MB, SyftBox's file
            limit); a job writing more is killed (``log_limit``).
        max_output_bytes: cap of the total size of a job's output folder
            (``output_limit``).
        max_output_file_bytes: cap of each output file (at most 10 MB, SyftBox's file
            limit); larger files are left out and the job fails (``output_limit``).
        max_output_files: cap of the number of output files (``output_limit``).
        max_memory_bytes: cap of the memory of the job's whole process tree (a cgroup's
            ``memory.max`` / ``memory.limit_in_bytes`` where the server may create one,
            else a watchdog over the tree's resident memory); beyond it the job is killed
            (``memory_limit``). ``None`` sets none.
        max_processes: cap of the number of processes the job has at once (cgroup
            ``pids.max``, else the watchdog); beyond it the job is killed
            (``process_limit``). ``None`` sets none.
        max_cpu_seconds: CPU seconds the job's whole process tree may use (cgroup CPU
            accounting, else the watchdog; and each process, ``RLIMIT_CPU``); ``None``: the
            timeout times the number of cores (``cpu_limit``).
        poll_interval: seconds between two scans when no file watcher wakes the server.
        arrival_timeout: seconds a request may stay incomplete (files missing or not
            matching the manifest) before it is rejected as invalid.
        job_data_dir: an optional folder of the owner's data, given to jobs as ``DATA_DIR``.
        isolation: ``"required"`` (the default) never runs a job outside a sandbox (no
            network, only the job's folders, its packages and ``DATA_DIR`` visible): where
            none works here the job ends ``failed`` (``sandbox_unavailable``) with how to fix
            it; ``"auto"`` isolates when a sandbox works here and runs jobs without one
            otherwise; ``"none"`` opts out: jobs run with the server user's rights, network
            and files (shown ``NOT ENFORCED``). What a job gets is reported by
            ``CodeQueueServer.guarantees()``; ``scq doctor`` checks it.
        provision_requirements: install a job's ``requirements.txt`` (wheels only, in a
            sandbox with network and no data) into a cached environment before its
            network-less run, first on its ``PATH``; a failure ends the job
            ``provisioning_failed`` with pip's message. ``False``: jobs get the owner's
            packages only.
        provision_index_url: the package index to provision from (default: pip's, PyPI).
        provision_find_links: folders or URLs of wheels to provision from as well.
        provision_no_index: provision from ``provision_find_links`` only.
        provision_cache_max_envs: the most provisioned environments kept; beyond it (or
            beyond ``provision_cache_max_bytes`` in all) the least recently used are removed
            after a new one is built, never one a running job uses or one used in the last
            minute.
        provision_cache_max_bytes: the most bytes the provisioned environments take together.
        sandbox: which sandbox backend isolates jobs: ``"auto"`` (bubblewrap, else
            Landlock + seccomp), ``"bubblewrap"`` or ``"landlock"`` (only that one).
        max_request_json_bytes: the largest ``request.json`` read; a larger one is
            refused (too large) without being read.
        max_request_files: the most files one request may list.
        max_file_bytes: the largest file a request may list; a file on disk larger than
            declared is never read past its declared size.
        max_request_bytes: the most bytes all files of one request may add up to.
        max_requester_bytes: the most bytes one requester's jobs that are waiting, approved
            or running may hold on the owner's disk; a request over it is refused.
        max_requests_per_tick: how many requests one step of the server looks at, shared
            round-robin between requesters; the rest wait for the next step.
        release: ``"auto"`` publishes a job's outputs and logs when it ends (and a live
            tail of its logs while it runs); ``"manual"`` holds them in the owner's private
            area, the job waits in ``awaiting_release``, and only
            ``CodeQueueServer.release_results`` publishes them (see
            ``CodeQueueServer.check_results``).
    """

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    queue_name: str = "code-queue"
    max_concurrent_jobs: int = Field(default=3, ge=1, le=256)
    job_timeout: float = Field(default=600.0, gt=0)
    cleanup_completed_after: float | None = Field(default=86400.0, gt=0)
    # Logs must stay under SyftBox's 10 MB file limit to reach the data scientist.
    max_log_bytes: int = Field(default=1024 * 1024, ge=1024, le=10_000_000)
    max_output_bytes: int = Field(default=100 * 1024 * 1024, ge=0)
    max_output_file_bytes: int = Field(default=10_000_000, ge=0, le=10_000_000)
    max_output_files: int = Field(default=1000, ge=0)
    max_memory_bytes: int | None = Field(default=4 * 1024**3, ge=64 * 1024 * 1024)
    max_processes: int | None = Field(default=256, ge=8)
    max_cpu_seconds: float | None = Field(default=None, gt=0)
    poll_interval: float = Field(default=0.25, gt=0, le=60)
    arrival_timeout: float = Field(default=3600.0, gt=0)
    job_data_dir: Path | None = None
    max_request_json_bytes: int = Field(default=4 * 1024 * 1024, ge=4096)
    max_request_files: int = Field(default=10_000, ge=1, le=10_000)
    max_file_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_request_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    max_requester_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1)
    max_requests_per_tick: int = Field(default=1000, ge=1)
    release: Literal["auto", "manual"] = "auto"
    isolation: Literal["none", "auto", "required"] = "required"
    provision_requirements: bool = True
    provision_index_url: str | None = None
    provision_find_links: tuple[str, ...] = ()
    provision_no_index: bool = False
    provision_cache_max_envs: int = Field(default=20, ge=1)
    provision_cache_max_bytes: int = Field(default=10 * 1024 * 1024 * 1024, ge=1)
    sandbox: Literal["auto", "bubblewrap", "landlock"] = "auto"

    @field_validator("queue_name")
    @classmethod
    def _safe_queue_name(cls, value: str) -> str:
        if not _SAFE_NAME_RE.match(value):
            raise ValueError(
                f"queue_name {value!r} must be 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return value


# A relative POSIX path whose every segment is a plain name: not empty, not "." or "..",
# no backslash or control character. Checked by pydantic-core's regex engine (no lookaround).
_SEGMENT = (
    r"(?:[^/\\\x00-\x1f.][^/\\\x00-\x1f]*|\.[^/\\\x00-\x1f.][^/\\\x00-\x1f]*|\.\.[^/\\\x00-\x1f]+)"
)
SAFE_RELATIVE_PATH = rf"^{_SEGMENT}(?:/{_SEGMENT})*$"


class FileEntry(BaseModel):
    """One file of a code package: where it is, its sha256 and its size."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    path: str = Field(pattern=SAFE_RELATIVE_PATH, max_length=4096)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class FileList(Sequence[FileEntry]):
    """An immutable list of a job's files that parses its JSON only when first read.

    Listing ten thousand jobs should not build a hundred thousand file entries nobody
    looks at; the ledger hands out its stored JSON and this parses it on demand.
    """

    __slots__ = ("_items", "_raw")

    def __init__(self, items: Iterable[FileEntry] = (), *, raw: str | None = None) -> None:
        self._items: tuple[FileEntry, ...] | None = None if raw is not None else tuple(items)
        self._raw = raw

    def _all(self) -> tuple[FileEntry, ...]:
        if self._items is None:
            self._items = _FILE_TUPLE.validate_json(self._raw or "[]")
            self._raw = None
        return self._items

    @overload
    def __getitem__(self, index: int) -> FileEntry: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[FileEntry, ...]: ...
    def __getitem__(self, index: int | slice) -> FileEntry | tuple[FileEntry, ...]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __bool__(self) -> bool:
        if self._raw is not None:
            return self._raw.strip() not in ("", "[]")
        return bool(self._items)

    def __iter__(self) -> Iterator[FileEntry]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (FileList, tuple, list)):
            return self._all() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return f"FileList({list(self._all())!r})"

    def to_json(self) -> str:
        if self._raw is not None:
            return self._raw
        return json.dumps([f.model_dump() for f in self._all()], separators=(",", ":"))

    @classmethod
    def coerce(cls, value: object) -> FileList:
        """Accept a FileList, or any sequence of entries or dicts (validated)."""
        if isinstance(value, FileList):
            return value
        if isinstance(value, (list, tuple)):
            return cls(
                v if isinstance(v, FileEntry) else FileEntry.model_validate(v) for v in value
            )
        raise ValueError("files must be a list of {path, sha256, size} entries")


_FILE_TUPLE: TypeAdapter[tuple[FileEntry, ...]] = TypeAdapter(tuple[FileEntry, ...])

Files = Annotated[
    FileList,
    PlainValidator(FileList.coerce),
    PlainSerializer(
        lambda files: [f.model_dump() for f in files], return_type=list[dict[str, Any]]
    ),
]


class Guarantees(BaseModel):
    """What a job is held to when it runs, each with the mechanism that enforces it or
    ``NOT ENFORCED``: shown to the reviewer before approval, stored with the result."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="ignore")

    network: str
    filesystem: str
    processes: str
    memory: str
    process_count: str = "not recorded"
    cpu_and_files: str
    time: str
    logs: str = "not recorded"
    output: str
    dependencies: str = "not recorded"

    @property
    def isolated(self) -> bool:
        """Whether network and filesystem isolation were both in force."""
        return not any(g.startswith("NOT ENFORCED") for g in (self.network, self.filesystem))


class JobRequest(BaseModel):
    """The content of ``request.json``: the commit marker of a submission."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

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
    # The earlier job this one is a new version of (optional; written only when given, so
    # requests without it read the same everywhere).
    supersedes: UUID | None = None

    @field_validator("requester", "target")
    @classmethod
    def _email(cls, value: str) -> str:
        return validate_email(value)


class LiveView:
    """How a job shows itself in a live kernel: the widget ``make(uid)`` returns.

    Not part of what a job is: any two compare equal, so jobs compare by their fields.
    """

    __slots__ = ("make", "uid")

    def __init__(self, make: Callable[[UUID], Any], uid: UUID) -> None:
        self.make = make
        self.uid = uid

    def __call__(self) -> Any:
        return self.make(self.uid)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LiveView)

    def __hash__(self) -> int:
        return 0


class CodeJob(BaseModel):
    """A job as either side sees it.

    ``code_folder`` is the owner's verified snapshot on the owner's side and the submitted
    folder on the data scientist's side; ``output_folder`` is set once results exist.
    ``error_message`` carries the reason of a rejection or a failure. On a queue that
    holds results for release, ``withheld_files`` names the held files the owner did not
    release and ``release_reason`` says why. Jobs are snapshots: immutable; ask the client
    or server again for the current state.

    Versions: ``supersedes`` is the earlier job this one replaces (both sides). On the
    owner's side, ``version`` numbers the chain (1, 2, 3 ...), ``diff_base`` is the version
    :meth:`CodeQueueServer.job_diff` compares against (the last approved one before it,
    else the previous one), and an approval's private ``approval_note`` and the files the
    owner ``approved_unread`` are kept.
    """

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

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
    files: Files = FileList()
    code_folder: Path | None = None
    output_folder: Path | None = None
    guarantees: Guarantees | None = None
    supersedes: UUID | None = None
    version: int | None = None
    diff_base: UUID | None = None
    approval_note: str | None = None
    approved_unread: tuple[str, ...] = ()
    withheld_files: tuple[str, ...] = ()
    release_reason: str | None = None

    # How a job shows itself live is kept in pydantic's private slot by hand, not as a
    # PrivateAttr: a declared private attribute costs ~20 us on every job built, and the
    # owner's listings build tens of thousands that are never shown live.

    def shown_live_by(self, make: Callable[[UUID], Any]) -> CodeJob:
        """Show this job in a live kernel as the widget ``make(uid)`` makes (its status
        cell); returns the job. Copies made with ``model_copy`` keep it."""
        object.__setattr__(self, "__pydantic_private__", {"live": LiveView(make, self.uid)})
        return self

    @property
    def _live(self) -> LiveView | None:
        private = self.__pydantic_private__
        return None if private is None else private.get("live")

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def status_note(self) -> str:
        """A short sentence on where the job's results are, for people (empty if nothing
        beyond the status and its message is to be said)."""
        if self.status is JobStatus.awaiting_release:
            return UNDER_REVIEW
        if self.failure_reason is FailureReason.withheld:
            return f"results withheld: {self.error_message or ''}".rstrip(": ")
        if self.withheld_files:
            names = ", ".join(self.withheld_files)
            why = f" ({self.release_reason})" if self.release_reason else ""
            return f"withheld: {names}{why}"
        return ""

    @property
    def short_id(self) -> str:
        return str(self.uid)[:8]

    def _repr_html_(self) -> str:
        from syft_code_queue.html import jobs_table

        return jobs_table([self])

    def _repr_mimebundle_(self, **_kwargs: object) -> dict[str, Any]:
        return _live_bundle(repr(self), self._repr_html_(), self._live)


class JobList(list[CodeJob]):
    """A listing of jobs: a plain list that shows as a table in a notebook.

    In a live Jupyter kernel with the ``widgets`` extra installed it shows as the live widget
    made by ``live`` (the owner's review table, the data scientist's status cell); elsewhere
    as a static, escaped HTML table.
    """

    def __init__(self, jobs: Iterable[CodeJob] = (), live: Callable[[], Any] | None = None) -> None:
        super().__init__(jobs)
        self.live = live

    def _repr_html_(self) -> str:
        from syft_code_queue.html import jobs_table

        return jobs_table(self)

    def _repr_mimebundle_(self, **_kwargs: object) -> dict[str, Any]:
        return _live_bundle(repr(list(self)), self._repr_html_(), self.live)


def _live_bundle(plain: str, html: str, live: Callable[[], Any] | None) -> dict[str, Any]:
    """Static text and HTML, plus the live widget's view when a Jupyter kernel shows it."""
    bundle: dict[str, Any] = {"text/plain": plain, "text/html": html}
    if live is not None and _in_live_kernel():
        shown = live()._repr_mimebundle_()
        data = shown[0] if isinstance(shown, tuple) else shown  # (data, metadata) or data
        bundle.update(data or {})
    return bundle


def _in_live_kernel() -> bool:
    """Whether this runs in a Jupyter kernel that can show widgets (anywidget installed)."""
    import importlib.util
    import sys

    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return getattr(shell, "kernel", None) is not None and (
        importlib.util.find_spec("anywidget") is not None
    )


class PublishedStatus(BaseModel):
    """The content of ``status.json`` in the owner's job folder: a projection of the ledger.

    It informs the data scientist; the owner's server never reads it back to decide anything.
    """

    model_config = ConfigDict(defer_build=True, extra="ignore")

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
    output_files: Files = FileList()
    log_files: Files = FileList()
    guarantees: Guarantees | None = None
    # Set once the owner's cleanup removed this job's logs and outputs: nothing more to wait for.
    results_removed_at: AwareDatetime | None = None
    withheld_files: tuple[str, ...] = ()
    release_reason: str | None = None


class CancelRequest(BaseModel):
    """The content of a cancellation marker written by the data scientist."""

    model_config = ConfigDict(defer_build=True, extra="ignore")

    uid: UUID
    requested_at: AwareDatetime
