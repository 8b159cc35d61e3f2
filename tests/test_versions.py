"""Review by difference: versions of a job, and what changed since the last approved one."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

import syft_code_queue as scq
from syft_code_queue.models import JobStatus, utcnow
from tests.conftest import DO_EMAIL, make_package, run_until

OTHER_DS = "other@example.com"

ANALYZE_V1 = "import csv\nrows = list(csv.reader(open('data.csv')))\nprint(len(rows))\n"
ANALYZE_V2 = "import csv\nrows = list(csv.reader(open('data.csv')))\nprint(len(rows) * 2)\n"


def package(root: Path, analyze: str, extra: dict[str, str] | None = None) -> Path:
    files = {"analyze.py": analyze, "data.csv": "a,b\n1,2\n", **(extra or {})}
    return make_package(root, "python analyze.py\n", files)


def private(do: scq.CodeQueueServer) -> Path:
    return do.private_dir


def test_a_submission_without_supersedes_writes_no_such_field(
    ds: scq.CodeQueueClient, code_folder: Path
) -> None:
    # Servers of an earlier release refuse unknown fields: leave it out unless it is used.
    job = ds.submit_code(DO_EMAIL, code_folder, "plain")
    request = json.loads((job.code_folder.parent / "request.json").read_text())
    assert "supersedes" not in request


def test_supersedes_is_carried_in_the_request(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    first = ds.submit_code(DO_EMAIL, package(tmp_path / "v1", ANALYZE_V1), "Cohort stats")
    second = ds.submit_code(
        DO_EMAIL, package(tmp_path / "v2", ANALYZE_V2), "Cohort statistics", supersedes=first.uid
    )
    request = json.loads((second.code_folder.parent / "request.json").read_text())
    assert request["supersedes"] == str(first.uid)
    assert ds.get_job(second.uid).supersedes == first.uid
    job = do.get_job(second.uid)
    assert (job.version, job.supersedes, job.diff_base) == (2, first.uid, first.uid)


def test_supersedes_must_be_a_uid(ds: scq.CodeQueueClient, code_folder: Path) -> None:
    with pytest.raises(scq.JobNotFoundError, match="not a job uid"):
        ds.submit_code(DO_EMAIL, code_folder, "x", supersedes="yesterday's job")


def test_the_owner_links_a_job_to_the_requesters_latest_of_the_same_name(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, syftbox_dir: Path, tmp_path: Path
) -> None:
    other = scq.create_client(email=OTHER_DS, syftbox_dir=syftbox_dir)
    v1 = ds.submit_code(DO_EMAIL, package(tmp_path / "a", ANALYZE_V1), "Cohort stats")
    v2 = ds.submit_code(DO_EMAIL, package(tmp_path / "b", ANALYZE_V2), "Cohort stats")
    v3 = ds.submit_code(DO_EMAIL, package(tmp_path / "c", ANALYZE_V2 + "\n"), "Cohort stats")
    unrelated = ds.submit_code(DO_EMAIL, package(tmp_path / "d", ANALYZE_V1), "Other analysis")
    same_name = other.submit_code(DO_EMAIL, package(tmp_path / "e", ANALYZE_V1), "Cohort stats")
    do.list_pending_jobs()  # all received in one scan: they chain in submission order
    assert [(j.version, j.supersedes) for j in map(do.get_job, (v1.uid, v2.uid, v3.uid))] == [
        (1, None),
        (2, v1.uid),
        (3, v2.uid),
    ]
    assert (do.get_job(unrelated.uid).version, do.get_job(unrelated.uid).supersedes) == (1, None)
    # Another data scientist's job of the same name is not a version of this one.
    assert do.get_job(same_name.uid).supersedes is None


def test_supersedes_naming_someone_elses_job_is_ignored(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, syftbox_dir: Path, tmp_path: Path
) -> None:
    other = scq.create_client(email=OTHER_DS, syftbox_dir=syftbox_dir)
    theirs = other.submit_code(DO_EMAIL, package(tmp_path / "a", ANALYZE_V1), "Approved thing")
    do.list_pending_jobs()
    do.approve_job(theirs.uid)
    mine = ds.submit_code(
        DO_EMAIL, package(tmp_path / "b", ANALYZE_V2), "Mine", supersedes=theirs.uid
    )
    job = do.get_job(mine.uid)
    assert (job.version, job.supersedes, job.diff_base) == (1, None, None)
    assert do.job_diff(mine.uid).summary == "first version: 3 files"


def test_job_diff_against_the_last_approved_version(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    v1 = ds.submit_code(
        DO_EMAIL,
        package(tmp_path / "a", ANALYZE_V1, {"old.txt": "gone\n", "model.bin": "\0\1"}),
        "Cohort stats",
    )
    do.list_pending_jobs()
    do.approve_job(v1.uid)
    v2 = ds.submit_code(
        DO_EMAIL,
        package(tmp_path / "b", ANALYZE_V2, {"new.txt": "fresh\n", "model.bin": "\0\2"}),
        "Cohort stats",
    )
    diff = do.job_diff(v2.uid)
    assert (diff.base_uid, diff.base_version, diff.base_kind, diff.version) == (
        str(v1.uid),
        1,
        "approved",
        2,
    )
    changes = {f.path: f.change for f in diff.files}
    assert changes == {
        "run.sh": "unchanged",
        "analyze.py": "changed",
        "data.csv": "unchanged",
        "model.bin": "changed",
        "new.txt": "added",
        "old.txt": "removed",
    }
    assert diff.files[0].path == "run.sh"
    assert diff.summary == "changed since approved v1: 4 of 6 files"
    [analyze] = [f for f in diff.files if f.path == "analyze.py"]
    assert analyze.diff.splitlines() == [
        "--- v1/analyze.py",
        "+++ v2/analyze.py",
        "@@ -1,3 +1,3 @@",
        " import csv",
        " rows = list(csv.reader(open('data.csv')))",
        "-print(len(rows))",
        "+print(len(rows) * 2)",
    ]
    [model] = [f for f in diff.files if f.path == "model.bin"]
    assert (model.binary, model.note, model.diff) == (True, "binary changed", "")
    counts_only = do.job_diff(v2.uid, unified=False)
    assert counts_only.summary == diff.summary
    assert all(f.diff == "" for f in counts_only.files)


def test_without_an_approved_version_the_diff_is_against_the_previous_one(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    v1 = ds.submit_code(DO_EMAIL, package(tmp_path / "a", ANALYZE_V1), "Cohort stats")
    do.list_pending_jobs()
    do.reject_job(v1.uid, "aggregate first")
    v2 = ds.submit_code(DO_EMAIL, package(tmp_path / "b", ANALYZE_V2), "Cohort stats")
    diff = do.job_diff(v2.uid)
    assert (diff.base_uid, diff.base_kind) == (str(v1.uid), "previous")
    assert diff.summary == "changed since previous v1: 1 of 3 files"


def test_a_rejected_version_is_skipped_for_the_last_approved_one(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    v1 = ds.submit_code(DO_EMAIL, package(tmp_path / "a", ANALYZE_V1), "Cohort stats")
    do.list_pending_jobs()
    do.approve_job(v1.uid)
    v2 = ds.submit_code(DO_EMAIL, package(tmp_path / "b", ANALYZE_V2), "Cohort stats")
    do.list_pending_jobs()
    do.reject_job(v2.uid, "no")
    v3 = ds.submit_code(DO_EMAIL, package(tmp_path / "c", ANALYZE_V2), "Cohort stats")
    diff = do.job_diff(v3.uid)
    assert (diff.version, diff.base_uid, diff.base_kind) == (3, str(v1.uid), "approved")
    assert diff.summary == "changed since approved v1: 1 of 3 files"


def test_approving_an_earlier_version_rebases_the_pending_later_ones(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    v1 = ds.submit_code(DO_EMAIL, package(tmp_path / "a", ANALYZE_V1), "Cohort stats")
    do.list_pending_jobs()
    do.approve_job(v1.uid)
    v2 = ds.submit_code(DO_EMAIL, package(tmp_path / "b", ANALYZE_V2), "Cohort stats")
    v3 = ds.submit_code(
        DO_EMAIL, package(tmp_path / "c", ANALYZE_V2, {"x.txt": "x"}), "Cohort stats"
    )
    assert [j.uid for j in do.list_pending_jobs()] == [v2.uid, v3.uid]
    assert do.get_job(v3.uid).diff_base == v1.uid
    do.approve_job(v2.uid)
    assert do.get_job(v3.uid).diff_base == v2.uid
    # The listing's cached view is rebuilt too.
    [pending] = do.list_pending_jobs()
    assert pending.diff_base == v2.uid
    assert do.job_diff(v3.uid).summary == "changed since approved v2: 1 of 4 files"
    # Withdrawing that approval points it back at v1.
    do.reject_job(v2.uid, "changed my mind")
    assert do.get_job(v3.uid).diff_base == v1.uid


def test_the_last_approved_version_outlives_cleanup_for_the_next_diff(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    config = scq.QueueConfig(cleanup_completed_after=3600)
    server = scq.CodeQueueServer(config, email=DO_EMAIL, syftbox_dir=syftbox_dir)
    client = scq.create_client(email=ds.email, syftbox_dir=syftbox_dir, config=config)
    try:
        v1 = client.submit_code(DO_EMAIL, package(tmp_path / "a", ANALYZE_V1), "Cohort stats")
        server.list_pending_jobs()
        server.approve_job(v1.uid)
        run_until(server, lambda: server.get_job(v1.uid).is_terminal)
        # Later both sides have cleaned up: the request and the snapshot are gone.
        assert client.cleanup(utcnow() + timedelta(hours=2)) == 1
        server.tick(utcnow() + timedelta(hours=2))
        assert not (server.snapshots / str(v1.uid)).exists()
        server.tick(utcnow() + timedelta(hours=3))
        v2 = client.submit_code(DO_EMAIL, package(tmp_path / "b", ANALYZE_V2), "Cohort stats")
        diff = server.job_diff(v2.uid)
        assert (diff.base_uid, diff.base_kind) == (str(v1.uid), "approved")
        [analyze] = [f for f in diff.files if f.change == "changed"]
        assert "+print(len(rows) * 2)" in analyze.diff.splitlines()
        # v1's three files are kept, by content hash.
        kept = sorted(p.name for p in (server.private_dir / "kept").rglob("*") if p.is_file())
        assert len(kept) == 3
        # Once v2 is approved and cleaned up in turn, v1 is no longer needed and is dropped.
        server.approve_job(v2.uid)
        run_until(server, lambda: server.get_job(v2.uid).is_terminal)
        assert client.cleanup(utcnow() + timedelta(hours=5)) == 1
        server.tick(utcnow() + timedelta(hours=5))
        server.tick(utcnow() + timedelta(hours=6))
        with pytest.raises(scq.JobNotFoundError):
            server.get_job(v1.uid)
        kept_now = {p.name for p in (server.private_dir / "kept").rglob("*") if p.is_file()}
        v2_hashes = {f.sha256 for f in server.ledger.get(str(v2.uid)).files}
        assert kept_now == v2_hashes
    finally:
        server.close()


def test_scq_submit_supersedes(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, syftbox_dir: Path, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from syft_code_queue.cli import main

    first = ds.submit_code(DO_EMAIL, package(tmp_path / "a", ANALYZE_V1), "Cohort stats")
    folder = package(tmp_path / "b", ANALYZE_V2)
    result = CliRunner().invoke(
        main,
        [
            "--email", ds.email, "--syftbox-dir", str(syftbox_dir), "--json",
            "submit", DO_EMAIL, str(folder), "--name", "Renamed", "--supersedes", first.short_id,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    uid = json.loads(result.output)["uid"]
    assert do.get_job(uid).supersedes == first.uid


def test_a_ledger_from_before_versions_is_upgraded_in_place(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    old = ds.submit_code(DO_EMAIL, package(tmp_path / "a", ANALYZE_V1), "Cohort stats")
    with scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir) as first:
        first.list_pending_jobs()
        first.approve_job(old.uid)
    db = first.private_dir / "queue.db"
    with sqlite3.connect(db) as con:
        for (index,) in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' "
            "AND (name LIKE 'page_%' OR name IN ('jobs_by_name', 'jobs_chain', 'jobs_diff_base'))"
        ).fetchall():
            con.execute(f"DROP INDEX {index}")
        for column in (
            "supersedes", "version", "chain", "diff_base", "approval_note", "unread_files",
            "search_text",
        ):  # fmt: skip
            con.execute(f"ALTER TABLE jobs DROP COLUMN {column}")
    new = ds.submit_code(DO_EMAIL, package(tmp_path / "b", ANALYZE_V2), "Cohort stats")
    with scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir) as upgraded:
        assert upgraded.get_job(old.uid).version == 1
        assert upgraded.get_job(new.uid).version == 2
        assert upgraded.job_diff(new.uid).base_uid == str(old.uid)
        # Jobs received before the review table's search are found by it too.
        rows, total = upgraded.review_page(search="COHORT")
        assert ([j.uid for j in rows], total) == ([old.uid, new.uid], 2)


def test_job_diff_of_an_unknown_job(do: scq.CodeQueueServer) -> None:
    with pytest.raises(scq.JobNotFoundError):
        do.job_diff(uuid.uuid4())


def test_invalid_requests_belong_to_no_chain(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "tampered")
    request = job.code_folder.parent / "request.json"
    data = json.loads(request.read_text())
    data["requester"] = "mallory@example.com"
    request.chmod(0o644)
    request.write_text(json.dumps(data))
    do.list_pending_jobs()
    rejected = do.get_job(job.uid)
    assert rejected.status is JobStatus.rejected
    assert (rejected.version, rejected.supersedes) == (None, None)
