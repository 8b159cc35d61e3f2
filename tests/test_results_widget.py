"""The owner's results view (server.results_widget()): its buttons call the server's
check, release and withhold, as code would."""

from __future__ import annotations

from pathlib import Path

import syft_code_queue as scq
from syft_code_queue import FailureReason, JobStatus
from syft_code_queue.assets import asset
from tests.test_airlock_release import (
    AGGREGATE,
    AGGREGATE_AND_RECORDS,
    data_dir,
    owner,
    run_to_review,
)

__all__ = ["data_dir", "owner"]  # the fixtures, imported to be used here


def test_check_then_release_the_ticked_files_from_the_results_view(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE_AND_RECORDS, "widget")
    widget = owner.results_widget()
    try:
        assert [row["uid"] for row in widget.jobs] == [str(job.uid)]
        widget._on_message(widget, {"action": "check", "uid": str(job.uid)}, None)
        files = {f["path"]: f for f in widget.report["files"]}
        assert files["output/records.csv"]["counts"]["block"] == 3
        assert files["output/by_diagnosis.csv"]["counts"] == {"block": 0, "review": 0}
        assert files["output/by_diagnosis.csv"]["preview"]["kind"] == "table"
        widget._on_message(
            widget,
            {
                "action": "release",
                "uid": str(job.uid),
                "files": ["output/by_diagnosis.csv"],
                "reason": "rows withheld",
            },
            None,
        )
        assert widget.notice["kind"] == "ok", widget.notice
        assert widget.jobs == [] and widget.report == {}
    finally:
        widget.close()
    seen = ds.get_job(job.uid)
    assert seen.status is JobStatus.completed
    assert seen.withheld_files == ("output/records.csv", "stderr.txt", "stdout.txt")


def test_withhold_from_the_results_view_needs_a_reason(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE, "withheld-widget")
    widget = owner.results_widget()
    try:
        widget._on_message(widget, {"action": "withhold", "uid": str(job.uid), "reason": ""}, None)
        assert widget.notice["kind"] == "error"
        assert owner.get_job(job.uid).status is JobStatus.awaiting_release
        widget._on_message(widget, {"action": "release", "uid": str(job.uid)}, None)
        assert "never checked" in widget.notice["text"]
        widget._on_message(
            widget, {"action": "withhold", "uid": str(job.uid), "reason": "not today"}, None
        )
    finally:
        widget.close()
    seen = ds.get_job(job.uid)
    assert (seen.status, seen.failure_reason) == (JobStatus.failed, FailureReason.withheld)


def test_the_results_view_front_end_ships_with_the_package() -> None:
    assert "export default" in asset("results.js").read_text()
