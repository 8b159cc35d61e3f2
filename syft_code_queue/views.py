"""What the owner's ledger looks like from outside: job views and the published status.

Views are built straight from ledger rows (pydantic parses the stored text itself) and
cached by ``(uid, updated_at)``, so listing ten thousand jobs again costs one small query.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import NamedTuple

from syft_code_queue.ledger import JobRecord, Ledger
from syft_code_queue.models import CodeJob, FileList, Guarantees, JobStatus
from syft_code_queue.store import OUTPUT_DIR


class ReviewPage(NamedTuple):
    """One page of the review table: its jobs, and how many jobs match in all."""

    rows: list[CodeJob]
    total: int


class JobViews:
    """Builds and caches the owner's :class:`CodeJob` views of ledger rows."""

    def __init__(self, ledger: Ledger, owner: str, snapshots: Path, jobs_dir: Path) -> None:
        self.ledger = ledger
        self.owner = owner
        self.snapshots = snapshots
        self.jobs_dir = jobs_dir
        self._cache: dict[str, tuple[str, CodeJob]] = {}

    def listing(
        self, status: JobStatus | None, limit: int | None, *, oldest_first: bool
    ) -> list[CodeJob]:
        """Jobs in listing order, reusing the views of jobs that did not change."""
        return self.of_stamps(self.ledger.stamps(status, limit, oldest_first=oldest_first))

    def of_stamps(self, stamps: list[tuple[str, str]]) -> list[CodeJob]:
        """The views of these (uid, updated_at), in order, rebuilding only changed ones."""
        cache = self._cache
        stale = [uid for uid, stamp in stamps if cache.get(uid, ("",))[0] != stamp]
        for row in self.ledger.rows_for(stale):
            cache[row["uid"]] = (row["updated_at"], self.from_row(row))
        return [cache[uid][1] for uid, _ in stamps if uid in cache]

    def of(self, record: JobRecord) -> CodeJob:
        """The view of one job as the ledger holds it now."""
        [row] = self.ledger.rows_for([record.uid])
        return self.from_row(row)

    def from_row(self, row: sqlite3.Row) -> CodeJob:
        uid = row["uid"]
        files = FileList(raw=row["files"])
        completed = row["status"] == JobStatus.completed.value
        return CodeJob.model_validate(
            {
                "uid": uid,
                "name": row["name"],
                "description": row["description"],
                "tags": () if row["tags"] == "[]" else json.loads(row["tags"]),
                "requester_email": row["requester"],
                "target_email": self.owner,
                "status": row["status"],
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
                "received_at": row["received_at"],
                "decided_at": row["decided_at"],
                "started_at": row["started_at"],
                "completed_at": row["completed_at"],
                "reviewer": row["reviewer"],
                "decision_reason": row["decision_reason"],
                "error_message": row["error_message"],
                "failure_reason": row["failure_reason"],
                "exit_code": row["exit_code"],
                "code_hash": row["code_hash"],
                "files": files,
                # Joining onto an already parsed Path is much cheaper than parsing a string.
                "code_folder": self.snapshots / uid if files else None,
                "output_folder": self.jobs_dir / uid / OUTPUT_DIR if completed else None,
                "guarantees": row["guarantees"]
                and Guarantees.model_validate_json(row["guarantees"]),
                "supersedes": row["supersedes"],
                "version": row["version"],
                "diff_base": row["diff_base"],
                "approval_note": row["approval_note"],
                "approved_unread": ()
                if row["unread_files"] == "[]"
                else json.loads(row["unread_files"]),
                "withheld_files": json.loads(row["withheld_files"]),
                "release_reason": row["release_reason"],
            }
        )


def _guarantees(stored: str | None) -> Guarantees | None:
    return None if stored is None else Guarantees.model_validate_json(stored)
