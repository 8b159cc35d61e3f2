"""The people, folders and waits of the code queue over a real SyftBox cluster.

Shared by the tests that run the queue between ds's and do's machines (``test_e2e.py``,
``test_sync_faults.py``) and the fixtures in ``conftest.py``. ds@example.com submits, do's
server (driven by ``tick()``, it never sleeps) receives and runs, and eve@example.com is a
third party who must see nothing of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster import ClusterClient, SyftBoxCluster, wait_for

import syft_code_queue as scq

DS = "ds@example.com"  # data scientist
DO = "do@example.com"  # data owner
EVE = "eve@example.com"  # third party
PEOPLE = [DS, DO, EVE]
QUEUE = Path("app_data", "code-queue")
SYNC_TIMEOUT = 60.0  # one sync hop is ~1-2 s; generous for a loaded CI machine


# -- files and folders ---------------------------------------------------------------------------


def write_package(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def files_under(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (hidden ones included) -> its bytes."""
    if not root.is_dir():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def outbox_job(client: ClusterClient, uid: str) -> Path:
    """ds's outbox folder of job ``uid`` for do, as seen on ``client``'s machine."""
    return client.datasite(DS) / QUEUE / "outbox" / DO / uid


def jobs_dir(client: ClusterClient, uid: str) -> Path:
    """do's published folder of job ``uid``, as seen on ``client``'s machine."""
    return client.datasite(DO) / QUEUE / "jobs" / uid


# -- the cluster between tests -------------------------------------------------------------------


def start_stopped_clients(cluster: SyftBoxCluster) -> None:
    """Every client running again (a fault test stops some on purpose)."""
    for client in cluster.clients.values():
        if not client.is_running():
            client.start()


def rejected_files(*clients: ClusterClient) -> list[Path]:
    """Anything the engine refused to upload (renamed ``*.syftrejected.*``) on these machines."""
    return sorted(p for c in clients for p in c.data_dir.rglob("*") if ".syftrejected" in p.name)


# Refused files already on ds's or do's machine when the running test started (test_engine.py
# plants one on purpose): a test fails on any *new* one, wherever it appears.
_rejected_before: set[Path] = set()


def note_rejected_files(cluster: SyftBoxCluster) -> None:
    """Remember the refused files on ds's and do's machines as the running test starts."""
    _rejected_before.clear()
    _rejected_before.update(rejected_files(cluster[DS], cluster[DO]))


def assert_nothing_refused(cluster: SyftBoxCluster) -> None:
    """The engine refused no write of ds or do since the running test started.

    First the barriers: whatever ds and do wrote before them (the job files are all smaller
    than the sentinel) has been handled by the engine — uploaded or refused — and offered to
    every reader; if eve were allowed to read a file of the jobs, she would have it by now.
    """
    cluster.barrier(DS, [DO, EVE])
    cluster.barrier(DO, [DS, EVE])
    new = [p for p in rejected_files(cluster[DS], cluster[DO]) if p not in _rejected_before]
    assert new == [], "the engine refused writes of ds or do (renamed *.syftrejected.*)"


# -- waiting on the flow -------------------------------------------------------------------------


def tick_until(
    server: scq.CodeQueueServer,
    predicate: Callable[[], Any],
    message: str,
    timeout: float = SYNC_TIMEOUT,
) -> Any:
    """Drive the server with ``tick()`` until ``predicate()`` is truthy (no sleeping server)."""

    def step() -> Any:
        server.tick()
        return predicate()

    return wait_for(step, timeout=timeout, interval=0.05, message=message)


def status_of(server: scq.CodeQueueServer, uid: str) -> scq.JobStatus | None:
    try:
        return server.get_job(uid).status
    except scq.JobNotFoundError:
        return None


def wait_on_ds(
    cluster: SyftBoxCluster, client: scq.CodeQueueClient, uid: str, timeout: float = SYNC_TIMEOUT
) -> scq.CodeJob:
    """``client.wait`` on ds's machine; on timeout, say where the status got stuck."""
    try:
        return client.wait(uid, timeout=timeout)
    except TimeoutError as exc:
        ds, do = cluster[DS], cluster[DO]
        copies = {
            "do": jobs_dir(do, uid) / "status.json",
            "sync server": cluster.on_server(jobs_dir(do, uid).relative_to(do.datasites))
            / "status.json",
            "ds": jobs_dir(ds, uid) / "status.json",
        }
        where = "; ".join(f"on {k}: {_status_field(p)}" for k, p in copies.items())
        raise AssertionError(f"{exc}\nstatus.json {where}\n{cluster.logs(30)}") from exc


def _status_field(path: Path) -> str:
    try:
        return str(json.loads(path.read_bytes()).get("status"))
    except (OSError, ValueError) as exc:
        return f"unreadable ({exc.__class__.__name__})"
