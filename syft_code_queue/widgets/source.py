"""Where the review table gets its jobs and sends its decisions: one small adapter.

:class:`ReviewSource` is all the review widget knows of the owner's server. Today it pages
through the ledger with its own read-only SQLite connection and decides through
:meth:`CodeQueueServer.approve_job` / :meth:`~CodeQueueServer.reject_job`; a server-side
paging API replaces :meth:`ReviewSource.page` without touching the widget.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from syft_code_queue.models import JobStatus

if TYPE_CHECKING:
    from syft_code_queue.airlock import ResultsReport
    from syft_code_queue.diffs import JobDiff
    from syft_code_queue.hints import ReviewHints
    from syft_code_queue.models import CodeJob
    from syft_code_queue.server import CodeQueueServer

PAGE_SIZE = 50
SORTS = {
    "created_at": "created_at",
    "updated_at": "updated_at",
    "name": "name COLLATE NOCASE",
    "requester": "requester COLLATE NOCASE",
    "status": "status",
}
_ROW_COLUMNS = (
    "uid, name, requester, status, tags, files, created_at, updated_at, decided_at, "
    "started_at, completed_at, reviewer, decision_reason, error_message, exit_code, "
    "code_hash, version, diff_base"
)


@dataclass(frozen=True)
class PageQuery:
    """One page of the table: status filter (``"all"``), search text, order, and where.

    ``group="requester"`` orders by requester first, so each requester's jobs are together.
    """

    status: str = "pending"
    query: str = ""
    sort: str = "created_at"
    descending: bool = False
    offset: int = 0
    limit: int = PAGE_SIZE
    group: str = ""

    @classmethod
    def from_view(cls, view: dict[str, Any]) -> PageQuery:
        """From the browser's ``view`` dict; unknown or bad values fall back to defaults."""
        status = str(view.get("status") or "pending")
        if status != "all" and status not in {s.value for s in JobStatus}:
            status = "pending"
        sort = str(view.get("sort") or "created_at")
        return cls(
            status=status,
            query=str(view.get("query") or "")[:200],
            sort=sort if sort in SORTS else "created_at",
            descending=bool(view.get("desc")),
            offset=max(0, _int(view.get("offset"), 0)),
            limit=min(200, max(1, _int(view.get("limit"), PAGE_SIZE))),
            group="requester" if view.get("group") == "requester" else "",
        )


@dataclass
class Page:
    """The rows of one page, how many match in all, and how many jobs each status has."""

    rows: list[dict[str, Any]]
    total: int
    counts: dict[str, int] = field(default_factory=dict)


def _int(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return default


class ReviewSource:
    """The owner's queue as the review widget uses it (see the module docstring).

    Thread-safe: the widget calls it from its worker thread and its poller.
    """

    def __init__(self, server: CodeQueueServer) -> None:
        self.server = server
        self._local = threading.local()
        # uid -> (mtime of its stored report, its counts by severity)
        self._checked: dict[str, tuple[int, dict[str, int] | None]] = {}

    @property
    def owner(self) -> str:
        return self.server.email

    def _con(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            uri = f"{self.server.ledger.path.resolve().as_uri()}?mode=ro"
            con = sqlite3.connect(uri, uri=True, timeout=30.0, check_same_thread=False)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA mmap_size = 268435456")  # scans read the file in place
            self._local.con = con
        return con

    def version(self) -> int:
        """A number that changes whenever any other connection changed the ledger."""
        return int(self._con().execute("PRAGMA data_version").fetchone()[0])

    def receive(self) -> None:
        """Take in jobs that arrived since the last look (one intake scan)."""
        self.server.list_jobs(limit=0)

    def page(self, query: PageQuery) -> Page:
        """The rows of one page, filtered, searched and sorted in SQL.

        Without search text the page comes from the listing index and its total from the
        per-status counts (cached until the ledger changes); with it, one scan finds the
        page and the number of matches together. ``LIKE`` ignores ASCII case.
        """
        clauses, params = ["cleaned_at IS NULL"], []
        if query.status != "all":
            clauses.append("status = ?")
            params.append(query.status)
        text = query.query.strip()
        if text:
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append(
                "(name LIKE ?1 ESCAPE '\\' OR requester LIKE ?1 ESCAPE '\\' "
                "OR uid LIKE ?1 ESCAPE '\\' OR tags LIKE ?1 ESCAPE '\\')"
            )
        where = " AND ".join(clauses)
        direction = "DESC" if query.descending else "ASC"
        order = [f"{SORTS[query.sort]} {direction}", f"uid {direction}"]
        if query.group:
            order.insert(0, "requester COLLATE NOCASE ASC")
        counts = self.counts()
        con = self._con()
        # Numbered parameters: ?1 is the search pattern, the status and paging follow.
        numbered = [f"%{escaped}%"] if text else []
        where = where.replace("status = ?", f"status = ?{len(numbered) + 1}")
        numbered += params
        tail = f"LIMIT ?{len(numbered) + 1} OFFSET ?{len(numbered) + 2}"
        total_column = ", COUNT(*) OVER () AS total" if text else ""
        sql = (
            f"SELECT {_ROW_COLUMNS}{total_column} FROM jobs WHERE {where} "  # noqa: S608
            f"ORDER BY {', '.join(order)} {tail}"
        )
        found = con.execute(sql, [*numbered, query.limit, query.offset]).fetchall()
        if text:
            total = found[0]["total"] if found else self._count(where, numbered)
        else:
            total = sum(counts.values()) if query.status == "all" else counts.get(query.status, 0)
        return Page(rows=[_row(r) for r in found], total=int(total), counts=counts)

    def counts(self) -> dict[str, int]:
        """How many jobs each status has, read again only after the ledger changed."""
        version = self.version()
        cached: tuple[int, dict[str, int]] | None = getattr(self._local, "counts", None)
        if cached is not None and cached[0] == version:
            return dict(cached[1])
        counts = {
            r[0]: r[1]
            for r in self._con().execute(
                "SELECT status, COUNT(*) FROM jobs WHERE cleaned_at IS NULL GROUP BY status"
            )
        }
        self._local.counts = (version, counts)
        return dict(counts)

    def _count(self, where: str, params: list[str]) -> int:
        sql = f"SELECT COUNT(*) FROM jobs WHERE {where}"  # noqa: S608
        return int(self._con().execute(sql, params).fetchone()[0])

    def job(self, uid: str) -> CodeJob:
        return self.server.get_job(uid)

    def events(self, uid: str) -> list[dict[str, Any]]:
        return self.server.job_events(uid)

    def guarantees(self) -> dict[str, Any]:
        return self.server.guarantees().model_dump()

    def read(self, uid: str, path: str) -> bytes:
        """The whole file of the job's verified snapshot, as it will run."""
        return self.server.read_job_file(uid, path)

    def diff(self, uid: str, *, unified: bool = True) -> JobDiff:
        """What changed since the last approved version (``unified=False``: counts only)."""
        return self.server.job_diff(uid, unified=unified)

    def hints(self, uid: str) -> ReviewHints:
        """Lines worth a look in the job's code (cached by the server by code hash)."""
        return self.server.review_hints(uid)

    def approve(self, uid: str, note: str | None, unread: list[str]) -> None:
        """Approve; ``note`` is the owner's private note, ``unread`` the files the owner
        confirmed approving without having read them (both kept in the ledger and the
        audit log, never sent to the data scientist)."""
        self.server.approve_job(uid, note=note, unread=unread or None)

    def reject(self, uid: str, reason: str) -> None:
        self.server.reject_job(uid, reason)

    # The Results view (release="manual")

    @property
    def release_mode(self) -> str:
        """``"manual"`` when results wait for the owner's release, else ``"auto"``."""
        return str(self.server.config.release)

    def results_page(self, offset: int, limit: int) -> Page:
        """One page of the jobs awaiting release, oldest first (the order of
        :meth:`CodeQueueServer.list_awaiting_release`), from the ledger's queue index; its
        total from the per-status counts."""
        sql = (
            f"SELECT {_ROW_COLUMNS} FROM jobs "  # noqa: S608
            "WHERE status = ? AND cleaned_at IS NULL "
            "ORDER BY received_at ASC, created_at ASC, uid ASC LIMIT ? OFFSET ?"
        )
        found = self._con().execute(sql, [JobStatus.awaiting_release.value, limit, offset])
        counts = self.counts()
        return Page(
            rows=[_row(r) for r in found],
            total=counts.get(JobStatus.awaiting_release.value, 0),
            counts=counts,
        )

    def checked_counts(self, uid: str) -> dict[str, int] | None:
        """The counts by severity of the job's last check (``None``: never checked), read
        from the stored report only when it changed since the last look."""
        from syft_code_queue.release import REPORT_FILE

        try:
            stamp = (self.server.results.folder(uid) / REPORT_FILE).stat().st_mtime_ns
        except OSError:
            return None
        known = self._checked.get(uid)
        if known is not None and known[0] == stamp:
            return known[1]
        report = self.server.results.last_report(self.server.ledger.get(uid))
        counts: dict[str, int] | None = None
        if report is not None:
            counts = {str(s): int(n) for s, n in report.counts.items()}
        self._checked[uid] = (stamp, counts)
        return counts

    def check(self, uid: str) -> ResultsReport:
        """Run the output checks over the job's held results (kept for the release)."""
        return self.server.check_results(uid)

    def read_result(self, uid: str, path: str, limit: int) -> bytes:
        return self.server.read_result_file(uid, path, limit)

    def release(self, uid: str, files: list[str], reason: str | None) -> CodeJob:
        return self.server.release_results(uid, files, reason)

    def withhold(self, uid: str, reason: str) -> CodeJob:
        return self.server.withhold_results(uid, reason)


def _row(r: sqlite3.Row) -> dict[str, Any]:
    """What the table shows of a job: plain JSON values, rendered as text by the front end."""
    files = json.loads(r["files"] or "[]")
    return {
        "uid": r["uid"],
        "short_id": r["uid"][:8],
        "name": r["name"],
        "requester": r["requester"],
        "status": r["status"],
        "tags": json.loads(r["tags"] or "[]"),
        "created_at": r["created_at"],
        "updated_at": r["updated_at"],
        "decided_at": r["decided_at"],
        "started_at": r["started_at"],
        "completed_at": r["completed_at"],
        "reviewer": r["reviewer"],
        "reason": r["decision_reason"],
        "error": r["error_message"],
        "exit_code": r["exit_code"],
        "files": len(files),
        "bytes": sum(int(f.get("size", 0)) for f in files),
        "code_hash": r["code_hash"],
        "version": r["version"],
        "diff_base": r["diff_base"],
    }
