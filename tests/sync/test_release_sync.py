"""Held results over a real SyftBox 0.4 sync engine (see conftest.py).

do's queue holds results for release (``release="manual"``): while a job waits, only its
status travels to ds; after a partial release, the released files arrive on ds's machine
byte for byte and the withheld one never does (nor anything at eve's).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster import ClusterClient, SyftBoxCluster, wait_for
from flow import (
    DO,
    SYNC_TIMEOUT,
    assert_nothing_refused,
    files_under,
    jobs_dir,
    status_of,
    tick_until,
    wait_on_ds,
    write_package,
)

import syft_code_queue as scq

pytestmark = pytest.mark.sync

WITHHELD_BYTES = b"P0042,Zebedee Quux,61,F,ZZ99 9QQ"
RUN_SH = f"""\
set -eu
echo "public log line"
printf 'diagnosis,n\\nasthma,14\\ncopd,12\\n' > "$OUTPUT_DIR/public.csv"
printf '%s\\n' '{WITHHELD_BYTES.decode()}' > "$OUTPUT_DIR/private.txt"
echo "an error line" >&2
"""
STATUS_ONLY = {"status.json", "events.jsonl", "syftperm.yaml", "syft.pub.yaml"}


@pytest.fixture
def manual_server(do: ClusterClient) -> Iterator[scq.CodeQueueServer]:
    """do's server holding results for release (driven with tick())."""
    config = do.config()
    server = scq.create_server(
        email=config["email"], syftbox_dir=config["data_dir"], job_timeout=60, release="manual"
    )
    try:
        yield server
    finally:
        server.close()


def test_a_released_subset_arrives_on_the_data_scientists_machine_and_the_rest_never_does(
    cluster: SyftBoxCluster,
    ds: ClusterClient,
    eve: ClusterClient,
    client: scq.CodeQueueClient,
    manual_server: scq.CodeQueueServer,
    tmp_path: Path,
) -> None:
    package = write_package(tmp_path / "release-package", {"run.sh": RUN_SH.encode()})
    uid = str(client.submit_code(DO, package, "Held results").uid)
    server = manual_server
    tick_until(server, lambda: status_of(server, uid), "do's server to receive the job")
    server.approve_job(uid)
    tick_until(
        server,
        lambda: server.get_job(uid).status is scq.JobStatus.awaiting_release,
        "the job to run and wait for release",
    )
    seen = wait_for(
        lambda: client.get_job(uid).status is scq.JobStatus.awaiting_release,
        timeout=SYNC_TIMEOUT,
        message="ds to see the job awaiting release",
    )
    assert seen
    assert client.get_job(uid).status_note == "ran; results under review"
    assert_nothing_refused(cluster)  # barriers: what do wrote has reached ds by now
    assert set(files_under(jobs_dir(ds, uid))) <= STATUS_ONLY

    report = server.check_results(uid)
    server.release_results(uid, ["output/public.csv", "stdout.txt"], "private.txt is a record")
    done = wait_on_ds(cluster, client, uid)
    assert done.status is scq.JobStatus.completed
    assert done.withheld_files == ("output/private.txt", "stderr.txt")
    assert done.release_reason == "private.txt is a record"
    assert done.output_folder is not None
    arrived = files_under(done.output_folder)
    assert list(arrived) == ["public.csv"]
    assert hashlib.sha256(arrived["public.csv"]).hexdigest() == report.sha256["output/public.csv"]
    assert arrived["public.csv"] == server.read_result_file(uid, "output/public.csv")
    assert client.get_job_logs(uid) == "public log line\n"

    assert_nothing_refused(cluster)  # barriers again: anything do published has arrived
    on_ds = files_under(jobs_dir(ds, uid))
    assert not any(WITHHELD_BYTES in data for data in on_ds.values())
    assert not any(b"an error line" in data for data in on_ds.values())
    assert "private.txt" not in " ".join(on_ds) and "stderr.txt" not in on_ds
    assert files_under(jobs_dir(eve, uid)) == {}
