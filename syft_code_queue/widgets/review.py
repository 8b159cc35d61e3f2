"""The data owner's review table: one page of jobs, their files, and decisions; and its
Results view (``release="manual"``): the jobs whose results await release, their held files
with the output checks' findings, and Release / Withhold.

The buttons call the same server methods as code does (through :class:`ReviewSource`);
nothing here decides on its own. The browser holds one page of rows; filtering, search and
sorting run here, in a worker thread, so a click never waits on the kernel's main thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from syft_code_queue.assets import asset
from syft_code_queue.errors import CodeQueueError
from syft_code_queue.widgets._poller import Watch
from syft_code_queue.widgets.changes import (
    NO_CHANGES,
    diff_view,
    file_hints,
    hint_counts,
    row_changes,
)
from syft_code_queue.widgets.results import blocked_files, releasable, report_view
from syft_code_queue.widgets.source import PAGE_SIZE, PageQuery, ReviewSource
from syft_code_queue.widgets.viewer import (
    MAX_VIEW_BYTES,
    file_view,
    is_binary,
    runs_code_when_loaded,
)

if TYPE_CHECKING:
    from syft_code_queue.hints import ReviewHints
    from syft_code_queue.server import CodeQueueServer

log = logging.getLogger("syft_code_queue")

DEFAULT_VIEW = {
    "status": "pending",
    "query": "",
    "sort": "created_at",
    "desc": False,
    "offset": 0,
    "limit": PAGE_SIZE,
    "group": "",
}
TABS = ("code", "results")


def file_order(paths: list[str]) -> list[str]:
    """``run.sh`` first (it is what runs), then the rest in path order."""
    return sorted(paths, key=lambda p: (p != "run.sh", p))


class ReviewWidget(anywidget.AnyWidget):
    """Pending jobs first; open one to read its files like a pull request; decide.

    Args:
        server: the owner's queue.
        interval: seconds between looks for changes (one poller per server, shared by its
            widgets, stopped when the last one closes).
        history: kept for compatibility; the table pages through every job.
        source: what the widget reads and decides through (default: the server's).
        tab: the view it opens on: ``"code"`` (jobs and their code) or ``"results"``
            (jobs awaiting release, their held files and findings; see
            :meth:`open_results`, :meth:`release`, :meth:`withhold`).
    """

    _esm = asset("widgets.js")
    _css = asset("widgets.css")

    kind = traitlets.Unicode("review").tag(sync=True)
    owner = traitlets.Unicode("").tag(sync=True)
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    counts = traitlets.Dict().tag(sync=True)
    view = traitlets.Dict(DEFAULT_VIEW).tag(sync=True)
    detail = traitlets.Dict().tag(sync=True)
    file = traitlets.Dict().tag(sync=True)
    notice = traitlets.Dict().tag(sync=True)
    # The Results view: which view is shown, whether the airlock is on, one page of the jobs
    # awaiting release ({"rows", "total"}), where that page is, and the open job's report.
    tab = traitlets.Unicode("code").tag(sync=True)
    airlock = traitlets.Unicode("auto").tag(sync=True)
    results = traitlets.Dict({"rows": [], "total": 0}).tag(sync=True)
    results_view = traitlets.Dict({"offset": 0, "limit": PAGE_SIZE}).tag(sync=True)
    report = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        server: CodeQueueServer,
        interval: float = 2.0,
        history: int = 200,
        *,
        source: ReviewSource | None = None,
        tab: str = "code",
    ) -> None:
        self.source = source or ReviewSource(server)
        super().__init__(
            owner=self.source.owner,
            view=dict(DEFAULT_VIEW),
            tab=tab if tab in TABS else "code",
            airlock=self.source.release_mode,
        )
        self.server = server
        self.history = history
        self.interval = interval
        self._work = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scq-review")
        self._state = threading.Lock()  # guards the dicts below; never held across I/O
        self._files: dict[str, list[dict[str, Any]]] = {}
        self._viewed: dict[str, set[str]] = {}
        # (uid, code_hash) -> the row's diff summary and hint counts, made in the worker
        self._changes: dict[tuple[str, str], dict[str, Any]] = {}
        self._changes_queued: set[tuple[str, str]] = set()
        self._closed = False
        self._views = 0  # views drawn in the browser and not removed yet
        self._following = True
        self._notices = 0
        self._refresh_queued = False
        self.on_msg(self._on_message)
        self.observe(self._on_view, names="view")
        self.observe(self._on_results_view, names=["tab", "results_view"])
        self.source.receive()
        seen = self.source.version()
        self.refresh()
        self._watch = Watch.of(server, interval, "scq-review-watch")
        self._watch.subscribe(self._changed, self._look, interval, version=seen)

    # Reading

    def refresh(self) -> None:
        """Read the current page again; sends only what changed.

        The rows' diff summaries and hint counts follow from the worker (only for the rows
        of this page, cached by code hash), so the page is shown without waiting for them.
        """
        page = self.source.page(PageQuery.from_view(self.view))
        rows = [self._with_review(row) for row in page.rows]
        if rows != self.rows:
            self.rows = rows
        if page.total != self.total:
            self.total = page.total
        if page.counts != self.counts:
            self.counts = page.counts
        self._queue_changes(rows)
        if self.tab == "results":
            self.refresh_results()

    def open_job(self, uid: str) -> None:
        """Show a job's files (``run.sh`` first, opened) and history below its row.

        A later version of a job (one with a diff base) opens on its diff instead
        (``detail["mode"] == "diff"``, ``detail["diff"]``: changed files first, each with
        its unified diff); no file is opened, nor ticked viewed, until the reviewer asks.
        Each file carries its change (``""`` for a first version) and hint counts.
        """
        job = self.source.job(uid)
        files = self._review_files(str(job.uid))
        hints = self._hints(str(job.uid))
        diff = self.source.diff(str(job.uid)) if job.diff_base else None
        changes = {f.path: f.change for f in diff.files} if diff is not None else {}
        self.detail = {
            "uid": str(job.uid),
            "name": job.name,
            "description": job.description,
            "code_hash": job.code_hash,
            "version": job.version,
            "files": [
                {
                    **f,
                    "change": changes.get(f["path"], ""),
                    "hints": hint_counts(hints, f["path"]) if hints is not None else None,
                }
                for f in files
            ],
            "diff": diff_view(diff) if diff is not None else None,
            "mode": "diff" if diff is not None else "files",
            "events": self.source.events(str(job.uid)),
            "guarantees": self.source.guarantees(),
        }
        self.file = {}
        first = files[0]["path"] if files else None
        if first is not None and diff is None:
            self.open_file(str(job.uid), first)

    def open_file(self, uid: str, path: str) -> None:
        """Show one file of the job's verified snapshot, exactly as it will run.

        A text file shown whole counts as viewed.
        """
        data = self.source.read(uid, path)
        view = file_view(path, data)
        if not view["binary"] and not view["truncated"]:
            self._mark(uid, path, True)
        hints = self._hints(uid)
        view["hints"] = file_hints(hints, path) if hints is not None else []
        self.file = {"uid": uid, **view}

    def set_viewed(self, uid: str, path: str, viewed: bool) -> None:
        """The reviewer's own "viewed" tick of one file."""
        self._mark(uid, path, viewed)

    def unread_files(self, uid: str) -> list[str]:
        """The paths of the files of this job that were not read: not viewed, or that no
        one can read as text (binary, too large to show whole)."""
        files = self._review_files(uid)
        with self._state:
            viewed = set(self._viewed.get(uid, ()))
        return [f["path"] for f in files if f["risk"] or f["path"] not in viewed]

    def unread(self, uid: str) -> list[str]:
        """What of this job was not read: files not viewed, and files no one can read as
        text (binary, too large to show whole). Empty when everything was read."""
        files = self._review_files(uid)
        with self._state:
            viewed = set(self._viewed.get(uid, ()))
        problems = [f"{f['path']} is {f['risk']}" for f in files if f["risk"]]
        missing = [f["path"] for f in files if f["path"] not in viewed and not f["risk"]]
        if missing:
            problems.insert(0, f"not viewed: {', '.join(missing)}")
        return problems

    # Deciding

    def approve(self, uids: list[str], note: str | None = None, unread: bool = False) -> None:
        """Approve each job; ``note`` is an optional note for the record.

        A job with files that were not read (see :meth:`unread`) is approved only with
        ``unread=True``, and what was not read is recorded with the approval.
        """
        done, problems, refused = 0, [], []
        decided: set[str] = set()
        for uid in uids:
            try:
                if self.unread(uid) and not unread:
                    refused.append(uid)
                    continue
                self.source.approve(uid, (note or "").strip() or None, self.unread_files(uid))
                done += 1
                decided.add(uid)
            except (CodeQueueError, ValueError, OSError) as exc:
                problems.append(str(exc))
        self._show_decided(decided, "approved")
        self.refresh()
        if refused:
            self._notify(
                "unread",
                f"approved {done}; not approved, not all read: "
                + ", ".join(self._name(uid) for uid in refused)
                + ". Read every file, or confirm 'Approve unread'.",
                uids=refused,
            )
        elif problems:
            self._notify("error", f"approved {done}; not approved: " + "; ".join(problems))
        else:
            self._notify("ok", f"approved {done} job{'s' if done != 1 else ''}")

    def reject(self, uids: list[str], reason: str) -> None:
        """Reject each job with the reason the data scientist will see."""
        if not reason.strip():
            self._notify("error", "Write a reason before rejecting: the data scientist sees it.")
            return
        done, problems = 0, []
        decided: set[str] = set()
        for uid in uids:
            try:
                self.source.reject(uid, reason.strip())
                done += 1
                decided.add(uid)
            except (CodeQueueError, ValueError) as exc:
                problems.append(str(exc))
        self._show_decided(decided, "rejected")
        self.refresh()
        if problems:
            self._notify("error", f"rejected {done}; not rejected: " + "; ".join(problems))
        else:
            self._notify("ok", f"rejected {done} job{'s' if done != 1 else ''}")

    # Results (release="manual")

    def refresh_results(self) -> None:
        """Read the shown page of the jobs awaiting release again (oldest first); the open
        report goes once its job no longer awaits release."""
        view = self.results_view
        offset = max(0, int(view.get("offset") or 0))
        limit = min(200, max(1, int(view.get("limit") or PAGE_SIZE)))
        page = self.source.results_page(offset, limit)
        rows = [{**row, "findings": self.source.checked_counts(row["uid"])} for row in page.rows]
        shown = {"rows": rows, "total": page.total, "offset": offset, "limit": limit}
        if shown != self.results:
            self.results = shown
        if page.counts != self.counts:
            self.counts = page.counts
        uid = str(self.report.get("uid") or "")
        gone = uid and uid not in {row["uid"] for row in rows}
        if gone and self.source.job(uid).status.value != "awaiting_release":
            self.report = {}

    def open_results(self, uid: str) -> None:
        """Check a job's held results (:meth:`CodeQueueServer.check_results`) and show
        each file with its findings and preview; the release that follows releases what
        this check saw."""
        job = self.source.job(uid)
        try:
            report = self.source.check(str(job.uid))
        except (CodeQueueError, OSError, ValueError) as exc:
            # shown in the job's open panel (instead of "checking..."), and as the notice
            self.report = {"uid": str(job.uid), "name": job.name, "error": str(exc)}
            raise
        view = report_view(report, job.name, lambda path, n: self.source.read_result(uid, path, n))
        self.report = view
        self.refresh_results()

    def release(
        self, uid: str, files: list[str], reason: str, *, confirm_block: bool = False
    ) -> None:
        """Release the ticked files (:meth:`CodeQueueServer.release_results`); the rest
        are withheld with ``reason``, which the data scientist sees: required when anything
        is withheld, optional when every file is released.

        Ticked files with a ``block`` finding are released only with ``confirm_block``.
        """
        report = self.report if self.report.get("uid") == uid else {}
        if not report:
            self._notify("error", "Open the job's results first: a release needs a check.")
            return
        name = f"'{report['name']}'"
        chosen = [path for path in releasable(report) if path in set(files)]
        if not chosen:
            self._notify("error", f"Tick the files of {name} to release, or withhold them all.")
            return
        kept = [f["path"] for f in report["files"] if f["path"] not in set(chosen)]
        if kept and not reason.strip():
            self._notify(
                "error",
                f"Write a reason before releasing {name}: {len(kept)} file(s) are withheld, "
                "and the data scientist sees why.",
            )
            return
        blocked = blocked_files(report, chosen)
        if blocked and not confirm_block:
            self._notify(
                "error",
                f"Not released: {', '.join(blocked)} of {name} have block findings; "
                "confirm releasing them anyway, or untick them.",
            )
            return
        job = self.source.release(uid, chosen, reason.strip() or None)
        self._decided(uid)
        withheld = f"; withheld: {', '.join(job.withheld_files)}" if job.withheld_files else ""
        self._notify("ok", f"released {len(chosen)} file(s) of {name}{withheld}")

    def withhold(self, uid: str, reason: str) -> None:
        """Release nothing of the job (:meth:`CodeQueueServer.withhold_results`); it ends
        failed (withheld) with ``reason``, which the data scientist sees and is required."""
        job = self.source.job(uid)
        if not reason.strip():
            self._notify(
                "error",
                f"Write a reason before withholding '{job.name}': the data scientist sees it.",
            )
            return
        self.source.withhold(str(job.uid), reason.strip())
        self._decided(str(job.uid))
        self._notify("ok", f"withheld the results of '{job.name}'")

    def _decided(self, uid: str) -> None:
        if self.report.get("uid") == uid:
            self.report = {}
        self.refresh()

    def _on_results_view(self, _change: object) -> None:
        if self.tab == "results":
            self._submit("results", self.refresh_results)

    # Lifetime

    def close(self) -> None:
        """Stop looking for changes (the server's poller stops with its last widget)."""
        self._watch.unsubscribe(self._changed)
        self._closed = True
        # Queued work is dropped; the running step ends soon (a changes pass stops between
        # jobs) and is waited for, so that nothing reads the server after it is closed.
        self._work.shutdown(wait=True, cancel_futures=True)
        super().close()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until the work asked for so far, and the work it queued, is done (for tests
        and scripts)."""
        deadline = time.monotonic() + timeout
        while True:
            self._work.submit(lambda: None).result(max(0.0, deadline - time.monotonic()))
            with self._state:
                busy = bool(self._changes_queued) or self._refresh_queued
            if not busy:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the review widget was still busy after {timeout} s")

    # Inside

    def _look(self) -> object:
        self.source.receive()
        return self.source.version()

    def _changed(self) -> None:
        if self._refresh_queued:
            return
        self._refresh_queued = True

        def run() -> None:
            self._refresh_queued = False
            self.refresh()

        self._submit("refresh", run)

    def _on_view(self, _change: object) -> None:
        self._submit("view", self.refresh)

    def _submit(self, action: str, work: Callable[[], None]) -> Future[None] | None:
        def run() -> None:
            try:
                work()
            except (CodeQueueError, OSError, KeyError, ValueError) as exc:
                self._notify("error", f"{action} failed: {exc}")

        try:
            return self._work.submit(run)
        except RuntimeError:  # closed
            return None

    def _review_files(self, uid: str) -> list[dict[str, Any]]:
        """The job's files in review order, each with why it cannot be read as text."""
        with self._state:
            known = self._files.get(uid)
        if known is not None:
            return known
        job = self.source.job(uid)
        files = {f.path: f for f in job.files}
        out = []
        for path in file_order(list(files)):
            entry = files[path]
            risk = ""
            if entry.size > MAX_VIEW_BYTES:
                risk = "too large to show whole"
            else:
                try:
                    head = self.source.read(uid, path)[:8192]
                except OSError:
                    risk = "unreadable"
                else:
                    if is_binary(head):
                        risk = (
                            "a pickle (loading it can run code)"
                            if runs_code_when_loaded(path, head)
                            else "binary"
                        )
            out.append({"path": path, "size": entry.size, "sha256": entry.sha256, "risk": risk})
        with self._state:
            self._files[uid] = out
        return out

    def _hints(self, uid: str) -> ReviewHints | None:
        """The job's hints, or ``None`` when they cannot be made (never a gate)."""
        try:
            return self.source.hints(uid)
        except (CodeQueueError, OSError, ValueError) as exc:
            log.warning("review hints of job %s failed: %s", uid, exc)
            return None

    def _queue_changes(self, rows: list[dict[str, Any]]) -> None:
        """Have the worker make the diff summaries and hint counts the page lacks."""
        with self._state:
            wanted = [
                row
                for row in rows
                if (row["uid"], row["code_hash"]) not in self._changes
                and (row["uid"], row["code_hash"]) not in self._changes_queued
            ]
            self._changes_queued.update((row["uid"], row["code_hash"]) for row in wanted)
        if wanted:
            self._submit("changes", lambda: self._make_changes(wanted))

    def _make_changes(self, rows: list[dict[str, Any]]) -> None:
        """Diff summaries (manifests only, no file read) and hint counts, then the rows."""
        for row in rows:
            uid, code_hash = row["uid"], row["code_hash"]
            if self._closed:
                return
            try:
                diff = self.source.diff(uid, unified=False) if row.get("diff_base") else None
            except (CodeQueueError, OSError, ValueError) as exc:
                log.warning("diff of job %s failed: %s", uid, exc)
                diff = None
            made = row_changes(diff, self._hints(uid))
            with self._state:
                self._changes[(uid, code_hash)] = made
                self._changes_queued.discard((uid, code_hash))
        rows = [self._with_review(row) for row in self.rows]
        if rows != self.rows:
            self.rows = rows

    def _show_decided(self, uids: set[str], status: str) -> None:
        """Show decisions the ledger has just taken, before the page is read again (which at
        100,000 jobs takes tens of ms, the per-status counts mostly): a decided row leaves a
        page of another status, or shows its new status; the page read then fills it up."""
        if not uids:
            return
        shown = str(self.view.get("status") or "pending")
        rows = [
            row if row["uid"] not in uids else {**row, "status": status}
            for row in self.rows
            if row["uid"] not in uids or shown in ("all", status)
        ]
        if rows != self.rows:
            self.rows = rows

    def _mark(self, uid: str, path: str, viewed: bool) -> None:
        with self._state:
            paths = self._viewed.setdefault(uid, set())
            if viewed:
                paths.add(path)
            else:
                paths.discard(path)
            shown = sorted(paths)
        if self.detail.get("uid") == uid:
            self.detail = {**self.detail, "viewed": shown}
        self.rows = [self._with_review(row) for row in self.rows]

    def _with_review(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row with how much of it was read: ``viewed`` files, ``unread`` to approve."""
        uid = row["uid"]
        with self._state:
            viewed = len(self._viewed.get(uid, ()))
            files = self._files.get(uid)
            changes = self._changes.get((uid, row["code_hash"]), {})
        risky = [f["path"] for f in files or () if f["risk"]]
        unread = files is None or bool(risky) or viewed < len(files)
        # Until the worker made them, a row shows no diff and no hints: the same values as
        # changes that found nothing, so such changes send nothing again.
        return {
            **NO_CHANGES,
            **row,
            **changes,
            "viewed": viewed,
            "risky": risky,
            "unread": unread,
        }

    def _name(self, uid: str) -> str:
        for row in self.rows:
            if row["uid"] == uid:
                return f"'{row['name']}'"
        return uid[:8]

    def _notify(self, kind: str, text: str, **extra: Any) -> None:
        self._notices += 1
        self.notice = {"seq": self._notices, "kind": kind, "text": text, **extra}

    def _on_message(self, _widget: object, content: dict[str, Any], _buffers: object) -> None:
        """Actions from the browser, done in the worker thread (the kernel stays free)."""
        action = str(content.get("action"))
        uids = [str(uid) for uid in content.get("uids") or ()]
        uid, path = str(content.get("uid")), str(content.get("path"))
        work: dict[str, Callable[[], None]] = {
            "approve": lambda: self.approve(
                uids, content.get("note"), unread=bool(content.get("unread"))
            ),
            "reject": lambda: self.reject(uids, str(content.get("reason") or "")),
            "open": lambda: self.open_job(uid),
            "file": lambda: self.open_file(uid, path),
            "viewed": lambda: self.set_viewed(uid, path, bool(content.get("viewed"))),
            "refresh": self._refresh_now,
            "results_open": lambda: self.open_results(uid),
            "release": lambda: self.release(
                uid,
                [str(f) for f in content.get("files") or ()],
                str(content.get("reason") or ""),
                confirm_block=bool(content.get("confirm_block")),
            ),
            "withhold": lambda: self.withhold(uid, str(content.get("reason") or "")),
            "view": lambda: self._view_shown(bool(content.get("shown"))),
        }
        if action in work:
            self._submit(action, work[action])

    def _view_shown(self, shown: bool) -> None:
        """A view was drawn (``True``) or removed (``False``: its output cleared, its cell
        run again). With no view left the table stops following the server (the shared
        poller stops with its last table); a view drawn again follows it again.

        A page closed or reloaded removes its views without a word: such a table keeps
        following until :meth:`close`, as every table did before.
        """
        with self._state:
            self._views = max(0, self._views + (1 if shown else -1))
            views = self._views
        if views == 0 and self._following:
            self._following = False
            self._watch.unsubscribe(self._changed)
        elif views > 0 and not self._following and not self._closed:
            self._following = True
            self._watch.subscribe(
                self._changed, self._look, self.interval, version=self.source.version()
            )
            self._refresh_now()

    @property
    def following(self) -> bool:
        """Whether the table follows the server's changes (a view of it is shown)."""
        return self._following

    def _refresh_now(self) -> None:
        self.source.receive()
        self.refresh()


class ResultsWidget(ReviewWidget):
    """The review table opened on its Results view (``server.results_widget()``): jobs
    whose results await release, oldest first; open one to check its held files, tick the
    files to release, then **Release selected** or **Withhold** (each with the reason the
    data scientist sees). The same widget as :class:`ReviewWidget`, not a second one."""

    def __init__(self, server: CodeQueueServer, interval: float = 2.0) -> None:
        super().__init__(server, interval=interval, tab="results")
