"""The data scientist reads the owner's datasite as hostile input too (DESIGN §10).

Another datasite's files are written by someone else: a FIFO must not hang the data
scientist's notebook, a link must not make it read its own private files as the job's
results, and a huge file must not be read whole. Each call runs in a thread with a deadline,
so a hang fails the test instead of stopping the suite.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

import syft_code_queue as scq
from syft_code_queue.models import JobStatus
from tests.conftest import DO_EMAIL, run_until

T = TypeVar("T")
DEADLINE = 10.0


def within_deadline(call: Callable[[], T]) -> T:
    """``call()``, failing the test if it has not returned after DEADLINE seconds."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the test below
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    if thread.is_alive():
        pytest.fail(f"the call did not return within {DEADLINE} s (blocked on the owner's files)")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def unblock_fifo(path: Path) -> None:
    """Open the FIFO for writing once, so a reader stuck in open() gets EOF (cleanup)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    os.close(fd)


@pytest.fixture
def completed(ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path) -> Path:
    """A job that ran and completed; returns the owner's published folder of it."""
    job = ds.submit_code(DO_EMAIL, code_folder, "Stats")
    do.approve_job(do.list_pending_jobs()[0].uid)
    run_until(do, lambda: do.get_job(job.uid).status is JobStatus.completed)
    assert ds.get_job(job.uid).status is JobStatus.completed
    return do.jobs_dir / str(job.uid)


def _swap_for_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def test_a_fifo_as_the_published_status_does_not_hang_the_data_scientist(
    ds: scq.CodeQueueClient, completed: Path
) -> None:
    _swap_for_fifo(completed / "status.json")
    try:
        [job] = within_deadline(ds.list_jobs)
        assert job.status is JobStatus.pending  # no readable status: as if none arrived yet
        assert within_deadline(lambda: ds.get_job(job.uid)).status is JobStatus.pending
    finally:
        unblock_fifo(completed / "status.json")


def test_a_fifo_as_a_published_log_does_not_hang_the_logs_or_the_status(
    ds: scq.CodeQueueClient, completed: Path
) -> None:
    _swap_for_fifo(completed / "stdout.txt")
    try:
        [job] = within_deadline(ds.list_jobs)
        logs = within_deadline(lambda: ds.get_job_logs(job.uid))
        tail = within_deadline(lambda: ds.get_job_logs(job.uid, tail=100))
        assert "rows: 3" not in logs
        assert "rows: 3" not in tail
    finally:
        unblock_fifo(completed / "stdout.txt")


def test_a_published_log_that_links_to_a_private_file_is_not_followed(
    ds: scq.CodeQueueClient, completed: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "home" / "secret.txt"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("the data scientist's own token\n")
    (completed / "stdout.txt").unlink()
    (completed / "stdout.txt").symlink_to(secret)
    [job] = ds.list_jobs()
    assert "token" not in ds.get_job_logs(job.uid)
    assert "token" not in ds.get_job_logs(job.uid, tail=1000)


def test_a_job_folder_that_is_a_link_is_not_read(
    ds: scq.CodeQueueClient, completed: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    completed.rename(elsewhere)
    completed.symlink_to(elsewhere, target_is_directory=True)
    [job] = ds.list_jobs()
    assert job.status is JobStatus.pending
    assert job.output_folder is None
    assert "rows: 3" not in ds.get_job_logs(job.uid)


def test_a_huge_published_log_is_read_only_up_to_the_sync_limit(
    ds: scq.CodeQueueClient, completed: Path
) -> None:
    with (completed / "stderr.txt").open("wb") as f:
        f.truncate(4 * 1024**3)  # sparse: 4 GiB that costs no disk
    [job] = ds.list_jobs()
    logs = within_deadline(lambda: ds.get_job_logs(job.uid))
    assert "rows: 3" in logs
    assert len(logs) < 11_000_000
    assert "not read" in logs
