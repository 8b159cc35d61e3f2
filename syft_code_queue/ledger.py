"""The data owner's private, authoritative record of every job: SQLite in the private runtime.

Only this ledger decides what runs. It lives outside ``datasites/`` so it is never synced;
SQLite gives one atomic, cross-process step for every status change (the claim of a job
included) and fast listings. Every change goes through :meth:`Ledger.transition`, which
checks the lifecycle table, records an event, appends to the audit log and marks the job
as not yet published, all in one transaction. Only after the commit is the publish hook
called (see :mod:`syft_code_queue.publisher`): what the requester sees never shows a state
the ledger rolled back, and a job whose publishing failed stays marked until it succeeds.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from syft_code_queue import audit
from syft_code_queue.errors import InvalidTransitionError, JobNotFoundError
from syft_code_queue.lifecycle import check_transition
from syft_code_queue.models import FailureReason, FileList, Guarantees, JobStatus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    uid TEXT PRIMARY KEY,
    requester TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    files TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    reviewer TEXT,
    decided_at TEXT,
    decision_reason TEXT,
    approved_hash TEXT,
    started_at TEXT,
    completed_at TEXT,
    exit_code INTEGER,
    failure_reason TEXT,
    error_message TEXT,
    run_id TEXT,
    run_pid INTEGER,
    run_pid_started REAL,
    output_files TEXT NOT NULL DEFAULT '[]',
    log_files TEXT NOT NULL DEFAULT '[]',
    cleaned_at TEXT,
    guarantees TEXT,
    withheld_files TEXT NOT NULL DEFAULT '[]',
    release_reason TEXT
);
-- Covering indexes: listings read only these columns, already in listing order. The
-- queue is ordered by the owner's received_at; the requester's own created_at only orders
-- jobs received in the same step.
DROP INDEX IF EXISTS jobs_listing;
DROP INDEX IF EXISTS jobs_by_time;
CREATE INDEX IF NOT EXISTS jobs_queue
    ON jobs (status, received_at, created_at, uid, updated_at, cleaned_at);
CREATE INDEX IF NOT EXISTS jobs_by_receipt
    ON jobs (received_at, created_at, uid, updated_at, cleaned_at);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL,
    at TEXT NOT NULL,
    status TEXT NOT NULL,
    actor TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS events_by_uid ON events (uid, id);
CREATE TABLE IF NOT EXISTS arrivals (
    requester TEXT NOT NULL,
    uid TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    problem TEXT,
    PRIMARY KEY (requester, uid)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Jobs changed since they were last published; seq grows with every change, so a
-- publisher clears only the mark of the version it wrote.
CREATE TABLE IF NOT EXISTS unpublished (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL UNIQUE
);
"""

log = logging.getLogger("syft_code_queue.ledger")


_NO_FILES = FileList()


@dataclass(frozen=True)
class JobRecord:
    """One row of the ledger."""

    uid: str
    requester: str
    name: str
    description: str
    tags: tuple[str, ...]
    created_at: datetime
    received_at: datetime
    code_hash: str
    files: FileList
    status: JobStatus
    updated_at: datetime
    reviewer: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    approved_hash: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    exit_code: int | None = None
    failure_reason: FailureReason | None = None
    error_message: str | None = None
    run_id: str | None = None
    run_pid: int | None = None
    run_pid_started: float | None = None
    output_files: FileList = _NO_FILES
    log_files: FileList = _NO_FILES
    cleaned_at: datetime | None = None
    guarantees: Guarantees | None = None
    # Versions: a job supersedes an earlier one of its requester (named in its request, or
    # the latest of the same name); ``chain`` is the first version's uid; ``diff_base`` the
    # version its review diff is against (the last approved before it, else its previous).
    supersedes: str | None = None
    version: int | None = None
    chain: str | None = None
    diff_base: str | None = None
    approval_note: str | None = None
    unread_files: tuple[str, ...] = ()
    withheld_files: tuple[str, ...] = ()
    release_reason: str | None = None


_COLUMNS = tuple(f.name for f in fields(JobRecord))
_FILE_COLUMNS = frozenset({"files", "output_files", "log_files"})
# Columns added after the first release: (name, definition) for ALTER TABLE.
_ADDED_COLUMNS = (
    ("log_files", "TEXT NOT NULL DEFAULT '[]'"),
    ("guarantees", "TEXT"),
    ("supersedes", "TEXT"),
    ("version", "INTEGER"),
    ("chain", "TEXT"),
    ("diff_base", "TEXT"),
    ("approval_note", "TEXT"),
    ("unread_files", "TEXT NOT NULL DEFAULT '[]'"),
    ("search_text", "TEXT"),
    ("withheld_files", "TEXT NOT NULL DEFAULT '[]'"),
    ("release_reason", "TEXT"),
)
# Indexes on added columns, made once the columns exist.
_ADDED_INDEXES = """
CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs (requester, name, created_at);
CREATE INDEX IF NOT EXISTS jobs_chain ON jobs (chain, version);
CREATE INDEX IF NOT EXISTS jobs_diff_base ON jobs (diff_base);
-- The review table's pages, over the jobs still listed: counts, one index per sort order,
-- and the searched text with every sort key, so that a search scans one index only.
CREATE INDEX IF NOT EXISTS page_status ON jobs (status) WHERE cleaned_at IS NULL;
CREATE INDEX IF NOT EXISTS page_received ON jobs (status, received_at, uid)
    WHERE cleaned_at IS NULL;
CREATE INDEX IF NOT EXISTS page_received_all ON jobs (received_at, uid) WHERE cleaned_at IS NULL;
CREATE INDEX IF NOT EXISTS page_requester ON jobs (requester, status, received_at, uid)
    WHERE cleaned_at IS NULL;
CREATE INDEX IF NOT EXISTS page_search ON jobs (status, search_text, received_at, uid, requester)
    WHERE cleaned_at IS NULL;
CREATE INDEX IF NOT EXISTS page_search_all
    ON jobs (search_text, received_at, uid, requester, status) WHERE cleaned_at IS NULL;
"""
# Up to this many matches of a search are sorted in Python after one scan.
_FEW = 2000
# The columns a page is sorted by, in order; the uid last.
_SORT_KEYS = {
    "received_at": ("received_at", "uid"),
    "name": ("search_text", "received_at", "uid"),
    "requester": ("requester", "received_at", "uid"),
    "status": ("status", "received_at", "uid"),
}
# How many rows a search may walk along a sort's index to find its page before sorting
# the matches found in the covering index is cheaper.
_ORDERED_WALK = 5000


def _ordered_index(sort: str, by_status: bool, by_requester: bool) -> str | None:
    """The index that lists jobs already in ``sort`` order under these filters, if any."""
    if by_requester:
        return "page_requester" if by_status and sort in ("received_at", "status") else None
    if sort == "status" or (sort == "received_at" and by_status):
        return "page_received"
    return "page_received_all" if sort == "received_at" else None


# Sort keys of the review table. The searched text starts with the case-folded name.
PAGE_SORTS = {
    "received_at": "received_at",
    "name": "search_text",
    "requester": "requester",
    "status": "status",
}
_TUPLE_COLUMNS = frozenset({"tags", "unread_files", "withheld_files"})
_TIME_COLUMNS = frozenset(
    {
        "created_at",
        "received_at",
        "updated_at",
        "decided_at",
        "started_at",
        "completed_at",
        "cleaned_at",
    }
)


def _to_db(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _TIME_COLUMNS:
        # One offset for every stamp, so that text order is time order in SQL.
        return value.astimezone(timezone.utc).isoformat()
    if name in _TUPLE_COLUMNS:
        return json.dumps(list(value))
    if name in _FILE_COLUMNS:
        return FileList.coerce(value).to_json()
    if isinstance(value, Guarantees):
        return value.model_dump_json()
    return value.value if isinstance(value, Enum) else value


def _from_row(row: sqlite3.Row) -> JobRecord:
    values: dict[str, Any] = {}
    for name in _COLUMNS:
        value = row[name]
        if value is None:
            values[name] = None
        elif name in _TIME_COLUMNS:
            values[name] = datetime.fromisoformat(value)
        elif name in _TUPLE_COLUMNS:
            values[name] = tuple(json.loads(value))
        elif name in _FILE_COLUMNS:
            values[name] = FileList(raw=value)
        elif name == "status":
            values[name] = JobStatus(value)
        elif name == "failure_reason":
            values[name] = FailureReason(value)
        elif name == "guarantees":
            values[name] = Guarantees.model_validate_json(value)
        else:
            values[name] = value
    return JobRecord(**values)


_VERBS = {JobStatus.approved: "approved", JobStatus.running: "started"}


@dataclass(frozen=True)
class Transition:
    """One move of :meth:`Ledger.transition_many`: the arguments of one ``transition``."""

    uid: str
    new: JobStatus
    actor: str
    at: datetime
    detail: str | None = None
    expect: JobStatus | None = None
    audit_details: dict[str, Any] | None = None
    changes: dict[str, Any] = field(default_factory=dict)


# Called after a commit with the uids whose requester-visible state changed in it.
PublishHook = Callable[[list[str]], object]


class Ledger:
    """The owner's job table, events, pending arrivals and audit head, in one SQLite file."""

    def __init__(self, path: Path, audit_path: Path, on_change: PublishHook | None = None) -> None:
        self.path = path
        self.audit_path = audit_path
        self.on_change = on_change
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    def _migrate(self) -> None:
        con = self._con()
        con.executescript(_SCHEMA)
        present = {row[1] for row in con.execute("PRAGMA table_info(jobs)")}
        for name, definition in _ADDED_COLUMNS:
            if name not in present:
                con.execute(f"ALTER TABLE jobs ADD COLUMN {name} {definition}")
        if "search_text" not in present:
            rows = con.execute("SELECT uid, name, requester, tags FROM jobs").fetchall()
            con.executemany(
                "UPDATE jobs SET search_text = ? WHERE uid = ?",
                [(search_text(r[1], r[2], json.loads(r[3])), r[0]) for r in rows],
            )
        if "version" not in present:
            # Jobs received before versions existed each start a chain of their own.
            con.execute(
                "UPDATE jobs SET version = 1, chain = uid WHERE version IS NULL AND files != '[]'"
            )
        con.executescript(_ADDED_INDEXES)

    def _con(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA busy_timeout=30000")
            # Room for the listing and review-table indexes of 100,000 jobs (the default
            # 2 MB would read them again from the OS on every count).
            con.execute("PRAGMA cache_size=-32768")
            self._local.con = con
            with self._connections_lock:
                self._connections.append(con)
        return con

    def close(self) -> None:
        """Close the connections of every thread (call once no thread uses the ledger)."""
        with self._connections_lock:
            for con in self._connections:
                con.close()
            self._connections.clear()
        self._local = threading.local()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, serialised across threads and processes.

        Audit entries recorded in it are appended (one write, one fsync) just before the
        commit, and the ledger's head moves with them in the same transaction.
        """
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        self._local.audit = []
        self._local.changed = []
        try:
            yield con
            events: list[audit.AuditEvent] = self._local.audit
            if events:
                seq, digest, end = self._audit_anchor()
                # Entries past the recorded head were written by a process that died
                # before its commit: they never happened, so they are cut off here.
                audit.truncate_to(self.audit_path, end)
                seq, digest = audit.append_entries(self.audit_path, (seq, digest), events)
                end = self.audit_path.stat().st_size
                con.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('audit_head', ?)",
                    (json.dumps([seq, digest, end]),),
                )
        except BaseException:
            con.execute("ROLLBACK")
            self._local.changed = []
            raise
        finally:
            self._local.audit = []
        con.execute("COMMIT")
        changed: list[str] = self._local.changed
        self._local.changed = []
        if changed and self.on_change is not None:
            try:
                self.on_change(list(dict.fromkeys(changed)))
            except Exception:
                # Committed and still marked unpublished: the next retry publishes it.
                log.exception("publishing %d changed job(s) failed; will retry", len(changed))

    # Reading

    def get(self, uid: str) -> JobRecord:
        row = self._con().execute("SELECT * FROM jobs WHERE uid = ?", (uid,)).fetchone()
        if row is None:
            raise JobNotFoundError(f"no job {uid} in this queue; list the jobs to see their uids")
        return _from_row(row)

    def find(self, uid: str) -> JobRecord | None:
        row = self._con().execute("SELECT * FROM jobs WHERE uid = ?", (uid,)).fetchone()
        return None if row is None else _from_row(row)

    @staticmethod
    def _listing(
        columns: str,
        status: JobStatus | None,
        limit: int | None,
        include_cleaned: bool,
        oldest_first: bool,
    ) -> tuple[str, list[str]]:
        clauses, params = [], []
        if status is not None:
            clauses.append("status = ?")
            params.append(status.value)
        if not include_cleaned:
            clauses.append("cleaned_at IS NULL")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "ASC" if oldest_first else "DESC"
        sql = (
            f"SELECT {columns} FROM jobs {where} "  # noqa: S608
            f"ORDER BY received_at {order}, created_at {order}, uid {order}"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params.append(str(max(0, int(limit))))
        return sql, params

    def records(
        self,
        status: JobStatus | None = None,
        limit: int | None = None,
        *,
        include_cleaned: bool = False,
        oldest_first: bool = False,
    ) -> list[JobRecord]:
        """Jobs in listing order (newest first unless ``oldest_first``), filtered, then limited."""
        sql, params = self._listing("*", status, limit, include_cleaned, oldest_first)
        return [_from_row(r) for r in self._con().execute(sql, params)]

    def stamps(
        self,
        status: JobStatus | None = None,
        limit: int | None = None,
        *,
        oldest_first: bool = False,
    ) -> list[tuple[str, str]]:
        """(uid, updated_at) in listing order: enough to tell which cached views are stale."""
        sql, params = self._listing("uid, updated_at", status, limit, False, oldest_first)
        return [(r[0], r[1]) for r in self._con().execute(sql, params)]

    def rows_for(self, uids: list[str]) -> list[sqlite3.Row]:
        """The raw rows of these jobs, for building many views at once."""
        out: list[sqlite3.Row] = []
        for i in range(0, len(uids), 500):
            chunk = uids[i : i + 500]
            marks = ", ".join("?" for _ in chunk)
            sql = f"SELECT * FROM jobs WHERE uid IN ({marks})"  # noqa: S608
            out.extend(self._con().execute(sql, chunk))
        return out

    def uids(self) -> set[str]:
        return {r[0] for r in self._con().execute("SELECT uid FROM jobs")}

    def ended_before(self, cutoff: datetime) -> list[JobRecord]:
        """Terminal jobs, not yet cleaned, whose last change is older than ``cutoff``."""
        rows = self._con().execute(
            "SELECT * FROM jobs WHERE status IN (?, ?, ?) AND cleaned_at IS NULL "
            "AND updated_at < ?",
            (*(s.value for s in JobStatus if s.is_terminal), _to_db("updated_at", cutoff)),
        )
        return [_from_row(r) for r in rows]

    def tombstones(self) -> list[tuple[str, str]]:
        """(uid, requester) of cleaned jobs still remembered."""
        rows = self._con().execute("SELECT uid, requester FROM jobs WHERE cleaned_at IS NOT NULL")
        return [(r[0], r[1]) for r in rows]

    def is_diff_base(self, uid: str) -> bool:
        """Whether a later version's diff may need this job's files: a job still listed
        diffs against it, or it is the last approved version of its chain (remembered, so
        that a new version submitted after cleanup is still reviewed by difference)."""
        con = self._con()
        row = con.execute("SELECT chain FROM jobs WHERE uid = ?", (uid,)).fetchone()
        if row is None or row[0] is None:
            return False
        if con.execute(
            "SELECT 1 FROM jobs WHERE diff_base = ? AND cleaned_at IS NULL LIMIT 1", (uid,)
        ).fetchone():
            return True
        return uid == _last_approved(con, row[0], 1 << 62)

    def cleaned_file_hashes(self) -> set[str]:
        """The content hashes of the files of every cleaned job still remembered."""
        hashes: set[str] = set()
        for row in self._con().execute("SELECT files FROM jobs WHERE cleaned_at IS NOT NULL"):
            hashes.update(f.sha256 for f in FileList(raw=row[0]))
        return hashes

    def page(
        self,
        *,
        status: JobStatus | None,
        search: str | None,
        sort: str,
        descending: bool,
        offset: int,
        limit: int,
        requester: str | None,
    ) -> tuple[list[tuple[str, str]], int]:
        """One page of listed jobs as (uid, updated_at), and how many match in all.

        Every search term must occur in the case-folded name, requester or tags, or
        begin the uid. Without a search, the page and the count come straight from
        indexes. A search counts its matches in one scan of a covering index, then reads
        the page either in sort order from the sort's own index (when matches are common,
        a few lookups find the page) or from the covering index, sorting only the matches.
        """
        clauses, params = ["cleaned_at IS NULL"], []
        if status is not None:
            clauses.append("status = ?")
            params.append(status.value)
        if requester is not None:
            clauses.append("requester = ?")
            params.append(requester)
        base = " AND ".join(clauses)
        terms = (search or "").casefold().split()
        for term in terms:
            clauses.append("(instr(search_text, ?) > 0 OR instr(uid, ?) = 1)")
            params.extend([term, term])
        where = " AND ".join(clauses)
        direction = "DESC" if descending else "ASC"
        then = "" if sort == "received_at" else f", received_at {direction}"
        order = f"ORDER BY {PAGE_SORTS[sort]} {direction}{then}, uid {direction}"
        window = [max(0, int(limit)), max(0, int(offset))]
        listed_index = "page_requester" if requester is not None else "page_status"
        if not terms:
            rows = self._con().execute(
                f"SELECT uid, updated_at FROM jobs WHERE {where} {order} LIMIT ? OFFSET ?",  # noqa: S608
                [*params, *window],
            )
            return [(r[0], r[1]) for r in rows], self._count(listed_index, where, params)
        search_index = "page_search" if status is not None else "page_search_all"
        # Few matches: one scan of the covering index finds them all with their sort keys.
        keys = ", ".join(_SORT_KEYS[sort])
        first = (
            self._con()
            .execute(
                f"SELECT {keys} FROM jobs INDEXED BY {search_index} WHERE {where} LIMIT ?",  # noqa: S608
                [*params, _FEW + 1],
            )
            .fetchall()
        )
        if len(first) <= _FEW:
            first.sort(key=tuple, reverse=descending)
            chosen = first[window[1] : window[1] + window[0]]
            return self._stamps_of([r[-1] for r in chosen]), len(first)
        total = self._count(search_index, where, params)
        if window[1] >= total:
            return [], total
        index = search_index
        ordered = _ordered_index(sort, status is not None, requester is not None)
        if ordered is not None:
            listed = self._count(listed_index, base, params[: len(params) - 2 * len(terms)])
            # Rows the sort's index walks before it has the page, if matches are spread evenly.
            if (window[0] + window[1]) * listed / total <= _ORDERED_WALK:
                index = ordered
        found = [
            r[0]
            for r in self._con().execute(
                f"SELECT uid FROM jobs INDEXED BY {index} WHERE {where} {order} "  # noqa: S608
                "LIMIT ? OFFSET ?",
                [*params, *window],
            )
        ]
        return self._stamps_of(found), total

    def _stamps_of(self, uids: list[str]) -> list[tuple[str, str]]:
        marks = ", ".join("?" * len(uids))
        sql = f"SELECT uid, updated_at FROM jobs WHERE uid IN ({marks})"  # noqa: S608
        stamps = dict(self._con().execute(sql, uids).fetchall())
        return [(uid, stamps[uid]) for uid in uids if uid in stamps]

    def _count(self, index: str, where: str, params: list[str]) -> int:
        sql = f"SELECT COUNT(*) FROM jobs INDEXED BY {index} WHERE {where}"  # noqa: S608
        return int(self._con().execute(sql, params).fetchone()[0])

    def changed_since(self, since: datetime) -> list[str]:
        rows = self._con().execute(
            "SELECT uid FROM jobs WHERE updated_at >= ? AND cleaned_at IS NULL",
            (_to_db("updated_at", since),),
        )
        return [r[0] for r in rows]

    def count(self, status: JobStatus) -> int:
        row = (
            self._con()
            .execute(
                "SELECT COUNT(*) FROM jobs WHERE status = ? AND cleaned_at IS NULL", (status.value,)
            )
            .fetchone()
        )
        return int(row[0])

    def events(self, uid: str) -> list[dict[str, Any]]:
        rows = self._con().execute(
            "SELECT at, status, actor, detail FROM events WHERE uid = ? ORDER BY id", (uid,)
        )
        return [
            {"at": r["at"], "status": r["status"], "actor": r["actor"], "detail": r["detail"]}
            for r in rows
        ]

    def get_meta(self, key: str, default: Any) -> Any:
        row = self._con().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        with self._write() as con:
            con.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value))
            )

    def audit_head(self) -> tuple[int, str]:
        """(seq, hash) of the last audit entry the ledger committed."""
        seq, digest, _ = self._audit_anchor()
        return seq, digest

    def _audit_anchor(self) -> tuple[int, str, int | None]:
        row = self._con().execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()
        if row is None:
            return 0, audit.GENESIS, 0
        seq, digest, *rest = json.loads(row[0])
        return int(seq), str(digest), (int(rest[0]) if rest else None)

    # Writing

    def _audit(self, event: str, at: datetime, actor: str, uid: str, **details: Any) -> None:
        self._local.audit.append(
            audit.AuditEvent(event=event, at=at, actor=actor, uid=uid, details=details)
        )

    @staticmethod
    def _event(
        con: sqlite3.Connection,
        uid: str,
        at: datetime,
        status: JobStatus,
        *,
        actor: str,
        detail: str | None,
    ) -> None:
        con.execute(
            "INSERT INTO events (uid, at, status, actor, detail) VALUES (?, ?, ?, ?, ?)",
            (uid, at.isoformat(), status.value, actor, detail),
        )

    def _mark_unpublished(self, con: sqlite3.Connection, uid: str) -> None:
        con.execute("INSERT OR REPLACE INTO unpublished (uid) VALUES (?)", (uid,))
        self._local.changed.append(uid)

    def insert(self, record: JobRecord, *, actor: str, detail: str | None = None) -> bool:
        """Add a newly received job; ``False`` if its uid is already known (nothing changes)."""
        return bool(self.insert_many([(record, detail)], actor=actor))

    def insert_many(
        self,
        items: list[tuple[JobRecord, str | None]],
        *,
        actor: str,
        before: Callable[[list[JobRecord]], None] | None = None,
    ) -> list[JobRecord]:
        """Add newly received jobs in one transaction; return those that were new.

        ``before`` gets the new ones inside the transaction, before they are recorded (the
        intake publishes their snapshots there), so two processes never both publish one.
        """
        with self._write() as con:
            fresh = [
                (record, detail)
                for record, detail in items
                if not con.execute("SELECT 1 FROM jobs WHERE uid = ?", (record.uid,)).fetchone()
            ]
            if before is not None:
                before([record for record, _ in fresh])
            # Oldest first, so that versions of one job received together chain in order.
            fresh.sort(key=lambda item: item[0].created_at)
            return [self._insert_one(con, record, actor, detail) for record, detail in fresh]

    def _insert_one(
        self, con: sqlite3.Connection, record: JobRecord, actor: str, detail: str | None
    ) -> JobRecord:
        record = _link_version(con, record)
        names = ", ".join((*_COLUMNS, "search_text"))
        marks = ", ".join("?" for _ in range(len(_COLUMNS) + 1))
        con.execute(
            f"INSERT INTO jobs ({names}) VALUES ({marks})",  # noqa: S608
            [
                *(_to_db(n, getattr(record, n)) for n in _COLUMNS),
                search_text(record.name, record.requester, record.tags),
            ],
        )
        con.execute(
            "DELETE FROM arrivals WHERE requester = ? AND uid = ?", (record.requester, record.uid)
        )
        self._event(
            con, record.uid, record.received_at, JobStatus.pending, actor=actor, detail="received"
        )
        self._audit(
            "received",
            record.received_at,
            actor,
            record.uid,
            requester=record.requester,
            code_hash=record.code_hash,
            name=record.name,
            **({"supersedes": record.supersedes} if record.supersedes else {}),
        )
        if record.status is not JobStatus.pending:
            self._event(
                con, record.uid, record.updated_at, record.status, actor=actor, detail=detail
            )
            self._audit(record.status.value, record.updated_at, actor, record.uid, reason=detail)
        self._mark_unpublished(con, record.uid)
        return record

    def transition(
        self,
        uid: str,
        new: JobStatus,
        *,
        actor: str,
        at: datetime,
        detail: str | None = None,
        expect: JobStatus | None = None,
        audit_details: dict[str, Any] | None = None,
        **changes: Any,
    ) -> JobRecord:
        """Move one job to ``new`` in one atomic step, checked against the lifecycle table.

        ``audit_details`` adds to what the audit entry of the move records (the hashes of
        released files, for instance).

        Raises:
            JobNotFoundError: no such job.
            InvalidTransitionError: the move is not allowed from the job's current status,
                or the job is no longer in ``expect``.
        """
        move = Transition(uid, new, actor, at, detail, expect, audit_details, changes)
        with self._write() as con:
            return self._transition(con, move)

    def transition_many(self, moves: list[Transition]) -> list[JobRecord | Exception]:
        """Several :meth:`transition` calls in one transaction (one audit append and fsync,
        one publishing of the changed jobs); each gets its new record, or the error that
        refused it (that job is left as it was, the others still move)."""
        if not moves:
            return []
        done: list[JobRecord | Exception] = []
        with self._write() as con:
            for move in moves:
                try:
                    done.append(self._transition(con, move))
                except (JobNotFoundError, InvalidTransitionError) as exc:
                    done.append(exc)
        return done

    def _transition(self, con: sqlite3.Connection, move: Transition) -> JobRecord:
        """One move inside the caller's write transaction; raises before writing anything
        if the move is refused."""
        uid, new, actor, at, detail = move.uid, move.new, move.actor, move.at, move.detail
        expect, changes = move.expect, move.changes
        row = con.execute("SELECT * FROM jobs WHERE uid = ?", (uid,)).fetchone()
        if row is None:
            raise JobNotFoundError(f"no job {uid} in this queue; list the jobs to see their uids")
        current = _from_row(row)
        if expect is not None and current.status is not expect:
            raise InvalidTransitionError(
                f"job {uid} is {current.status.value}, not {expect.value}; "
                f"only {expect.value} jobs can be {_VERBS.get(new, new.value)}"
            )
        check_transition(current.status, new, uid)
        updated = replace(current, status=new, updated_at=at, **changes)
        assignments = ["status = ?", "updated_at = ?"] + [f"{k} = ?" for k in changes]
        values = [new.value, at.isoformat()] + [_to_db(k, v) for k, v in changes.items()]
        con.execute(
            f"UPDATE jobs SET {', '.join(assignments)} WHERE uid = ?",  # noqa: S608
            [*values, uid],
        )
        self._event(con, uid, at, new, actor=actor, detail=detail)
        recorded: dict[str, Any] = {"from": current.status.value}
        if detail:
            recorded["reason"] = detail
        if new is JobStatus.approved:
            recorded["code_hash"] = updated.approved_hash
        if updated.exit_code is not None and new.is_terminal:
            recorded["exit_code"] = updated.exit_code
        if new is JobStatus.approved:
            recorded.update(_approval_details(updated))
        recorded.update(move.audit_details or {})
        self._audit(new.value, at, actor, uid, **recorded)
        if updated.chain and (new is JobStatus.approved or current.status is JobStatus.approved):
            _rebase_chain(con, updated.chain, at)
        self._mark_unpublished(con, uid)
        return updated

    def update_many(self, updates: list[tuple[str, dict[str, Any]]]) -> None:
        """Several :meth:`update` calls in one transaction."""
        if not updates:
            return
        with self._write() as con:
            for uid, changes in updates:
                if "status" in changes:
                    raise ValueError("status changes go through Ledger.transition")
                assignments = ", ".join(f"{k} = ?" for k in changes)
                con.execute(
                    f"UPDATE jobs SET {assignments} WHERE uid = ?",  # noqa: S608
                    [*(_to_db(k, v) for k, v in changes.items()), uid],
                )

    def update(self, uid: str, **changes: Any) -> None:
        """Change bookkeeping fields (never the status) of one job."""
        self.update_many([(uid, changes)])

    def republish(self, uids: list[str]) -> None:
        """Mark jobs to be published again (after a crash the last files may be stale)."""
        if not uids:
            return
        with self._write() as con:
            for uid in uids:
                self._mark_unpublished(con, uid)

    # Publishing bookkeeping

    def unpublished(self, limit: int) -> list[str]:
        """Jobs marked as changed since they were last published, oldest mark first."""
        rows = self._con().execute("SELECT uid FROM unpublished ORDER BY seq LIMIT ?", (limit,))
        return [r[0] for r in rows]

    def unpublished_marks(self, uids: list[str]) -> dict[str, int]:
        """The current mark (seq) of each of these jobs that is marked."""
        out: dict[str, int] = {}
        for i in range(0, len(uids), 500):
            chunk = uids[i : i + 500]
            marks = ", ".join("?" for _ in chunk)
            sql = f"SELECT uid, seq FROM unpublished WHERE uid IN ({marks})"  # noqa: S608
            out.update((r[0], int(r[1])) for r in self._con().execute(sql, chunk))
        return out

    def mark_published(self, marks: list[tuple[str, int]]) -> None:
        """Clear the marks that are still the ones the publisher read (a newer change keeps
        its own mark)."""
        if not marks:
            return
        with self._write() as con:
            con.executemany("DELETE FROM unpublished WHERE uid = ? AND seq = ?", marks)

    def queued_bytes(self, requester: str) -> int:
        """Total declared size of the files of a requester's jobs that are not over yet."""
        row = (
            self._con()
            .execute(
                "SELECT COALESCE(SUM(json_extract(f.value, '$.size')), 0) "
                "FROM jobs, json_each(jobs.files) AS f "
                "WHERE jobs.requester = ? AND jobs.status IN (?, ?, ?)",
                (
                    requester,
                    JobStatus.pending.value,
                    JobStatus.approved.value,
                    JobStatus.running.value,
                ),
            )
            .fetchone()
        )
        return int(row[0])

    def forget(self, uid: str) -> None:
        """Drop a cleaned job whose request is gone from the outbox too."""
        with self._write() as con:
            con.execute("DELETE FROM jobs WHERE uid = ?", (uid,))
            con.execute("DELETE FROM events WHERE uid = ?", (uid,))
            con.execute("DELETE FROM unpublished WHERE uid = ?", (uid,))

    # Requests still arriving

    def note_arrival(
        self, requester: str, uid: str, now: datetime, problem: str | None
    ) -> datetime:
        """Remember an incomplete request; return when it was first seen."""
        with self._write() as con:
            con.execute(
                "INSERT INTO arrivals (requester, uid, first_seen, problem) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (requester, uid) DO UPDATE SET problem = excluded.problem",
                (requester, uid, now.isoformat(), problem),
            )
            row = con.execute(
                "SELECT first_seen FROM arrivals WHERE requester = ? AND uid = ?", (requester, uid)
            ).fetchone()
        return datetime.fromisoformat(row[0])

    def arrivals(self) -> list[tuple[str, str, datetime, str | None]]:
        rows = self._con().execute("SELECT requester, uid, first_seen, problem FROM arrivals")
        return [(r[0], r[1], datetime.fromisoformat(r[2]), r[3]) for r in rows]

    def drop_arrival(self, requester: str, uid: str) -> None:
        with self._write() as con:
            con.execute("DELETE FROM arrivals WHERE requester = ? AND uid = ?", (requester, uid))

    def verify_audit(self) -> audit.AuditReport:
        return audit.verify(self.audit_path, self.audit_head())


# Versions of a job


def _link_version(con: sqlite3.Connection, record: JobRecord) -> JobRecord:
    """Place a newly received job in its chain of versions.

    It supersedes the job its request names, if that is one of the same requester's;
    otherwise the requester's latest earlier job of the same name. Invalid requests (no
    files) belong to no chain.
    """
    if record.status is not JobStatus.pending or not record.files:
        return replace(record, supersedes=None)
    previous = None
    if record.supersedes:
        previous = con.execute(
            "SELECT uid, chain, version FROM jobs WHERE uid = ? AND requester = ? "
            "AND version IS NOT NULL",
            (record.supersedes, record.requester),
        ).fetchone()
    if previous is None:
        previous = con.execute(
            "SELECT uid, chain, version FROM jobs WHERE requester = ? AND name = ? "
            "AND version IS NOT NULL AND created_at <= ? AND uid != ? "
            "ORDER BY created_at DESC, uid DESC LIMIT 1",
            (record.requester, record.name, _to_db("created_at", record.created_at), record.uid),
        ).fetchone()
    if previous is None:
        return replace(record, supersedes=None, version=1, chain=record.uid, diff_base=None)
    version = int(previous["version"]) + 1
    base = _last_approved(con, previous["chain"], version) or previous["uid"]
    return replace(
        record,
        supersedes=previous["uid"],
        version=version,
        chain=previous["chain"],
        diff_base=base,
    )


def _last_approved(con: sqlite3.Connection, chain: str, before_version: int) -> str | None:
    row = con.execute(
        f"SELECT uid FROM jobs WHERE {_APPROVED_BEFORE} ORDER BY version DESC LIMIT 1",  # noqa: S608
        (chain, before_version),
    ).fetchone()
    return None if row is None else str(row[0])


# A version counts as approved once the owner approved it, whether it then ran or failed;
# not once the approval was withdrawn by a rejection.
_APPROVED_BEFORE = (
    "chain = ? AND version < ? AND approved_hash IS NOT NULL AND status != 'rejected'"
)


def _rebase_chain(con: sqlite3.Connection, chain: str, at: datetime) -> None:
    """Point the pending versions of a chain at the last approved version before each.

    Their ``updated_at`` moves too, so cached views of them are rebuilt.
    """
    base = (
        "COALESCE((SELECT b.uid FROM jobs b WHERE b.chain = jobs.chain AND b.version < "
        "jobs.version AND b.approved_hash IS NOT NULL AND b.status != 'rejected' "
        "ORDER BY b.version DESC LIMIT 1), jobs.supersedes)"
    )
    con.execute(
        f"UPDATE jobs SET diff_base = {base}, updated_at = ? "  # noqa: S608
        f"WHERE chain = ? AND status = 'pending' AND diff_base IS NOT {base}",
        (_to_db("updated_at", at), chain),
    )


def _approval_details(record: JobRecord) -> dict[str, Any]:
    """What an approval records beyond the hash: the owner's note and what was not read."""
    details: dict[str, Any] = {}
    if record.approval_note:
        details["note"] = record.approval_note
    if record.unread_files:
        details["approved_unread"] = True
        details["unread"] = list(record.unread_files)
    return details


def search_text(name: str, requester: str, tags: tuple[str, ...] | list[str]) -> str:
    """What a review-table search looks in: name, requester and tags, case-folded."""
    return "\n".join((name, requester, *tags)).casefold()
