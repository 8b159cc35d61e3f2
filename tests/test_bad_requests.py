"""Requests that are truncated, forged or do not match their files: typed, reported, never run.

The server keeps serving good jobs through all of them.
"""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

import syft_code_queue as scq
from syft_code_queue import FailureReason, JobStatus
from syft_code_queue.models import utcnow
from tests.conftest import DO_EMAIL, DS_EMAIL, make_package, run_until

MALLORY = "mallory@example.com"


def outbox_of(syftbox_dir: Path, requester: str) -> Path:
    return syftbox_dir / "datasites" / requester / "app_data" / "code-queue" / "outbox" / DO_EMAIL


def copy_request(
    ds: scq.CodeQueueClient, code_folder: Path, syftbox_dir: Path, requester: str
) -> Path:
    """A real submission by ``ds``, copied under a new uid into ``requester``'s outbox."""
    job = ds.submit_code(DO_EMAIL, code_folder, "template")
    src = outbox_of(syftbox_dir, DS_EMAIL) / str(job.uid)
    uid = str(uuid.uuid4())
    dest = outbox_of(syftbox_dir, requester) / uid
    shutil.copytree(src, dest)
    shutil.rmtree(src)
    request = json.loads((dest / "request.json").read_text())
    request["uid"] = uid
    request["requester"] = requester
    (dest / "request.json").write_text(json.dumps(request))
    return dest


def edit_request(folder: Path, **changes: object) -> None:
    request = json.loads((folder / "request.json").read_text())
    request.update(changes)
    (folder / "request.json").write_text(json.dumps(request))


@pytest.fixture
def good_job(ds: scq.CodeQueueClient, tmp_path: Path) -> scq.CodeJob:
    return ds.submit_code(DO_EMAIL, make_package(tmp_path / "good", "echo good\n"), "good")


def assert_still_serves(do: scq.CodeQueueServer, good: scq.CodeJob) -> None:
    do.approve_job(good.uid)
    run_until(do, lambda: do.get_job(good.uid).status.is_terminal)
    assert do.get_job(good.uid).status is JobStatus.completed


def test_forged_requester_is_rejected_at_once(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path, syftbox_dir: Path,
    good_job: scq.CodeJob,
) -> None:  # fmt: skip
    folder = copy_request(ds, code_folder, syftbox_dir, MALLORY)
    edit_request(folder, requester="alice@example.com")
    pending = do.list_pending_jobs()
    assert [j.uid for j in pending] == [good_job.uid]
    refused = do.get_job(folder.name)
    assert refused.status is JobStatus.rejected
    assert refused.failure_reason is FailureReason.invalid_request
    assert refused.requester_email == MALLORY
    assert "forged requester" in (refused.error_message or "")
    assert_still_serves(do, good_job)


def test_files_not_matching_the_manifest_wait_then_are_rejected(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path, syftbox_dir: Path,
    good_job: scq.CodeJob,
) -> None:  # fmt: skip
    folder = copy_request(ds, code_folder, syftbox_dir, DS_EMAIL)
    (folder / "code" / "analyze.py").write_text("print('swapped')\n")
    report = do.tick()
    assert report.waiting == 1
    with pytest.raises(scq.JobNotFoundError):
        do.get_job(folder.name)
    do.tick(utcnow() + timedelta(seconds=do.config.arrival_timeout + 1))
    refused = do.get_job(folder.name)
    assert refused.status is JobStatus.rejected
    assert "does not match its manifest" in (refused.error_message or "")
    assert ds.get_job(folder.name).status is JobStatus.rejected
    assert_still_serves(do, good_job)


def test_truncated_request_waits_then_is_rejected(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path, syftbox_dir: Path,
    good_job: scq.CodeJob,
) -> None:  # fmt: skip
    folder = copy_request(ds, code_folder, syftbox_dir, DS_EMAIL)
    text = (folder / "request.json").read_text()
    (folder / "request.json").write_text(text[: len(text) // 2])
    assert do.tick().waiting == 1
    do.tick(utcnow() + timedelta(seconds=do.config.arrival_timeout + 1))
    refused = do.get_job(folder.name)
    assert refused.status is JobStatus.rejected
    assert "not arrived" in (refused.error_message or "")
    assert_still_serves(do, good_job)


def test_truncated_request_that_completes_is_received_once(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path, syftbox_dir: Path
) -> None:
    folder = copy_request(ds, code_folder, syftbox_dir, DS_EMAIL)
    text = (folder / "request.json").read_text()
    (folder / "request.json").write_text(text[:10])
    assert do.tick().waiting == 1
    (folder / "request.json").write_text(text)
    assert do.tick().received == 1
    assert do.tick().received == 0
    assert do.get_job(folder.name).status is JobStatus.pending


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"target": "someone@example.com"}, "addressed to someone@example.com"),
        ({"uid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}, "lives in folder"),
        ({"code_hash": "0" * 64}, "code_hash does not match"),
        ({"files": [{"path": "../../etc/passwd", "sha256": "0" * 64, "size": 1}]}, "unsafe path"),
        ({"name": ""}, "name"),
        ({"requester": "not an email"}, "requester"),
    ],
)
def test_invalid_request_is_rejected_with_a_reason(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path, syftbox_dir: Path,
    good_job: scq.CodeJob, changes: dict[str, object], message: str,
) -> None:  # fmt: skip
    folder = copy_request(ds, code_folder, syftbox_dir, DS_EMAIL)
    edit_request(folder, **changes)
    do.tick()
    refused = do.get_job(folder.name)
    assert refused.status is JobStatus.rejected
    assert message in (refused.error_message or "")
    assert not (refused.code_folder and refused.code_folder.exists())
    assert_still_serves(do, good_job)


def test_symlink_in_the_outbox_is_never_followed(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path, syftbox_dir: Path
) -> None:
    folder = copy_request(ds, code_folder, syftbox_dir, DS_EMAIL)
    target = folder / "code" / "analyze.py"
    secret = syftbox_dir / "secret.txt"
    secret.write_bytes(target.read_bytes())
    target.unlink()
    target.symlink_to(secret)
    report = do.tick()
    assert report.received == 0
    assert report.waiting == 1


def test_an_unreadable_request_never_stops_the_server(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, syftbox_dir: Path, good_job: scq.CodeJob
) -> None:
    broken = outbox_of(syftbox_dir, DS_EMAIL) / str(uuid.uuid4())
    (broken / "request.json").mkdir(parents=True)  # a folder where a file belongs
    report = do.tick()
    assert report.waiting == 1
    assert [j.uid for j in do.list_pending_jobs()] == [good_job.uid]
    do.tick(utcnow() + timedelta(seconds=do.config.arrival_timeout + 1))
    refused = do.get_job(broken.name)
    assert refused.status is JobStatus.rejected
    assert "not a regular file" in (refused.error_message or "")
    assert_still_serves(do, good_job)
