"""The code queue over a real SyftBox 0.4 engine when a sync client stops and comes back.

A client is stopped at a chosen point of the flow, the rest of the flow goes on where it can,
and after a restart (whose first sync downloads everything missing in bulk, in no defined
order) the flow completes. Stopping a client *before* the step whose result it must not
carry makes every "not yet" assertion deterministic: a stopped client moves no file.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
from cluster import ClusterClient, SyftBoxCluster, wait_for
from flow import (
    DO,
    DS,
    EVE,
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

PACKAGE: dict[str, bytes] = {
    "run.sh": (
        b"set -eu\n"
        b'echo "running $JOB_NAME"\n'
        b'mkdir -p "$OUTPUT_DIR/deep"\n'
        b'cat src/lib/value.txt > "$OUTPUT_DIR/deep/value.txt"\n'
        b'test ! -s src/EMPTY && echo ok > "$OUTPUT_DIR/result.txt"\n'
    ),
    "src/lib/value.txt": b"42\n",
    "src/lib/filler.bin": bytes(range(256)) * 16,
    "src/EMPTY": b"",
}
EXPECTED_OUTPUTS = {"result.txt": b"ok\n", "deep/value.txt": b"42\n"}


# -- helpers -------------------------------------------------------------------------------------


def on_server(cluster: SyftBoxCluster, path_on_client: Path, client: ClusterClient) -> Path:
    """The sync server's copy of a path under ``client``'s datasites folder."""
    return cluster.on_server(path_on_client.relative_to(client.datasites))


def published_status(path: Path) -> str | None:
    """The ``status`` field of a status.json, or None while it is missing or half-written."""
    try:
        return str(json.loads(path.read_bytes())["status"])
    except (OSError, ValueError, KeyError):
        return None


def complete_on(client: ClusterClient, uid: str, request: bytes) -> bool:
    """Every non-empty file of the package and the request.json are on ``client``'s machine."""
    folder = outbox_job(client, uid)
    code = files_under(folder / "code")
    return (
        all(code.get(rel) == data for rel, data in PACKAGE.items() if data)
        and files_under(folder).get("request.json") == request
    )


def check_snapshot(server: scq.CodeQueueServer, uid: str) -> None:
    job = server.get_job(uid)
    assert job.status is scq.JobStatus.pending
    assert sorted(f.path for f in job.files) == sorted(PACKAGE)
    assert job.code_folder is not None
    assert files_under(job.code_folder) == PACKAGE


def wait_results(cluster: SyftBoxCluster, client: scq.CodeQueueClient, uid: str) -> scq.CodeJob:
    """ds's client sees ``completed``, then the outputs and logs in ds's own folder."""
    job = wait_on_ds(cluster, client, uid)
    assert job.status is scq.JobStatus.completed, job.error_message
    wait_for(
        lambda: files_under(client.get_job_output(uid) or Path("/nonexistent")) == EXPECTED_OUTPUTS,
        timeout=SYNC_TIMEOUT,
        message=f"outputs of {uid} on ds",
    )
    wait_for(
        lambda: client.get_job_logs(uid) == f"running {job.name}\n",
        timeout=SYNC_TIMEOUT,
        message=f"logs of {uid} on ds",
    )
    return job


def assert_clean(cluster: SyftBoxCluster, uid: str) -> None:
    """No refused write on ds's or do's machine, and eve holds nothing of the job."""
    assert_nothing_refused(cluster)
    eve = cluster[EVE]
    assert sorted(files_under(outbox_job(eve, uid))) == []
    assert sorted(files_under(jobs_dir(eve, uid))) == []


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return write_package(tmp_path / "pkg", PACKAGE)


# -- tests ---------------------------------------------------------------------------------------


def test_do_client_restarted_after_submit(
    cluster: SyftBoxCluster,
    ds: ClusterClient,
    do: ClusterClient,
    package: Path,
    client: scq.CodeQueueClient,
    server: scq.CodeQueueServer,
) -> None:
    """do's sync stops right after ds submits; on restart the bulk download (any order) must
    still give the server a complete, verified job, and the flow completes."""
    job = client.submit_code(DO, package, "Survives do's restart")
    cluster.stop_client(DO)
    uid = str(job.uid)
    request = (outbox_job(ds, uid) / "request.json").read_bytes()

    # ds uploads everything while do is away
    def uploaded(path: Path, data: bytes) -> bool:
        return on_server(cluster, path, ds).read_bytes() == data

    for rel, data in [*PACKAGE.items(), ("request.json", request)]:
        path = outbox_job(ds, uid) / ("code/" + rel if rel != "request.json" else rel)
        wait_for(
            partial(uploaded, path, data),
            timeout=SYNC_TIMEOUT,
            message=f"ds to upload {rel} while do is down",
        )
    # do's server holds the job if and only if do's frozen copy is complete
    server.tick()
    assert (status_of(server, uid) is not None) == complete_on(do, uid, request)
    assert not do.is_running()

    cluster.start_client(DO)

    def received() -> bool:  # checked after every tick: never before all files arrived
        got = status_of(server, uid) is scq.JobStatus.pending
        assert not got or complete_on(do, uid, request), "received before every file arrived"
        return got

    tick_until(server, received, "receipt after restart")
    check_snapshot(server, uid)
    server.approve_job(uid)
    tick_until(
        server,
        lambda: status_of(server, uid) is scq.JobStatus.completed,
        f"{uid} to complete on do",
    )
    wait_results(cluster, client, uid)
    assert_clean(cluster, uid)


def test_do_client_down_while_the_job_runs(
    cluster: SyftBoxCluster,
    ds: ClusterClient,
    do: ClusterClient,
    package: Path,
    client: scq.CodeQueueClient,
    server: scq.CodeQueueServer,
) -> None:
    """do approves and runs while its sync is stopped: ds learns nothing until it is back."""
    uid = str(client.submit_code(DO, package, "Runs while do is offline").uid)
    tick_until(server, lambda: status_of(server, uid) is scq.JobStatus.pending, "receipt on do")
    status_on_ds = jobs_dir(ds, uid) / "status.json"
    cluster.wait_for_file(status_on_ds, timeout=SYNC_TIMEOUT)  # 'pending' reached ds
    wait_for(
        lambda: published_status(status_on_ds) == "pending",
        timeout=SYNC_TIMEOUT,
        message="ds to see pending",
    )

    cluster.stop_client(DO)
    server.approve_job(uid)
    tick_until(server, lambda: status_of(server, uid) is scq.JobStatus.completed, "run on do")
    assert server.get_job_output(uid) is not None
    # nothing of it left do's machine: the sync server and ds still say pending
    assert published_status(on_server(cluster, jobs_dir(do, uid) / "status.json", do)) == (
        "pending"
    )
    assert client.get_job(uid).status is scq.JobStatus.pending
    assert client.get_job_output(uid) is None

    cluster.start_client(DO)
    wait_results(cluster, client, uid)
    assert_clean(cluster, uid)


def test_ds_client_restarted_after_approval(
    cluster: SyftBoxCluster,
    ds: ClusterClient,
    do: ClusterClient,
    package: Path,
    client: scq.CodeQueueClient,
    server: scq.CodeQueueServer,
) -> None:
    """ds's sync stops right after do approves; the job completes meanwhile; after ds's
    restart ds's client sees completed, with logs and outputs."""
    uid = str(client.submit_code(DO, package, "Survives ds's restart").uid)
    tick_until(server, lambda: status_of(server, uid) is scq.JobStatus.pending, "receipt on do")
    check_snapshot(server, uid)

    cluster.stop_client(DS)
    server.approve_job(uid)
    tick_until(server, lambda: status_of(server, uid) is scq.JobStatus.completed, "run on do")
    # do's client publishes the result to the sync server ...
    published = jobs_dir(do, uid)
    wait_for(
        lambda: (
            published_status(on_server(cluster, published / "status.json", do)) == "completed"
            and on_server(cluster, published / "output" / "result.txt", do).read_bytes() == b"ok\n"
        ),
        timeout=SYNC_TIMEOUT,
        message="do's client to upload the completed job",
    )
    # ... which cannot reach ds while its client is down
    assert client.get_job(uid).status is not scq.JobStatus.completed
    assert client.get_job_output(uid) is None
    assert not ds.is_running()

    cluster.start_client(DS)
    job = wait_results(cluster, client, uid)
    assert job.exit_code == 0
    assert_clean(cluster, uid)


def test_ds_client_down_at_submit(
    cluster: SyftBoxCluster,
    ds: ClusterClient,
    package: Path,
    client: scq.CodeQueueClient,
    server: scq.CodeQueueServer,
) -> None:
    """ds submits while her sync is stopped: the job waits on her machine, then travels."""
    cluster.stop_client(DS)
    uid = str(client.submit_code(DO, package, "Submitted offline").uid)
    request = outbox_job(ds, uid) / "request.json"
    assert request.is_file()
    assert not on_server(cluster, request, ds).exists()  # a stopped client uploads nothing
    server.tick()
    assert status_of(server, uid) is None

    cluster.start_client(DS)
    tick_until(server, lambda: status_of(server, uid) is scq.JobStatus.pending, "receipt on do")
    check_snapshot(server, uid)
    server.approve_job(uid)
    tick_until(server, lambda: status_of(server, uid) is scq.JobStatus.completed, "run on do")
    wait_results(cluster, client, uid)
    assert_clean(cluster, uid)
