"""The output airlock's hold and release: QueueConfig(release="manual") with real jobs.

A data scientist and a data owner share one local SyftBox folder; the owner's server runs
real ``bash run.sh`` processes against a DATA_DIR holding patients.csv, and is driven with
``tick(now)``. What the requester can see is checked by scanning the owner's whole datasite
(everything SyftBox would sync) for the bytes the job wrote.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import syft_code_queue as scq
from syft_code_queue import (
    FailureReason,
    InvalidTransitionError,
    JobStatus,
    ResultsChangedError,
    ResultsNotCheckedError,
    ResultsNotHeldError,
)
from syft_code_queue.airlock.data_index import clear_memo
from syft_code_queue.ledger import JobRecord
from tests.conftest import DO_EMAIL, later, make_package, run_until
from tests.procs import wait_for

PATIENT_42 = "P0042,Zebedee Quux,61,F,ZZ99 9QQ,asthma,77.7"
COLUMNS = "patient_id,name,age,sex,postcode,diagnosis,weight_kg"
DIAGNOSES = ["asthma", "diabetes", "copd", "hypertension"]


def patients() -> list[str]:
    """60 made-up patients (one of them is PATIENT_42), the same every time."""
    rows = [
        f"P{i:04d},Person {i} Name{i * 7 % 13},{20 + i * 13 % 60},{'F' if i % 3 else 'M'},"
        f"AB{i * 31 % 97:02d} {i % 9}XY,{DIAGNOSES[i * 5 % 4]},{50 + i * 17 % 50}.{i % 10}"
        for i in range(1, 61)
        if i != 42
    ]
    return [*rows[:41], PATIENT_42, *rows[41:]]


@pytest.fixture(autouse=True)
def _fresh_index_memo() -> None:
    clear_memo()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    (path / "patients.csv").write_text("\n".join([COLUMNS, *patients()]) + "\n")
    return path


@pytest.fixture
def owner(syftbox_dir: Path, data_dir: Path) -> Iterator[scq.CodeQueueServer]:
    """A data owner who checks results before they leave."""
    server = scq.create_server(
        email=DO_EMAIL, syftbox_dir=syftbox_dir, job_timeout=30, release="manual",
        job_data_dir=data_dir,
    )  # fmt: skip
    yield server
    server.close()


def owner_datasite(syftbox_dir: Path) -> Path:
    return syftbox_dir / "datasites" / DO_EMAIL


def published_bytes(syftbox_dir: Path) -> bytes:
    """Every byte of every file in the owner's datasite (what SyftBox syncs), names too."""
    out = []
    for path in sorted(owner_datasite(syftbox_dir).rglob("*")):
        out.append(str(path).encode())
        if path.is_file():
            out.append(path.read_bytes())
    return b"\n".join(out)


# Analyses the data scientist submits (each reads DATA_DIR/patients.csv)

READ = """
import csv, os, collections
with open(os.path.join(os.environ["DATA_DIR"], "patients.csv")) as f:
    rows = list(csv.DictReader(f))
out = os.environ["OUTPUT_DIR"]
"""

COPY_FIVE_ROWS = (
    READ
    + """
with open(os.path.join(out, "summary.csv"), "w") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    for r in rows[38:43]:
        w.writerow(r)
print("wrote the summary")
"""
)

AGGREGATE = (
    READ
    + """
groups = collections.defaultdict(list)
for r in rows:
    groups[r["diagnosis"]].append(int(r["age"]))
with open(os.path.join(out, "by_diagnosis.csv"), "w") as f:
    f.write("diagnosis,n,mean_age\\n")
    for name, ages in sorted(groups.items()):
        f.write(f"{name},{len(ages)},{sum(ages) / len(ages):.1f}\\n")
print(f"{len(rows)} patients in {len(groups)} groups")
"""
)

THREE_PERSON_CELL = (
    READ
    + """
rows = [r for r in rows if r["diagnosis"] != "copd"] + [
    r for r in rows if r["diagnosis"] == "copd"][:3]
counts = collections.Counter(r["diagnosis"] for r in rows)
with open(os.path.join(out, "counts.csv"), "w") as f:
    f.write("diagnosis,count\\n")
    for name, n in sorted(counts.items()):
        f.write(f"{name},{n}\\n")
"""
)

AGGREGATE_AND_RECORDS = (
    AGGREGATE
    + """
with open(os.path.join(out, "records.csv"), "w") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows[40:43])
import sys
print("a warning", file=sys.stderr)
"""
)

PRINT_THE_SECRET = (
    READ
    + """
secret = [r for r in rows if r["patient_id"] == "P0042"][0]
print(",".join(secret.values()), flush=True)
with open(os.path.join(out, "secret.txt"), "w") as f:
    f.write(",".join(secret.values()))
"""
)


def submit(ds: scq.CodeQueueClient, tmp_path: Path, analysis: str, name: str) -> scq.CodeJob:
    folder = make_package(tmp_path / f"pkg-{name}", "python analyze.py\n", {"analyze.py": analysis})
    return ds.submit_code(DO_EMAIL, folder, name)


def run_to_review(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path, analysis: str, name: str
) -> scq.CodeJob:
    """Submit, approve and run a job until its results wait for the owner."""
    job = submit(ds, tmp_path, analysis, name)
    owner.list_pending_jobs()
    owner.approve_job(job.uid)
    under_way = (JobStatus.approved, JobStatus.running)
    run_until(owner, lambda: owner.get_job(job.uid).status not in under_way)
    held = owner.get_job(job.uid)
    assert held.status is JobStatus.awaiting_release, held.error_message
    return held


# Holding


def test_a_job_that_ran_waits_for_release_and_only_its_status_is_published(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path, syftbox_dir: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, PRINT_THE_SECRET, "secret")
    seen = ds.get_job(job.uid)
    assert seen.status is JobStatus.awaiting_release
    assert not seen.is_terminal
    assert seen.status_note == "ran; results under review"
    assert (seen.exit_code, seen.failure_reason, seen.error_message) == (None, None, None)
    assert seen.output_folder is None
    assert ds.get_job_logs(job.uid) == ""
    job_dir = owner_datasite(syftbox_dir) / "app_data" / "code-queue" / "jobs" / str(job.uid)
    assert sorted(p.name for p in job_dir.iterdir()) == [
        "events.jsonl", "status.json", "syft.pub.yaml", "syftperm.yaml",
    ]  # fmt: skip
    assert PATIENT_42.encode() not in published_bytes(syftbox_dir)
    # The owner sees the held files.
    assert owner.read_result_file(job.uid, "output/secret.txt") == PATIENT_42.encode()
    assert PATIENT_42 in owner.get_job_logs(job.uid)
    assert "ran; results under review" in seen._repr_html_()
    from syft_code_queue.widgets.status import status_row

    assert status_row(seen)["note"] == "ran; results under review"


def test_the_owners_wait_returns_once_the_results_wait_for_release(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path, AGGREGATE, "waited")
    owner.list_pending_jobs()
    owner.approve_job(job.uid)
    assert owner.wait(job.uid, timeout=30).status is JobStatus.awaiting_release
    with pytest.raises(TimeoutError, match="awaiting_release"):
        ds.wait(job.uid, timeout=0.2)  # the requester waits for the release


def test_jobs_awaiting_release_are_listed_oldest_first(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    first = run_to_review(ds, owner, tmp_path, AGGREGATE, "first")
    second = run_to_review(ds, owner, tmp_path, AGGREGATE, "second")
    assert [j.uid for j in owner.list_awaiting_release()] == [first.uid, second.uid]
    owner.withhold_results(first.uid, "not needed")
    assert [j.uid for j in owner.list_awaiting_release()] == [second.uid]


# Checking


def test_a_summary_that_copies_five_rows_is_blocked_and_named(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, COPY_FIVE_ROWS, "copy")
    report = owner.check_results(job.uid)
    blocks = [f for f in report.findings if f.severity == "block"]
    assert [(f.check, f.where.file, f.where.row) for f in blocks] == [
        ("raw_records", "output/summary.csv", row) for row in range(1, 6)
    ]
    assert "patients.csv" in blocks[0].message
    assert report.blocked


def test_a_clean_aggregate_passes_without_a_block(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE, "aggregate")
    report = owner.check_results(job.uid)
    assert report.counts["block"] == 0
    assert [f.path for f in report.files] == ["output/by_diagnosis.csv", "stderr.txt", "stdout.txt"]


def test_a_three_person_cell_is_flagged(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, THREE_PERSON_CELL, "cells")
    report = owner.check_results(job.uid)
    small = [f for f in report.findings if f.check == "small_cells"]
    assert [(f.severity, f.where.file, f.where.column) for f in small] == [
        ("review", "output/counts.csv", "count")
    ]
    assert "count 3" in small[0].message


def test_a_printed_record_is_blocked_in_the_held_log(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, PRINT_THE_SECRET, "printed")
    report = owner.check_results(job.uid)
    assert ("block", "stdout.txt") in [(f.severity, f.where.file) for f in report.findings]


# Releasing


def test_a_released_subset_is_exactly_what_the_requester_receives(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path, syftbox_dir: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE_AND_RECORDS, "subset")
    report = owner.check_results(job.uid)
    assert report.blocked  # records.csv
    held = {p: owner.read_result_file(job.uid, p) for p in report.sha256}
    reason = "records.csv holds patient rows"
    done = owner.release_results(job.uid, ["output/by_diagnosis.csv", "stdout.txt"], reason)
    assert done.status is JobStatus.completed
    assert done.withheld_files == ("output/records.csv", "stderr.txt")

    seen = ds.get_job(job.uid)
    assert seen.status is JobStatus.completed
    assert seen.exit_code == 0
    assert (seen.withheld_files, seen.release_reason) == (
        ("output/records.csv", "stderr.txt"), reason,
    )  # fmt: skip
    assert "withheld: output/records.csv, stderr.txt" in seen.status_note
    assert seen.output_folder is not None
    arrived = {
        p.relative_to(seen.output_folder).as_posix(): p.read_bytes()
        for p in seen.output_folder.rglob("*")
        if p.is_file()
    }
    assert arrived == {"by_diagnosis.csv": held["output/by_diagnosis.csv"]}
    digest = hashlib.sha256(arrived["by_diagnosis.csv"]).hexdigest()
    assert digest == report.sha256["output/by_diagnosis.csv"]
    assert ds.get_job_logs(job.uid).encode() == held["stdout.txt"]
    # Not a byte of the withheld files left.
    everything = published_bytes(syftbox_dir)
    assert held["output/records.csv"].splitlines()[1] not in everything
    assert b"a warning" not in everything


def test_a_failed_job_is_released_as_failed_with_its_own_reason(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE + "\nraise SystemExit(3)\n", "fails")
    assert owner.get_job(job.uid).exit_code == 3  # the owner sees it ...
    assert ds.get_job(job.uid).exit_code is None  # ... the requester not yet
    owner.check_results(job.uid)
    owner.release_results(job.uid)
    seen = ds.get_job(job.uid)
    assert (seen.status, seen.failure_reason, seen.exit_code) == (
        JobStatus.failed, FailureReason.exit_code, 3,
    )  # fmt: skip
    assert seen.withheld_files == ()
    assert "patients in" in ds.get_job_logs(job.uid)


def test_a_release_needs_a_check_first(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE, "unchecked")
    with pytest.raises(ResultsNotCheckedError, match="check_results"):
        owner.release_results(job.uid)
    assert owner.get_job(job.uid).status is JobStatus.awaiting_release


def test_a_file_changed_after_the_check_is_refused(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path, syftbox_dir: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE, "changed")
    owner.check_results(job.uid)
    held = owner.results.held_dir(str(job.uid)) / "output" / "by_diagnosis.csv"
    held.write_text(held.read_text() + f"{PATIENT_42}\n")
    with pytest.raises(ResultsChangedError, match=r"output/by_diagnosis\.csv changed"):
        owner.release_results(job.uid)
    assert owner.get_job(job.uid).status is JobStatus.awaiting_release
    assert ds.get_job(job.uid).output_folder is None
    assert PATIENT_42.encode() not in published_bytes(syftbox_dir)
    # Checked again, the new bytes are what is released (and the check now blocks them).
    report = owner.check_results(job.uid)
    assert report.blocked
    owner.release_results(job.uid, ["stdout.txt"], "the table holds a record")
    assert ds.get_job(job.uid).withheld_files == ("output/by_diagnosis.csv", "stderr.txt")


def test_only_checked_files_can_be_named(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE, "names")
    owner.check_results(job.uid)
    with pytest.raises(scq.HeldFileNotFoundError, match="releasable files are"):
        owner.release_results(job.uid, ["output/../hold.json"])
    assert owner.get_job(job.uid).status is JobStatus.awaiting_release


# Withholding


def test_withholding_publishes_no_byte_of_outputs_or_logs(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path, syftbox_dir: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, PRINT_THE_SECRET, "withheld")
    owner.check_results(job.uid)
    with pytest.raises(ValueError, match="needs a reason"):
        owner.withhold_results(job.uid, " ")
    done = owner.withhold_results(job.uid, "prints a patient record")
    assert (done.status, done.failure_reason) == (JobStatus.failed, FailureReason.withheld)
    seen = ds.get_job(job.uid)
    assert (seen.status, seen.failure_reason, seen.error_message) == (
        JobStatus.failed, FailureReason.withheld, "prints a patient record",
    )  # fmt: skip
    assert (seen.exit_code, seen.output_folder, seen.withheld_files) == (None, None, ())
    assert ds.get_job_logs(job.uid) == ""
    everything = published_bytes(syftbox_dir)
    assert PATIENT_42.encode() not in everything
    assert b"secret.txt" not in everything
    with pytest.raises(InvalidTransitionError, match="not awaiting_release"):
        owner.release_results(job.uid)


# The live log tail


@pytest.mark.parametrize("release", ["auto", "manual"])
def test_nothing_leaks_through_the_live_log_tail_under_manual(
    ds: scq.CodeQueueClient, syftbox_dir: Path, data_dir: Path, tmp_path: Path, release: str
) -> None:
    # The job waits for a file the owner writes into DATA_DIR: the one folder of the
    # owner's that a sandboxed job sees (read-only).
    go = data_dir / "go"
    script = (
        PRINT_THE_SECRET
        + """
import time
while not os.path.exists(os.path.join(os.environ["DATA_DIR"], "go")):
    time.sleep(0.02)
"""
    )
    server = scq.create_server(
        email=DO_EMAIL, syftbox_dir=syftbox_dir, job_timeout=60, release=release,
        job_data_dir=data_dir,
    )  # fmt: skip
    try:
        job = submit(ds, tmp_path, script, "live")
        server.list_pending_jobs()
        server.approve_job(job.uid)
        server.tick()
        run_dir = server.private_dir / "runs" / str(job.uid)
        wait_for(
            lambda: PATIENT_42 in (run_dir / "stdout.txt").read_text(), message="secret printed"
        )
        start = server.get_job(job.uid).started_at
        assert start is not None
        for seconds in (2, 4, 6):  # past the live tail's interval, every time
            server.tick(start + timedelta(seconds=seconds))
        leaked = PATIENT_42.encode() in published_bytes(syftbox_dir)
        assert leaked is (release == "auto")  # the auto queue shows the tail; manual never
        go.write_text("go")
        run_until(server, lambda: server.get_job(job.uid).status is not JobStatus.running)
        if release == "manual":
            assert server.get_job(job.uid).status is JobStatus.awaiting_release
            assert PATIENT_42.encode() not in published_bytes(syftbox_dir)
    finally:
        server.close()


# The audit chain


def test_each_decision_is_audited_with_the_hash_of_every_released_file(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    kept = run_to_review(ds, owner, tmp_path, AGGREGATE_AND_RECORDS, "audited")
    dropped = run_to_review(ds, owner, tmp_path, AGGREGATE, "dropped")
    report = owner.check_results(kept.uid)
    owner.release_results(kept.uid, ["output/by_diagnosis.csv"], "aggregate only")
    owner.withhold_results(dropped.uid, "not today")
    assert owner.verify_audit().ok
    entries = [json.loads(line) for line in owner.ledger.audit_path.read_text().splitlines()]
    by_job = {(e["uid"], e["event"]): e["details"] for e in entries}
    released = by_job[(str(kept.uid), "completed")]
    assert released["decision"] == "release"
    assert released["released"] == {
        "output/by_diagnosis.csv": report.sha256["output/by_diagnosis.csv"]
    }
    assert released["withheld"] == ["output/records.csv", "stderr.txt", "stdout.txt"]
    assert released["findings"]["block"] >= 1
    held = by_job[(str(kept.uid), "awaiting_release")]["held"]
    assert held == report.sha256
    withheld = by_job[(str(dropped.uid), "failed")]
    assert (withheld["decision"], withheld["released"], withheld["reason"]) == (
        "withhold", {}, "not today",
    )  # fmt: skip


# Reading held files


def test_reading_a_held_file_never_leaves_the_held_folder(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE, "read")
    assert owner.read_result_file(job.uid, "output/by_diagnosis.csv", limit=9) == b"diagnosis"
    link = owner.results.held_dir(str(job.uid)) / "output" / "link.csv"
    link.symlink_to(owner.private_dir / "queue.db")
    for bad in ("../hold.json", "/etc/passwd", "output/../../hold.json", "output/link.csv", ""):
        with pytest.raises(scq.HeldFileNotFoundError):
            owner.read_result_file(job.uid, bad)
    pending = submit(ds, tmp_path, AGGREGATE, "never-ran")
    owner.list_pending_jobs()
    with pytest.raises(ResultsNotHeldError, match="holds no results"):
        owner.read_result_file(pending.uid, "stdout.txt")


# Crashes and cleanup


def test_a_job_awaiting_release_survives_a_dead_server_and_cleanup(
    ds: scq.CodeQueueClient, syftbox_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    job = submit(ds, tmp_path, AGGREGATE, "survives")
    child = f"""
import sys
import syft_code_queue as scq
from tests.conftest import run_until
s = scq.create_server(email={DO_EMAIL!r}, syftbox_dir={str(syftbox_dir)!r},
                      release="manual", job_data_dir={str(data_dir)!r})
s.list_pending_jobs()
s.approve_job({str(job.uid)!r})
run_until(s, lambda: s.get_job({str(job.uid)!r}).status.value == "awaiting_release")
print("held", flush=True)
sys.stdin.read()
"""
    with subprocess.Popen(
        [sys.executable, "-c", child],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        proc.kill()
    server = scq.create_server(
        email=DO_EMAIL, syftbox_dir=syftbox_dir, release="manual", job_data_dir=data_dir,
        cleanup_completed_after=1,
    )  # fmt: skip
    try:
        server.tick()
        seen = server.get_job(job.uid)
        assert (seen.status, seen.failure_reason) == (JobStatus.awaiting_release, None)
        server.tick(later(3600))  # cleanup runs: nothing awaiting release is removed
        assert server.get_job(job.uid).status is JobStatus.awaiting_release
        report = server.check_results(job.uid)
        assert "output/by_diagnosis.csv" in report.sha256
        server.release_results(job.uid)
        assert ds.get_job(job.uid).status is JobStatus.completed
        server.tick(later(7200))  # decided and old: now it goes
        assert not server.results.folder(str(job.uid)).exists()
    finally:
        server.close()


def test_a_requester_who_cancels_while_awaiting_release_gets_nothing(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path, syftbox_dir: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, PRINT_THE_SECRET, "cancelled")
    ds.cancel_job(job.uid)
    run_until(owner, lambda: owner.get_job(job.uid).status.is_terminal)
    seen = ds.get_job(job.uid)
    assert (seen.status, seen.failure_reason) == (JobStatus.failed, FailureReason.cancelled)
    assert seen.exit_code is None
    assert PATIENT_42.encode() not in published_bytes(syftbox_dir)


def test_two_releases_at_once_end_the_job_once_with_the_winners_files(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE_AND_RECORDS, "raced")
    owner.check_results(job.uid)
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def release(path: str) -> None:
        start.wait()
        try:
            outcomes[path] = owner.release_results(job.uid, [path])
        except InvalidTransitionError as exc:
            outcomes[path] = exc

    threads = [
        threading.Thread(target=release, args=(p,)) for p in ("output/records.csv", "stdout.txt")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    [winner] = [p for p, o in outcomes.items() if isinstance(o, scq.CodeJob)]
    [loser] = [o for o in outcomes.values() if isinstance(o, InvalidTransitionError)]
    assert "not awaiting_release" in str(loser)
    seen = ds.get_job(job.uid)
    assert seen.status is JobStatus.completed
    assert winner not in seen.withheld_files
    published = owner.jobs_dir / str(job.uid)
    names = {p.relative_to(published).as_posix() for p in published.rglob("*") if p.is_file()}
    assert winner in names
    assert not ({"output/records.csv", "stdout.txt"} - {winner}) & names


def test_a_run_stopped_with_the_server_is_held_too_and_ends_as_it_ran(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path, syftbox_dir: Path
) -> None:
    job = submit(ds, tmp_path, PRINT_THE_SECRET + "\nimport time\ntime.sleep(60)\n", "stopped")
    owner.list_pending_jobs()
    owner.approve_job(job.uid)
    owner.tick()
    run_dir = owner.private_dir / "runs" / str(job.uid)
    wait_for(
        lambda: (run_dir / "output" / "secret.txt").read_text() == PATIENT_42, message="written"
    )
    owner.stop()
    held = owner.get_job(job.uid)
    assert (held.status, held.failure_reason) == (
        JobStatus.awaiting_release, FailureReason.interrupted,
    )  # fmt: skip
    assert PATIENT_42.encode() not in published_bytes(syftbox_dir)
    owner.check_results(job.uid)
    owner.release_results(job.uid, ["output/secret.txt"])
    seen = ds.get_job(job.uid)
    assert (seen.status, seen.failure_reason) == (JobStatus.failed, FailureReason.interrupted)


def test_a_release_whose_publishing_fails_is_published_by_the_next_step(
    ds: scq.CodeQueueClient,
    owner: scq.CodeQueueServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = run_to_review(ds, owner, tmp_path, AGGREGATE, "retried")
    owner.check_results(job.uid)
    publish = owner.results.publish_released
    calls = []

    def fails_once(record: JobRecord, job_dir: Path) -> None:
        calls.append(job_dir)
        if len(calls) == 1:
            raise OSError("disk full")
        publish(record, job_dir)

    monkeypatch.setattr(owner.publisher, "publish_results", fails_once)
    assert owner.release_results(job.uid).status is JobStatus.completed  # committed
    assert ds.get_job(job.uid).status is JobStatus.awaiting_release  # not yet published
    owner.tick()
    seen = ds.get_job(job.uid)
    assert seen.status is JobStatus.completed
    assert seen.output_folder is not None
    assert (seen.output_folder / "by_diagnosis.csv").read_bytes() == owner.read_result_file(
        job.uid, "output/by_diagnosis.csv"
    )
