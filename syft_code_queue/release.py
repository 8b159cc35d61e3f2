"""Results held for the owner's release (``QueueConfig(release="manual")``).

When a job on such a queue ends, its outputs and logs are kept here, in the owner's private
area, and the job waits in ``awaiting_release``; nothing but its status is published. The
owner checks them (:mod:`syft_code_queue.airlock`), then releases some or all of them, or
withholds them all. Per job, never synced::

    <private>/results/<uid>/held/        output/..., stdout.txt, stderr.txt as the job left them
    <private>/results/<uid>/hold.json    the DATA_DIR the job was given
    <private>/results/<uid>/report.json  the last check: every file's sha256 and the findings
    <private>/results/<uid>/released/    the exact bytes released, re-hashed against the check

A release copies each chosen file from ``held/`` to ``released/`` and compares its sha256
with the one the last check recorded; any difference refuses the release. Only then does
the ledger commit the decision (with every released file's sha256 in the audit chain), and
the publisher copies ``released/`` into the requester's job folder, verifying each hash
again. So the requester receives byte for byte what was checked.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from syft_code_queue import safewalk, store
from syft_code_queue.errors import (
    HeldFileNotFoundError,
    InvalidTransitionError,
    ResultsChangedError,
    ResultsNotCheckedError,
    ResultsNotHeldError,
)
from syft_code_queue.fsio import (
    atomic_write_bytes,
    copy_hashed,
    new_temp_dir,
    publish_dir,
    remove_tree,
    sha256_file,
    walk_files,
)
from syft_code_queue.ledger import JobRecord, Ledger
from syft_code_queue.models import (
    SAFE_RELATIVE_PATH,
    FailureReason,
    FileEntry,
    FileList,
    JobStatus,
)

if TYPE_CHECKING:
    from syft_code_queue.airlock import Check, CheckConfig, ResultsReport

log = logging.getLogger("syft_code_queue.release")

HELD = "held"
RELEASED = "released"
HOLD_FILE = "hold.json"
REPORT_FILE = "report.json"
DECISION_LOCK = "decision.lock"
LOG_NAMES = (store.STDOUT_FILE, store.STDERR_FILE)
_SAFE_PATH = re.compile(SAFE_RELATIVE_PATH)


class ResultsGate:
    """The held results of one owner's queue, and the owner's decisions on them.

    Args:
        private_dir: the queue's private runtime folder.
        ledger: the owner's ledger (every decision is a transition in it).
        owner: the owner's email, the actor of each decision.
    """

    def __init__(self, private_dir: Path, ledger: Ledger, owner: str) -> None:
        self.root = private_dir / "results"
        self.cache_dir = private_dir / "airlock-cache"
        self.ledger = ledger
        self.owner = owner

    def folder(self, uid: str) -> Path:
        return self.root / uid

    def held_dir(self, uid: str) -> Path:
        """Where a job's results are held: ``output/``, ``stdout.txt``, ``stderr.txt``."""
        return self.root / uid / HELD

    # Holding (the supervisor, when a job ends)

    def prepare(self, uid: str) -> Path:
        """An empty folder to hold a job's results in; returns where its outputs go."""
        remove_tree(self.folder(uid))
        self.held_dir(uid).mkdir(parents=True)
        return self.held_dir(uid) / store.OUTPUT_DIR

    def hold(self, uid: str, stdout: bytes, stderr: bytes, data_dir: Path | None) -> dict[str, str]:
        """Keep a job's logs beside its outputs (already collected by the runner) and what
        it was given; return every held file's sha256 (for the audit chain)."""
        held = self.held_dir(uid)
        for name, data in zip(LOG_NAMES, (stdout, stderr), strict=True):
            atomic_write_bytes(held / name, data)
        hold = {"data_dir": None if data_dir is None else str(data_dir)}
        atomic_write_bytes(self.folder(uid) / HOLD_FILE, json.dumps(hold).encode())
        return {rel: digest for rel, digest, _ in _hash_tree(held)}

    # Reading and checking (the owner)

    def require(self, record: JobRecord) -> Path:
        """The held folder of a job.

        Raises:
            ResultsNotHeldError: the job holds no results.
        """
        held = self.held_dir(record.uid)
        if not held.is_dir():
            raise ResultsNotHeldError(
                f"job {record.uid} holds no results for release (it is {record.status.value}); "
                "only jobs that ran on a queue with QueueConfig(release='manual') hold them, "
                "until they are cleaned up"
            )
        return held

    def data_dir(self, uid: str, default: Path | None) -> Path | None:
        """The ``DATA_DIR`` the job was given when it ran (``default`` if not recorded)."""
        try:
            recorded = json.loads((self.folder(uid) / HOLD_FILE).read_text())["data_dir"]
        except (OSError, ValueError, KeyError, TypeError):
            return default
        return None if recorded is None else Path(recorded)

    def check(
        self,
        record: JobRecord,
        *,
        data_dir: Path | None,
        config: CheckConfig | None,
        checks: Sequence[Check] | None,
        now: datetime,
    ) -> ResultsReport:
        """Run the output checks over a job's held files and keep the report for release."""
        from syft_code_queue.airlock import check_results

        held = self.require(record)
        report = check_results(
            held,
            self.data_dir(record.uid, data_dir),
            config,
            checks,
            uid=record.uid,
            cache_dir=self.cache_dir,
            now=now,
        )
        atomic_write_bytes(self.folder(record.uid) / REPORT_FILE, report.model_dump_json().encode())
        return report

    def last_report(self, record: JobRecord) -> ResultsReport | None:
        """The report of the job's last check, or ``None`` if it was never checked."""
        from syft_code_queue.airlock import ResultsReport

        try:
            return ResultsReport.model_validate_json(
                (self.folder(record.uid) / REPORT_FILE).read_bytes()
            )
        except (FileNotFoundError, ValueError):  # never checked, or a torn report: check again
            return None

    def read(self, record: JobRecord, path: str, limit: int | None) -> bytes:
        """The bytes of one held file (at most ``limit``), read without following a link.

        Raises:
            ResultsNotHeldError: the job holds no results.
            HeldFileNotFoundError: no such held file, or not a regular file.
        """
        held = self.require(record)
        if not isinstance(path, str) or not _SAFE_PATH.match(path):
            raise HeldFileNotFoundError(
                f"{path!r} is not a held file's path; use a path check_results lists, "
                "such as 'output/summary.csv' or 'stdout.txt'"
            )
        *folders, name = path.split("/")
        try:
            with safewalk.opened(safewalk.open_path(held, folders)) as folder:
                fd, st = safewalk.open_file(folder, name)
        except OSError as exc:
            raise HeldFileNotFoundError(
                f"job {record.uid} holds no regular file {path!r} ({exc.strerror or exc}); "
                "check_results lists the held files"
            ) from None
        with safewalk.opened(fd):
            wanted = st.st_size if limit is None else min(limit, st.st_size)
            return _read_up_to(fd, max(0, wanted))

    # Deciding (the owner)

    def release(
        self,
        record: JobRecord,
        files: Sequence[str] | None,
        reason: str | None,
        now: datetime,
    ) -> JobRecord:
        """Publish ``files`` (default: every checked file) and end the job as it ran.

        Raises:
            InvalidTransitionError: the job is not awaiting release.
            ResultsNotCheckedError: the results were never checked.
            ResultsChangedError: a file to release differs from what was checked.
            HeldFileNotFoundError: a named file is not among the checked ones.
        """
        with self._deciding(record.uid):
            return self._release(self.ledger.get(record.uid), files, reason, now)

    def _release(
        self, record: JobRecord, files: Sequence[str] | None, reason: str | None, now: datetime
    ) -> JobRecord:
        _require_awaiting(record, "released")
        self.require(record)
        report = self.last_report(record)
        if report is None:
            raise ResultsNotCheckedError(
                f"the results of job {record.uid} were never checked; run "
                f"check_results('{record.uid}') (scq results {record.uid}), read the report, "
                "then release"
            )
        chosen = _choose(report, files)
        entries = self._stage(record.uid, chosen, report.sha256)
        withheld = tuple(f.path for f in report.files if f.path not in entries)
        outputs = [e for path, e in entries.items() if path not in LOG_NAMES]
        logs = [e for path, e in entries.items() if path in LOG_NAMES]
        status = JobStatus.failed if record.failure_reason is not None else JobStatus.completed
        return self.ledger.transition(
            record.uid,
            status,
            actor=self.owner,
            at=now,
            detail=reason,
            expect=JobStatus.awaiting_release,
            audit_details={
                "decision": "release",
                "released": {path: e.sha256 for path, e in entries.items()},
                "withheld": list(withheld),
                "checked_at": report.checked_at.isoformat(),
                "findings": dict(report.counts),
            },
            output_files=FileList(outputs),
            log_files=FileList(logs),
            withheld_files=withheld,
            release_reason=reason,
        )

    def withhold(self, record: JobRecord, reason: str, now: datetime) -> JobRecord:
        """Publish nothing; end the job ``failed`` (withheld) with the reason.

        Raises:
            InvalidTransitionError: the job is not awaiting release.
        """
        with self._deciding(record.uid):
            record = self.ledger.get(record.uid)
            _require_awaiting(record, "withheld")
            held = self.require(record)
            remove_tree(self.folder(record.uid) / RELEASED)
            everything = tuple(rel for rel, _, _ in _hash_tree(held))
            return self._withhold(record, reason, everything, now)

    def _withhold(
        self, record: JobRecord, reason: str, everything: tuple[str, ...], now: datetime
    ) -> JobRecord:
        return self.ledger.transition(
            record.uid,
            JobStatus.failed,
            actor=self.owner,
            at=now,
            detail=reason,
            expect=JobStatus.awaiting_release,
            audit_details={"decision": "withhold", "released": {}, "withheld": list(everything)},
            failure_reason=FailureReason.withheld,
            error_message=reason,
            output_files=FileList(),
            log_files=FileList(),
            withheld_files=everything,
            release_reason=reason,
        )

    @contextmanager
    def _deciding(self, uid: str) -> Iterator[None]:
        """One decision at a time per job, across processes: a second release waits, then
        finds the job decided, and never replaces the files the first one staged."""
        self.folder(uid).mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder(uid) / DECISION_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _stage(self, uid: str, chosen: list[str], checked: dict[str, str]) -> dict[str, FileEntry]:
        """Copy the chosen held files to ``released/``, each compared with its checked hash."""
        held = self.held_dir(uid)
        staged = self.folder(uid) / RELEASED
        remove_tree(staged)
        staged.mkdir(parents=True)
        entries: dict[str, FileEntry] = {}
        changed: list[str] = []
        try:
            for path in chosen:
                try:
                    digest, size = copy_hashed(held / path, staged / path)
                except OSError:
                    digest, size = "", 0
                if digest != checked[path]:
                    changed.append(path)
                    continue
                name = path.removeprefix(f"{store.OUTPUT_DIR}/")
                entries[path] = FileEntry(path=name, sha256=digest, size=size)
        except BaseException:
            remove_tree(staged)
            raise
        if changed:
            remove_tree(staged)
            raise ResultsChangedError(
                f"{', '.join(changed)} changed (or vanished) after check_results; nothing was "
                f"released. Run check_results('{uid}') again, read the new report, then release"
            )
        return entries

    # Publishing (the publisher, after the ledger committed a release)

    def publish_released(self, record: JobRecord, job_dir: Path) -> None:
        """Copy a released job's files into its published folder, each verified against the
        sha256 the ledger recorded; nothing for a job that released nothing.

        Raises:
            ResultsChangedError: a staged copy no longer matches (the publisher retries).
        """
        if not record.status.is_terminal or not (record.output_files or record.log_files):
            return
        staged = self.folder(record.uid) / RELEASED
        if not staged.is_dir():
            return  # cleaned up; what was published stays as it was
        wanted = [(f"{store.OUTPUT_DIR}/{e.path}", e) for e in record.output_files]
        wanted += [(e.path, e) for e in record.log_files]
        if _published(job_dir, wanted):
            return
        tmp = new_temp_dir(job_dir, "release")
        try:
            for path, entry in wanted:
                digest, _ = copy_hashed(staged / path, tmp / path)
                if digest != entry.sha256:
                    raise ResultsChangedError(
                        f"the released copy of {path} of job {record.uid} changed; not published"
                    )
            for name in LOG_NAMES:
                if (tmp / name).is_file():
                    (tmp / name).replace(job_dir / name)
            if (tmp / store.OUTPUT_DIR).is_dir():
                remove_tree(job_dir / store.OUTPUT_DIR)
                publish_dir(tmp / store.OUTPUT_DIR, job_dir / store.OUTPUT_DIR, durable=False)
        finally:
            remove_tree(tmp)

    def remove(self, uid: str) -> None:
        """Forget a job's held results (cleanup)."""
        remove_tree(self.folder(uid))


def _require_awaiting(record: JobRecord, verb: str) -> None:
    if record.status is not JobStatus.awaiting_release:
        raise InvalidTransitionError(
            f"job {record.uid} is {record.status.value}, not awaiting_release; only jobs "
            f"awaiting release can have their results {verb}"
        )


def _choose(report: ResultsReport, files: Sequence[str] | None) -> list[str]:
    """The checked regular files to release, in the report's order."""
    releasable = [f.path for f in report.files if f.sha256 is not None]
    if files is None:
        return releasable
    if isinstance(files, str):
        files = [files]
    unknown = [path for path in files if path not in releasable]
    if unknown:
        raise HeldFileNotFoundError(
            f"cannot release {', '.join(repr(p) for p in unknown)}: not a checked regular "
            f"file of job {report.uid}; the releasable files are: "
            f"{', '.join(releasable) or 'none'}"
        )
    wanted = set(files)
    return [path for path in releasable if path in wanted]


def _hash_tree(root: Path) -> list[tuple[str, str, int]]:
    """(path, sha256, size) of every regular file below ``root``, sorted by path."""
    out = []
    for rel, entry in walk_files(root):
        if entry.is_file(follow_symlinks=False):
            digest, size = sha256_file(Path(entry.path))
            out.append((rel, digest, size))
    return sorted(out)


def _published(job_dir: Path, wanted: list[tuple[str, FileEntry]]) -> bool:
    """Whether every released file is already in the published folder, whole."""
    for path, entry in wanted:
        try:
            if sha256_file(job_dir / path) != (entry.sha256, entry.size):
                return False
        except OSError:
            return False
    return True


def _read_up_to(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
