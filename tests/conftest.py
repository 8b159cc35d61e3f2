"""Shared fixtures: a data scientist and a data owner sharing one local SyftBox folder."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import syft_code_queue as scq
from syft_code_queue.manifest import scan_code_folder
from syft_code_queue.models import utcnow
from syft_code_queue.runner import RunSpec

DS_EMAIL = "ds@example.com"
DO_EMAIL = "do@example.com"


@pytest.fixture(autouse=True)
def _no_ambient_syftbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the machine's own SyftBox config or environment."""
    for name in ("SYFTBOX_EMAIL", "SYFTBOX_DATA_DIR", "SYFTBOX_CLIENT_CONFIG_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def syftbox_dir(tmp_path: Path) -> Path:
    path = tmp_path / "SyftBox"
    path.mkdir()
    return path


@pytest.fixture
def ds(syftbox_dir: Path) -> scq.CodeQueueClient:
    """A data scientist."""
    return scq.create_client(email=DS_EMAIL, syftbox_dir=syftbox_dir)


@pytest.fixture
def do(syftbox_dir: Path) -> Iterator[scq.CodeQueueServer]:
    """A data owner's server (not started: tests drive it with tick)."""
    server = scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir, job_timeout=30)
    yield server
    server.close()


def make_package(
    root: Path, script: str = "echo hello\n", files: dict[str, str] | None = None
) -> Path:
    """A code folder with a run.sh and optional extra files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "run.sh").write_text("#!/bin/bash\nset -e\n" + script)
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def code_folder(tmp_path: Path) -> Path:
    return make_package(
        tmp_path / "analysis",
        'echo "rows: 3"\npython analyze.py\n',
        {
            "analyze.py": "import os\n"
            "out = os.path.join(os.environ['OUTPUT_DIR'], 'result.txt')\n"
            "open(out, 'w').write('42')\n"
        },
    )


def run_until(
    server: scq.CodeQueueServer,
    done: Callable[[], bool],
    timeout: float = 20.0,
    now: Callable[[], datetime] = utcnow,
) -> None:
    """Drive ``server.tick`` until ``done()`` holds, failing after ``timeout`` seconds.

    Ticks are cheap and real processes need real time to run, so this polls with a
    deadline rather than sleeping a fixed amount.
    """
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout} s")
        server.tick(now())
        server._wake.wait(0.01)
        server._wake.clear()


def later(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)


def run_spec(runs: Path, package: Path, script: str) -> RunSpec:
    """A run of ``package`` with this ``run.sh``, for driving a SafeCodeRunner directly."""
    (package / "run.sh").write_text(script)
    scan = scan_code_folder(package)
    uid = uuid.uuid4().hex
    return RunSpec(
        uid, "j", "ds@x.org", uuid.uuid4().hex, package, scan.files, scan.code_hash, runs / uid
    )
