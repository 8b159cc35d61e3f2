"""Other datasites are hostile input: nothing they write stops, hangs, slows or leaks from
the owner's queue, and what the requester sees is published only after the ledger commits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import syft_code_queue as scq
from syft_code_queue import FailureReason, JobStatus, audit, store
from syft_code_queue.models import CancelRequest, utcnow
from tests.conftest import DO_EMAIL, DS_EMAIL, make_package, run_until
from tests.fsspy import OpenSpy
from tests.test_bad_requests import MALLORY, copy_request, edit_request, outbox_of

HOUR_AGO = 3600.0


def returns_within(step: Callable[[], object], seconds: float, unblock: Path) -> bool:
    """Run ``step`` in a thread; whether it returned within ``seconds``.

    If it did not, a writer opens the FIFO ``unblock`` so the stuck reader gets EOF and the
    thread ends with the test.
    """
    errors: list[BaseException] = []

    def run() -> None:
        try:
            step()
        except BaseException as exc:  # reported by the caller below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    returned = not thread.is_alive()
    deadline = time.monotonic() + 30
    while thread.is_alive() and time.monotonic() < deadline:
        with contextlib.suppress(OSError):  # opens only while a reader waits; closing: EOF
            os.close(os.open(unblock, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(0.05)
    if errors:
        raise errors[0]
    return returned


def age(*folders: Path) -> None:
    """Set the folders' times an hour back: entries that have been there a while."""
    past = utcnow().timestamp() - HOUR_AGO
    for folder in folders:
        os.utime(folder, (past, past))


def clone_request(folder: Path, requester: str, n: int) -> list[Path]:
    """``n`` copies of a whole request under new uids in ``requester``'s outbox."""
    out = []
    request = json.loads((folder / "request.json").read_text())
    for _ in range(n):
        uid = str(uuid.uuid4())
        dest = outbox_of(folder.parents[6], requester) / uid
        shutil.copytree(folder, dest)
        request.update(uid=uid, requester=requester)
        (dest / "request.json").write_text(json.dumps(request))
        out.append(dest)
    return out


def past_arrival_timeout(do: scq.CodeQueueServer) -> datetime:
    return utcnow() + timedelta(seconds=do.config.arrival_timeout + 1)


@pytest.fixture
def good_job(ds: scq.CodeQueueClient, tmp_path: Path) -> scq.CodeJob:
    return ds.submit_code(DO_EMAIL, make_package(tmp_path / "good", "echo good\n"), "good")


# Names and failure domains


def test_an_odd_datasite_name_never_stops_receipt(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path, syftbox_dir: Path,
    good_job: scq.CodeJob, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    odd = copy_request(ds, code_folder, syftbox_dir, "not-an-email")
    with caplog.at_level(logging.INFO, logger="syft_code_queue"):
        for _ in range(3):
            do.tick()
    assert [j.uid for j in do.list_pending_jobs()] == [good_job.uid]
    with pytest.raises(scq.JobNotFoundError):
        do.get_job(odd.name)
    said = [r for r in caplog.records if "not-an-email" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in said]


def test_a_fifo_as_request_json_never_blocks_the_server(
    do: scq.CodeQueueServer, syftbox_dir: Path, good_job: scq.CodeJob
) -> None:
    folder = outbox_of(syftbox_dir, DS_EMAIL) / str(uuid.uuid4())
    folder.mkdir()
    os.mkfifo(folder / "request.json")
    assert returns_within(do.tick, 10, unblock=folder / "request.json")
    assert [j.uid for j in do.list_pending_jobs()] == [good_job.uid]
    refused = do.tick(past_arrival_timeout(do))
    assert refused.rejected_invalid == 1
    assert "not a regular file" in (do.get_job(folder.name).error_message or "")


def test_a_fifo_as_cancellation_marker_never_blocks_the_server(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, syftbox_dir: Path, good_job: scq.CodeJob
) -> None:
    do.tick()
    cancellations = outbox_of(syftbox_dir, DS_EMAIL) / "cancellations"
    cancellations.mkdir()
    os.mkfifo(cancellations / f"{good_job.uid}.json")
    assert returns_within(do.tick, 10, unblock=cancellations / f"{good_job.uid}.json")
    assert do.get_job(good_job.uid).status is JobStatus.pending


def test_a_symlinked_outbox_is_never_followed(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path, syftbox_dir: Path,
    tmp_path: Path, good_job: scq.CodeJob,
) -> None:  # fmt: skip
    planted = copy_request(ds, code_folder, syftbox_dir, MALLORY)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(syftbox_dir / "datasites" / MALLORY / "app_data", elsewhere)
    (syftbox_dir / "datasites" / MALLORY / "app_data").symlink_to(elsewhere)
    with OpenSpy() as spy:
        spy.watch(elsewhere, recursive=True)
        do.tick()
        do.tick(past_arrival_timeout(do))
        assert spy.opens() == []
    with pytest.raises(scq.JobNotFoundError):
        do.get_job(planted.name)
    assert [j.uid for j in do.list_pending_jobs()] == [good_job.uid]


# Links inside a request, and refusals that reveal nothing


def _with_lib(ds: scq.CodeQueueClient, tmp_path: Path, name: str) -> Path:
    package = make_package(tmp_path / name, "python lib/data.py\n", {"lib/data.py": "SECRET\n"})
    job = ds.submit_code(DO_EMAIL, package, name)
    return job.code_folder.parent  # type: ignore[union-attr]


def test_a_symlinked_folder_inside_code_is_never_followed(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    owners = tmp_path / "owner-files"
    (owners / "lib").mkdir(parents=True)
    (owners / "lib" / "data.py").write_text("SECRET\n")  # the content the requester guessed
    guessed = _with_lib(ds, tmp_path, "guessed")
    shutil.rmtree(guessed / "code" / "lib")
    (guessed / "code" / "lib").symlink_to(owners / "lib")
    with OpenSpy() as spy:
        spy.watch(owners, recursive=True)
        assert do.tick().received == 0
        assert spy.opens() == []
    with pytest.raises(scq.JobNotFoundError):
        do.get_job(guessed.name)


def test_refusals_do_not_tell_missing_from_not_allowed_nor_name_owner_paths(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path, syftbox_dir: Path
) -> None:
    owners = tmp_path / "owner-files"
    (owners / "lib").mkdir(parents=True)
    (owners / "lib" / "data.py").write_text("not what was guessed\n")
    existing = _with_lib(ds, tmp_path, "existing")
    missing = _with_lib(ds, tmp_path, "missing")
    shutil.rmtree(existing / "code" / "lib")
    (existing / "code" / "lib").symlink_to(owners / "lib")
    shutil.rmtree(missing / "code" / "lib")
    (missing / "code" / "lib").symlink_to(tmp_path / "no-such-folder")
    do.tick()
    do.tick(past_arrival_timeout(do))
    seen = [ds.get_job(folder.name) for folder in (existing, missing)]
    assert [job.status for job in seen] == [JobStatus.rejected, JobStatus.rejected]
    assert seen[0].error_message == seen[1].error_message
    assert "not a regular file" in (seen[0].error_message or "")
    assert str(tmp_path) not in (seen[0].error_message or "")


def test_a_folder_where_a_file_belongs_is_refused_without_the_owners_path(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path, syftbox_dir: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "x")
    code = job.code_folder
    assert code is not None
    (code / "analyze.py").unlink()
    (code / "analyze.py").mkdir()
    do.tick()
    do.tick(past_arrival_timeout(do))
    for seen in (ds.get_job(job.uid), do.get_job(job.uid)):
        assert seen.status is JobStatus.rejected
        assert seen.failure_reason is FailureReason.invalid_request
        assert "not a regular file" in (seen.error_message or "")
        assert str(syftbox_dir) not in (seen.error_message or "")


def test_a_hard_link_inside_code_is_refused(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path, tmp_path: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "x")
    target = job.code_folder / "analyze.py"  # type: ignore[operator]
    kept = tmp_path / "owner-copy.py"
    os.link(target, kept)  # two names for one file: the owner's and the request's
    assert do.tick().received == 0
    do.tick(past_arrival_timeout(do))
    assert "not a regular file" in (ds.get_job(job.uid).error_message or "")


# Incomplete requests: looked at again only when they may have changed, never re-copied


def test_an_incomplete_request_is_not_copied_again_on_every_scan(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    files = {f"part{i:03}.txt": f"part {i}\n" for i in range(200)}
    job = ds.submit_code(DO_EMAIL, make_package(tmp_path / "big", "echo hi\n", files), "big")
    code = job.code_folder
    assert code is not None
    late = (code / "part199.txt").read_text()
    (code / "part199.txt").unlink()
    start = utcnow()
    with OpenSpy() as spy:
        spy.watch(code)
        for step in range(5):
            assert do.tick(start + timedelta(seconds=120 * step)).waiting == 1
        opened = [p for p in spy.opens() if p != code]
        assert len(opened) <= 200, f"{len(opened)} opens of 200 present files in 5 scans"
        (code / "part199.txt").write_text(late)
        spy.opens()  # the write itself
        assert do.tick(start + timedelta(seconds=600)).received == 1
        assert [p.name for p in spy.opens() if p != code] == ["part199.txt"]


# Publishing after the ledger commits


def test_status_is_published_only_after_the_ledger_commits(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, good_job: scq.CodeJob,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    do.tick()

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audit, "append_entries", disk_full)
    with pytest.raises(OSError, match="No space"):
        do.approve_job(good_job.uid)
    monkeypatch.undo()
    assert do.get_job(good_job.uid).status is JobStatus.pending
    assert ds.get_job(good_job.uid).status is JobStatus.pending


def test_a_failure_to_publish_never_leaves_a_job_running(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    job = ds.submit_code(DO_EMAIL, make_package(tmp_path / "p", "echo done\n"), "p")
    do.tick()
    do.approve_job(job.uid)
    real = store.publish_status

    def unpublishable(*args: object, **kwargs: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store, "publish_status", unpublishable)
    run_until(do, lambda: do.get_job(job.uid).status.is_terminal)
    assert do.get_job(job.uid).status is JobStatus.completed
    assert ds.get_job(job.uid).status is JobStatus.approved  # not published yet
    monkeypatch.setattr(store, "publish_status", real)
    do.tick()
    assert ds.get_job(job.uid).status is JobStatus.completed
    do.tick()
    assert do.ledger.unpublished(10) == []  # nothing left marked once it is written


def test_failure_messages_published_never_name_owner_paths(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path, syftbox_dir: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "x")
    [pending] = do.list_pending_jobs()
    do.approve_job(job.uid)
    assert pending.code_folder is not None
    (pending.code_folder / "analyze.py").unlink()  # the owner's snapshot lost a file
    do.tick()
    owner_view, requester_view = do.get_job(job.uid), ds.get_job(job.uid)
    assert requester_view.status is JobStatus.failed
    assert str(syftbox_dir) in (owner_view.error_message or "")  # the owner gets the details
    assert str(syftbox_dir) not in (requester_view.error_message or "")
    assert requester_view.error_message


# Order and fairness


def test_the_queue_is_ordered_by_receipt_not_by_the_requesters_clock(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path, syftbox_dir: Path,
    good_job: scq.CodeJob,
) -> None:  # fmt: skip
    do.tick()
    backdated = copy_request(ds, code_folder, syftbox_dir, MALLORY)
    edit_request(backdated, created_at="2001-01-01T00:00:00Z")
    do.tick()
    assert [str(j.uid) for j in do.list_pending_jobs()] == [str(good_job.uid), backdated.name]


def test_a_requester_with_many_requests_cannot_starve_another(
    ds: scq.CodeQueueClient, code_folder: Path, syftbox_dir: Path
) -> None:
    flood = copy_request(ds, code_folder, syftbox_dir, MALLORY)
    clone_request(flood, MALLORY, 40)
    server = scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir, max_requests_per_tick=10)
    try:
        job = ds.submit_code(DO_EMAIL, code_folder, "legit")
        report = server.tick()
        assert report.received == 10
        assert server.get_job(job.uid).status is JobStatus.pending
    finally:
        server.close()


# Listings and cancellations cost nothing when nothing changed


def test_listings_never_scan_again_when_nothing_changed(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, syftbox_dir: Path, good_job: scq.CodeJob
) -> None:
    datasites = syftbox_dir / "datasites"
    outbox = outbox_of(syftbox_dir, DS_EMAIL)
    do.list_pending_jobs()
    age(datasites, *datasites.iterdir(), outbox, outbox / str(good_job.uid))
    do.list_pending_jobs()  # notes the settled stamps
    with OpenSpy() as spy:
        spy.watch(datasites)
        spy.watch(outbox)
        for _ in range(6):
            assert [j.uid for j in do.list_pending_jobs()] == [good_job.uid]
        assert spy.opens() == []


def test_a_cancellation_for_a_job_that_never_arrives_expires(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, syftbox_dir: Path, good_job: scq.CodeJob,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    outbox = outbox_of(syftbox_dir, DS_EMAIL)
    never = uuid.uuid4()
    store.write_cancellation(outbox, never, CancelRequest(uid=never, requested_at=utcnow()))
    age(outbox / "cancellations")
    do.tick()
    with caplog.at_level(logging.INFO, logger="syft_code_queue"):
        do.tick(past_arrival_timeout(do))
    assert any(str(never) in r.getMessage() for r in caplog.records)
    with OpenSpy() as spy:
        spy.watch(outbox / "cancellations")
        for step in range(3):
            do.tick(past_arrival_timeout(do) + timedelta(seconds=step + 1))
        assert spy.opens() == []
    assert do.get_job(good_job.uid).status is JobStatus.pending


def test_the_file_watcher_never_walks_a_link_in_an_outbox(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path, good_job: scq.CodeJob
) -> None:
    owners = tmp_path / "owner-files"
    for i in range(20):
        (owners / f"folder{i}" / "inner").mkdir(parents=True)
    (outbox_of(syftbox_dir, MALLORY)).mkdir(parents=True)
    (outbox_of(syftbox_dir, MALLORY) / "link").symlink_to(owners)
    (outbox_of(syftbox_dir, DS_EMAIL) / "link").symlink_to(owners)
    server = scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir, poll_interval=60)
    with OpenSpy() as spy:
        spy.watch(owners, recursive=True)
        server.start()
        try:
            job = ds.submit_code(DO_EMAIL, make_package(tmp_path / "next", "echo n\n"), "next")
            deadline = time.monotonic() + 20
            while server.ledger.find(str(job.uid)) is None:  # the watcher is ready and woke
                assert time.monotonic() < deadline, "the watcher never woke the server"
                time.sleep(0.01)
        finally:
            server.close()
        assert spy.opens() == []


# Limits


def test_requests_over_the_size_limits_are_refused_at_once(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    big = make_package(tmp_path / "big", "echo big\n", {"data.txt": "x" * 5000})
    small = make_package(tmp_path / "small", "echo small\n", {"data.txt": "x" * 2500})
    server = scq.create_server(
        email=DO_EMAIL, syftbox_dir=syftbox_dir, max_request_bytes=4000, max_requester_bytes=6000
    )
    try:
        too_big = ds.submit_code(DO_EMAIL, big, "big")
        assert server.tick().rejected_invalid == 1
        assert "too large" in (ds.get_job(too_big.uid).error_message or "")
        two = [ds.submit_code(DO_EMAIL, small, f"small {i}") for i in range(2)]
        assert server.tick().received == 2
        third = ds.submit_code(DO_EMAIL, small, "one too many for this requester")
        assert server.tick().rejected_invalid == 1
        refused = ds.get_job(third.uid)
        assert refused.status is JobStatus.rejected
        assert "too large" in (refused.error_message or "")
        server.reject_job(two[0].uid, "not now")  # it no longer holds room
        again = ds.submit_code(DO_EMAIL, small, "fits again")
        assert server.tick().received == 1
        assert server.get_job(again.uid).status is JobStatus.pending
    finally:
        server.close()


def test_a_request_behind_an_outbox_that_became_a_link_is_refused_in_time(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path, syftbox_dir: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    folder = copy_request(ds, code_folder, syftbox_dir, MALLORY)
    (folder / "code" / "analyze.py").unlink()
    assert do.tick().waiting == 1
    app_data = syftbox_dir / "datasites" / MALLORY / "app_data"
    shutil.move(app_data, tmp_path / "moved")
    app_data.symlink_to(tmp_path / "moved")
    assert do.tick(past_arrival_timeout(do)).rejected_invalid == 1
    refused = do.get_job(folder.name)
    assert refused.status is JobStatus.rejected
    assert "not a regular file" in (refused.error_message or "")
    assert str(tmp_path) not in (refused.error_message or "")
