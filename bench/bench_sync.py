#!/usr/bin/env python
"""Latency of the code queue over a real SyftBox 0.4 sync engine; prints one table.

Run ``python bench/bench_sync.py`` (5 runs, about a minute) or ``--quick`` (2 runs). It starts
its own SyftBox server and two clients (ds@example.com, do@example.com) on 127.0.0.1 with
``tests/sync/cluster.py`` (the engine must be installed: ``bash scripts/install_syftbox.sh``),
and stops every process it started when it ends, even on Ctrl-C or SIGTERM.

Each run, with do's server ``start()``-ed:

(b) ds's client submits an ``echo hi`` package; at the same moment a small probe file is
    written in ds's datasite. Measured: from ``submit_code`` returning until do's
    ``server.get_job(uid)`` finds the job, and (a) the probe's trip ds -> do: the engine's own
    hop, measured in the same sync cycles as the submission.
(c) do approves the job; at the same moment a probe is written in do's datasite. Measured:
    from calling ``approve_job`` until ds's ``client.get_job(uid).status`` is ``completed``,
    and the probe's trip do -> ds.

Targets compare medians: (b) <= hop + 250 ms, (c) <= 2 hops + 500 ms, hop being the median
of the probes paired with that metric. The exit code is 0 even when a target is missed (the
table is the result); it is non-zero when something fails or a wait exceeds its limit.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
# the package, the table of bench_core and the cluster harness
for extra in (ROOT, ROOT / "bench", ROOT / "tests" / "sync"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from bench_core import Stats, load_average, render  # noqa: E402
from cluster import ClusterClient, SyftBoxCluster  # noqa: E402

import syft_code_queue as scq  # noqa: E402

DS = "ds@example.com"
DO = "do@example.com"
WAIT_LIMIT = 60.0  # seconds any single wait may take before the benchmark gives up
POLL = 0.005  # seconds between two polls (a 1 s sync cycle dwarfs it)
_AMBIENT = ("SYFTBOX_EMAIL", "SYFTBOX_DATA_DIR", "SYFTBOX_CLIENT_CONFIG_PATH")


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


@dataclass(frozen=True)
class Row:
    metric: str
    samples: Stats
    hop: Stats | None = None  # the paired engine hops of the same runs
    hops: int = 0  # target = hops * median hop + slack
    slack: float = 0.0

    @property
    def limit(self) -> float | None:
        if self.hop is None or not self.hops:
            return None
        return self.hops * self.hop.median + self.slack

    @property
    def target(self) -> str:
        if self.limit is None:
            return "(info)"
        hops = "hop" if self.hops == 1 else f"{self.hops} hops"
        return f"<= {hops} + {fmt(self.slack)} = {fmt(self.limit)}"

    @property
    def verdict(self) -> str:
        if self.limit is None:
            return "info"
        return "meets" if self.samples.median <= self.limit else "MISSES"

    def cells(self) -> list[str]:
        s = self.samples
        return [
            self.metric,
            self.target,
            fmt(s.median),
            fmt(s.min),
            fmt(s.max),
            fmt(self.hop.median) if self.hop is not None else "-",
            self.verdict,
        ]


HEADER = ["metric", "target", "median", "min", "max", "hop in same run", "verdict"]


class Probe:
    """A small file written in ``writer``'s public folder, awaited on ``reader``'s machine."""

    def __init__(self, writer: ClusterClient, reader: ClusterClient, tag: str) -> None:
        rel = Path(writer.email) / "public" / "bench-sync" / f"probe-{tag}-{uuid.uuid4().hex}.txt"
        self.source = writer.datasites / rel
        self.target = reader.datasites / rel
        self.content = f"{tag} {time.time()}\n".encode()
        self.written = 0.0
        self.seen: float | None = None

    def write(self) -> None:
        self.source.parent.mkdir(parents=True, exist_ok=True)
        self.written = time.perf_counter()
        self.source.write_bytes(self.content)

    def poll(self, now: float) -> bool:
        if self.seen is None:
            try:
                if self.target.read_bytes() == self.content:
                    self.seen = now
            except OSError:
                pass
        return self.seen is not None

    @property
    def hop(self) -> float:
        assert self.seen is not None
        return self.seen - self.written


def poll_until(
    checks: dict[str, Callable[[float], bool]], what: str, limit: float = WAIT_LIMIT
) -> dict[str, float]:
    """Poll every check until each has been true once; return when each first was."""
    seen: dict[str, float] = {}
    deadline = time.perf_counter() + limit
    while True:
        now = time.perf_counter()
        for name, check in checks.items():
            if name not in seen and check(now):
                seen[name] = now
        if len(seen) == len(checks):
            return seen
        if now > deadline:
            missing = sorted(set(checks) - set(seen))
            raise TimeoutError(f"{what}: still waiting for {missing} after {limit:.0f} s")
        time.sleep(POLL)


def server_has(server: scq.CodeQueueServer, uid: str) -> bool:
    try:
        server.get_job(uid)
    except scq.JobNotFoundError:
        return False
    return True


def status_is(get: Callable[[str], scq.CodeJob], uid: str, status: scq.JobStatus) -> bool:
    job = get(uid)
    if job.status.is_terminal and job.status is not status:
        raise RuntimeError(f"job {uid} ended {job.status.value}: {job.error_message}")
    return job.status is status


@dataclass
class Results:
    """The samples (seconds) of every measured run."""

    hop_ds_do: list[float] = field(default_factory=list)
    hop_do_ds: list[float] = field(default_factory=list)
    submit_seen: list[float] = field(default_factory=list)
    submit_landed: list[float] = field(default_factory=list)
    approve_ds_completed: list[float] = field(default_factory=list)
    approve_do_completed: list[float] = field(default_factory=list)


def one_run(
    ds: ClusterClient,
    do: ClusterClient,
    client: scq.CodeQueueClient,
    server: scq.CodeQueueServer,
    *,
    package: Path,
    results: Results | None,
    tag: str,
) -> None:
    # (b) submit -> the owner's server knows the job; (a) the paired ds -> do hop
    job = client.submit_code(DO, package, f"echo hi {tag}")
    submitted = time.perf_counter()
    probe = Probe(ds, do, f"ds-{tag}")
    probe.write()
    uid = str(job.uid)
    request_on_do = do.datasite(DS) / "app_data" / "code-queue" / "outbox" / DO / uid
    request_on_do /= "request.json"
    seen = poll_until(
        {
            "probe": probe.poll,
            "landed": lambda _now: request_on_do.is_file(),
            "job": lambda _now: server_has(server, uid),
        },
        f"run {tag}: submission to reach do",
    )
    # (c) approve -> ds sees completed; the paired do -> ds hop
    back = Probe(do, ds, f"do-{tag}")
    back.write()
    approving = time.perf_counter()
    server.approve_job(uid)
    done = poll_until(
        {
            "probe": back.poll,
            "do": lambda _now: status_is(server.get_job, uid, scq.JobStatus.completed),
            "ds": lambda _now: status_is(client.get_job, uid, scq.JobStatus.completed),
        },
        f"run {tag}: job to complete and the status to reach ds",
    )
    if results is None:
        return
    results.hop_ds_do.append(probe.hop)
    results.submit_seen.append(seen["job"] - submitted)
    results.submit_landed.append(seen["landed"] - submitted)
    results.hop_do_ds.append(back.hop)
    results.approve_ds_completed.append(done["ds"] - approving)
    results.approve_do_completed.append(done["do"] - approving)
    print(
        f"  run {tag}: hop ds->do {fmt(probe.hop)}, submit->seen {fmt(seen['job'] - submitted)}"
        f" | hop do->ds {fmt(back.hop)}, approve->completed on ds {fmt(done['ds'] - approving)}",
        flush=True,
    )


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="2 runs instead of 5")
    parser.add_argument("--runs", type=int, help="how many measured runs")
    parser.add_argument("--keep", action="store_true", help="keep the cluster's temp folder")
    args = parser.parse_args(argv)
    runs = args.runs or (2 if args.quick else 5)
    for name in _AMBIENT:
        os.environ.pop(name, None)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # clean up on SIGTERM like on Ctrl-C
    print(
        f"syft-code-queue {scq.__version__} | Python {platform.python_version()} | "
        f"{platform.platform()} | {os.cpu_count()} CPUs | SyftBox 0.4 engine on 127.0.0.1 | "
        f"{runs} runs + 1 warm-up | {load_average()}",
        flush=True,
    )
    results = Results()
    with (
        tempfile.TemporaryDirectory(prefix="scq-bench-sync-") as tmp,
        SyftBoxCluster(keep=args.keep) as cluster,
    ):
        started = time.perf_counter()
        cluster.start([DS, DO])
        print(f"  cluster up in {fmt(time.perf_counter() - started)} ({cluster.root})", flush=True)
        ds, do = cluster[DS], cluster[DO]
        package = Path(tmp) / "echo-hi"
        package.mkdir()
        (package / "run.sh").write_text("echo hi\n")
        client = scq.create_client(email=DS, syftbox_dir=ds.config()["data_dir"])
        server = scq.create_server(email=DO, syftbox_dir=do.config()["data_dir"], job_timeout=60)
        try:
            server.start()
            one_run(ds, do, client, server, package=package, results=None, tag="warm-up")
            for i in range(runs):
                one_run(ds, do, client, server, package=package, results=results, tag=str(i + 1))
        finally:
            server.close()
    r = results
    hop_ds_do, hop_do_ds = Stats.of(r.hop_ds_do), Stats.of(r.hop_do_ds)
    rows = [
        Row("(a) sync hop ds -> do (small file)", hop_ds_do),
        Row("(a) sync hop do -> ds (small file)", hop_do_ds),
        Row("(b) submit -> owner sees job (get_job)", Stats.of(r.submit_seen), hop_ds_do, 1, 0.25),
        Row("    of which: request.json on do's disk", Stats.of(r.submit_landed), hop_ds_do),
        Row(
            "(c) approve -> ds sees completed (echo hi)",
            Stats.of(r.approve_ds_completed),
            hop_do_ds,
            2,
            0.5,
        ),
        Row("    of which: completed on do (ledger)", Stats.of(r.approve_do_completed)),
    ]
    print()
    print(render(rows, HEADER))
    print(f"\n{load_average()}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as exc:
        print(f"\ninterrupted ({exc or 'Ctrl-C'}); every process was stopped", file=sys.stderr)
        sys.exit(130)
