"""The code queue end to end over a real SyftBox 0.4 sync engine (see conftest.py).

ds@example.com submits from her own SyftBox folder, do@example.com's server (driven by
``tick()``, it never sleeps here) receives, is approved, runs, and publishes; the status, logs
and outputs travel back to ds's folder by sync. eve@example.com is a third party who must see
nothing of it. Negative checks ("X did NOT reach eve") are made after ``cluster.barrier``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from functools import partial
from pathlib import Path

import pytest
from cluster import ClusterClient, SyftBoxCluster, wait_for
from flow import (
    DO,
    DS,
    EVE,
    QUEUE,
    SYNC_TIMEOUT,
    assert_nothing_refused,
    files_under,
    jobs_dir,
    outbox_job,
    status_of,
    tick_until,
    wait_on_ds,
    write_package,
)

import syft_code_queue as scq

pytestmark = pytest.mark.sync

# A package with a nested folder, an empty file and files of several sizes.
RUN_SH = """\
set -eu
echo "hello from $JOB_NAME"
test -f data/EMPTY && test ! -s data/EMPTY
mkdir -p "$OUTPUT_DIR/tables"
total=0
while read -r v; do total=$((total + v)); done < analysis/lib/values.txt
echo "sum=$total" > "$OUTPUT_DIR/result.txt"
cat analysis/notes.md >> "$OUTPUT_DIR/result.txt"
printf 'k,v\\nsum,%s\\n' "$total" > "$OUTPUT_DIR/tables/summary.csv"
echo "a note on stderr" >&2
echo "done"
"""
PACKAGE: dict[str, bytes] = {
    "run.sh": RUN_SH.encode(),
    "analysis/notes.md": b"# notes\nall good\n",
    "analysis/lib/values.txt": b"1\n2\n3\n4\n",
    "analysis/lib/big.bin": bytes(range(256)) * 40,  # 10 KB: synced after the small ones
    "data/EMPTY": b"",
}
EXPECTED_OUTPUTS = {
    "result.txt": b"sum=10\n# notes\nall good\n",
    "tables/summary.csv": b"k,v\nsum,10\n",
}


# -- helpers -------------------------------------------------------------------------------------


def assert_clean(cluster: SyftBoxCluster, uids: list[str]) -> None:
    """The engine refused nothing of ds or do, and eve has nothing of these jobs."""
    assert_nothing_refused(cluster)
    eve = cluster[EVE]
    outbox_for_do = eve.datasite(DS) / QUEUE / "outbox" / DO
    assert sorted(files_under(outbox_for_do)) == [], "eve got files of ds's outbox for do"
    for uid in uids:
        assert sorted(files_under(jobs_dir(eve, uid))) == [], f"eve got do's files of {uid}"
    # nothing of do's queue at all: its jobs/ holds only other people's jobs
    assert sorted(files_under(eve.datasite(DO) / QUEUE)) == []


class Arrival:
    """Drives do's server until it receives ``uid``, checking the commit-marker rule each tick.

    After every tick: if the server has the job, every non-empty file and the request.json
    must be on do's machine byte for byte (files only ever arrive in these tests, so checking
    after the tick is sound); and once everything is there, the very next tick must receive it.
    """

    def __init__(
        self,
        server: scq.CodeQueueServer,
        do: ClusterClient,
        uid: str,
        files: dict[str, bytes],
        request: bytes,
    ) -> None:
        self.server, self.uid, self.files, self.request = server, uid, files, request
        self.folder = outbox_job(do, uid)
        self.partial_seen = 0  # ticks where request.json was there but something was missing
        self.ticks = 0
        self._complete_before = False

    def complete(self) -> bool:
        local = files_under(self.folder / "code")
        wanted = {rel: data for rel, data in self.files.items() if data}  # empties: manifest
        have = {rel: local.get(rel) for rel in wanted}
        return (
            have == wanted
            and (self.folder / "request.json").is_file()
            and (self.folder / "request.json").read_bytes() == self.request
        )

    def step(self) -> bool:
        self.server.tick()
        self.ticks += 1
        received = any(str(j.uid) == self.uid for j in self.server.list_pending_jobs())
        complete = self.complete()
        if received:
            assert complete, (
                f"do's server received {self.uid} before every file arrived with its hash: "
                f"on do's machine {sorted(files_under(self.folder))}"
            )
        else:
            assert not self._complete_before, (
                f"every file of {self.uid} was on do's machine but the next tick did not receive it"
            )
            if (self.folder / "request.json").exists() and not complete:
                self.partial_seen += 1
        self._complete_before = complete
        return received

    def wait(self, timeout: float = SYNC_TIMEOUT) -> None:
        wait_for(
            self.step,
            timeout=timeout,
            interval=0.02,
            message=lambda: f"do's server to receive {self.uid} (ticks {self.ticks})",
        )


def check_snapshot(server: scq.CodeQueueServer, uid: str, files: dict[str, bytes]) -> scq.CodeJob:
    """The owner's verified snapshot is exactly the submitted package."""
    job = server.get_job(uid)
    assert job.status is scq.JobStatus.pending
    assert job.requester_email == DS
    assert sorted(f.path for f in job.files) == sorted(files)
    for rel, data in files.items():
        assert server.read_job_file(uid, rel) == data, rel
    assert job.code_folder is not None
    assert files_under(job.code_folder) == files  # the empty file is recreated from the manifest
    return job


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return write_package(tmp_path / "analysis-package", PACKAGE)


# -- tests ---------------------------------------------------------------------------------------


def test_submit_approve_run_results_over_sync_identity_from_config(
    cluster: SyftBoxCluster,
    ds: ClusterClient,
    do: ClusterClient,
    package: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Identity and folder come from SYFTBOX_CLIENT_CONFIG_PATH only, for both people."""
    for name in ("SYFTBOX_EMAIL", "SYFTBOX_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SYFTBOX_CLIENT_CONFIG_PATH", str(ds.config_path))
    monkeypatch.setenv("HOME", str(ds.home))
    submitted = scq.submit_code(DO, package, "Sum the values", "an e2e job", ["e2e"])
    client = scq.create_client()
    monkeypatch.setenv("SYFTBOX_CLIENT_CONFIG_PATH", str(do.config_path))
    monkeypatch.setenv("HOME", str(do.home))
    server = scq.create_server(job_timeout=60)
    try:
        uid = str(submitted.uid)
        assert client.email == DS
        assert server.email == DO
        assert client.workspace.data_dir == ds.data_dir.resolve()
        assert server.workspace.data_dir == do.data_dir.resolve()
        # the submission sits in ds's own folder, request.json included, with do's permission
        local = ds.my_datasite / QUEUE / "outbox" / DO
        assert files_under(local / uid / "code") == PACKAGE
        assert (local / "syftperm.yaml").read_text().count(DO) == 1
        request = (local / uid / "request.json").read_bytes()
        assert json.loads(request)["code_hash"] == submitted.code_hash

        arrival = Arrival(server, do, uid, PACKAGE, request)
        arrival.wait()
        print(f"\n[receipt] {arrival.ticks} ticks, {arrival.partial_seen} with a partial arrival")
        job = check_snapshot(server, uid, PACKAGE)
        assert job.code_hash == submitted.code_hash
        assert [j.uid for j in client.list_jobs()].count(submitted.uid) == 1

        server.approve_job(uid, reason="aggregates only")
        final = tick_until(
            server,
            lambda: status_of(server, uid) in {scq.JobStatus.completed, scq.JobStatus.failed},
            f"do's server to run {uid}",
        )
        owner_view = server.get_job(uid)
        assert final is True
        assert owner_view.status is scq.JobStatus.completed, owner_view.error_message

        # ... and it all travels back to ds, read from ds's own folder
        seen = wait_on_ds(cluster, client, uid)
        assert seen.status is scq.JobStatus.completed, seen.error_message
        assert seen.exit_code == 0
        assert seen.decision_reason == "aggregates only"
        assert seen.completed_at is not None and seen.completed_at.utcoffset() is not None

        def results() -> Path | None:
            out = client.get_job_output(uid)
            return out if out is not None and files_under(out) == EXPECTED_OUTPUTS else None

        out = wait_for(results, timeout=SYNC_TIMEOUT, message=f"outputs of {uid} on ds")
        assert out is not None
        assert out.resolve().is_relative_to(ds.data_dir.resolve())
        assert out.resolve() == (jobs_dir(ds, uid) / "output").resolve()
        logs = wait_for(
            lambda: (text := client.get_job_logs(uid)).endswith("a note on stderr\n") and text,
            timeout=SYNC_TIMEOUT,
            message=f"logs of {uid} on ds",
        )
        assert logs == "hello from Sum the values\ndone\n--- stderr ---\na note on stderr\n"
        assert (jobs_dir(ds, uid) / "stdout.txt").read_text() == "hello from Sum the values\ndone\n"
        events = wait_for(
            lambda: (jobs_dir(ds, uid) / "events.jsonl").read_text().count("completed"),
            timeout=SYNC_TIMEOUT,
            message="the events of the job on ds",
        )
        assert events
    finally:
        server.close()

    assert_clean(cluster, [uid])


def test_rejection_reason_reaches_ds_submitted_by_a_child_process(
    cluster: SyftBoxCluster,
    ds: ClusterClient,
    package: Path,
    client: scq.CodeQueueClient,
    server: scq.CodeQueueServer,
) -> None:
    """ds submits from another process that knows only SYFTBOX_CLIENT_CONFIG_PATH; do rejects."""
    script = (
        "import sys, syft_code_queue as scq\n"
        "job = scq.submit_code(sys.argv[1], sys.argv[2], 'Send rows out')\n"
        "print(job.uid)\n"
    )
    env = ds.env()
    env.pop("SYFTBOX_EMAIL", None)
    env.pop("SYFTBOX_DATA_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", script, DO, str(package)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    uid = done.stdout.strip()
    assert str(uuid.UUID(uid)) == uid
    assert (outbox_job(ds, uid) / "request.json").is_file()  # in ds's own folder

    tick_until(server, lambda: status_of(server, uid) is scq.JobStatus.pending, "receipt on do")
    check_snapshot(server, uid, PACKAGE)
    reason = "Please aggregate first: no row-level data leaves <this> datasite & co."
    server.reject_job(uid, reason)
    server.tick()

    job = wait_on_ds(cluster, client, uid)
    assert job.status is scq.JobStatus.rejected
    assert job.decision_reason == reason
    assert reason in (job.error_message or "")
    assert client.get_job_output(uid) is None
    assert client.get_job_logs(uid) == ""
    assert files_under(jobs_dir(ds, uid) / "output") == {}
    assert (jobs_dir(ds, uid) / "stdout.txt").exists() is False
    # it never ran on do's side either
    assert server.get_job(uid).started_at is None

    assert_clean(cluster, [uid])


def test_receipt_waits_for_every_file_and_its_hash(
    cluster: SyftBoxCluster,
    ds: ClusterClient,
    do: ClusterClient,
    tmp_path: Path,
    server: scq.CodeQueueServer,
    client: scq.CodeQueueClient,
) -> None:
    """A deterministic partial arrival over sync: the marker first, then files, then the fix.

    The submission is built by the package in a scratch folder (same identity), then put into
    ds's real datasite in three stages; each stage is waited for on do's machine before do's
    server ticks, so what the server sees at each tick is known exactly.
    """
    scratch = tmp_path / "scratch-syftbox"
    builder = scq.create_client(email=DS, syftbox_dir=scratch)
    job = builder.submit_code(DO, write_package(tmp_path / "pkg", PACKAGE), "Arrives in pieces")
    uid = str(job.uid)
    built = scratch / "datasites" / DS / QUEUE / "outbox" / DO / uid
    request = (built / "request.json").read_bytes()
    code = files_under(built / "code")
    assert code == PACKAGE

    src = ds.my_datasite / QUEUE / "outbox" / DO
    dst = outbox_job(do, uid)
    late = "analysis/lib/values.txt"
    torn = "analysis/lib/big.bin"
    # (1) the marker and every file but one; one file torn (half written, as the engine writes
    # files in place)
    src.mkdir(parents=True, exist_ok=True)  # do's permission first, as the package does
    (src / "syftperm.yaml").write_bytes((built.parent / "syftperm.yaml").read_bytes())
    stage1 = {rel: data for rel, data in code.items() if rel != late}
    stage1[torn] = code[torn][: len(code[torn]) // 2]
    write_package(src / uid / "code", stage1)
    (src / uid / "request.json").write_bytes(request)
    for rel, data in stage1.items():
        cluster.wait_for_file(dst / "code" / rel, data, timeout=SYNC_TIMEOUT)
    cluster.wait_for_file(dst / "request.json", request, timeout=SYNC_TIMEOUT)
    server.tick()
    assert status_of(server, uid) is None
    assert uid not in {str(j.uid) for j in server.list_pending_jobs()}
    # (2) the missing file arrives; one is still torn
    write_package(src / uid / "code", {late: code[late]})
    cluster.wait_for_file(dst / "code" / late, code[late], timeout=SYNC_TIMEOUT)
    report = server.tick()
    assert report.received == 0 and report.waiting >= 1
    assert status_of(server, uid) is None
    # (3) the torn file is completed: the next tick receives exactly the submitted code
    (src / uid / "code" / torn).write_bytes(code[torn])
    cluster.wait_for_file(dst / "code" / torn, code[torn], timeout=SYNC_TIMEOUT)
    assert server.tick().received == 1
    check_snapshot(server, uid, PACKAGE)
    # what ds submitted by hand is hers: her client lists it, and sees the owner's status
    server.reject_job(uid, "staged test, not run")
    assert wait_on_ds(cluster, client, uid).status is scq.JobStatus.rejected

    assert_clean(cluster, [uid])


def test_completed_implies_outputs_and_logs_have_arrived(
    tmp_path: Path,
    client: scq.CodeQueueClient,
    server: scq.CodeQueueServer,
) -> None:
    """When ds's client first says ``completed``, get_job_output / get_job_logs are complete.

    A user writes ``client.wait(uid); client.get_job_output(uid)``; whatever the engine's
    order of delivery, that must give the results. The job's outputs and stdout are larger
    than status.json, so the engine (smallest first) delivers status.json before them.
    """
    script = (
        "set -eu\n"
        "for i in 1 2 3 4 5 6; do head -c 48000 /dev/zero | tr '\\0' \"$i\" "
        '> "$OUTPUT_DIR/part$i.txt"; done\n'
        "head -c 30000 /dev/zero | tr '\\0' x; echo\n"
    )
    expected_outputs = {f"part{i}.txt": str(i).encode() * 48000 for i in range(1, 7)}
    expected_stdout = "x" * 30000 + "\n"
    uids = []
    for n in range(2):  # two jobs: the engine would have to be lucky twice to hide the race
        pkg = write_package(tmp_path / f"pkg{n}", {"run.sh": script.encode()})
        uids.append(str(client.submit_code(DO, pkg, f"Large results {n}").uid))
    tick_until(
        server,
        lambda: all(status_of(server, u) is scq.JobStatus.pending for u in uids),
        "receipt of both jobs on do",
    )
    for uid in uids:
        server.approve_job(uid)
    tick_until(
        server,
        lambda: all(status_of(server, u) is scq.JobStatus.completed for u in uids),
        "both jobs to complete on do",
    )

    first_sight: dict[str, tuple[dict[str, bytes], str]] = {}

    def watch() -> bool:
        for uid in uids:
            if uid not in first_sight and client.get_job(uid).status is scq.JobStatus.completed:
                out = client.get_job_output(uid)
                first_sight[uid] = (files_under(out) if out else {}, client.get_job_logs(uid))
        return len(first_sight) == len(uids)

    wait_for(watch, timeout=SYNC_TIMEOUT, interval=0.002, message="ds to see both completed")

    # the results do arrive eventually (not part of the bug) ...
    def arrived(uid: str) -> bool:
        out = client.get_job_output(uid)
        return (
            out is not None
            and files_under(out) == expected_outputs
            and client.get_job_logs(uid) == expected_stdout
        )

    for uid in uids:
        wait_for(partial(arrived, uid), timeout=SYNC_TIMEOUT, message=f"results of {uid} on ds")
    # ... but were they there when ds was told the job was completed?
    incomplete = {
        uid: (sorted(out), len(logs))
        for uid, (out, logs) in first_sight.items()
        if out != expected_outputs or logs != expected_stdout
    }
    assert incomplete == {}, f"completed on ds, results not yet there: {incomplete}"


def test_edits_in_the_outbox_after_receipt_change_nothing(
    cluster: SyftBoxCluster,
    ds: ClusterClient,
    do: ClusterClient,
    tmp_path: Path,
    client: scq.CodeQueueClient,
    server: scq.CodeQueueServer,
) -> None:
    """ds swaps a file after do received the job; the swap syncs, but what runs is what was
    received (and approved): the owner's snapshot."""
    files = {
        "run.sh": b'cat msg/text.txt > "$OUTPUT_DIR/result.txt"\n',
        "msg/text.txt": b"as reviewed\n",
    }
    job = client.submit_code(DO, write_package(tmp_path / "pkg", files), "Swapped later")
    uid = str(job.uid)
    tick_until(server, lambda: status_of(server, uid) is scq.JobStatus.pending, "receipt on do")
    check_snapshot(server, uid, files)

    swapped = b"swapped after review: curl evil.example\n"
    (outbox_job(ds, uid) / "code" / "msg" / "text.txt").write_bytes(swapped)
    cluster.wait_for_file(outbox_job(do, uid) / "code" / "msg" / "text.txt", swapped)
    server.tick()
    assert server.read_job_file(uid, "msg/text.txt") == files["msg/text.txt"]
    assert server.get_job(uid).code_hash == job.code_hash

    server.approve_job(uid)
    tick_until(
        server,
        lambda: status_of(server, uid) is scq.JobStatus.completed,
        f"{uid} to complete on do",
    )
    assert wait_on_ds(cluster, client, uid).status is scq.JobStatus.completed
    wait_for(
        lambda: (
            files_under(client.get_job_output(uid) or tmp_path / "none")
            == {"result.txt": b"as reviewed\n"}
        ),
        timeout=SYNC_TIMEOUT,
        message=f"the output of {uid} on ds",
    )
    assert_clean(cluster, [uid])


def test_cancel_over_sync_kills_the_running_job(
    cluster: SyftBoxCluster,
    tmp_path: Path,
    client: scq.CodeQueueClient,
    server: scq.CodeQueueServer,
) -> None:
    """ds cancels a running job from her machine; the marker syncs, do's server kills it."""
    files = {"run.sh": b"echo started\nsleep 45\necho never\n"}
    uid = str(client.submit_code(DO, write_package(tmp_path / "pkg", files), "Too long").uid)
    tick_until(server, lambda: status_of(server, uid) is scq.JobStatus.pending, "receipt on do")
    server.approve_job(uid)
    tick_until(server, lambda: status_of(server, uid) is scq.JobStatus.running, "job to start")
    wait_for(
        lambda: client.get_job(uid).status is scq.JobStatus.running,
        timeout=SYNC_TIMEOUT,
        message="ds to see running",
    )
    client.cancel_job(uid)
    tick_until(
        server,
        lambda: status_of(server, uid) is scq.JobStatus.failed,
        "do's server to apply the cancellation",
    )
    owner_view = server.get_job(uid)
    assert owner_view.failure_reason is scq.FailureReason.cancelled
    job = wait_on_ds(cluster, client, uid)
    assert job.status is scq.JobStatus.failed
    assert job.failure_reason is scq.FailureReason.cancelled
    assert "cancel" in (job.error_message or "")
    wait_for(
        lambda: client.get_job_logs(uid).startswith("started\n"),
        timeout=SYNC_TIMEOUT,
        message="the logs of the cancelled job on ds",
    )
    assert "never" not in client.get_job_logs(uid)
    assert_clean(cluster, [uid])


def test_every_published_output_reaches_ds(
    cluster: SyftBoxCluster,
    ds: ClusterClient,
    do: ClusterClient,
    tmp_path: Path,
    client: scq.CodeQueueClient,
    server: scq.CodeQueueServer,
) -> None:
    """Whatever status.json lists as outputs of a completed job must be deliverable to ds."""
    files = {
        "run.sh": (
            b'head -c 11534337 /dev/zero > "$OUTPUT_DIR/big.bin"\n'  # 11 MiB + 1 byte
            b'echo small > "$OUTPUT_DIR/result.txt"\n'
        )
    }
    uid = str(client.submit_code(DO, write_package(tmp_path / "pkg", files), "Big output").uid)
    try:
        tick_until(server, lambda: status_of(server, uid) is scq.JobStatus.pending, "receipt on do")
        server.approve_job(uid)
        tick_until(
            server,
            lambda: status_of(server, uid) in {scq.JobStatus.completed, scq.JobStatus.failed},
            f"{uid} to end on do",
        )
        job = wait_on_ds(cluster, client, uid)
        status = json.loads((jobs_dir(ds, uid) / "status.json").read_bytes())
        promised = {f["path"]: f["size"] for f in status.get("output_files", [])}
        if job.status is scq.JobStatus.completed:
            assert "result.txt" in promised
        # whatever do's client could upload before the barrier's (smaller) sentinel is on ds
        cluster.barrier(DO, [DS])
        out = jobs_dir(ds, uid) / "output"  # ds's copy, whether the job completed or not
        delivered = {rel: len(data) for rel, data in files_under(out).items()}
        assert delivered == promised, f"status.json lists {promised}, ds has {delivered}"
    finally:  # keep the shared cluster light: do's client would re-hash 11 MiB every cycle
        (jobs_dir(do, uid) / "output" / "big.bin").unlink(missing_ok=True)
