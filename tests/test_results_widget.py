"""The review table's Results view (release="manual"): its messages call the server's
check, release and withhold, as code would; reasons are required; block findings are
released only when confirmed; it pages from the ledger. The front end is driven in a real
browser in tests/browser/test_results_in_jupyterlab.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import syft_code_queue as scq
from syft_code_queue import FailureReason, JobStatus
from syft_code_queue.widgets.review import ResultsWidget, ReviewWidget
from tests.conftest import DO_EMAIL
from tests.test_airlock_release import (
    AGGREGATE,
    AGGREGATE_AND_RECORDS,
    data_dir,
    owner,
    run_to_review,
)

__all__ = ["data_dir", "owner"]  # the fixtures, imported to be used here


@pytest.fixture
def table(owner: scq.CodeQueueServer) -> Iterator[ReviewWidget]:
    """The owner's review table, switched to its Results view as the tab would."""
    widget = owner.review_widget()
    widget.tab = "results"
    widget.wait_idle()
    yield widget
    widget.close()


def send(widget: ReviewWidget, **message: Any) -> None:
    """A message from the browser, and the work it queued, done."""
    widget._on_message(widget, message, None)
    widget.wait_idle()


def test_results_view_lists_jobs_awaiting_release_oldest_first_one_page_at_a_time(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    jobs = [run_to_review(ds, owner, tmp_path, AGGREGATE, f"job {i}") for i in range(3)]
    widget = owner.review_widget()
    try:
        assert widget.results["rows"] == []  # the Code view is shown: nothing read for Results
        widget.tab = "results"
        widget.wait_idle()
        assert [r["uid"] for r in widget.results["rows"]] == [str(j.uid) for j in jobs]
        assert widget.results["total"] == 3
        assert widget.counts["awaiting_release"] == 3  # the tab's "(3 awaiting release)"
        assert widget.airlock == "manual"
        widget.results_view = {"offset": 2, "limit": 2}
        widget.wait_idle()
        assert [r["uid"] for r in widget.results["rows"]] == [str(jobs[2].uid)]
        assert (widget.results["total"], widget.results["offset"]) == (3, 2)
    finally:
        widget.close()


def test_open_then_release_the_ticked_files_through_the_server(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, table: ReviewWidget, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE_AND_RECORDS, "Cohort stats")
    uid = str(job.uid)
    send(table, action="refresh")
    assert [r["findings"] for r in table.results["rows"]] == [None]  # not checked yet
    send(table, action="results_open", uid=uid)
    report = table.report
    assert (report["uid"], report["name"]) == (uid, "Cohort stats")
    files = {f["path"]: f for f in report["files"]}
    assert files["output/records.csv"]["counts"]["block"] == 3
    assert {f["row"] for f in files["output/records.csv"]["findings"]} == {1, 2, 3}
    assert files["output/by_diagnosis.csv"]["counts"] == {"block": 0, "review": 0, "info": 0}
    assert files["output/by_diagnosis.csv"]["preview"]["kind"] == "table"
    assert files["stdout.txt"]["preview"]["kind"] == "text"
    assert table.results["rows"][0]["findings"]["block"] == report["counts"]["block"]
    send(
        table,
        action="release",
        uid=uid,
        files=["output/by_diagnosis.csv"],
        reason="records.csv copies patient rows",
    )
    assert table.notice["kind"] == "ok", table.notice
    assert "released 1 file(s) of 'Cohort stats'" in table.notice["text"]
    assert table.results["rows"] == [] and table.report == {}  # shown at once
    seen = ds.get_job(job.uid)
    assert seen.status is JobStatus.completed
    assert seen.withheld_files == ("output/records.csv", "stderr.txt", "stdout.txt")
    assert seen.release_reason == "records.csv copies patient rows"


def test_a_release_that_withholds_needs_a_reason_and_any_release_a_check(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, table: ReviewWidget, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE, "aggregate")
    uid = str(job.uid)
    send(table, action="release", uid=uid, files=["stdout.txt"], reason="fine")
    assert table.notice["kind"] == "error" and "check" in table.notice["text"]
    send(table, action="results_open", uid=uid)
    send(table, action="release", uid=uid, files=["stdout.txt"], reason="  ")
    assert table.notice["kind"] == "error" and "reason" in table.notice["text"]
    assert "withheld" in table.notice["text"]
    send(table, action="release", uid=uid, files=[], reason="nothing ticked")
    assert table.notice["kind"] == "error" and "Tick the files" in table.notice["text"]
    assert owner.get_job(uid).status is JobStatus.awaiting_release


def test_block_findings_are_released_only_when_confirmed(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, table: ReviewWidget, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE_AND_RECORDS, "records")
    uid = str(job.uid)
    send(table, action="results_open", uid=uid)
    every = [f["path"] for f in table.report["files"]]
    send(table, action="release", uid=uid, files=every, reason="all of it")
    assert table.notice["kind"] == "error"
    assert "output/records.csv of 'records' have block findings" in table.notice["text"]
    assert owner.get_job(uid).status is JobStatus.awaiting_release
    send(table, action="release", uid=uid, files=every, reason="synthetic", confirm_block=True)
    assert table.notice["kind"] == "ok", table.notice
    seen = ds.get_job(job.uid)
    assert (seen.status, seen.withheld_files) == (JobStatus.completed, ())


def test_withhold_from_the_results_view_needs_a_reason(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, table: ReviewWidget, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE, "withheld")
    uid = str(job.uid)
    send(table, action="withhold", uid=uid, reason="")
    assert table.notice["kind"] == "error" and "'withheld'" in table.notice["text"]
    assert owner.get_job(uid).status is JobStatus.awaiting_release
    send(table, action="withhold", uid=uid, reason="not today")
    assert table.notice == {**table.notice, "kind": "ok"}
    assert table.results["rows"] == []
    seen = ds.get_job(job.uid)
    assert (seen.status, seen.failure_reason) == (JobStatus.failed, FailureReason.withheld)
    assert seen.error_message == "not today"


def test_results_widget_is_the_review_table_opened_on_results(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE, "one")
    widget = owner.results_widget()
    try:
        assert isinstance(widget, ReviewWidget) and isinstance(widget, ResultsWidget)
        assert widget.tab == "results"
        assert [r["uid"] for r in widget.results["rows"]] == [str(job.uid)]
    finally:
        widget.close()
    assert owner.list_awaiting_release().live == owner.results_widget


def test_without_the_airlock_the_results_view_says_it_is_off(do: scq.CodeQueueServer) -> None:
    widget = do.results_widget()
    try:
        assert (widget.airlock, widget.results["total"]) == ("auto", 0)
    finally:
        widget.close()
    assert do.email == DO_EMAIL


def test_images_are_inlined_as_data_urls_only_when_small() -> None:
    from datetime import datetime, timezone

    from syft_code_queue.airlock import HeldFile, Preview, ResultsReport
    from syft_code_queue.widgets.results import MAX_IMAGE_BYTES, report_view

    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'

    def held(path: str, size: int) -> HeldFile:
        return HeldFile(
            path=path, size=size, sha256="0" * 64, kind="svg", mime="image/svg+xml",
            preview=Preview(kind="image", mime="image/svg+xml"),
        )  # fmt: skip

    report = ResultsReport(
        uid="u",
        checked_at=datetime.now(timezone.utc),
        files=[held("output/plot.svg", len(svg)), held("output/huge.svg", MAX_IMAGE_BYTES + 1)],
        findings=[],
        counts={"block": 0, "review": 0, "info": 0},
        sha256={},
        checks=[],
    )
    read: list[str] = []

    def read_file(path: str, limit: int) -> bytes:
        read.append(path)
        return svg[:limit]

    view = report_view(report, "plots", read_file)
    small, huge = (f["preview"] for f in view["files"])
    assert small["src"].startswith("data:image/svg+xml;base64,")
    assert huge["src"] is None
    assert read == ["output/plot.svg"]  # a large image is never read for the view


def test_a_check_that_fails_is_shown_in_the_open_job_and_the_notice(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    from tests.conftest import make_package, run_until

    job = ds.submit_code(DO_EMAIL, make_package(tmp_path / "pkg"), "auto")
    do.list_pending_jobs()
    do.approve_job(job.uid)
    run_until(do, lambda: do.get_job(job.uid).is_terminal)
    widget = do.results_widget()
    try:
        send(widget, action="results_open", uid=str(job.uid))  # release="auto": nothing held
        assert widget.report["uid"] == str(job.uid) and widget.report["error"]
        assert widget.notice["kind"] == "error"
        assert widget.notice["text"].startswith("results_open failed")
    finally:
        widget.close()


def test_rows_show_the_findings_of_the_last_check_even_from_another_widget(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE_AND_RECORDS, "checked in code")
    report = owner.check_results(job.uid)  # in code, before any widget
    widget = owner.results_widget()
    try:
        [row] = widget.results["rows"]
        assert row["findings"] == dict(report.counts)
        assert row["findings"]["block"] > 0
    finally:
        widget.close()


def test_releasing_every_file_needs_no_reason(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, table: ReviewWidget, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE, "aggregate")
    uid = str(job.uid)
    send(table, action="results_open", uid=uid)
    every = [f["path"] for f in table.report["files"] if f["releasable"]]
    send(table, action="release", uid=uid, files=every, reason="")
    assert table.notice["kind"] == "ok", table.notice
    seen = ds.get_job(job.uid)
    assert (seen.status, seen.withheld_files, seen.release_reason) == (
        JobStatus.completed,
        (),
        None,
    )
