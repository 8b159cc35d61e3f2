#!/usr/bin/env python
"""Core speed benchmarks of syft-code-queue; prints one table.

Run ``python bench/bench_core.py`` (full sizes, a few minutes) or ``--quick`` (small sizes,
under a minute, for CI smoke runs). Every scenario runs on a fresh temporary SyftBox folder
shared by a data scientist (ds@example.com) and a data owner (do@example.com); every
comparison baseline is measured in the same run, interleaved with the measured operation
where that makes sense. See ``bench/README.md`` for what each row measures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import syft_code_queue as scq
from syft_code_queue.manifest import scan_code_folder
from syft_code_queue.runner import RunSpec, SafeCodeRunner

DS = "ds@example.com"
DO = "do@example.com"
WAIT_LIMIT = 30.0  # seconds any single wait may take before the benchmark gives up
POLL = 0.0002  # seconds between two polls of the ledger (keeps the GIL free for the server)
# Keep the benchmark independent of the machine's own SyftBox identity.
_AMBIENT = ("SYFTBOX_EMAIL", "SYFTBOX_DATA_DIR", "SYFTBOX_CLIENT_CONFIG_PATH")


# Sizes


@dataclass(frozen=True)
class Sizes:
    submits: int
    pending: int
    list_repeats: int
    fresh_repeats: int
    approvals: int
    latency_jobs: int
    xproc_jobs: int
    runner_repeats: int
    e2e_jobs: int
    throughput_jobs: int
    throughput_runs: int
    import_repeats: int
    review_jobs: int
    page_repeats: int
    hostile: int
    hostile_ticks: int


FULL = Sizes(
    submits=200,
    pending=10_000,
    list_repeats=15,
    fresh_repeats=7,
    approvals=200,
    latency_jobs=30,
    xproc_jobs=10,
    runner_repeats=50,
    e2e_jobs=30,
    throughput_jobs=200,
    throughput_runs=3,
    import_repeats=10,
    review_jobs=100_000,
    page_repeats=15,
    hostile=1_000,
    hostile_ticks=30,
)
QUICK = Sizes(
    submits=30,
    pending=300,
    list_repeats=5,
    fresh_repeats=3,
    approvals=30,
    latency_jobs=5,
    xproc_jobs=3,
    runner_repeats=10,
    e2e_jobs=5,
    throughput_jobs=40,
    throughput_runs=1,
    import_repeats=3,
    review_jobs=5_000,
    page_repeats=5,
    hostile=200,
    hostile_ticks=10,
)


# Statistics and the table


@dataclass(frozen=True)
class Stats:
    """Samples of one measurement (seconds, or jobs per second for rates)."""

    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        if not samples:
            raise ValueError("no samples")
        return cls(tuple(sorted(samples)))

    @property
    def median(self) -> float:
        s, n = self.samples, len(self.samples)
        return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2

    @property
    def p90(self) -> float:
        """Nearest-rank 90th percentile."""
        n = len(self.samples)
        return self.samples[min(n - 1, max(0, -(-9 * n // 10) - 1))]

    @property
    def min(self) -> float:
        return self.samples[0]

    @property
    def max(self) -> float:
        return self.samples[-1]


def fmt_time(seconds: float) -> str:
    ms = seconds * 1e3
    if seconds >= 10:
        return f"{seconds:.1f} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def fmt_rate(rate: float) -> str:
    return f"{rate:.1f} jobs/s"


@dataclass(frozen=True)
class Row:
    metric: str
    stats: Stats
    limit: float | None = None  # None: informational row
    rate: bool = False  # samples are jobs/s and higher is better
    baseline: str = "-"

    def fmt(self, value: float) -> str:
        return fmt_rate(value) if self.rate else fmt_time(value)

    @property
    def target(self) -> str:
        if self.limit is None:
            return "(info)"
        return f">= {self.fmt(self.limit)}" if self.rate else f"<= {self.fmt(self.limit)}"

    @property
    def verdict(self) -> str:
        if self.limit is None:
            return "info"
        ok = self.stats.median >= self.limit if self.rate else self.stats.median <= self.limit
        return "meets" if ok else "MISSES"

    def cells(self) -> list[str]:
        s = self.stats
        return [
            self.metric,
            self.target,
            self.fmt(s.median),
            self.fmt(s.p90),
            f"{self.fmt(s.min)} / {self.fmt(s.max)}",
            str(len(s.samples)),
            self.baseline,
            self.verdict,
        ]


HEADER = ["metric", "target", "median", "p90", "min / max", "n", "baseline (same run)", "verdict"]


class TableRow(Protocol):
    def cells(self) -> list[str]: ...


def render(rows: Sequence[TableRow], header: Sequence[str] = HEADER) -> str:
    """A Markdown table of ``rows`` (one cell per column of ``header``), columns aligned."""
    table = [list(header), *(r.cells() for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(table[0]), sep, *(line(c) for c in table[1:])])


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(f"  {row.metric}: median {row.fmt(row.stats.median)} ({row.verdict})", flush=True)

    def note(self, text: str) -> None:
        self.details.append(text)


# Fixtures: temp SyftBox folders, code packages, subprocesses


@dataclass(frozen=True)
class Bench:
    sizes: Sizes
    tmp_root: Path | None
    report: Report

    @contextmanager
    def tempdir(self) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="scq-bench-", dir=self.tmp_root) as tmp:
            yield Path(tmp)

    @contextmanager
    def queue(
        self, **settings: Any
    ) -> Iterator[tuple[scq.CodeQueueClient, scq.CodeQueueServer, Path]]:
        """A fresh SyftBox folder with a DS client and a DO server; always cleaned up."""
        settings.setdefault("job_timeout", 60)
        with self.tempdir() as tmp:
            box = tmp / "SyftBox"
            box.mkdir()
            client = scq.create_client(email=DS, syftbox_dir=box)
            server = scq.create_server(email=DO, syftbox_dir=box, **settings)
            try:
                yield client, server, tmp
            finally:
                server.close()


def make_package(folder: Path, n_files: int, script: str = "echo hi") -> Path:
    """A code folder: ``run.sh`` plus ``n_files - 1`` small source files (a few in a subfolder)."""
    folder.mkdir(parents=True)
    (folder / "run.sh").write_text(f"#!/bin/bash\n{script}\n")
    for i in range(n_files - 1):
        path = folder / ("src" if i % 3 else "") / f"part_{i}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f'"""Part {i} of the analysis."""\n\nVALUE_{i} = {i}\n' + "# pad\n" * 20)
    return folder


def submit_many(client: scq.CodeQueueClient, package: Path, n: int, prefix: str) -> list[str]:
    return [str(client.submit_code(DO, package, f"{prefix} {i:05d}").uid) for i in range(n)]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _AMBIENT}


def run_python(code: str, *args: str) -> tuple[float, dict[str, Any]]:
    """Run ``python -c code args``; return its wall time and the JSON it printed (if any)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"python -c failed ({proc.returncode}):\n{proc.stderr}")
    out = proc.stdout.strip()
    return wall, (json.loads(out.splitlines()[-1]) if out else {})


def wait_for(what: str, done: Callable[[], bool], interval: float = POLL) -> float:
    """Poll ``done`` until true; return ``time.perf_counter()`` of the first true poll."""
    deadline = time.perf_counter() + WAIT_LIMIT
    while True:
        if done():
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {WAIT_LIMIT:g} s")
        time.sleep(interval)


def status_of(server: scq.CodeQueueServer, uid: str) -> scq.JobStatus:
    return server.get_job(uid).status


def wait_running(server: scq.CodeQueueServer, uid: str) -> float:
    """Poll the ledger until the job is ``running``; return when that was first seen."""
    return wait_for(f"job {uid} to run", lambda: status_of(server, uid) is scq.JobStatus.running)


def wait_ended(server: scq.CodeQueueServer, uid: str) -> float:
    """Poll the ledger until the job has ended; return when that was first seen."""
    return wait_for(f"job {uid} to end", lambda: status_of(server, uid).is_terminal)


def wait_terminal(server: scq.CodeQueueServer, uid: str) -> scq.CodeJob:
    wait_for(f"job {uid} to end", lambda: status_of(server, uid).is_terminal, 0.002)
    job = server.get_job(uid)
    if job.status is not scq.JobStatus.completed:
        raise RuntimeError(f"job {uid} ended {job.status.value}: {job.error_message}")
    return job


def ms(seconds: float) -> str:
    return fmt_time(seconds)


# Scenario 1: submit


def bench_submit(b: Bench) -> None:
    n = b.sizes.submits
    with b.queue() as (client, _server, tmp):
        package = make_package(tmp / "pkg", 10)
        copies = tmp / "copies"
        submit_many(client, package, 3, "warm-up")
        submit: list[float] = []
        copytree: list[float] = []
        for i in range(n):
            t0 = time.perf_counter()
            shutil.copytree(package, copies / str(i))
            t1 = time.perf_counter()
            client.submit_code(DO, package, f"submit {i}")
            t2 = time.perf_counter()
            copytree.append(t1 - t0)
            submit.append(t2 - t1)
        floor = Stats.of(copytree)
        b.report.add(
            Row(
                "submit_code, 10-file package",
                Stats.of(submit),
                limit=0.003,
                baseline=f"shutil.copytree {ms(floor.median)}",
            )
        )


# Scenario 2: 10,000 pending jobs: receive, list warm, list from a fresh process

_FRESH_LIST = """
import json, sys, time
t0 = time.perf_counter()
import syft_code_queue as scq
t1 = time.perf_counter()
server = scq.create_server(email=sys.argv[1], syftbox_dir=sys.argv[2])
t2 = time.perf_counter()
jobs = server.list_pending_jobs()
t3 = time.perf_counter()
server.close()
print(json.dumps({"import": t1 - t0, "create": t2 - t1, "list": t3 - t2, "n": len(jobs)}))
"""


@dataclass(frozen=True)
class ProcessBaselines:
    bare: Stats  # python -c pass
    imported: Stats  # python -c "import syft_code_queue"


def measure_process_baselines(repeats: int) -> ProcessBaselines:
    run_python("import syft_code_queue")  # compile bytecode, warm the page cache
    bare: list[float] = []
    imported: list[float] = []
    for _ in range(repeats):
        bare.append(run_python("pass")[0])
        imported.append(run_python("import syft_code_queue")[0])
    return ProcessBaselines(Stats.of(bare), Stats.of(imported))


def bench_pending(b: Bench, procs: ProcessBaselines) -> None:
    n = b.sizes.pending
    with b.queue() as (client, server, tmp):
        package = make_package(tmp / "pkg", 2)
        t0 = time.perf_counter()
        submit_many(client, package, n, "pending")
        generated = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        first = server.list_pending_jobs()
        receive, receive_cpu = time.perf_counter() - t0, time.process_time() - c0
        if len(first) != n:
            raise RuntimeError(f"expected {n} pending jobs, the owner lists {len(first)}")
        b.report.add(
            Row(
                f"receive {n:,} new requests (1st list_pending_jobs)",
                Stats.of([receive]),
                baseline=f"submitting them: {generated:.1f} s",
            )
        )
        b.report.note(
            f"receive {n:,}: {receive / n * 1e3:.2f} ms per request, owner CPU "
            f"{receive_cpu / n * 1e3:.2f} ms per request "
            f"(submit_code took {generated / n * 1e3:.2f} ms per request to generate them)"
        )
        warm = []
        for _ in range(b.sizes.list_repeats):
            t0 = time.perf_counter()
            jobs = server.list_pending_jobs()
            warm.append(time.perf_counter() - t0)
            assert len(jobs) == n
        b.report.add(
            Row(
                f"list_pending_jobs, {n:,} pending, warm",
                Stats.of(warm),
                limit=0.030,
                baseline=f"1st call (receipt) {fmt_time(receive)}",
            )
        )
        bench_review_widget(b, server, n, Stats.of(warm))
        bench_fresh_list(b, procs, n, tmp / "SyftBox")
        bench_receive_one_among(b, client, server, tmp, n)


def bench_receive_one_among(
    b: Bench, client: scq.CodeQueueClient, server: scq.CodeQueueServer, tmp: Path, n: int
) -> None:
    """One new 10-file request received by one step, with ``n`` jobs already present, its
    wall time and the owner's CPU time; a step with nothing new is the baseline."""
    package = make_package(tmp / "one-more", 10)
    age_outboxes(tmp / "SyftBox")
    server.tick()
    idle, walls, cpus = [], [], []
    for i in range(b.sizes.hostile_ticks):
        idle.append(timed_tick(server, received=0)[0])
        client.submit_code(DO, package, f"one more {i}")
        wall, cpu = timed_tick(server, received=1)
        walls.append(wall)
        cpus.append(cpu)
    baseline = f"a step with nothing new {fmt_time(Stats.of(idle).median)}"
    b.report.add(
        Row(
            f"receive 1 new request, {n:,} present (one step)",
            Stats.of(walls),
            limit=0.020,
            baseline=baseline,
        )
    )
    b.report.add(
        Row(
            f"owner CPU to receive a 10-file request, {n:,} present",
            Stats.of(cpus),
            limit=0.001,
            baseline=baseline,
        )
    )


def timed_tick(server: scq.CodeQueueServer, *, received: int) -> tuple[float, float]:
    """(wall, CPU of this process) of one ``server.tick()``; checks what it received."""
    c0, t0 = time.process_time(), time.perf_counter()
    report = server.tick()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if report.received != received:
        raise RuntimeError(f"a step received {report.received}, expected {received}")
    return wall, cpu


def age_outboxes(box: Path) -> None:
    """Set every folder under ``datasites/`` an hour back (links untouched): entries that
    have been there a while, whose folder times have settled."""
    past = time.time() - 3600
    for folder, dirs, _files in os.walk(box / "datasites"):
        for name in dirs:
            os.utime(Path(folder) / name, (past, past), follow_symlinks=False)
    os.utime(box / "datasites", (past, past))


# Scenario: hostile datasites

HOSTILE_KINDS = (
    "odd_name", "fifo_request", "fifo_code", "fifo_cancel", "socket_code", "symlink_datasite",
    "symlink_uid", "symlink_code_dir", "symlink_code_sub", "symlink_file", "symlink_request",
    "hardlink_file", "sparse_huge", "sparse_declared", "truncated_json", "wrong_types",
    "deep_folders", "unicode_names", "null_bytes", "forged_requester", "cancel_unknown",
    "junk_entries",
)  # fmt: skip


def bench_hostile(b: Bench) -> None:
    """A step of the owner's server with N hostile entries present and nothing new, against
    the same step with none; the corpus is ``tests/hostile_corpus.py``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests import hostile_corpus as corpus

    n = b.sizes.hostile
    logging.getLogger("syft_code_queue").setLevel(logging.ERROR)  # one warning per entry
    with b.tempdir() as tmp:
        box = corpus.Box.make(tmp)
        client = scq.create_client(email=DS, syftbox_dir=box.root)
        server = scq.create_server(email=DO, syftbox_dir=box.root)
        try:
            client.submit_code(DO, make_package(tmp / "pkg", 10), "legit")
            age_outboxes(box.root)
            server.tick()
            empty = [timed_tick(server, received=0)[0] for _ in range(b.sizes.hostile_ticks)]
            for i in range(n):
                kind = HOSTILE_KINDS[i % len(HOSTILE_KINDS)]
                corpus.KINDS[kind](box, corpus.HOSTILE_EMAILS[i % len(corpus.HOSTILE_EMAILS)])
            age_outboxes(box.root)
            # The first steps examine every entry once; then each waits, backed off.
            start = scq.models.utcnow()
            for minutes in range(0, 20):
                server.tick(start + timedelta(minutes=minutes))
            clock = start + timedelta(minutes=20)
            steps = []
            for _ in range(b.sizes.hostile_ticks):
                clock += timedelta(seconds=0.25)
                t0 = time.perf_counter()
                report = server.tick(clock)
                steps.append(time.perf_counter() - t0)
                if report.received:
                    raise RuntimeError("a hostile entry was received")
        finally:
            server.close()
    b.report.add(
        Row(
            f"a step with {n:,} hostile entries present, nothing new",
            Stats.of(steps),
            limit=0.020,
            baseline=f"the same step with none {fmt_time(Stats.of(empty).median)}",
        )
    )


def bench_review_widget(b: Bench, server: scq.CodeQueueServer, n: int, warm: Stats) -> None:
    """The owner's review table over the same pending jobs: opening it, and one refresh of its
    background thread when nothing changed (what it costs the kernel every two seconds)."""
    opened = []
    for _ in range(3):
        t0 = time.perf_counter()
        widget = server.review_widget(interval=3600)
        opened.append(time.perf_counter() - t0)
        payload = len(json.dumps(widget.rows))
        widget.close()
    widget = server.review_widget(interval=3600)
    try:
        refreshes = []
        for _ in range(b.sizes.list_repeats):
            t0 = time.perf_counter()
            widget.refresh()
            refreshes.append(time.perf_counter() - t0)
    finally:
        widget.close()
    baseline = f"list_pending_jobs warm {fmt_time(warm.median)}"
    b.report.add(Row(f"review table opens, {n:,} pending", Stats.of(opened), baseline=baseline))
    b.report.add(
        Row(
            f"review table refresh, {n:,} pending, unchanged",
            Stats.of(refreshes),
            baseline=baseline,
        )
    )
    b.report.note(
        f"review table: {payload / 1e3:.1f} KB of row data sent to the browser (one page) "
        f"for {n:,} jobs"
    )


def bench_fresh_list(b: Bench, procs: ProcessBaselines, n: int, box: Path) -> None:
    walls: list[float] = []
    inner: list[float] = []
    parts: dict[str, list[float]] = {"import": [], "create": [], "list": []}
    for _ in range(b.sizes.fresh_repeats):
        wall, out = run_python(_FRESH_LIST, DO, str(box))
        if out.get("n") != n:
            raise RuntimeError(f"fresh process listed {out.get('n')} jobs, expected {n}")
        walls.append(wall)
        inner.append(out["create"] + out["list"])
        for key, samples in parts.items():
            samples.append(out[key])
    base = f"python -c pass {ms(procs.bare.median)}; import {ms(procs.imported.median)}"
    b.report.add(
        Row(f"list_pending_jobs, {n:,} pending, fresh process", Stats.of(walls), 0.5, False, base)
    )
    b.report.add(
        Row(
            "  of which in-process create_server + list",
            Stats.of(inner),
            0.5,
            baseline=f"in-process import {ms(Stats.of(parts['import']).median)}",
        )
    )
    b.report.note(
        "fresh-process list, in-process medians: "
        + ", ".join(f"{k} {ms(Stats.of(v).median)}" for k, v in parts.items())
    )


# Scenario 3: approve_job


def durable_replace(path: Path, data: bytes) -> None:
    """The floor of a durable status write: temp file, fsync, rename, fsync the folder."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def bench_approve(b: Bench) -> None:
    n = b.sizes.approvals
    with b.queue() as (client, server, tmp):
        package = make_package(tmp / "pkg", 2)
        uids = submit_many(client, package, n + 3, "approve")
        server.list_pending_jobs()
        for uid in uids[:3]:
            server.approve_job(uid)  # warm-up
        approve: list[float] = []
        floor: list[float] = []
        status = tmp / "status.json"
        for uid in uids[3:]:
            t0 = time.perf_counter()
            durable_replace(status, b'{"status": "approved"}\n' * 8)
            t1 = time.perf_counter()
            server.approve_job(uid)
            t2 = time.perf_counter()
            floor.append(t1 - t0)
            approve.append(t2 - t1)
        b.report.add(
            Row(
                "approve_job",
                Stats.of(approve),
                limit=0.003,
                baseline=f"1 durable file replace {ms(Stats.of(floor).median)}",
            )
        )


# Scenario 4: approve -> running, with server.start()

_APPROVE = """
import json, sys, time
import syft_code_queue as scq
server = scq.create_server(email=sys.argv[1], syftbox_dir=sys.argv[2])
wall = time.time()
t0 = time.perf_counter()
server.approve_job(sys.argv[3])
t1 = time.perf_counter()
server.close()
print(json.dumps({"approve_wall": wall, "approve": t1 - t0}))
"""


def bench_latency(b: Bench) -> None:
    n, nx = b.sizes.latency_jobs, b.sizes.xproc_jobs
    with b.queue(max_concurrent_jobs=4) as (client, server, tmp):
        package = make_package(tmp / "pkg", 2, "sleep 0.2")
        uids = submit_many(client, package, n + nx, "latency")
        server.list_pending_jobs()
        server.start()
        time.sleep(0.5)  # let the first ticks and the file watcher settle
        local: list[float] = []
        for uid in uids[:n]:
            t0 = time.perf_counter()
            server.approve_job(uid)
            t1 = wait_running(server, uid)
            local.append(t1 - t0)
            wait_terminal(server, uid)
            time.sleep(0.05)
        remote, with_start, approve_calls = [], [], []
        for uid in uids[n:]:
            spawned = time.time()
            proc = subprocess.Popen(
                [sys.executable, "-c", _APPROVE, DO, str(tmp / "SyftBox"), uid],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=clean_env(),
            )
            try:
                wait_running(server, uid)
                seen = time.time()
                out, err = proc.communicate(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if proc.returncode != 0:
                raise RuntimeError(f"approving process failed:\n{err}")
            info = json.loads(out.strip().splitlines()[-1])
            remote.append(seen - info["approve_wall"])
            with_start.append(seen - spawned)
            approve_calls.append(info["approve"])
            wait_terminal(server, uid)
            time.sleep(0.05)
        server.stop()
    floor = f"approve_job alone {ms(Stats.of(approve_calls).median)}"
    b.report.add(Row("approve -> running (same process)", Stats.of(local), 0.050))
    b.report.add(Row("approve -> running (other process)", Stats.of(remote), 0.050, False, floor))
    b.report.add(Row("  incl. starting the approving process", Stats.of(with_start)))


# Scenario 5: runner overhead and end-to-end


def _runner_once(
    runner: SafeCodeRunner, package: Path, root: Path, files: Any, code_hash: str
) -> tuple[float, float, float, float]:
    uid = str(uuid.uuid4())
    spec = RunSpec(
        uid=uid,
        name="bench",
        requester=DS,
        run_id=uuid.uuid4().hex,
        snapshot=package,
        files=files,
        approved_hash=code_hash,
        run_root=root / "runs" / uid,
    )
    ended = threading.Event()
    t0 = time.perf_counter()
    job_dir = runner.stage(spec)
    t1 = time.perf_counter()
    handle = runner.start(spec, job_dir, datetime.now(timezone.utc), ended.set)
    t2 = time.perf_counter()
    if not ended.wait(WAIT_LIMIT):
        runner.kill(handle, scq.FailureReason.timeout, "benchmark wait limit")
    while not runner.check(handle, datetime.now(timezone.utc)):
        time.sleep(POLL)
    t3 = time.perf_counter()
    result = runner.finish(handle, root / "published" / uid / "output")
    t4 = time.perf_counter()
    if result.exit_code != 0 or result.stdout != b"hi\n":
        raise RuntimeError(f"runner job failed: {result.error_message} {result.stderr!r}")
    return t1 - t0, t2 - t1, t3 - t2, t4 - t3


def bare_run(package: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["bash", "run.sh"], cwd=package, capture_output=True, check=True)
    return time.perf_counter() - t0


def bench_runner(b: Bench) -> None:
    with b.tempdir() as tmp:
        package = make_package(tmp / "snapshot", 1)
        scan = scan_code_folder(package)
        # Without a sandbox: what the runner itself costs (isolation rows follow).
        runner = SafeCodeRunner(scq.QueueConfig(job_timeout=60, isolation="none"), tmp / "private")
        for _ in range(3):  # warm-up: shims, page cache, psutil
            _runner_once(runner, package, tmp, scan.files, scan.code_hash)
            bare_run(package)
        steps: list[tuple[float, float, float, float]] = []
        bare: list[float] = []
        overhead: list[float] = []
        for _ in range(b.sizes.runner_repeats):
            step = _runner_once(runner, package, tmp, scan.files, scan.code_hash)
            base = bare_run(package)
            steps.append(step)
            bare.append(base)
            overhead.append(sum(step) - base)
    bare_s = Stats.of(bare)
    b.report.add(
        Row(
            "runner overhead vs bare bash (echo hi), isolation='none'",
            Stats.of(overhead),
            limit=0.010,
            baseline=f"bash run.sh {ms(bare_s.median)}",
        )
    )
    names = ("stage", "start", "start->exit seen", "finish")
    b.report.note(
        "runner alone (SafeCodeRunner), medians: "
        + ", ".join(
            f"{k} {ms(Stats.of([s[i] for s in steps]).median)}" for i, k in enumerate(names)
        )
        + f"; total {ms(Stats.of([sum(s) for s in steps]).median)}"
        + f"; bare subprocess.run(['bash','run.sh']) {ms(bare_s.median)}"
    )
    bench_sandboxed_runner(b)
    bench_e2e(b, bare_s)


def bench_sandboxed_runner(b: Bench) -> None:
    """The same job with the default settings (isolated in bubblewrap, limits in cgroups),
    and with the Landlock + seccomp fallback, each against bare ``bash run.sh`` in the same
    loop."""
    from syft_code_queue import confine, sandbox

    with b.tempdir() as tmp:
        package = make_package(tmp / "snapshot", 1)
        scan = scan_code_folder(package)
        runners = {"default": SafeCodeRunner(scq.QueueConfig(job_timeout=60), tmp / "default")}
        if sandbox.bwrap() is None:
            b.report.note("default (bubblewrap) runner: bubblewrap not usable here")
            runners.pop("default")
        if confine.unavailable_reason() is None:
            runners["landlock"] = SafeCodeRunner(
                scq.QueueConfig(job_timeout=60, sandbox="landlock"), tmp / "landlock"
            )
        for runner in [*runners.values(), *runners.values()]:  # warm-up
            _runner_once(runner, package, tmp, scan.files, scan.code_hash)
        added: dict[str, list[float]] = {name: [] for name in runners}
        bare: list[float] = []
        for _ in range(b.sizes.runner_repeats):
            base = bare_run(package)
            bare.append(base)
            for name, runner in runners.items():
                added[name].append(
                    sum(_runner_once(runner, package, tmp, scan.files, scan.code_hash)) - base
                )
        bare_s = ms(Stats.of(bare).median)
        if "default" in added:
            b.report.add(
                Row(
                    "isolated echo hi (default config) over bare bash run.sh",
                    Stats.of(added["default"]),
                    limit=0.020,
                    baseline=f"bash run.sh {bare_s}",
                )
            )
        if "landlock" in added:
            b.report.add(
                Row(
                    "isolated echo hi (Landlock + seccomp forced) over bare bash run.sh",
                    Stats.of(added["landlock"]),
                    baseline=f"bash run.sh {bare_s}",
                )
            )

    bench_cached_requirements(b)


def bench_cached_requirements(b: Bench) -> None:
    """A job whose ``requirements.txt`` environment is already provisioned (a cache hit),
    paired with the same job without requirements, both with the default settings."""
    from syft_code_queue import provision

    with b.tempdir() as tmp:
        package = make_package(tmp / "snapshot", 1)
        scan = scan_code_folder(package)
        wheels = tmp / "wheels"
        _tiny_wheel(wheels)
        with_reqs = make_package(tmp / "with-reqs", 1)
        (with_reqs / "requirements.txt").write_text("scq-bench-tiny==1.0\n")
        scan_reqs = scan_code_folder(with_reqs)
        config = scq.QueueConfig(
            job_timeout=60, provision_find_links=(str(wheels),), provision_no_index=True
        )
        cached = SafeCodeRunner(config, tmp / "cached")
        plain = SafeCodeRunner(config, tmp / "cached")

        def once_provisioned() -> float:
            uid = str(uuid.uuid4())
            spec = RunSpec(
                uid=uid, name="bench", requester=DS, run_id=uuid.uuid4().hex,
                snapshot=with_reqs, files=scan_reqs.files, approved_hash=scan_reqs.code_hash,
                run_root=tmp / "cached" / "runs" / uid,
            )  # fmt: skip
            t0 = time.perf_counter()
            if not cached.provision(spec):  # a cache hit: the environment exists
                wait_for("provisioning", lambda: cached.provision(spec), interval=0.05)
            runner_stage = cached.stage(spec)
            ended = threading.Event()
            handle = cached.start(spec, runner_stage, datetime.now(timezone.utc), ended.set)
            ended.wait(WAIT_LIMIT)
            while not cached.check(handle, datetime.now(timezone.utc)):
                time.sleep(POLL)
            result = cached.finish(handle, tmp / "published" / uid / "output")
            if result.exit_code != 0:
                raise RuntimeError(f"provisioned job failed: {result.stderr!r}")
            return time.perf_counter() - t0

        once_provisioned()  # builds the environment once (not measured)
        if not any(provision.is_ready(p) for p in (tmp / "cached" / "envs").iterdir()):
            raise RuntimeError("the requirements environment was not built")
        extra, without = [], []
        for _ in range(b.sizes.runner_repeats):
            t_with = once_provisioned()
            t_without = sum(_runner_once(plain, package, tmp, scan.files, scan.code_hash))
            extra.append(t_with - t_without)
            without.append(t_without)
    b.report.add(
        Row(
            "cached requirements.txt environment adds per run (echo hi)",
            Stats.of(extra),
            limit=0.050,
            baseline=f"same job without requirements {ms(Stats.of(without).median)}",
        )
    )


def _tiny_wheel(folder: Path) -> None:
    """A pure-Python wheel of ``scq-bench-tiny``, written by hand (no index needed)."""
    import base64
    import hashlib
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    dist = "scq_bench_tiny-1.0.dist-info"
    files = {
        "scq_bench_tiny/__init__.py": "",
        f"{dist}/METADATA": "Metadata-Version: 2.1\nName: scq-bench-tiny\nVersion: 1.0\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = [
        f"{name},sha256="
        + base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        + f",{len(text.encode())}"
        for name, text in files.items()
    ]
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    with zipfile.ZipFile(folder / "scq_bench_tiny-1.0-py3-none-any.whl", "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)


def bench_e2e(b: Bench, bare: Stats) -> None:
    with b.queue(max_concurrent_jobs=4) as (client, server, tmp):
        package = make_package(tmp / "pkg", 2)
        uids = submit_many(client, package, b.sizes.e2e_jobs, "e2e")
        server.list_pending_jobs()
        server.start()
        time.sleep(0.5)
        samples = []
        for uid in uids:
            t0 = time.perf_counter()
            server.approve_job(uid)
            samples.append(wait_ended(server, uid) - t0)
            wait_terminal(server, uid)
            time.sleep(0.05)
        server.stop()
    b.report.add(
        Row(
            "approve -> completed, echo hi (end to end)",
            Stats.of(samples),
            baseline=f"bash run.sh {ms(bare.median)}",
        )
    )


# Scenario 6: throughput


def bench_throughput(b: Bench) -> None:
    n = b.sizes.throughput_jobs
    rates: list[float] = []
    floors: list[float] = []
    # The runs' folders are deleted together after the last run, not between runs: on a
    # file system that slows creating files after deletions (bench/README.md), deleting a
    # run's 200 job folders would slow the next run, and that is the benchmark, not the queue.
    with ExitStack() as folders:
        for _ in range(b.sizes.throughput_runs):
            client, server, tmp = folders.enter_context(b.queue(max_concurrent_jobs=4))
            package = make_package(tmp / "pkg", 2)
            rates.append(n / _throughput_once(client, server, package, n))
            t0 = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(bare_run, [package] * n))
            floors.append(n / (time.perf_counter() - t0))
    b.report.add(
        Row(
            f"throughput, {n} echo-hi jobs, 4 concurrent, default config (isolated)",
            Stats.of(rates),
            limit=40.0,
            rate=True,
            baseline=f"bare bash x4 threads {fmt_rate(Stats.of(floors).median)}",
        )
    )


def _throughput_once(
    client: scq.CodeQueueClient, server: scq.CodeQueueServer, package: Path, n: int
) -> float:
    """Seconds for the server to run ``n`` approved jobs from its start."""
    uids = submit_many(client, package, n, "throughput")
    server.list_pending_jobs()
    for uid in uids:
        server.approve_job(uid)
    t0 = time.perf_counter()
    server.start()
    remaining = list(uids)  # jobs start oldest first: wait on the oldest not ended
    while remaining:
        job = server.get_job(remaining[0])
        if job.status.is_terminal:
            if job.status is not scq.JobStatus.completed:
                raise RuntimeError(f"job ended {job.status.value}: {job.error_message}")
            remaining.pop(0)
            continue
        if time.perf_counter() - t0 > WAIT_LIMIT * 10:
            raise TimeoutError(f"{len(remaining)} of {n} jobs did not finish")
        time.sleep(0.005)
    elapsed = time.perf_counter() - t0
    server.stop()
    return elapsed


# Scenario 7: import


def bench_import(b: Bench, procs: ProcessBaselines) -> None:
    b.report.add(
        Row(
            "import syft_code_queue (fresh process)",
            procs.imported,
            limit=0.250,
            baseline=f"python -c pass {ms(procs.bare.median)}",
        )
    )
    b.report.note(
        "import cost over bare interpreter start: "
        f"{ms(procs.imported.median - procs.bare.median)} (median difference)"
    )


# The review table at scale

_TOPICS = ("cohort statistics", "survival model", "age histogram", "readmission rate",
           "lab values", "drug exposure", "vaccine uptake", "length of stay")  # fmt: skip


def fill_ledger(private_dir: Path, n: int) -> None:
    """``n`` received jobs written straight into a fresh ledger (no files, no published
    status): what the owner's ledger holds after months of work. 90% pending; 50 data
    scientists; names repeat, so a quarter of the jobs are later versions of another."""
    from syft_code_queue.ledger import JobRecord, Ledger
    from syft_code_queue.models import FileEntry, FileList

    ledger = Ledger(private_dir / "queue.db", private_dir / "audit.jsonl")
    files = FileList([FileEntry(path="run.sh", sha256="0" * 64, size=10)])
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    statuses = [scq.JobStatus.pending] * 9 + [scq.JobStatus.rejected]
    batch: list[tuple[JobRecord, str | None]] = []
    for i in range(n):
        at = start + timedelta(seconds=i * 30)
        status = statuses[i % len(statuses)]
        batch.append(
            (
                JobRecord(
                    uid=str(uuid.UUID(int=random.getrandbits(128), version=4)),
                    requester=f"ds{i % 50:02d}@example.com",
                    name=f"{_TOPICS[i % len(_TOPICS)]} {i % (n * 3 // 4 or 1):05d}",
                    description="",
                    tags=("weekly",) if i % 7 == 0 else (),
                    created_at=at,
                    received_at=at,
                    code_hash=f"{i:064x}",
                    files=files,
                    status=status,
                    updated_at=at,
                    decision_reason="no" if status is scq.JobStatus.rejected else None,
                ),
                None,
            )
        )
        if len(batch) == 5000:
            ledger.insert_many(batch, actor=DO)
            batch = []
    if batch:
        ledger.insert_many(batch, actor=DO)
    ledger.close()


def bench_review_page(b: Bench) -> None:
    """``server.review_page`` over a large ledger, against ``list_pending_jobs`` at the
    same size: the browser asks for one page, sorted, filtered and searched by SQLite."""
    n = b.sizes.review_jobs
    random.seed(10)
    with b.queue() as (_client, server, _tmp):
        t0 = time.perf_counter()
        fill_ledger(server.private_dir, n)
        b.report.note(
            f"review_page: {n:,} jobs written to the ledger in {time.perf_counter() - t0:.1f} s"
        )
        t0 = time.perf_counter()
        cold = server.list_pending_jobs()
        cold_time = time.perf_counter() - t0
        pending = len(cold)
        warm = []
        for _ in range(b.sizes.page_repeats):
            t0 = time.perf_counter()
            server.list_pending_jobs()
            warm.append(time.perf_counter() - t0)
        baseline = f"list_pending_jobs warm {fmt_time(Stats.of(warm).median)}"
        deep = min(50_000, pending // 2)
        b.report.add(
            Row(
                f"list_pending_jobs, {pending:,} pending of {n:,}, warm",
                Stats.of(warm),
                baseline=f"1st call {fmt_time(cold_time)}",
            )
        )
        cases: list[tuple[str, dict[str, Any]]] = [
            ("first page (pending, oldest first, 50 rows)", {"status": "pending"}),
            ("search 'survival 01' (pending)", {"status": "pending", "search": "survival 01"}),
            ("search a uid prefix (all)", {"search": str(cold[pending // 2].uid)[:6]}),
            ("search 'weekly' (all; 1 in 7 match)", {"search": "weekly"}),
            ("sort by name, descending (pending)",
             {"status": "pending", "sort": "name", "descending": True}),
            ("sort by requester (all)", {"sort": "requester"}),
            ("one requester, newest first",
             {"requester": "ds07@example.com", "descending": True}),
            (f"page at offset {deep:,} (pending)", {"status": "pending", "offset": deep}),
        ]  # fmt: skip
        for label, kwargs in cases:
            samples = []
            for _ in range(b.sizes.page_repeats):
                t0 = time.perf_counter()
                rows, total = server.review_page(**kwargs)
                samples.append(time.perf_counter() - t0)
                if not rows or total < len(rows):
                    raise RuntimeError(f"review_page {kwargs} returned {len(rows)} of {total}")
            b.report.add(
                Row(
                    f"review_page, {n:,} jobs: {label}",
                    Stats.of(samples),
                    limit=0.050,
                    baseline=baseline,
                )
            )


# Main

SCENARIOS = (
    "submit", "pending", "hostile", "approve", "latency", "runner", "throughput", "import",
    "review_page",
)  # fmt: skip


def fs_type(path: Path) -> str:
    """The file system type of ``path`` (Linux), for the report header."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "?"
    best, kind = "", "?"
    target = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3 and target.startswith(parts[1]) and len(parts[1]) >= len(best):
            best, kind = parts[1], parts[2]
    return kind


def load_average() -> str:
    """Other work on the machine moves the numbers; the report says how busy it was."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes for a CI smoke run")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, help="run only these scenarios")
    parser.add_argument("--pending", type=int, help="how many pending jobs (default 10,000)")
    parser.add_argument("--tmp", type=Path, help="where to create the temp SyftBox folders")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.pending:
        sizes = Sizes(**{**sizes.__dict__, "pending": args.pending})
    for name in _AMBIENT:
        os.environ.pop(name, None)
    wanted = set(args.only or SCENARIOS)
    tmp_root = args.tmp or Path(tempfile.gettempdir())
    tmp_root.mkdir(parents=True, exist_ok=True)
    report = Report()
    b = Bench(sizes, args.tmp, report)
    started = time.perf_counter()
    print(
        f"syft-code-queue {scq.__version__} ({Path(scq.__file__).parent}) | "
        f"Python {platform.python_version()} | "
        f"{platform.platform()} | {os.cpu_count()} CPUs | temp on {fs_type(tmp_root)} "
        f"({tmp_root}) | {'quick' if args.quick else 'full'} sizes | {load_average()}",
        flush=True,
    )
    measured: list[ProcessBaselines] = []

    def procs() -> ProcessBaselines:
        """Interpreter start-up baselines, measured once, shared by two scenarios."""
        if not measured:
            measured.append(measure_process_baselines(sizes.import_repeats))
        return measured[0]

    steps: list[tuple[str, Callable[[], None]]] = [
        ("submit", lambda: bench_submit(b)),
        ("pending", lambda: bench_pending(b, procs())),
        ("hostile", lambda: bench_hostile(b)),
        ("approve", lambda: bench_approve(b)),
        ("latency", lambda: bench_latency(b)),
        ("runner", lambda: bench_runner(b)),
        ("throughput", lambda: bench_throughput(b)),
        ("import", lambda: bench_import(b, procs())),
        ("review_page", lambda: bench_review_page(b)),
    ]
    for name, step in steps:
        if name in wanted:
            print(f"[{name}]", flush=True)
            step()
    print()
    print(render(report.rows))
    if report.details:
        print("\nDetails:")
        for line in report.details:
            print(f"- {line}")
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s; {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
