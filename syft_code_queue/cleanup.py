"""Removing finished jobs once they are old enough (``cleanup_completed_after``).

Results held for release are kept while the job awaits release (it is not finished); once
the owner decided and the job is old enough, they go with the rest.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from syft_code_queue import store
from syft_code_queue.fsio import remove_tree
from syft_code_queue.ledger import Ledger
from syft_code_queue.models import QueueConfig
from syft_code_queue.release import ResultsGate
from syft_code_queue.workspace import Workspace

CLEANUP_EVERY = timedelta(seconds=60)


def cleanup(  # noqa: PLR0917 - the server's parts, passed as they are
    ledger: Ledger,
    config: QueueConfig,
    workspace: Workspace,
    snapshots: Path,
    jobs_dir: Path,
    now: datetime,
    results: ResultsGate | None = None,
) -> int:
    """Remove terminal jobs older than ``cleanup_completed_after`` from every view."""
    keep = config.cleanup_completed_after
    if keep is None:
        return 0
    cutoff = now - timedelta(seconds=keep)
    for uid, requester in ledger.tombstones():
        # Forget a cleaned job only once its request left the outbox, or it would
        # look new again.
        outbox = workspace.outbox(requester, workspace.email, config.queue_name)
        if not (outbox / uid).exists():
            remove_tree(jobs_dir / uid)
            ledger.forget(uid)
    cleaned = 0
    for record in ledger.ended_before(cutoff):
        job_dir = jobs_dir / record.uid
        remove_tree(snapshots / record.uid)
        if results is not None:
            results.remove(record.uid)
        remove_tree(job_dir / store.OUTPUT_DIR)
        for name in (store.STDOUT_FILE, store.STDERR_FILE):
            (job_dir / name).unlink(missing_ok=True)
        ledger.update(record.uid, cleaned_at=now)
        cleaned += 1
    return cleaned
