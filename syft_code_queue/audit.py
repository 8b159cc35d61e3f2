"""A hash-chained, append-only audit log of every receipt, decision, start and end.

Each line is a JSON object whose ``hash`` covers its content and the previous line's hash,
so an edited, deleted or reordered line breaks the chain. The ledger stores the last
``(seq, hash)`` as the head, so a truncated log is detected too.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from syft_code_queue.errors import AuditVerificationError

GENESIS = "0" * 64


def _entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def append_entry(
    path: Path,
    head: tuple[int, str],
    *,
    event: str,
    at: datetime,
    actor: str,
    uid: str | None = None,
    details: dict[str, Any] | None = None,
) -> tuple[int, str]:
    """Append one entry after ``head`` and return the new head."""
    entry = AuditEvent(event=event, at=at, actor=actor, uid=uid, details=details or {})
    return append_entries(path, head, [entry])


@dataclass(frozen=True)
class AuditEvent:
    """What happened, before it is chained into the log."""

    event: str
    at: datetime
    actor: str
    uid: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def append_entries(path: Path, head: tuple[int, str], events: list[AuditEvent]) -> tuple[int, str]:
    """Chain ``events`` after ``head``, append them in one write and fsync; return the new head.

    The caller serialises appends (the ledger holds its write lock).
    """
    seq, prev = head
    lines = []
    for event in events:
        seq += 1
        entry: dict[str, Any] = {
            "seq": seq,
            "at": event.at.isoformat(),
            "event": event.event,
            "uid": event.uid,
            "actor": event.actor,
            "details": event.details,
            "prev": prev,
        }
        entry["hash"] = prev = _entry_hash(entry)
        lines.append(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        data = memoryview("".join(lines).encode("utf-8"))
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    return seq, prev


def truncate_to(path: Path, size: int | None) -> None:
    """Cut the log back to ``size`` bytes if it is longer (``None``: leave it)."""
    if size is None:
        return
    try:
        if path.stat().st_size > size:
            os.truncate(path, size)
    except FileNotFoundError:
        pass


@dataclass
class AuditReport:
    """The outcome of :func:`verify`: how many entries chained, and any trouble found."""

    entries: int = 0
    head: tuple[int, str] = (0, GENESIS)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(path: Path, anchor: tuple[int, str] | None = None) -> AuditReport:
    """Check the chain of the log at ``path`` against the ledger's recorded head ``anchor``."""
    report = AuditReport()
    prev_seq, prev_hash = 0, GENESIS
    hashes: dict[int, str] = {}
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        lines = []
    for lineno, raw in enumerate(lines, start=1):
        try:
            entry = json.loads(raw)
            seq, prev, claimed = entry["seq"], entry["prev"], entry["hash"]
        except (ValueError, KeyError, TypeError):
            report.problems.append(f"line {lineno}: not a valid audit entry")
            return report
        if seq != prev_seq + 1:
            report.problems.append(
                f"line {lineno}: seq {seq} follows {prev_seq} (deleted or moved)"
            )
            return report
        if prev != prev_hash:
            report.problems.append(f"line {lineno}: does not chain to the previous entry")
            return report
        if _entry_hash(entry) != claimed:
            report.problems.append(f"line {lineno}: content does not match its hash (edited)")
            return report
        prev_seq, prev_hash = seq, claimed
        hashes[seq] = claimed
    report.entries = prev_seq
    report.head = (prev_seq, prev_hash)
    if anchor is not None:
        anchor_seq, anchor_hash = anchor
        if prev_seq < anchor_seq:
            report.problems.append(
                f"the log ends at entry {prev_seq} but the ledger recorded {anchor_seq} (truncated)"
            )
        elif hashes.get(anchor_seq, GENESIS) != anchor_hash:
            report.problems.append(f"entry {anchor_seq} differs from the ledger's recorded head")
        elif prev_seq > anchor_seq:
            report.notes.append(
                f"{prev_seq - anchor_seq} entries after the ledger's head: a server stopped "
                "between writing the log and its ledger"
            )
    return report


def verify_or_raise(path: Path, anchor: tuple[int, str] | None = None) -> AuditReport:
    """Like :func:`verify`, raising :class:`AuditVerificationError` on any problem."""
    report = verify(path, anchor)
    if not report.ok:
        raise AuditVerificationError(
            f"audit log '{path}' failed verification: " + "; ".join(report.problems)
        )
    return report
