"""What a server does when it takes over a queue: put right what a dead server left.

Jobs it left ``running`` are failed (never re-run), its temp copies and run folders are
removed, and recently changed jobs are published again (published files are not fsynced,
so after a crash of the machine the last few may be stale; the ledger puts them right).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from syft_code_queue.fsio import is_transient_name, list_entries_with_temps, remove_tree
from syft_code_queue.intake import ARRIVING_DIR
from syft_code_queue.ledger import JobRecord, Ledger
from syft_code_queue.models import FailureReason, JobStatus
from syft_code_queue.publisher import Publisher
from syft_code_queue.runner import kill_run
from syft_code_queue.supervisor import Supervisor

log = logging.getLogger("syft_code_queue.server")

REPUBLISH_WINDOW = timedelta(minutes=10)


def recover(
    ledger: Ledger, supervisor: Supervisor, publisher: Publisher, snapshots: Path, now: datetime
) -> None:
    """Everything a server does once it holds the queue's lock, before its first step."""
    recover_interrupted(ledger, supervisor, now)
    remove_leftovers(snapshots, supervisor.private_dir / "runs", snapshots.parent / ARRIVING_DIR)
    publisher.republish_changed_since(now - REPUBLISH_WINDOW)


def recover_interrupted(ledger: Ledger, supervisor: Supervisor, now: datetime) -> None:
    """Jobs left ``running`` by a server that died are failed, never re-run."""
    for record in ledger.records(JobStatus.running, include_cleaned=True):
        if record.uid in supervisor.running:
            continue
        if record.run_id:
            kill_run(record.run_id, _live_pgid(record))
        remove_tree(supervisor.runs_dir(record.uid))
        supervisor.fail(
            record.uid,
            FailureReason.interrupted,
            "interrupted: the server stopped while the job was running; "
            "it will not run again unless it is submitted and approved anew",
            now,
        )
        log.warning("job %s was running when the server stopped; marked failed", record.uid)


def remove_leftovers(snapshots: Path, runs: Path, arriving: Path) -> None:
    """Temp copies, run folders and partial requests a dead server left behind; nothing
    runs now, and incomplete requests are verified again from their outbox."""
    for entry in list_entries_with_temps(snapshots):
        if is_transient_name(entry.name):
            remove_tree(Path(entry.path))
    for folder in (runs, arriving):
        for entry in list_entries_with_temps(folder):
            remove_tree(Path(entry.path))


def _live_pgid(record: JobRecord) -> int | None:
    """The job's process group if its leader is still the process we started."""
    import psutil

    if record.run_pid is None:
        return None
    try:
        proc = psutil.Process(record.run_pid)
        if record.run_pid_started and abs(proc.create_time() - record.run_pid_started) > 0.01:
            return None
    except psutil.Error:
        return None
    return record.run_pid
