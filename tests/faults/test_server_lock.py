"""At most one server runs a datasite's queue, and no job ever runs twice.

In one process and across processes the second server refuses with
``ServerAlreadyRunningError`` and a message that says who holds the lock. Under a race —
several server processes released at the same moment on 500 approved jobs, the losers
retrying all along, and (in a second test) the holder SIGKILLed half-way — every job's
``run.sh`` appends its JOB_ID to one shared O_APPEND file, and each id appears once.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from faultlib import DO_EMAIL, DS_EMAIL, Children, audit_entries, query, wait_for

import syft_code_queue as scq
from syft_code_queue.errors import ServerAlreadyRunningError
from tests.conftest import make_package

pytestmark = pytest.mark.faults

RACE_JOBS = 500
HANDOVER_JOBS = 150
SERVERS = 3
CONCURRENCY = 4


def private_dir(syftbox_dir: Path) -> Path:
    return syftbox_dir.resolve() / ".syft_code_queue" / DO_EMAIL / "code-queue"


def make_server(syftbox_dir: Path) -> scq.CodeQueueServer:
    return scq.create_server(
        email=DO_EMAIL,
        syftbox_dir=syftbox_dir,
        max_concurrent_jobs=CONCURRENCY,
        job_timeout=60,
        poll_interval=0.05,
    )


def assert_clear_refusal(exc: BaseException, holder_pid: int) -> None:
    message = str(exc)
    assert "already runs" in message, message
    assert DO_EMAIL in message and "code-queue" in message, message
    assert "server.lock" in message, message
    assert f"pid {holder_pid}" in message, message
    assert "stop it first" in message, message


def test_second_server_in_the_same_process_refuses(syftbox_dir: Path) -> None:
    first, second = make_server(syftbox_dir), make_server(syftbox_dir)
    try:
        first.tick()
        with pytest.raises(ServerAlreadyRunningError) as refused:
            second.tick()
        assert_clear_refusal(refused.value, os.getpid())
        with pytest.raises(ServerAlreadyRunningError) as refused:
            second.start()
        assert_clear_refusal(refused.value, os.getpid())
        assert not second.is_running
        first.close()
        second.start()  # the lock is free again
        assert second.is_running
        third = make_server(syftbox_dir)
        try:
            with pytest.raises(ServerAlreadyRunningError):
                third.start()
            with pytest.raises(ServerAlreadyRunningError):
                third.tick()
        finally:
            third.close()
    finally:
        second.close()
        first.close()


def _server_args(syftbox_dir: Path, *extra: str) -> list[str]:
    return ["server", "--syftbox", str(syftbox_dir), "--email", DO_EMAIL, *extra]


def test_second_server_across_processes_refuses(
    syftbox_dir: Path, tmp_path: Path, children: Children
) -> None:
    ready = tmp_path / "ready.json"
    holder = children.spawn(*_server_args(syftbox_dir, "--ready", str(ready)), name="holder")
    wait_for(ready.exists, 30, "the child server to take the lock", interval=0.02)
    assert json.loads(ready.read_text())["pid"] == holder.pid

    with make_server(syftbox_dir) as here:
        with pytest.raises(ServerAlreadyRunningError) as refused:
            here.tick()
        assert_clear_refusal(refused.value, holder.pid)
        with pytest.raises(ServerAlreadyRunningError):
            here.start()

        result = tmp_path / "once.json"
        other = children.spawn(
            *_server_args(syftbox_dir, "--once", "--result", str(result)), name="other"
        )
        assert other.wait(30) == 3, children.log_text("other")
        outcome = json.loads(result.read_text())
        assert outcome["first"] == "refused"
        assert f"pid {holder.pid}" in outcome["message"]

        # A holder that dies (even by SIGKILL) leaves the lock free.
        Children.kill(holder)
        here.tick()
        result.unlink()
        late = children.spawn(
            *_server_args(syftbox_dir, "--once", "--result", str(result)), name="late"
        )
        assert late.wait(30) == 3, children.log_text("late")
        assert f"pid {os.getpid()}" in json.loads(result.read_text())["message"]


def _approved_jobs(syftbox_dir: Path, tmp_path: Path, count: int) -> list[str]:
    ds = scq.create_client(email=DS_EMAIL, syftbox_dir=syftbox_dir)
    code = make_package(tmp_path / "job", 'echo "$JOB_ID" > "$OUTPUT_DIR/ran.txt"\n')
    uids = [str(ds.submit_code(DO_EMAIL, code, f"race {i}").uid) for i in range(count)]
    with make_server(syftbox_dir) as server:
        assert server.tick().received == count
        for uid in uids:
            server.approve_job(uid)
    return uids


def _runs(syftbox_dir: Path, uids: list[str]) -> Counter[str]:
    """How many times each job was started: its committed "running" transitions (every start
    is one, recorded before the job's process exists). A completed job also shows that it ran:
    its published output holds its own id."""
    private = private_dir(syftbox_dir)
    started = Counter(str(e["uid"]) for e in audit_entries(private) if e["event"] == "running")
    for uid in uids:
        ran = syftbox_dir / "datasites" / DO_EMAIL / "app_data" / "code-queue" / "jobs" / uid
        if (ran / "output" / "ran.txt").exists():
            assert (ran / "output" / "ran.txt").read_text() == f"{uid}\n"
            assert started[uid] >= 1, f"{uid} ran without a recorded start"
    return started


def _status_counts(syftbox_dir: Path) -> Counter[str]:
    rows = query(private_dir(syftbox_dir), "SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
    return Counter({str(r["status"]): int(r["n"]) for r in rows})


def _statuses(syftbox_dir: Path) -> dict[str, tuple[str, str | None]]:
    rows = query(private_dir(syftbox_dir), "SELECT uid, status, failure_reason FROM jobs")
    return {r["uid"]: (r["status"], r["failure_reason"]) for r in rows}


def _race(
    syftbox_dir: Path, tmp_path: Path, children: Children
) -> tuple[Path, Path, list[tuple[subprocess.Popen[bytes], Path]]]:
    """Start SERVERS server processes that all try to take the lock when ``go`` appears."""
    go, stop = tmp_path / "go", tmp_path / "stop"
    servers = []
    for i in range(SERVERS):
        result = tmp_path / f"result{i}.json"
        proc = children.spawn(
            *_server_args(
                syftbox_dir,
                "--mode",
                "tick" if i % 2 else "start",
                "--max-concurrent",
                str(CONCURRENCY),
                "--go",
                str(go),
                "--stop",
                str(stop),
                "--result",
                str(result),
                "--armed",
                str(tmp_path / f"armed{i}"),
            ),
            name=f"racer{i}",
        )
        servers.append((proc, result))
    wait_for(
        lambda: all((tmp_path / f"armed{i}").exists() for i in range(SERVERS)),
        30,
        "every racer to be ready and waiting for the start signal",
    )
    return go, stop, servers


def _finish(
    children: Children, stop: Path, servers: list[tuple[subprocess.Popen[bytes], Path]]
) -> list[dict[str, object]]:
    stop.write_text("stop")
    outcomes = []
    for i, (proc, result) in enumerate(servers):
        if proc.returncode is not None and proc.returncode < 0:
            continue  # the one we SIGKILLed
        assert proc.wait(60) == 0, children.log_text(f"racer{i}")
        outcomes.append(json.loads(result.read_text()))
    return outcomes


def test_servers_racing_for_500_jobs_run_each_exactly_once(
    syftbox_dir: Path, tmp_path: Path, children: Children
) -> None:
    uids = _approved_jobs(syftbox_dir, tmp_path, RACE_JOBS)
    go, stop, servers = _race(syftbox_dir, tmp_path, children)
    go.write_text("go")  # every racer polls for this file, then tries at once

    def all_done() -> bool:
        counts = _status_counts(syftbox_dir)
        return counts["completed"] + counts["failed"] + counts["rejected"] == RACE_JOBS

    wait_for(
        all_done,
        180,
        "all 500 jobs to end",
        interval=0.1,
        on_timeout=lambda: f"{_status_counts(syftbox_dir)}\n{children.log_text('racer0')}",
    )
    outcomes = _finish(children, stop, servers)
    firsts = Counter(str(o["first"]) for o in outcomes)
    assert firsts == Counter({"won": 1, "refused": SERVERS - 1}), outcomes
    winner = next(o for o in outcomes if o["first"] == "won")
    for outcome in outcomes:
        if outcome["first"] == "refused":
            message = str(outcome["message"])
            assert "already runs" in message and "server.lock" in message, message
            assert f"pid {winner['pid']}" in message or "another process" in message, message

    assert _status_counts(syftbox_dir) == Counter({"completed": RACE_JOBS})
    seen = _runs(syftbox_dir, uids)
    assert set(seen) == set(uids), "a job that never ran"
    twice = {uid: n for uid, n in seen.items() if n != 1}
    assert not twice, f"jobs that ran more than once: {twice}"


def test_holder_sigkilled_mid_queue_no_job_runs_twice(
    syftbox_dir: Path, tmp_path: Path, children: Children
) -> None:
    uids = _approved_jobs(syftbox_dir, tmp_path, HANDOVER_JOBS)
    go, stop, servers = _race(syftbox_dir, tmp_path, children)
    go.write_text("go")
    lock = private_dir(syftbox_dir) / "server.lock"
    wait_for(
        lambda: _status_counts(syftbox_dir)["completed"] >= HANDOVER_JOBS // 3,
        120,
        "a third of the jobs to complete",
        interval=0.02,
    )
    holder_pid = int(lock.read_text().strip())
    holder = next(proc for proc, _ in servers if proc.pid == holder_pid)
    Children.kill(holder)  # mid-queue, possibly mid-job

    def all_done() -> bool:
        counts = _status_counts(syftbox_dir)
        return counts["completed"] + counts["failed"] == HANDOVER_JOBS

    wait_for(all_done, 120, "a surviving server to take over and finish", interval=0.05)
    new_holder = int(lock.read_text().strip())
    assert new_holder != holder_pid and new_holder in {p.pid for p, _ in servers}
    _finish(children, stop, servers)

    statuses = _statuses(syftbox_dir)
    seen = _runs(syftbox_dir, uids)
    twice = {uid: n for uid, n in seen.items() if n > 1}
    assert not twice, f"jobs that ran more than once: {twice}"
    for uid in uids:
        status, reason = statuses[uid]
        if status == "completed":
            assert seen[uid] == 1, f"{uid} completed but its run.sh did not run exactly once"
        else:
            assert (status, reason) == ("failed", "interrupted"), (uid, status, reason)
    interrupted = [u for u in uids if statuses[u][0] == "failed"]
    assert len(interrupted) <= CONCURRENCY, interrupted
