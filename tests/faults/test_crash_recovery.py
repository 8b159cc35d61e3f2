"""SIGKILL the owner's server while a job runs, then start a new server.

The job (``sleep 60``) leaves background children that escape its process group in the
usual ways (``setsid``, a double fork, both). In the default sandbox they die with the server;
without one they are still alive after the crash. The
next server to take the lock must mark the job ``failed`` (interrupted), kill every process
of it, and never run it again without a new approval.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from faultlib import (
    DO_EMAIL,
    DS_EMAIL,
    Children,
    at_least,
    audit_count,
    audit_entries,
    describe_matching,
    find_processes,
    hash_tree,
    ledger_rows,
    ledger_table,
    lines_of,
    none_left,
    precondition,
    unique_token,
    wait_for,
)

import syft_code_queue as scq
from syft_code_queue.models import FailureReason, JobStatus, utcnow
from tests.conftest import make_package

pytestmark = pytest.mark.faults

TRIALS = 20
ESCAPEES = ("main", "setsid", "dfork", "deep", "deepparent")


@contextmanager
def owner(syftbox_dir: Path) -> Iterator[scq.CodeQueueServer]:
    with scq.create_server(
        email=DO_EMAIL, syftbox_dir=syftbox_dir, job_timeout=120, poll_interval=0.05
    ) as server:
        yield server


def crash_script(tag: str) -> str:
    """``sleep 60`` as the job, plus children that leave its process group."""
    quiet = "</dev/null >/dev/null 2>&1"
    return (
        'echo "$JOB_ID"\n'
        f"setsid bash -c 'exec -a {tag}-setsid sleep 300' {quiet} &\n"
        f"( (exec -a {tag}-dfork sleep 300) {quiet} & )\n"
        f"( setsid bash -c '(exec -a {tag}-deep sleep 300) & exec -a {tag}-deepparent sleep 300'"
        f" {quiet} & )\n"
        f"exec -a {tag}-main sleep 60\n"
    )


def spawn_server(children: Children, syftbox_dir: Path, name: str) -> None:
    children.spawn("server", "--syftbox", str(syftbox_dir), "--email", DO_EMAIL, name=name)


def submit_approved(
    ds: scq.CodeQueueClient, syftbox_dir: Path, folder: Path, script: str, name: str
) -> str:
    job = ds.submit_code(DO_EMAIL, make_package(folder, script), name)
    uid = str(job.uid)
    with owner(syftbox_dir) as server:  # receive and approve, but start nothing
        server.tick()
        server.approve_job(uid)
    return uid


def test_server_sigkilled_while_a_job_runs(
    syftbox_dir: Path, tmp_path: Path, children: Children
) -> None:
    token = unique_token()
    children.tokens.add(token)
    ds = scq.create_client(email=DS_EMAIL, syftbox_dir=syftbox_dir)
    private = syftbox_dir.resolve() / ".syft_code_queue" / DO_EMAIL / "code-queue"
    crashed: list[str] = []
    for trial in range(TRIALS):
        tag = f"{token}-t{trial:02d}"
        uid = submit_approved(
            ds, syftbox_dir, tmp_path / f"pkg{trial}", crash_script(tag), f"t{trial}"
        )
        server_proc = children.spawn(
            "server", "--syftbox", str(syftbox_dir), "--email", DO_EMAIL, name=f"server{trial}"
        )

        def job_fully_up(uid: str = uid, tag: str = tag) -> bool:
            alive = {p.info["cmdline"][0].rsplit("-", 1)[-1] for p in find_processes([tag])}
            said = lines_of(private / "runs" / uid / "stdout.txt")  # the live, private log
            return said == [uid] and alive >= set(ESCAPEES)

        wait_for(
            job_fully_up,
            30,
            f"trial {trial}: the job and its escapees to be running",
            on_timeout=partial(children.log_text, f"server{trial}"),
        )
        row = ledger_rows(private, uid)[0]
        assert row["status"] == "running"
        run_id = str(row["run_id"])
        children.run_ids.add(run_id)

        assert Children.kill(server_proc) == -9
        # In its sandbox (the default) the job dies with the server (bubblewrap's
        # --die-with-parent); without one it is left running. Either way the next server
        # must mark it interrupted, leave no process of it and never run it again.

        with owner(syftbox_dir) as server:
            server.tick()  # takes the lock: recovers the interrupted job
            job = server.get_job(uid)
            assert job.status is JobStatus.failed, job
            assert job.failure_reason is FailureReason.interrupted
            assert "interrupted" in (job.error_message or "")
            wait_for(
                partial(none_left, [tag], [run_id]),
                10,
                f"trial {trial}: every process of the job to be gone",
                on_timeout=partial(describe_matching, [tag], [run_id]),
            )
            for _ in range(5):
                server.tick()
                server.tick(utcnow() + timedelta(minutes=5))
            assert server.get_job(uid).status is JobStatus.failed
            assert not (server.private_dir / "runs" / uid).exists()
        seen = ds.get_job(uid)
        assert (seen.status, seen.failure_reason) == (JobStatus.failed, FailureReason.interrupted)
        assert audit_count(private, uid, "running") == 1, "the interrupted job ran again"
        crashed.append(uid)

    # One more real server process: it runs a fresh approved job (proof that it worked the
    # queue) and none of the interrupted ones.
    canary = submit_approved(ds, syftbox_dir, tmp_path / "canary", 'echo "$JOB_ID"\n', "canary")
    spawn_server(children, syftbox_dir, "server-final")

    def canary_done() -> bool:
        rows = ledger_rows(private, canary)
        return bool(rows) and rows[0]["status"] in ("completed", "failed")

    wait_for(canary_done, 30, "the canary job to finish", interval=0.05)
    assert ledger_rows(private, canary)[0]["status"] == "completed"
    assert canary in ds.get_job_logs(canary)
    # Every start of a job is a committed "running" transition before its process exists.
    assert audit_count(private, canary, "running") == 1
    for uid in crashed:
        runs = audit_count(private, uid, "running")
        assert runs == 1, f"{uid} ran {runs} times"
        assert ledger_rows(private, uid)[0]["status"] == "failed"
    assert not find_processes([token], children.run_ids)


SCRUBBED = (
    'marker="$OUTPUT_DIR/escapee-alive"\n'
    "setsid env -i /bin/bash -c \"echo alive > '$marker'; exec -a {tag}-scrubbed sleep 300\" "
    "</dev/null >/dev/null 2>&1 &\n"
    # The job ends only once its escapee is surely running.
    'while [ ! -s "$marker" ]; do sleep 0.01; done\n'
)


def test_escapee_with_a_scrubbed_environment_dies_with_its_job(
    syftbox_dir: Path, tmp_path: Path, children: Children
) -> None:
    token = unique_token()
    children.tokens.add(token)
    ds = scq.create_client(email=DS_EMAIL, syftbox_dir=syftbox_dir)
    script = SCRUBBED.format(tag=token) + "echo started\n"
    uid = submit_approved(ds, syftbox_dir, tmp_path / "pkg", script, "scrubbed")
    with owner(syftbox_dir) as server:

        def ended() -> bool:
            server.tick()
            return server.get_job(uid).is_terminal

        wait_for(ended, 30, "the job to end", interval=0.02)
        precondition(server.get_job(uid).status is JobStatus.completed, "the job completes")
        output = server.get_job(uid).output_folder
        precondition(
            output is not None and (output / "escapee-alive").read_text() == "alive\n",
            "the escapee was started",
        )
        wait_for(
            partial(none_left, [token]),
            2,
            "the job's escapee to be killed when the job ended",
            on_timeout=partial(describe_matching, [token]),
        )


RECEIVE_JOBS = 400
RECEIVE_KILLS = 10


def test_owner_sigkilled_while_receiving_receives_each_job_once(
    syftbox_dir: Path, tmp_path: Path, children: Children
) -> None:
    ds = scq.create_client(email=DS_EMAIL, syftbox_dir=syftbox_dir)
    code = make_package(tmp_path / "pkg", "echo hi\n", {"data/rows.csv": "a,b\n1,2\n" * 50})
    uids = {str(ds.submit_code(DO_EMAIL, code, f"job {i}").uid) for i in range(RECEIVE_JOBS)}
    private = syftbox_dir.resolve() / ".syft_code_queue" / DO_EMAIL / "code-queue"
    rng = random.Random(99)

    def received() -> int:
        return len(ledger_table(private))

    for kill in range(RECEIVE_KILLS):
        goal = min(RECEIVE_JOBS, received() + rng.randint(1, 40))
        proc = children.spawn(
            "server",
            "--syftbox",
            str(syftbox_dir),
            "--email",
            DO_EMAIL,
            "--mode",
            "tick",
            name=f"receiver{kill}",
        )
        wait_for(
            partial(at_least, received, goal),
            60,
            f"kill {kill}: {goal} receipts",
            on_timeout=partial(children.log_text, f"receiver{kill}"),
        )
        assert Children.kill(proc) == -9

    with owner(syftbox_dir) as server:
        server.tick()
        rows = ledger_table(private)
        assert {r["uid"] for r in rows} == uids
        for row in rows:
            uid = row["uid"]
            assert row["status"] == "pending"
            events = server.job_events(uid)
            assert [e["detail"] for e in events] == ["received"], events
            files = {f["path"]: (f["sha256"], f["size"]) for f in json.loads(row["files"])}
            assert hash_tree(server.snapshots / uid) == files, uid
            assert ds.get_job(uid).status is JobStatus.pending
        assert server.ledger.arrivals() == []


def test_owner_killed_between_audit_write_and_commit_keeps_a_verifiable_log(
    syftbox_dir: Path, tmp_path: Path, children: Children
) -> None:
    ds = scq.create_client(email=DS_EMAIL, syftbox_dir=syftbox_dir)
    code = make_package(tmp_path / "pkg", "echo hi\n")
    uids = {str(ds.submit_code(DO_EMAIL, code, f"job {i}").uid) for i in range(3)}
    private = syftbox_dir.resolve() / ".syft_code_queue" / DO_EMAIL / "code-queue"
    proc = children.spawn(
        "die-at", "audit", "--syftbox", str(syftbox_dir), "--email", DO_EMAIL, name="dying"
    )
    precondition(proc.wait(60) == -9, children.log_text("dying"))
    precondition(ledger_table(private) == [], "the crash should have rolled the receipt back")
    written = {e["uid"] for e in audit_entries(private)}
    precondition(written == uids, "audit entries written, never committed")

    with owner(syftbox_dir) as server:
        assert server.tick().received == 3
        for uid in uids:
            assert [e["detail"] for e in server.job_events(uid)] == ["received"]
            server.approve_job(uid)
        report = server.verify_audit()
        assert report.ok, report.problems


def test_owner_killed_mid_copy_leaves_no_temp_snapshot_behind(
    syftbox_dir: Path, tmp_path: Path, children: Children
) -> None:
    ds = scq.create_client(email=DS_EMAIL, syftbox_dir=syftbox_dir)
    code = make_package(tmp_path / "pkg", "echo hi\n", {"data.csv": "a,b\n1,2\n"})
    uid = str(ds.submit_code(DO_EMAIL, code, "job").uid)
    private = syftbox_dir.resolve() / ".syft_code_queue" / DO_EMAIL / "code-queue"
    proc = children.spawn(
        "die-at", "copy", "--syftbox", str(syftbox_dir), "--email", DO_EMAIL, name="dying"
    )
    precondition(proc.wait(60) == -9, children.log_text("dying"))
    snapshots, arriving = private / "snapshots", private / "arriving"
    leftover = [p.name for p in arriving.iterdir() if ".syft.tmp" in p.name]
    precondition(leftover, "the crash mid-copy should leave a temp copy of the request")

    with owner(syftbox_dir) as server:
        assert server.tick().received == 1
        listed = json.loads(ledger_rows(private, uid)[0]["files"])
        assert hash_tree(snapshots / uid) == {f["path"]: (f["sha256"], f["size"]) for f in listed}
        server.tick()
        leftovers = [
            p.name for d in (snapshots, arriving) for p in d.iterdir() if ".syft.tmp" in p.name
        ]
        assert leftovers == [], leftovers
