#!/usr/bin/env python
"""Load benchmark: 10,000 pending jobs from 50 data scientists; prints one table.

Run ``python bench/bench_load.py`` (10,000 jobs) or ``--quick`` (1,000). The owner's server
runs in its own process (started with ``start()``, as a data owner would run it), and this
process plays the 50 data scientists and the stopwatch:

- receive loop: one more request submitted while 10,000 are present -> the owner's ledger
  has it (read straight from SQLite, so the measuring side does no receiving itself);
- listing, warm and in a fresh process, and ``approve_job``, with 10,000 present;
- the server's resident memory (RSS) with 10,000 jobs listed and its loop running, against
  the same server with no jobs, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import Report, Row, Stats, clean_env, make_package, render

import syft_code_queue as scq

DO = "do@example.com"
SCIENTISTS = 50
WAIT_LIMIT = 60.0

# The owner's server process: lists everything, starts its loop, then answers commands on
# stdin ("list", "approve <uid>", "quit") with one JSON line each.
_SERVER = r"""
import json, sys, time, psutil
t0 = time.perf_counter()
import syft_code_queue as scq
server = scq.create_server(email=sys.argv[1], syftbox_dir=sys.argv[2])
jobs = server.list_pending_jobs()
first = time.perf_counter() - t0
server.start()
print(json.dumps({"n": len(jobs), "first": first}), flush=True)
for line in sys.stdin:
    cmd, *args = line.split()
    if cmd == "quit":
        break
    t = time.perf_counter()
    if cmd == "list":
        n = len(server.list_pending_jobs())
    elif cmd == "approve":
        n = 1
        server.approve_job(args[0])
    print(json.dumps({"n": n, "seconds": time.perf_counter() - t}), flush=True)
server.stop()
"""


class Owner:
    """The owner's server in a child process, driven over stdin/stdout."""

    def __init__(self, box: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, DO, str(box)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the owner's server process died")
        result: dict[str, Any] = json.loads(line)
        return result

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def rss(self) -> int:
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


def in_ledger(box: Path, uid: str) -> bool:
    db = box / ".syft_code_queue" / DO / "code-queue" / "queue.db"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute("SELECT 1 FROM jobs WHERE uid = ?", (uid,)).fetchone() is not None
    finally:
        con.close()


def wait_until(what: str, done: Any) -> float:
    start = time.perf_counter()
    while not done():
        if time.perf_counter() - start > WAIT_LIMIT:
            raise TimeoutError(f"{what} did not happen within {WAIT_LIMIT} s")
        time.sleep(0.001)
    return time.perf_counter() - start


def run(n: int, probes: int, report: Report) -> None:
    with tempfile.TemporaryDirectory(prefix="scq-load-") as tmp_name:
        tmp = Path(tmp_name)
        box = tmp / "SyftBox"
        box.mkdir()
        package = make_package(tmp / "pkg", 3)
        clients = [
            scq.create_client(email=f"ds{i:02d}@example.com", syftbox_dir=box)
            for i in range(SCIENTISTS)
        ]
        t0 = time.perf_counter()
        for i in range(n):
            clients[i % SCIENTISTS].submit_code(DO, package, f"job {i}")
        submitted = time.perf_counter() - t0

        empty_box = tmp / "Empty"
        empty_box.mkdir()
        baseline = Owner(empty_box)
        base_rss = baseline.rss()
        baseline.close()

        owner = Owner(box)
        try:
            if owner.ready["n"] != n:
                raise RuntimeError(f"the owner lists {owner.ready['n']} jobs, expected {n}")
            report.add(
                Row(
                    f"receive {n:,} requests from {SCIENTISTS} people (server start)",
                    Stats.of([owner.ready["first"]]),
                    baseline=f"submitting them: {submitted:.1f} s",
                )
            )
            latencies = []
            for i in range(probes):
                job = clients[i % SCIENTISTS].submit_code(DO, package, f"probe {i}")
                uid = str(job.uid)
                latencies.append(wait_until("receipt", lambda u=uid: in_ledger(box, u)))
            report.add(
                Row(
                    f"receive loop: submit -> in the ledger, {n:,} present",
                    Stats.of(latencies),
                    limit=0.25,
                    baseline="server running (watcher + 0.25 s poll)",
                )
            )
            warm = [owner.ask("list")["seconds"] for _ in range(10)]
            report.add(
                Row(f"list_pending_jobs, {n + probes:,} pending, warm", Stats.of(warm), 0.030)
            )
            pending = [j.uid for j in scq.create_client(email="ds00@example.com", syftbox_dir=box)
                       .list_jobs(limit=probes)]  # fmt: skip
            approvals = [owner.ask(f"approve {uid}")["seconds"] for uid in pending]
            report.add(Row(f"approve_job, {n:,} present", Stats.of(approvals), 0.003))
            rss = owner.rss()
            report.add_memory(rss, base_rss, n)
        finally:
            owner.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 jobs instead of 10,000")
    args = parser.parse_args()
    n, probes = (1_000, 5) if args.quick else (10_000, 20)
    report = MemoryReport()
    print(f"syft-code-queue {scq.__version__} | {os.cpu_count()} CPUs | {n:,} jobs", flush=True)
    run(n, probes, report)
    print()
    print(render(report.rows))
    for line in report.details:
        print(f"- {line}")
    return 0


class MemoryReport(Report):
    """The table of bench_core, plus one memory row (MB rather than seconds)."""

    def add_memory(self, rss: int, base: int, n: int) -> None:
        mb = rss / 1e6
        verdict = "meets" if mb <= 300 else "MISSES"
        self.note(
            f"server RSS with {n:,} jobs listed and its loop running: {mb:.0f} MB "
            f"(target <= 300 MB: {verdict}); the same server with no jobs: {base / 1e6:.0f} MB"
        )
        print(f"  server RSS: {mb:.0f} MB ({verdict})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
