"""Four data scientists' processes submit 250 jobs each at the same moment.

The owner must receive all 1,000: none lost, none rejected, none corrupt — every ledger row
pending, every snapshot holding exactly the files of its manifest with their hashes, and
each job's code the one its submitter wrote. Receiving runs after the submissions and, in a
harsher variant, while they are still being written.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from faultlib import (
    DO_EMAIL,
    Children,
    audit_entries,
    hash_tree,
    ledger_table,
    wait_for,
)

import syft_code_queue as scq
from syft_code_queue.manifest import code_hash
from syft_code_queue.models import FileEntry, JobStatus

pytestmark = pytest.mark.faults

SUBMITTERS = 4
PER_SUBMITTER = 250
TOTAL = SUBMITTERS * PER_SUBMITTER


def start_submitters(
    syftbox_dir: Path, tmp_path: Path, children: Children
) -> list[subprocess.Popen[bytes]]:
    go = tmp_path / "go"
    procs = []
    for i in range(SUBMITTERS):
        procs.append(
            children.spawn(
                "submit",
                "--syftbox",
                str(syftbox_dir),
                "--email",
                f"ds{i}@example.com",
                "--target",
                DO_EMAIL,
                "--count",
                str(PER_SUBMITTER),
                "--work",
                str(tmp_path / f"work{i}"),
                "--result",
                str(tmp_path / f"submitted{i}.jsonl"),
                "--go",
                str(go),
                "--armed",
                str(tmp_path / f"armed{i}"),
                name=f"submitter{i}",
            )
        )
    wait_for(
        lambda: all((tmp_path / f"armed{i}").exists() for i in range(SUBMITTERS)),
        30,
        "every submitter to be ready",
    )
    go.write_text("go")
    return procs


def submitted(tmp_path: Path) -> dict[str, tuple[str, str, int]]:
    """uid -> (requester, code hash, job number), as each submitter recorded it."""
    out: dict[str, tuple[str, str, int]] = {}
    for i in range(SUBMITTERS):
        for line in (tmp_path / f"submitted{i}.jsonl").read_text().splitlines():
            row = json.loads(line)
            out[row["uid"]] = (f"ds{i}@example.com", row["code_hash"], row["k"])
    return out


@pytest.mark.parametrize("receive", ["after", "during", "during, by two owner processes"])
def test_1000_concurrent_submissions_none_lost_none_corrupt(
    syftbox_dir: Path, tmp_path: Path, children: Children, receive: str
) -> None:
    with scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir, job_timeout=30) as server:
        reviewer = None
        if receive.endswith("two owner processes"):
            # A notebook's review-only server object receives too (list_pending_jobs).
            reviewer = children.spawn(
                "review",
                "--syftbox",
                str(syftbox_dir),
                "--email",
                DO_EMAIL,
                "--stop",
                str(tmp_path / "stop-review"),
                "--result",
                str(tmp_path / "review.json"),
                "--armed",
                str(tmp_path / "armed-review"),
                name="reviewer",
            )
            wait_for((tmp_path / "armed-review").exists, 30, "the reviewer to start")
        procs = start_submitters(syftbox_dir, tmp_path, children)
        if receive.startswith("during"):

            def submitters_done() -> bool:
                server.tick()
                return all(p.poll() is not None for p in procs)

            wait_for(submitters_done, 180, "the submitters to finish", interval=0)
            during = server.ledger.count(JobStatus.pending)
            assert during > 0, "the owner received nothing while the submitters wrote"
        for i, proc in enumerate(procs):
            assert proc.wait(180) == 0, children.log_text(f"submitter{i}")
        expected = submitted(tmp_path)
        assert len(expected) == TOTAL

        def all_received() -> bool:
            server.tick()
            return server.ledger.count(JobStatus.pending) >= TOTAL

        wait_for(all_received, 120, "the owner to receive 1,000 jobs", interval=0.01)
        server.tick()
        if reviewer is not None:
            (tmp_path / "stop-review").write_text("stop")
            assert reviewer.wait(60) == 0, children.log_text("reviewer")
            review = json.loads((tmp_path / "review.json").read_text())
            assert review["loops"] > 0
            assert review["errors"] == [], review["errors"][0]

        rows = ledger_table(server.private_dir)
        assert {r["uid"] for r in rows} == set(expected), "lost or invented jobs"
        assert server.ledger.arrivals() == []
        for row in rows:
            requester, digest, k = expected[row["uid"]]
            assert row["status"] == "pending", row
            assert (row["requester"], row["code_hash"]) == (requester, digest)
            files = tuple(FileEntry.model_validate(f) for f in json.loads(row["files"]))
            assert code_hash(files) == digest
            snapshot = server.snapshots / row["uid"]
            assert hash_tree(snapshot) == {f.path: (f.sha256, f.size) for f in files}, row["uid"]
            assert f"{requester} job {k}" in (snapshot / "run.sh").read_text()
        received = [e for e in audit_entries(server.private_dir) if e["event"] == "received"]
        assert sorted(e["uid"] for e in received) == sorted(expected)
        assert server.verify_audit().ok

    for i in range(SUBMITTERS):
        ds = scq.create_client(email=f"ds{i}@example.com", syftbox_dir=syftbox_dir)
        jobs = ds.list_jobs()
        assert len(jobs) == PER_SUBMITTER
        assert {j.status for j in jobs} == {JobStatus.pending}
