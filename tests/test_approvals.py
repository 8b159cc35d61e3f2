"""Approvals that mean what the owner meant: a private note apart from the reason, and an
explicit, audited "approved unread" for files the owner did not read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import syft_code_queue as scq
from syft_code_queue.cli import main
from tests.conftest import DO_EMAIL, make_package


def audit_entries(do: scq.CodeQueueServer) -> list[dict[str, object]]:
    lines = (do.private_dir / "audit.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def approval_details(do: scq.CodeQueueServer, uid: object) -> dict[str, object]:
    [entry] = [e for e in audit_entries(do) if e["event"] == "approved" and e["uid"] == str(uid)]
    details = entry["details"]
    assert isinstance(details, dict)
    return details


def published_text(do: scq.CodeQueueServer, uid: object) -> str:
    folder = do.jobs_dir / str(uid)
    return "".join(p.read_text() for p in folder.rglob("*.json*"))


@pytest.fixture
def job(ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path) -> scq.CodeJob:
    folder = make_package(tmp_path / "pkg", "python analyze.py\n", {"analyze.py": "print(1)\n"})
    (folder / "weights.pkl").write_bytes(b"\x80\x04\x95\x00")
    submitted = ds.submit_code(DO_EMAIL, folder, "Cohort statistics")
    do.list_pending_jobs()
    return submitted


def test_a_plain_approval_records_no_note_and_nothing_unread(
    do: scq.CodeQueueServer, job: scq.CodeJob
) -> None:
    approved = do.approve_job(job.uid)
    assert (approved.approval_note, approved.approved_unread) == (None, ())
    details = approval_details(do, job.uid)
    assert "note" not in details
    assert "approved_unread" not in details
    assert "reason" not in details


def test_an_approval_note_is_private_to_the_owner(
    do: scq.CodeQueueServer, job: scq.CodeJob
) -> None:
    approved = do.approve_job(job.uid, "aggregate counts only", note="checked with the DPO")
    assert approved.decision_reason == "aggregate counts only"
    assert approved.approval_note == "checked with the DPO"
    details = approval_details(do, job.uid)
    assert (details["reason"], details["note"]) == ("aggregate counts only", "checked with the DPO")
    # The data scientist sees the reason, never the note.
    seen = published_text(do, job.uid)
    assert "aggregate counts only" in seen
    assert "checked with the DPO" not in seen


def test_approving_unread_files_is_recorded_as_an_explicit_confirmation(
    do: scq.CodeQueueServer, job: scq.CodeJob
) -> None:
    assert do.review_status(job.uid).binary == ("weights.pkl",)
    approved = do.approve_job(job.uid, unread=["weights.pkl"])
    assert approved.approved_unread == ("weights.pkl",)
    details = approval_details(do, job.uid)
    assert (details["approved_unread"], details["unread"]) == (True, ["weights.pkl"])
    assert do.verify_audit().ok
    assert "unread" not in published_text(do, job.uid)  # the owner's record, not published


def test_approved_unread_without_names_records_every_file_as_unread(
    do: scq.CodeQueueServer, job: scq.CodeJob
) -> None:
    approved = do.approve_job(job.uid, approved_unread=True)
    assert set(approved.approved_unread) == {"run.sh", "analyze.py", "weights.pkl"}
    assert approval_details(do, job.uid)["approved_unread"] is True


def test_unread_naming_a_file_the_job_lacks_is_refused_and_changes_nothing(
    do: scq.CodeQueueServer, job: scq.CodeJob
) -> None:
    with pytest.raises(ValueError, match=r"has no file 'secret\.py'"):
        do.approve_job(job.uid, unread=["secret.py"])
    assert do.get_job(job.uid).status is scq.JobStatus.pending
    assert [e["event"] for e in audit_entries(do)] == ["received"]


def test_scq_approve_with_a_note_and_unread_files(
    do: scq.CodeQueueServer, job: scq.CodeJob, syftbox_dir: Path
) -> None:
    result = CliRunner().invoke(
        main,
        [
            "--email", DO_EMAIL, "--syftbox-dir", str(syftbox_dir),
            "approve", job.short_id, "--note", "ok per DPO", "--unread", "weights.pkl",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    approved = do.get_job(job.uid)
    assert (approved.approval_note, approved.approved_unread) == ("ok per DPO", ("weights.pkl",))
