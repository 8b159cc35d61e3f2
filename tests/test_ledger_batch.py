"""Several ledger moves in one transaction: one audit append, and a refused move leaves
the others standing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import syft_code_queue as scq
from syft_code_queue import audit
from syft_code_queue.errors import InvalidTransitionError
from syft_code_queue.ledger import Transition
from syft_code_queue.models import JobStatus, utcnow
from tests.conftest import make_package


def test_one_refused_move_leaves_the_others_and_all_share_one_audit_append(
    ds: scq.CodeQueueClient,
    do: scq.CodeQueueServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uids = [
        str(ds.submit_code(do.email, make_package(tmp_path / f"p{i}"), f"j{i}").uid)
        for i in range(3)
    ]
    do.list_pending_jobs()
    do.approve_job(uids[0])
    do.approve_job(uids[2])  # uids[1] stays pending: it cannot be started
    appends: list[Any] = []
    real = audit.append_entries

    def counting(*args: Any) -> tuple[int, str]:
        appends.append(args)
        return real(*args)

    monkeypatch.setattr(audit, "append_entries", counting)
    moves = [
        Transition(uid, JobStatus.running, do.email, utcnow(), expect=JobStatus.approved)
        for uid in uids
    ]
    done = do.ledger.transition_many(moves)
    assert isinstance(done[1], InvalidTransitionError)
    assert [do.ledger.get(uid).status for uid in uids] == [
        JobStatus.running,
        JobStatus.pending,
        JobStatus.running,
    ]
    assert len(appends) == 1  # one write and fsync for both moves
    assert do.verify_audit().ok
