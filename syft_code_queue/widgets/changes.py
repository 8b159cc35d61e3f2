"""What the review table shows of a job's changes and flagged lines: plain JSON values.

The server computes both (:meth:`CodeQueueServer.job_diff`, :meth:`~CodeQueueServer.review_hints`);
this module only shapes them for the front end. Hints never gate a decision: they are counts
in the row, marks in the viewer's gutter and a list under it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from syft_code_queue.diffs import JobDiff
from syft_code_queue.hints import HintKind, ReviewHints

REVIEW_MANUALLY = "review manually"
# What a row shows before its changes are made, and when there are none to show.
NO_CHANGES: dict[str, Any] = {"diff": "", "hints": None, "hints_text": ""}


def hint_counts(hints: ReviewHints, path: str | None = None) -> dict[str, Any]:
    """``{"warn": n, "look": n, "unparsed": [paths]}`` of a job, or of one of its files."""
    shown = [h for h in hints.hints if path is None or h.path == path]
    by_severity = Counter(h.severity for h in shown if h.kind is not HintKind.unparsed)
    unparsed = sorted(
        {h.path for h in shown if h.kind is HintKind.unparsed}
        | {p for p in hints.unparsed if path is None or p == path}
    )
    return {"warn": by_severity["warn"], "look": by_severity["look"], "unparsed": unparsed}


def hints_text(counts: dict[str, Any]) -> str:
    """E.g. ``"2 warn, 3 look"``, ``"review manually"`` for unparsed code, ``""`` for none."""
    parts = [f"{counts[s]} {s}" for s in ("warn", "look") if counts.get(s)]
    if counts.get("unparsed"):
        parts.append(REVIEW_MANUALLY)
    return ", ".join(parts)


def file_hints(hints: ReviewHints, path: str) -> list[dict[str, Any]]:
    """One file's hints for the viewer, by line; ``unparsed`` ones say "review manually"."""
    return [
        {
            "line": h.line,
            "column": h.column,
            "kind": str(h.kind),
            "severity": h.severity,
            "message": (
                f"{REVIEW_MANUALLY}: {h.message}" if h.kind is HintKind.unparsed else h.message
            ),
            "text": h.text,
        }
        for h in hints.for_file(path)
    ]


def row_changes(diff: JobDiff | None, hints: ReviewHints | None) -> dict[str, Any]:
    """What a row shows: ``diff`` (the summary, ``""`` for a first version) and ``hints``."""
    counts = hint_counts(hints) if hints is not None else None
    return {
        "diff": diff.summary if diff is not None and diff.base_uid is not None else "",
        "hints": counts,
        "hints_text": hints_text(counts) if counts is not None else "",
    }


def diff_view(diff: JobDiff) -> dict[str, Any]:
    """The diff view: files added, removed or changed first (each with its change and
    unified diff or a note), then the unchanged ones."""
    files = sorted(diff.files, key=lambda f: f.change == "unchanged")
    return {
        "summary": diff.summary,
        "base_uid": diff.base_uid,
        "base_version": diff.base_version,
        "base_kind": diff.base_kind,
        "files": [
            {
                "path": f.path,
                "change": f.change,
                "diff": f.diff,
                "note": f.note or "",
                "binary": f.binary,
                "truncated": f.truncated,
            }
            for f in files
        ],
    }
