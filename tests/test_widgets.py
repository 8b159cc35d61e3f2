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


def test_review_buttons_approve_and_reject_through_the_server_api(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    a, b, c = (submit(ds, tmp_path, name) for name in "abc")
    widget = do.review_widget()
    try:
        assert [row["uid"] for row in widget.jobs] == [str(a.uid), str(b.uid), str(c.uid)]
        widget._on_message(widget, {"action": "approve", "uids": [str(a.uid)]}, None)
        widget._on_message(
            widget, {"action": "reject", "uids": [str(b.uid), str(c.uid)], "reason": "no"}, None
        )
        assert do.get_job(a.uid).status is JobStatus.approved
        assert do.get_job(a.uid).reviewer == DO_EMAIL
        assert {do.get_job(u).error_message for u in (b.uid, c.uid)} == {"no"}
        statuses = {row["uid"]: row["status"] for row in widget.jobs}  # shown at once
        assert statuses == {str(a.uid): "approved", str(b.uid): "rejected", str(c.uid): "rejected"}
        assert widget.notice["kind"] == "ok"
        assert [e["status"] for e in do.job_events(a.uid)][-1] == "approved"
    finally:
        widget.close()


def test_reject_without_a_reason_changes_nothing_and_says_why(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path)
    widget = do.review_widget()
    try:
        widget._on_message(
            widget, {"action": "reject", "uids": [str(job.uid)], "reason": " "}, None
        )
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
        widget.approve([str(a.uid), str(b.uid)])
        assert do.get_job(a.uid).status is JobStatus.approved
        assert do.get_job(b.uid).status is JobStatus.rejected
        assert widget.notice["kind"] == "error"
        assert re.search(r"approved 1; not approved: .*rejected", widget.notice["text"])
    finally:
        widget.close()


def test_opening_a_job_shows_its_snapshot_files_and_history(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path, "j", **{"src/analyze.py": "print('<b>x</b>')\n"})
    widget = do.review_widget()
    try:
        widget._on_message(widget, {"action": "open", "uid": str(job.uid)}, None)
        assert [f["path"] for f in widget.detail["files"]] == ["run.sh", "src/analyze.py"]
        assert widget.detail["code_hash"] == job.code_hash
        assert [e["status"] for e in widget.detail["events"]] == ["pending"]
        assert widget.detail["guarantees"] == do.guarantees().model_dump()
        widget._on_message(
            widget, {"action": "file", "uid": str(job.uid), "path": "src/analyze.py"}, None
        )
        assert widget.file["text"] == "print('<b>x</b>')\n"
        assert "<b>" not in widget.file["html"]
        assert "&lt;b&gt;" in widget.file["html"]
        widget._on_message(widget, {"action": "file", "uid": str(job.uid), "path": "nope"}, None)
        assert widget.notice["kind"] == "error"
    finally:
        widget.close()


def test_the_review_table_follows_new_arrivals(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    widget = do.review_widget(interval=0.05)
    try:
        assert widget.jobs == []
        job = submit(ds, tmp_path)
        wait_for(lambda: [row["uid"] for row in widget.jobs] == [str(job.uid)])
    finally:
        widget.close()
    assert not widget._poller.running


def test_a_refresh_sends_nothing_when_no_job_changed(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    a, b = submit(ds, tmp_path, "a"), submit(ds, tmp_path, "b")
    widget = do.review_widget(interval=3600)
    changes: list[object] = []
    widget.observe(changes.append, names="jobs")
    try:
        widget.refresh()
        assert changes == []
        do.approve_job(a.uid)
        widget.refresh()
        assert len(changes) == 1
        assert {row["uid"]: row["status"] for row in widget.jobs} == {
            str(b.uid): "pending",
            str(a.uid): "approved",
        }
    finally:
        widget.close()


def test_file_viewer_handles_binary_large_and_cut_characters() -> None:
    assert file_view("x.bin", b"\x00\x01abc", 5)["binary"] is True
    assert file_view("x.txt", b"\xff\xfe not utf-8", 13)["binary"] is True
    big = ("é" * MAX_VIEW_BYTES).encode()[:MAX_VIEW_BYTES]  # cut inside a character
    view = file_view("x.txt", big, 2 * MAX_VIEW_BYTES)
    assert view["truncated"] is True
    assert view["binary"] is False
    assert view["text"] == "é" * (MAX_VIEW_BYTES // 2)
    small = file_view("run.sh", b"echo a\necho b\n", 14)
    assert (small["lines"], small["truncated"]) == (2, False)


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
        assert row["outputs"] == ["result.txt"]
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
