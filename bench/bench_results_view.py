#!/usr/bin/env python
"""The review table's Results view with many jobs awaiting release (kernel side).

Run ``python bench/bench_results_view.py`` (100,000 jobs, half of them awaiting release) or
``--jobs 20000``. It prints, as the median of several runs:

- one page of the Results view (``ReviewSource.results_page``): the first page and the last;
- switching the widget to its Results tab: ``widget.tab = "results"`` until the page is in
  the ``results`` traitlet (the worker thread's read included);
- baselines in the same run: the Code view's first page of pending jobs, and
  ``server.list_awaiting_release()``, which builds every job awaiting release (what a
  view without paging would have to read).

The queue is a real ledger except for its size: rows inserted in one transaction
(``Ledger.insert_many``), as running 50,000 jobs takes long and the view reads only the
ledger until a job is opened (opening one runs ``check_results``: see bench_checks.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_core import Report, Row, Stats, render  # noqa: E402

import syft_code_queue as scq  # noqa: E402
from syft_code_queue.ledger import JobRecord, Ledger  # noqa: E402
from syft_code_queue.models import FileList, JobStatus, utcnow  # noqa: E402
from syft_code_queue.widgets.source import PageQuery, ReviewSource  # noqa: E402

DO = "do@example.com"
RUNS = 15


def build_queue(base: Path, n: int) -> Path:
    """A SyftBox folder whose owner has ``n // 2`` pending jobs and as many awaiting release."""
    box = base / "SyftBox"
    box.mkdir(parents=True)
    with scq.create_server(email=DO, syftbox_dir=box, release="manual") as server:
        path, audit_path = server.ledger.path, server.ledger.audit_path
    ledger = Ledger(path, audit_path)  # no publishing hook: rows only
    start = utcnow() - timedelta(days=30)
    records = []
    for i in range(n):
        at = start + timedelta(seconds=i)
        ran = i % 2 == 1
        records.append(
            (
                JobRecord(
                    uid=str(uuid.uuid4()),
                    requester=f"ds{i % 50:02d}@example.com",
                    name=f"analysis {i:06d}",
                    description="",
                    tags=("cohort",),
                    created_at=at,
                    received_at=at,
                    code_hash="0" * 64,
                    files=FileList(),
                    status=JobStatus.awaiting_release if ran else JobStatus.pending,
                    updated_at=at,
                    started_at=at if ran else None,
                    completed_at=at + timedelta(seconds=5) if ran else None,
                    exit_code=0 if ran else None,
                ),
                None,
            )
        )
    for i in range(0, len(records), 20_000):
        ledger.insert_many(records[i : i + 20_000], actor=DO)
    ledger.close()
    return box


def timed(step: Callable[[], object], runs: int = RUNS) -> Stats:
    step()  # warm: the connection, the counts cache
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        step()
        samples.append(time.perf_counter() - t0)
    return Stats.of(samples)


def measure(n: int, report: Report) -> None:
    with tempfile.TemporaryDirectory(prefix="scq-bench-results-") as tmp:
        box = build_queue(Path(tmp), n)
        with scq.create_server(email=DO, syftbox_dir=box, release="manual") as server:
            source = ReviewSource(server)
            waiting = n // 2
            code_page = timed(lambda: source.page(PageQuery(status="pending")))
            listing = timed(server.list_awaiting_release, runs=3)
            first = timed(lambda: source.results_page(0, 50))
            last = timed(lambda: source.results_page(waiting - 50, 50))
            assert len(source.results_page(waiting - 50, 50).rows) == 50
            widget = server.review_widget()
            try:

                def switch() -> None:
                    widget.tab = "code"
                    widget.wait_idle()
                    widget.results = {"rows": [], "total": 0}  # forget the page: read again
                    t0 = time.perf_counter()
                    widget.tab = "results"
                    widget.wait_idle()
                    samples.append(time.perf_counter() - t0)
                    assert widget.results["total"] == waiting

                samples: list[float] = []
                for _ in range(RUNS + 1):
                    switch()
                tab = Stats.of(samples[1:])
            finally:
                widget.close()
        base = f"code page {code_page.median * 1e3:.2f} ms"
        report.add(Row(f"results page 1 of {waiting:,} awaiting", first, 0.05, baseline=base))
        report.add(Row(f"results last page of {waiting:,} awaiting", last, 0.05, baseline=base))
        report.add(
            Row(
                f"Results tab shown, {n:,} jobs",
                tab,
                0.1,
                baseline=f"list_awaiting_release {listing.median:.2f} s",
            )
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    args = parser.parse_args()
    report = Report()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    measure(args.jobs, report)
    print(render(report.rows))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if all(r.verdict != "MISSES" for r in report.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
