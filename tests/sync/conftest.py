"""Fixtures for tests that run against a real SyftBox sync cluster on 127.0.0.1.

The cluster needs the SyftBox virtualenv made by ``scripts/install_syftbox.sh``. When it is
missing the fixture FAILS (it never skips): a green run must mean the sync tests really ran.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import syft_code_queue as scq

try:  # pytest's default import mode puts this folder (no __init__.py!) on sys.path
    from cluster import ClusterClient, SyftBoxCluster, SyftBoxNotInstalledError, check_syftbox_venv
except ModuleNotFoundError:  # --import-mode=importlib does not
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cluster import ClusterClient, SyftBoxCluster, SyftBoxNotInstalledError, check_syftbox_venv
from flow import DO, DS, EVE, PEOPLE, note_rejected_files, start_stopped_clients


def pytest_configure(config: pytest.Config) -> None:
    # Also declared in pyproject.toml; registering here keeps --strict-markers happy regardless.
    config.addinivalue_line("markers", "sync: runs against a real SyftBox sync cluster")


@pytest.fixture(scope="session")
def syftbox_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyftBoxCluster]:
    """A server plus clients for ds@, do@ and eve@example.com, shared by the whole session.

    The cluster lives in pytest's temp dir (kept for the last few runs), so the process logs
    (``<root>/logs/*.log``) can be read after a failure. Tests must use their own unique
    sub-folders, and leave every client running when they finish.
    """
    problem = ""
    try:
        check_syftbox_venv()
    except SyftBoxNotInstalledError as exc:
        problem = str(exc)
    if problem:  # fail (outside the except block, for a clean message), never skip
        pytest.fail(problem, pytrace=False)

    cluster = SyftBoxCluster(root=tmp_path_factory.mktemp("syftbox-cluster"))
    try:
        cluster.start(PEOPLE)
    except (RuntimeError, OSError) as exc:  # TimeoutError is an OSError
        problem = f"could not start the SyftBox cluster: {exc}"
    if problem:
        pytest.fail(problem, pytrace=False)
    print(f"\n[syftbox cluster] root {cluster.root}, server {cluster.server_url}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster(syftbox_cluster: SyftBoxCluster) -> Iterator[SyftBoxCluster]:
    """The shared cluster with every client running, before and after the test (a test may
    stop one); the refused files already there are noted (see ``flow.assert_nothing_refused``).
    """
    start_stopped_clients(syftbox_cluster)
    note_rejected_files(syftbox_cluster)
    yield syftbox_cluster
    start_stopped_clients(syftbox_cluster)  # later tests need every client up


@pytest.fixture
def ds(cluster: SyftBoxCluster) -> ClusterClient:
    return cluster[DS]


@pytest.fixture
def do(cluster: SyftBoxCluster) -> ClusterClient:
    return cluster[DO]


@pytest.fixture
def eve(cluster: SyftBoxCluster) -> ClusterClient:
    return cluster[EVE]


@pytest.fixture
def client(ds: ClusterClient) -> scq.CodeQueueClient:
    """ds's client, from the folder and email of ds's SyftBox config."""
    config = ds.config()
    return scq.create_client(email=config["email"], syftbox_dir=config["data_dir"])


@pytest.fixture
def server(do: ClusterClient) -> Iterator[scq.CodeQueueServer]:
    """do's server (never started: tests drive it with tick())."""
    config = do.config()
    server = scq.create_server(
        email=config["email"], syftbox_dir=config["data_dir"], job_timeout=60
    )
    try:
        yield server
    finally:
        server.close()
