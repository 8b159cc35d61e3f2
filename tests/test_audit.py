"""The hash-chained audit log detects edits, deletions, reordering and truncation."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from syft_code_queue import audit
from syft_code_queue.errors import AuditVerificationError
from syft_code_queue.models import utcnow


@pytest.fixture
def log(tmp_path: Path) -> tuple[Path, tuple[int, str]]:
    path = tmp_path / "audit.jsonl"
    head = (0, audit.GENESIS)
    start = utcnow()
    for i, event in enumerate(["received", "approved", "running", "completed", "received"]):
        head = audit.append_entry(
            path, head, event=event, at=start + timedelta(seconds=i), actor="do@example.com",
            uid=f"job-{i // 4}", details={"n": i},
        )  # fmt: skip
    return path, head


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_intact_log_verifies(log: tuple[Path, tuple[int, str]]) -> None:
    path, head = log
    report = audit.verify(path, head)
    assert report.ok
    assert report.entries == 5
    assert report.head == head


def test_edited_entry_is_detected(log: tuple[Path, tuple[int, str]]) -> None:
    path, head = log
    rows = lines(path)
    entry = json.loads(rows[1])
    entry["actor"] = "mallory@example.com"
    rows[1] = json.dumps(entry, sort_keys=True) + "\n"
    path.write_text("".join(rows))
    report = audit.verify(path, head)
    assert not report.ok
    assert "line 2" in report.problems[0]
    assert "edited" in report.problems[0]


def test_deleted_entry_is_detected(log: tuple[Path, tuple[int, str]]) -> None:
    path, head = log
    rows = lines(path)
    del rows[2]
    path.write_text("".join(rows))
    assert "deleted or moved" in audit.verify(path, head).problems[0]


def test_reordered_entries_are_detected(log: tuple[Path, tuple[int, str]]) -> None:
    path, head = log
    rows = lines(path)
    rows[1], rows[2] = rows[2], rows[1]
    path.write_text("".join(rows))
    assert not audit.verify(path, head).ok


def test_truncated_log_is_detected_against_the_ledger_head(
    log: tuple[Path, tuple[int, str]],
) -> None:
    path, head = log
    path.write_text("".join(lines(path)[:3]))
    assert audit.verify(path).ok  # a prefix chains on its own...
    problems = audit.verify(path, head).problems
    assert problems and "truncated" in problems[0]  # ...but not against the head


def test_rewritten_chain_does_not_match_the_head(
    log: tuple[Path, tuple[int, str]], tmp_path: Path
) -> None:
    _, head = log
    forged = tmp_path / "forged.jsonl"
    fake = (0, audit.GENESIS)
    for i in range(5):
        fake = audit.append_entry(
            forged, fake, event="received", at=utcnow(), actor="x", details={"n": i}
        )
    report = audit.verify(forged, head)
    assert not report.ok


def test_garbage_line_is_detected(log: tuple[Path, tuple[int, str]]) -> None:
    path, head = log
    with path.open("a") as f:
        f.write("{not json\n")
    assert "not a valid audit entry" in audit.verify(path, head).problems[0]


def test_verify_or_raise(log: tuple[Path, tuple[int, str]]) -> None:
    path, head = log
    audit.verify_or_raise(path, head)
    path.write_text("".join(lines(path)[:2]))
    with pytest.raises(AuditVerificationError, match="truncated"):
        audit.verify_or_raise(path, head)


def test_entries_after_the_head_are_noted_not_failed(
    log: tuple[Path, tuple[int, str]],
) -> None:
    path, _ = log
    rows = lines(path)
    head_at_4 = (4, json.loads(rows[3])["hash"])
    report = audit.verify(path, head_at_4)
    assert report.ok
    assert "after the ledger's head" in report.notes[0]
