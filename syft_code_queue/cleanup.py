"""Removing finished jobs once they are old enough (``cleanup_completed_after``).

Results held for release are kept while the job awaits release (it is not finished); once
the owner decided and the job is old enough, they go with the rest.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from syft_code_queue import store
from syft_code_queue.blobs import BlobStore
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
    kept: BlobStore | None = None,
) -> list[str]:
    """Remove terminal jobs older than ``cleanup_completed_after`` from every view.

    The files of a chain's last approved version go to ``kept`` (by content hash) before
    its snapshot is removed, and its ledger row stays, so a later version can still be
    diffed against it. Returns the uids cleaned now; their status is published again (it
    says the results were removed), so the requester stops waiting for them.
    """
    keep = config.cleanup_completed_after
    if keep is None:
        return []
    cutoff = now - timedelta(seconds=keep)
    forgotten = False
    for uid, requester in ledger.tombstones():
        # Forget a cleaned job only once its request left the outbox, or it would
        # look new again.
        outbox = workspace.outbox(requester, workspace.email, config.queue_name)
        if not (outbox / uid).exists():
            remove_tree(jobs_dir / uid)
            if not ledger.is_diff_base(uid):  # a later version's diff needs it
                ledger.forget(uid)
                forgotten = True
    if forgotten and kept is not None and kept.root.is_dir():
        kept.remove_unreferenced(ledger.cleaned_file_hashes())  # no version refers to them
    cleaned = []
    for record in ledger.ended_before(cutoff):
        job_dir = jobs_dir / record.uid
        if kept is not None and ledger.is_diff_base(record.uid):
            kept.keep_all(snapshots / record.uid, record.files)
        remove_tree(snapshots / record.uid)
        if results is not None:
            results.remove(record.uid)
        remove_tree(job_dir / store.OUTPUT_DIR)
        for name in (store.STDOUT_FILE, store.STDERR_FILE):
            (job_dir / name).unlink(missing_ok=True)
        ledger.update(record.uid, cleaned_at=now)
        cleaned.append(record.uid)
    ledger.republish(cleaned)
    return cleaned
