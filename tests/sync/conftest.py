"""Fixtures for tests that run against a real SyftBox sync cluster on 127.0.0.1.

The cluster needs the SyftBox virtualenv made by ``scripts/install_syftbox.sh``. When it is
missing the fixture FAILS (it never skips): a green run must mean the sync tests really ran.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

try:  # pytest's default import mode puts this folder (no __init__.py!) on sys.path
    from cluster import SyftBoxCluster, SyftBoxNotInstalledError, check_syftbox_venv
except ModuleNotFoundError:  # --import-mode=importlib does not
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cluster import SyftBoxCluster, SyftBoxNotInstalledError, check_syftbox_venv

DS = "ds@example.com"  # data scientist
DO = "do@example.com"  # data owner
EVE = "eve@example.com"  # third party
PEOPLE = [DS, DO, EVE]


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
