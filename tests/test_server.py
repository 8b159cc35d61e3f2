"""The data owner's side: review, decisions, running, results, and what must never run."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

import syft_code_queue as scq
from syft_code_queue import FailureReason, InvalidTransitionError, JobStatus
from syft_code_queue.models import utcnow
from syft_code_queue.runner import RunSpec
from tests.conftest import DO_EMAIL, DS_EMAIL, make_package, run_until


def private(syftbox_dir: Path) -> Path:
    return syftbox_dir / ".syft_code_queue" / DO_EMAIL / "code-queue"


def published(syftbox_dir: Path, uid: object) -> Path:
    return syftbox_dir / "datasites" / DO_EMAIL / "app_data" / "code-queue" / "jobs" / str(uid)


def submit(ds: scq.CodeQueueClient, tmp_path: Path, script: str, name: str = "job") -> scq.CodeJob:
    folder = make_package(tmp_path / f"pkg-{name}-{abs(hash(script))}", script)
    return ds.submit_code(DO_EMAIL, folder, name)


def finished(server: scq.CodeQueueServer, uid: object) -> bool:
    return server.get_job(str(uid)).status.is_terminal


def test_owner_sees_pending_job_with_its_exact_files(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "Stats", tags=["statistics"])
    [pending] = do.list_pending_jobs()
    assert (pending.uid, pending.name, pending.requester_email) == (job.uid, "Stats", DS_EMAIL)
    assert pending.code_folder is not None
    assert (pending.code_folder / "analyze.py").read_bytes() == (
        code_folder / "analyze.py"
    ).read_bytes()
    assert do.read_job_file(job.uid, "run.sh") == (code_folder / "run.sh").read_bytes()
    assert pending.received_at is not None


def test_seed_quick_start_approve_run_and_results(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "Stats")
    for pending in do.list_pending_jobs():
        do.approve_job(pending.uid)
    assert ds.get_job(job.uid).status is JobStatus.approved
    run_until(do, lambda: finished(do, job.uid))
    done = ds.get_job(job.uid)
    assert done.status is JobStatus.completed, done.error_message
    assert done.exit_code == 0
    assert "rows: 3" in ds.get_job_logs(job.uid)
    output = ds.get_job_output(job.uid)
    assert output is not None
    assert (output / "result.txt").read_text() == "42"
    assert done.started_at is not None and done.completed_at is not None
    assert done.started_at <= done.completed_at


def test_uid_as_str_or_uuid(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "x")
    do.list_pending_jobs()
    assert do.get_job(str(job.uid)).uid == do.get_job(job.uid).uid == job.uid
    assert ds.get_job(str(job.uid)).uid == job.uid


def test_reject_shows_reason_to_data_scientist(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "x")
    do.list_pending_jobs()
    do.reject_job(job.uid, "Uses individual rows")
    seen = ds.get_job(job.uid)
    assert seen.status is JobStatus.rejected
    assert seen.error_message == "Uses individual rows"
    assert do.list_pending_jobs() == []
    do.tick()
    assert not (private(ds.workspace.data_dir) / "runs" / str(job.uid)).exists()


def test_reject_needs_a_reason(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "x")
    do.list_pending_jobs()
    with pytest.raises(ValueError, match="needs a reason"):
        do.reject_job(job.uid, " ")


def test_approving_a_job_that_is_not_pending(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "x")
    do.list_pending_jobs()
    do.reject_job(job.uid, "no")
    with pytest.raises(InvalidTransitionError, match="rejected, not pending"):
        do.approve_job(job.uid)


def test_unknown_uid_on_the_server(do: scq.CodeQueueServer) -> None:
    with pytest.raises(scq.JobNotFoundError, match="no job"):
        do.approve_job("1b4e28ba-2fa1-11d2-883f-0016d3cca427")


def test_nothing_runs_without_approval(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    job = submit(ds, tmp_path, f"touch {marker}\n")
    for _ in range(5):
        do.tick()
    assert do.get_job(job.uid).status is JobStatus.pending
    assert not marker.exists()


def test_forged_status_file_never_makes_a_job_run(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path, syftbox_dir: Path
) -> None:
    marker = tmp_path / "ran"
    job = submit(ds, tmp_path, f"touch {marker}\n")
    do.tick()
    status_file = published(syftbox_dir, job.uid) / "status.json"
    forged = json.loads(status_file.read_text())
    forged["status"] = "approved"
    status_file.write_text(json.dumps(forged))
    for _ in range(3):
        do.tick()
    assert do.get_job(job.uid).status is JobStatus.pending
    assert not marker.exists()


def test_code_changed_after_approval_is_not_run(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path, syftbox_dir: Path
) -> None:
    marker = tmp_path / "ran"
    job = submit(ds, tmp_path, f"touch {marker}\n")
    do.list_pending_jobs()
    do.approve_job(job.uid)
    snapshot_run = private(syftbox_dir) / "snapshots" / str(job.uid) / "run.sh"
    snapshot_run.chmod(0o644)
    snapshot_run.write_text(f"touch {marker}\necho evil\n")
    do.tick()
    failed = do.get_job(job.uid)
    assert failed.status is JobStatus.failed
    assert failed.failure_reason is FailureReason.hash_mismatch
    assert not marker.exists()


def test_edits_in_the_outbox_after_receipt_change_nothing(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path, syftbox_dir: Path
) -> None:
    job = submit(ds, tmp_path, "echo original\n")
    do.list_pending_jobs()
    outbox_run = (
        syftbox_dir / "datasites" / DS_EMAIL / "app_data" / "code-queue" / "outbox" / DO_EMAIL
        / str(job.uid) / "code" / "run.sh"
    )  # fmt: skip
    outbox_run.write_text("echo swapped\n")
    do.approve_job(job.uid)
    run_until(do, lambda: finished(do, job.uid))
    assert "original" in do.get_job_logs(job.uid)
    assert "swapped" not in do.get_job_logs(job.uid)


def test_job_environment(ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path) -> None:
    script = (
        'echo "id=$JOB_ID name=$JOB_NAME req=$REQUESTER_EMAIL"\n'
        'test -d "$OUTPUT_DIR"\n'
        'echo "secret=${SECRET_TOKEN:-none}"\n'
        "read -t 1 line || echo stdin-empty\n"
        'python -c "import sys; print(sys.executable)"\n'
        "pip --version\n"
    )
    job = submit(ds, tmp_path, script, name="envjob")
    do.list_pending_jobs()
    do.approve_job(job.uid)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SECRET_TOKEN", "leak")
        run_until(do, lambda: finished(do, job.uid))
    logs = do.get_job_logs(job.uid)
    assert do.get_job(job.uid).status is JobStatus.completed, logs
    assert f"id={job.uid} name=envjob req={DS_EMAIL}" in logs
    assert "secret=none" in logs
    assert "stdin-empty" in logs
    assert sys.executable in logs


def test_nonzero_exit_is_a_failure_with_the_code(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path, "echo oops >&2\nexit 3\n")
    do.list_pending_jobs()
    do.approve_job(job.uid)
    run_until(do, lambda: finished(do, job.uid))
    seen = ds.get_job(job.uid)
    assert (seen.status, seen.exit_code, seen.failure_reason) == (
        JobStatus.failed, 3, FailureReason.exit_code,
    )  # fmt: skip
    assert "code 3" in (seen.error_message or "")
    assert "oops" in ds.get_job_logs(job.uid)


def test_timeout_kills_the_whole_process_tree(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    import psutil

    marker = "scq-timeout-marker-7731"
    # Durations no other process on the machine uses, so only this job's sleeps match.
    job = submit(
        ds,
        tmp_path,
        f"(sleep 300.7731; echo {marker}) &\nsetsid sleep 301.7731 &\nsleep 302.7731\n",
    )
    do.list_pending_jobs()
    do.approve_job(job.uid)
    do.tick()
    started = do.get_job(job.uid).started_at
    assert started is not None
    do.tick(started + timedelta(seconds=5))
    assert do.get_job(job.uid).status is JobStatus.running
    do.tick(started + timedelta(seconds=31))
    seen = do.get_job(job.uid)
    assert (seen.status, seen.failure_reason) == (JobStatus.failed, FailureReason.timeout)
    sleeps = (["sleep", "300.7731"], ["sleep", "301.7731"], ["sleep", "302.7731"])
    leftovers = [
        p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [])[:2] in sleeps
    ]
    assert leftovers == []


def test_log_overflow_kills_the_job(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    server = scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir, max_log_bytes=10_000)
    job = submit(ds, tmp_path, "while true; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxx; done\n")
    server.list_pending_jobs()
    server.approve_job(job.uid)
    try:
        run_until(server, lambda: finished(server, job.uid))
        seen = server.get_job(job.uid)
        assert (seen.status, seen.failure_reason) == (JobStatus.failed, FailureReason.log_limit)
        assert len(server.get_job_logs(job.uid)) < 11_000
    finally:
        server.close()


def test_max_concurrent_jobs_is_respected(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    server = scq.create_server(max_concurrent_jobs=2, email=DO_EMAIL, syftbox_dir=syftbox_dir)
    jobs = [submit(ds, tmp_path, f"sleep 30 # {i}\n", name=f"j{i}") for i in range(4)]
    server.list_pending_jobs()
    for job in jobs:
        server.approve_job(job.uid)
    try:
        report = server.tick()
        assert report.started == 2
        assert len(server.list_jobs(status=JobStatus.running)) == 2
        assert len(server.list_jobs(status=JobStatus.approved)) == 2
    finally:
        server.close()
    assert all(server.get_job(j.uid).status is not JobStatus.running for j in jobs)


def test_stop_marks_running_jobs_interrupted(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path, "sleep 60\n")
    do.list_pending_jobs()
    do.approve_job(job.uid)
    do.tick()
    assert do.get_job(job.uid).status is JobStatus.running
    do.stop()
    seen = do.get_job(job.uid)
    assert (seen.status, seen.failure_reason) == (JobStatus.failed, FailureReason.interrupted)


def test_job_left_running_by_a_dead_server_fails_and_never_reruns(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path, "echo run\nsleep 60\n")
    live_log = syftbox_dir.resolve() / ".syft_code_queue" / DO_EMAIL / "code-queue" / "runs"
    live_log = live_log / str(job.uid) / "stdout.txt"  # the running job's private log
    child = f"""
import sys, time
import syft_code_queue as scq
s = scq.create_server(email={DO_EMAIL!r}, syftbox_dir={str(syftbox_dir)!r})
s.list_pending_jobs()
s.approve_job({str(job.uid)!r})
s.tick()
print(s.get_job({str(job.uid)!r}).status.value, flush=True)
sys.stdin.read()
"""
    with subprocess.Popen(
        [sys.executable, "-c", child], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "running"
        deadline = time.monotonic() + 10
        while not (live_log.exists() and live_log.read_text() == "run\n"):
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.01)
        proc.kill()
    server = scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir)
    try:
        server.tick()
        seen = server.get_job(job.uid)
        assert (seen.status, seen.failure_reason) == (JobStatus.failed, FailureReason.interrupted)
        assert "interrupted" in (seen.error_message or "")
        for _ in range(3):
            server.tick()
        started = [e for e in server.job_events(job.uid) if e["status"] == "running"]
        assert len(started) == 1, "the interrupted job was started again"
        assert ds.get_job(job.uid).status is JobStatus.failed
    finally:
        server.close()


def test_second_server_on_one_datasite_is_refused(syftbox_dir: Path) -> None:
    first = scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir)
    second = scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir)
    try:
        first.start()
        with pytest.raises(scq.ServerAlreadyRunningError, match="already runs"):
            second.start()
        with pytest.raises(scq.ServerAlreadyRunningError):
            second.tick()
    finally:
        first.close()
        second.close()
    third = scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir)
    third.tick()
    third.close()


def test_start_runs_jobs_in_the_background_until_stop(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "bg")
    do.start()
    try:
        assert do.is_running
        [pending] = do.list_pending_jobs()
        do.approve_job(pending.uid)
        done = ds.wait(job.uid, timeout=20)
        assert done.status is JobStatus.completed
    finally:
        do.stop()
    assert not do.is_running


def test_cancel_pending_and_running_jobs(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    waiting = submit(ds, tmp_path, "echo a\n", name="a")
    running = submit(ds, tmp_path, "sleep 60\n", name="b")
    do.list_pending_jobs()
    do.approve_job(running.uid)
    do.tick()
    ds.cancel_job(waiting.uid)
    ds.cancel_job(running.uid)
    do.tick()
    for job in (waiting, running):
        seen = ds.get_job(job.uid)
        assert (seen.status, seen.failure_reason) == (JobStatus.failed, FailureReason.cancelled)
    with pytest.raises(InvalidTransitionError, match="already failed"):
        ds.cancel_job(waiting.uid)


@pytest.mark.parametrize("trial", range(5))
def test_a_cancelled_job_runs_no_further_line_of_its_script(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path, trial: int
) -> None:
    job = submit(ds, tmp_path, f"echo started\nsleep 45.{trial}\necho never\n", name="long")
    do.list_pending_jobs()
    do.approve_job(job.uid)
    live = do.private_dir / "runs" / str(job.uid) / "stdout.txt"
    run_until(do, lambda: live.exists() and live.read_text() == "started\n")
    ds.cancel_job(job.uid)
    run_until(do, lambda: do.get_job(job.uid).is_terminal)
    assert do.get_job(job.uid).failure_reason is FailureReason.cancelled
    assert "never" not in do.get_job_logs(job.uid)


def test_cleanup_removes_old_finished_jobs_on_both_sides(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    config = scq.QueueConfig(cleanup_completed_after=3600)
    server = scq.CodeQueueServer(config, email=DO_EMAIL, syftbox_dir=syftbox_dir)
    client = scq.create_client(email=DS_EMAIL, syftbox_dir=syftbox_dir, config=config)
    old = submit(ds, tmp_path, "echo old\n", name="old")
    new = submit(ds, tmp_path, "echo new\n", name="new")
    server.list_pending_jobs()
    server.reject_job(old.uid, "no")
    try:
        server.tick(utcnow() + timedelta(hours=2))
        assert [j.name for j in server.list_jobs()] == ["new"]
        assert not (private(syftbox_dir) / "snapshots" / str(old.uid)).exists()
        # The data scientist's view drops it too, and removes its own copy.
        assert [j.name for j in client.list_jobs()] == ["new", "old"]
        assert client.cleanup(utcnow() + timedelta(hours=2)) == 1
        assert [j.name for j in client.list_jobs()] == ["new"]
        # Once the request is gone from the outbox, the owner forgets the job entirely.
        server.tick(utcnow() + timedelta(hours=3))
        assert not published(syftbox_dir, old.uid).exists()
        assert published(syftbox_dir, new.uid).exists()
    finally:
        server.close()


def test_a_completed_job_cleaned_by_the_owner_first_ends_on_the_requesters_side_too(
    syftbox_dir: Path, tmp_path: Path
) -> None:
    """The owner removes logs and outputs before the data scientist looked: the job is not
    shown as running forever (waiting for logs that will never come), and it is cleaned."""
    config = scq.QueueConfig(cleanup_completed_after=3600)
    server = scq.CodeQueueServer(config, email=DO_EMAIL, syftbox_dir=syftbox_dir)
    client = scq.create_client(email=DS_EMAIL, syftbox_dir=syftbox_dir, config=config)
    job = submit(client, tmp_path, "echo hi\n", name="quick")
    try:
        server.list_pending_jobs()
        server.approve_job(job.uid)
        server.wait(job.uid, timeout=30)
        server.tick(utcnow() + timedelta(hours=2))  # the owner cleans up first
        seen = client.get_job(job.uid)
        assert seen.status is JobStatus.completed
        assert seen.output_folder is None
        assert client.cleanup(utcnow() + timedelta(hours=2)) == 1
        assert client.list_jobs() == []
    finally:
        server.close()


def test_audit_log_records_every_step_and_verifies(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path, syftbox_dir: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "x")
    do.list_pending_jobs()
    do.approve_job(job.uid, "looks aggregate-only")
    run_until(do, lambda: finished(do, job.uid))
    lines = [json.loads(x) for x in (private(syftbox_dir) / "audit.jsonl").read_text().splitlines()]
    assert [e["event"] for e in lines] == ["received", "approved", "running", "completed"]
    assert lines[1]["details"]["code_hash"] == job.code_hash
    assert lines[1]["actor"] == DO_EMAIL
    assert lines[1]["details"]["reason"] == "looks aggregate-only"
    report = do.verify_audit()
    assert report.ok and report.entries == 4


def test_published_events_follow_the_job(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path, syftbox_dir: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "x")
    do.list_pending_jobs()
    do.approve_job(job.uid)
    run_until(do, lambda: finished(do, job.uid))
    events = (published(syftbox_dir, job.uid) / "events.jsonl").read_text().splitlines()
    assert [json.loads(e)["status"] for e in events] == [
        "pending",
        "approved",
        "running",
        "completed",
    ]
    perm = (published(syftbox_dir, job.uid) / "syftperm.yaml").read_text()
    assert f"user: {DS_EMAIL}" in perm


def test_config_fields_take_effect(
    syftbox_dir: Path, ds: scq.CodeQueueClient, tmp_path: Path
) -> None:
    config = scq.QueueConfig(queue_name="other-queue", max_concurrent_jobs=1, job_timeout=5)
    server = scq.CodeQueueServer(config=config, email=DO_EMAIL, syftbox_dir=syftbox_dir)
    client = scq.create_client(email=DS_EMAIL, syftbox_dir=syftbox_dir, config=config)
    try:
        submit(ds, tmp_path, "echo default queue\n", name="default")
        job = client.submit_code(DO_EMAIL, make_package(tmp_path / "q", "echo q\n"), "q")
        assert [j.uid for j in server.list_pending_jobs()] == [job.uid]
        assert (syftbox_dir / "datasites" / DS_EMAIL / "app_data" / "other-queue").is_dir()
        assert server.runner.config.job_timeout == 5
    finally:
        server.close()


def test_create_server_signature_matches_the_seed(syftbox_dir: Path) -> None:
    server = scq.create_server(
        max_concurrent_jobs=3, job_timeout=600, email=DO_EMAIL, syftbox_dir=syftbox_dir
    )
    assert (server.config.max_concurrent_jobs, server.config.job_timeout) == (3, 600)
    server.close()


def test_cancel_written_before_the_owner_received_the_job(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    first = submit(ds, tmp_path, "echo a\n", name="first")
    early = submit(ds, tmp_path, "echo b\n", name="early")
    ds.cancel_job(early.uid)
    # Over sync the cancellation can arrive before the request it cancels.
    request = early.code_folder.parent / "request.json"  # type: ignore[union-attr]
    text = request.read_text()
    request.unlink()
    do.tick()
    request.write_text(text)
    do.tick()
    seen = ds.get_job(early.uid)
    assert (seen.status, seen.failure_reason) == (JobStatus.failed, FailureReason.cancelled)
    assert ds.get_job(first.uid).status is JobStatus.pending


def test_incomplete_cancellation_marker_is_retried(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path, syftbox_dir: Path
) -> None:
    job = submit(ds, tmp_path, "echo a\n")
    do.tick()
    ds.cancel_job(job.uid)
    marker = (
        syftbox_dir / "datasites" / DS_EMAIL / "app_data" / "code-queue" / "outbox" / DO_EMAIL
        / "cancellations" / f"{job.uid}.json"
    )  # fmt: skip
    whole = marker.read_text()
    marker.write_text(whole[:5])
    do.tick()
    assert do.get_job(job.uid).status is JobStatus.pending
    marker.write_text(whole)
    do.tick()
    assert do.get_job(job.uid).status is JobStatus.failed


def test_a_second_process_view_never_replaces_a_received_snapshot(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    owner_a = scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir)
    owner_b = scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir)
    try:
        first = submit(ds, tmp_path, "echo first\n", name="first")
        assert len(owner_b.list_pending_jobs()) == 1  # b now caches the uids it knows
        job = submit(ds, tmp_path, "echo a\n")
        owner_a.list_pending_jobs()
        sentinel = private(syftbox_dir) / "snapshots" / str(job.uid) / "sentinel"
        sentinel.write_text("the snapshot a received")
        assert [j.uid for j in owner_b.list_pending_jobs()] == [first.uid, job.uid]
        assert sentinel.exists()
    finally:
        owner_a.close()
        owner_b.close()


def test_file_watcher_wakes_the_server_without_polling(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    submit(ds, tmp_path, "echo first\n", name="first")  # the outbox exists before start
    server = scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir, poll_interval=60)
    server.start()
    try:
        deadline = time.monotonic() + 10
        while server.ledger.count(JobStatus.pending) < 1:  # the first tick at start
            assert time.monotonic() < deadline
            time.sleep(0.01)
        job = submit(ds, tmp_path, "echo second\n", name="second")
        deadline = time.monotonic() + 10
        while server.ledger.find(str(job.uid)) is None:
            assert time.monotonic() < deadline, "the watcher never woke the server"
            time.sleep(0.01)
        server.approve_job(job.uid)
        assert ds.wait(job.uid, timeout=10).status is JobStatus.completed
    finally:
        server.close()


def test_jobs_submitted_while_the_server_starts_are_received_without_polling(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    """A job that lands between the first listing and the watcher's start is not missed."""
    submit(ds, tmp_path, "echo first\n", name="first")  # the outbox exists before start
    for round_ in range(15):
        server = scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir, poll_interval=60)
        server.start()
        try:
            job = submit(ds, tmp_path, "echo x\n", name=f"round {round_}")
            deadline = time.monotonic() + 10
            while server.ledger.find(str(job.uid)) is None:
                assert time.monotonic() < deadline, f"round {round_}: the job was missed"
                time.sleep(0.01)
        finally:
            server.close()


def test_a_new_server_republishes_lost_status_files(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path, "echo a\n")
    with scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir) as first:
        first.list_pending_jobs()
        first.reject_job(job.uid, "not aggregate")
    (published(syftbox_dir, job.uid) / "status.json").unlink()  # lost in a machine crash
    assert ds.get_job(job.uid).status is JobStatus.pending
    with scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir) as second:
        second.tick()
    assert ds.get_job(job.uid).status is JobStatus.rejected


def test_owner_can_act_on_a_job_before_listing_it(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "x")
    assert do.get_job(job.uid).status is JobStatus.pending
    second = ds.submit_code(DO_EMAIL, code_folder, "y")
    assert do.approve_job(second.uid).status is JobStatus.approved


def test_logs_and_output_of_an_unknown_job_are_errors(do: scq.CodeQueueServer) -> None:
    missing = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    with pytest.raises(scq.JobNotFoundError):
        do.get_job_logs(missing)
    with pytest.raises(scq.JobNotFoundError):
        do.get_job_output(missing)


def test_approving_a_rejected_job_says_why_not(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "x")
    do.reject_job(job.uid, "no")
    with pytest.raises(InvalidTransitionError) as caught:
        do.approve_job(job.uid)
    assert "only pending jobs can be approved" in str(caught.value)
    assert "changed meanwhile" not in str(caught.value)


def test_a_fresh_process_trusts_saved_outbox_stamps_only_while_unchanged(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syft_code_queue.fsio import FolderChanges

    monkeypatch.setattr(FolderChanges, "SETTLE_NS", 0)  # every stamp counts as settled
    first = submit(ds, tmp_path, "echo 1\n", name="first")
    with scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir) as owner:
        assert [j.uid for j in owner.list_pending_jobs()] == [first.uid]
    second = submit(ds, tmp_path, "echo 2\n", name="second")
    with scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir) as owner:
        assert [j.uid for j in owner.list_pending_jobs()] == [first.uid, second.uid]


def test_owner_can_wait_for_a_job_with_or_without_the_loop(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    first = submit(ds, tmp_path, "echo one\n", name="one")
    do.approve_job(first.uid)
    assert do.wait(first.uid, timeout=20).status is JobStatus.completed  # drives tick itself
    second = submit(ds, tmp_path, "echo two\n", name="two")
    do.start()
    do.approve_job(second.uid)
    assert do.wait(second.uid, timeout=20).status is JobStatus.completed
    stuck = submit(ds, tmp_path, "echo three\n", name="three")
    with pytest.raises(TimeoutError, match="still pending"):
        do.wait(stuck.uid, timeout=0.2)


def test_an_output_too_large_to_sync_fails_the_job_and_others_still_arrive(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    script = (
        'echo small > "$OUTPUT_DIR/small.txt"\nhead -c 11000000 /dev/zero > "$OUTPUT_DIR/big.bin"\n'
    )
    job = submit(ds, tmp_path, script)
    do.approve_job(job.uid)
    seen = do.wait(job.uid, timeout=30)
    assert (seen.status, seen.failure_reason) == (JobStatus.failed, FailureReason.output_limit)
    assert "'big.bin'" in (seen.error_message or "")
    assert "max_output_file_bytes" in (seen.error_message or "")
    assert "SyftBox syncs no file over" in (seen.error_message or "")
    published_output = published(ds.workspace.data_dir, job.uid) / "output"
    assert sorted(p.name for p in published_output.iterdir()) == ["small.txt"]


def test_data_scientist_sees_the_end_only_once_results_arrived(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path, syftbox_dir: Path
) -> None:
    job = submit(ds, tmp_path, 'echo hello\necho 42 > "$OUTPUT_DIR/result.txt"\n')
    do.approve_job(job.uid)
    assert do.wait(job.uid, timeout=20).status is JobStatus.completed
    job_dir = published(syftbox_dir, job.uid)
    # As over sync: status.json is here, the result and the log are not (yet).
    result = (job_dir / "output" / "result.txt").read_bytes()
    log = (job_dir / "stdout.txt").read_bytes()
    (job_dir / "output" / "result.txt").unlink()
    (job_dir / "stdout.txt").write_bytes(log[:2])
    fresh = scq.create_client(email=DS_EMAIL, syftbox_dir=syftbox_dir)
    early = fresh.get_job(job.uid)
    assert early.status is JobStatus.running
    assert early.output_folder is None
    (job_dir / "output" / "result.txt").write_bytes(result)
    assert fresh.get_job(job.uid).status is JobStatus.running  # the log is still half there
    (job_dir / "stdout.txt").write_bytes(log)
    done = fresh.get_job(job.uid)
    assert done.status is JobStatus.completed
    assert done.output_folder is not None
    assert (done.output_folder / "result.txt").read_text() == "42\n"


def test_cpu_limit_leaves_room_for_every_core_for_the_whole_timeout(syftbox_dir: Path) -> None:
    server = scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir, job_timeout=10)
    cores = os.cpu_count() or 1
    spec = RunSpec("u", "n", DS_EMAIL, "r", syftbox_dir, (), "", syftbox_dir / "run")
    argv = server.runner.command(spec)
    assert argv[:2] == ["/bin/sh", "-c"] and "ulimit -t" in argv[2]  # RLIMIT_CPU: its 2nd arg
    assert argv[5] == str(10 * cores + 1)
    server.close()


def test_a_failure_while_collecting_results_fails_the_job_not_the_server(
    ds: scq.CodeQueueClient,
    do: scq.CodeQueueServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = submit(ds, tmp_path, "echo a\n", name="broken")
    do.approve_job(broken.uid)
    do.tick()

    def disk_full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(do.runner, "_collect_outputs", disk_full)
    seen = do.wait(broken.uid, timeout=20)
    assert (seen.status, seen.failure_reason) == (JobStatus.failed, FailureReason.internal_error)
    assert "No space left on device" in (seen.error_message or "")
    monkeypatch.undo()
    fine = submit(ds, tmp_path, "echo b\n", name="fine")
    do.approve_job(fine.uid)
    assert do.wait(fine.uid, timeout=20).status is JobStatus.completed


def test_log_tail_reads_only_the_end_of_each_log(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    folder = make_package(
        # 589 KB of stdout: long, but under the log cap, so no run is cut short by it
        tmp_path / "pkg",
        "seq 1 100000\necho last-out\necho first-err >&2\necho last-err >&2\n",
    )
    job = ds.submit_code(DO_EMAIL, folder, name="chatty")
    do.approve_job(job.uid)
    run_until(do, lambda: do.get_job(job.uid).is_terminal)
    ds.wait(job.uid, timeout=10)
    whole = ds.get_job_logs(job.uid)
    tail = ds.get_job_logs(job.uid, tail=100)
    assert len(whole) > 500_000
    assert tail.startswith(whole.split("--- stderr ---")[0][-100:])
    assert tail.endswith("--- stderr ---\nfirst-err\nlast-err\n")
    assert do.get_job_logs(job.uid, tail=9).endswith("last-err\n")
    assert len(do.get_job_logs(job.uid, tail=9)) < 40


def test_what_a_job_was_held_to_is_stored_with_its_result(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path, "echo a\n")
    do.list_pending_jobs()
    assert do.get_job(job.uid).guarantees is None  # not run yet
    do.approve_job(job.uid)
    run_until(do, lambda: do.get_job(job.uid).is_terminal)
    held = do.get_job(job.uid).guarantees
    assert held == do.guarantees()
    assert held is not None
    assert held.isolated  # the default queue runs every job in its sandbox
    assert ds.wait(job.uid, timeout=10).guarantees == held  # the data scientist sees it too


def test_a_ledger_from_before_the_guarantees_column_is_upgraded_in_place(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path, "echo a\n")
    with scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir) as first:
        first.list_pending_jobs()
    db = private(syftbox_dir) / "queue.db"
    with sqlite3.connect(db) as con:
        con.execute("ALTER TABLE jobs DROP COLUMN guarantees")
        con.execute("ALTER TABLE jobs DROP COLUMN log_files")
    with scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir) as upgraded:
        assert upgraded.get_job(job.uid).status is JobStatus.pending
        upgraded.approve_job(job.uid)
        run_until(upgraded, lambda: upgraded.get_job(job.uid).is_terminal)
        assert upgraded.get_job(job.uid).guarantees == upgraded.guarantees()


def test_max_memory_bytes_stops_a_job_that_allocates_more(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    limit = 512 * 1024 * 1024
    hog = submit(ds, tmp_path, 'python -c "x = bytearray(2 * 1024 ** 3)"\n', name="hog")
    small = submit(ds, tmp_path, 'python -c "x = bytearray(10 * 1024 ** 2)"\n', name="small")
    with scq.create_server(
        email=DO_EMAIL, syftbox_dir=syftbox_dir, max_memory_bytes=limit
    ) as server:
        assert "cgroup" in server.guarantees().memory  # over the whole tree, held as root too
        server.list_pending_jobs()
        for job in (hog, small):
            server.approve_job(job.uid)
        run_until(server, lambda: all(server.get_job(j.uid).is_terminal for j in (hog, small)))
        assert server.get_job(small.uid).status is JobStatus.completed
        failed = server.get_job(hog.uid)
        assert failed.failure_reason is FailureReason.memory_limit
        assert "max_memory_bytes" in (failed.error_message or "")
    with scq.create_server(
        email="nolimit@example.com", syftbox_dir=syftbox_dir, max_memory_bytes=None
    ) as plain:
        assert plain.guarantees().memory.startswith("NOT ENFORCED")


def test_publishing_again_with_nothing_new_for_the_requester_rewrites_nothing(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path
) -> None:
    # Every rewrite is a new file for the sync engine to send, and on some file systems
    # creating files is what a busy queue spends its time on.
    job = ds.submit_code(DO_EMAIL, code_folder, "Stats")
    do.tick()
    folder = do.jobs_dir / str(job.uid)
    before = {p.name: p.stat().st_ino for p in folder.iterdir() if p.is_file()}
    assert {"status.json", "events.jsonl"} <= set(before)
    do.ledger.republish([str(job.uid)])
    do.tick()
    assert do.ledger.unpublished(10) == []
    assert {p.name: p.stat().st_ino for p in folder.iterdir() if p.is_file()} == before


def test_a_new_event_is_appended_to_the_published_history_in_place(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path
) -> None:
    # events.jsonl only grows: appending keeps its file (no new file per status change);
    # a history that changed in any other way is replaced whole, atomically.
    job = ds.submit_code(DO_EMAIL, code_folder, "Stats")
    do.tick()
    events = do.jobs_dir / str(job.uid) / "events.jsonl"
    inode, lines = events.stat().st_ino, events.read_text().splitlines()
    do.approve_job(job.uid, reason="fine")
    grown = events.read_text().splitlines()
    assert grown[: len(lines)] == lines and len(grown) > len(lines)
    assert events.stat().st_ino == inode
    events.write_text('{"torn": \n')  # say, a crash in the middle of an append
    do.ledger.republish([str(job.uid)])
    do.tick()  # (which also starts the job: one more event)
    repaired = events.read_text().splitlines()
    assert repaired[: len(grown)] == grown
    assert all(json.loads(line)["status"] for line in repaired)
