"""requirements.txt: provisioned before the run, so the seed's run.sh works with the network off.

The packages come from a wheel built here (no PyPI): a tiny ``scq-tiny`` served from a
local folder through the queue's ``provision_find_links``.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import syft_code_queue as scq
from syft_code_queue import FailureReason, JobStatus, provision
from tests.conftest import DO_EMAIL, make_package, run_until

# The seed README's example run.sh, verbatim (make_package adds its first two lines).
SEED_RUN_SH = """
echo "Starting analysis..."

# Install dependencies
if [ -f requirements.txt ]; then
    pip install -r requirements.txt
fi

# Run analysis
python analyze.py

echo "Analysis complete!"
"""
ANALYZE = (
    "import os, scq_tiny, pydantic\n"  # pydantic: one of the owner's own packages
    "open(os.path.join(os.environ['OUTPUT_DIR'], 'result.txt'), 'w').write(scq_tiny.ANSWER)\n"
)


def build_wheel(folder: Path, version: str = "1.0") -> Path:
    """A pure-Python wheel of ``scq-tiny`` (module ``scq_tiny``), written by hand."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"scq_tiny-{version}.dist-info"
    files = {
        "scq_tiny/__init__.py": f"ANSWER = 'tiny {version}'\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: scq-tiny\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"scq_tiny-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return wheel


def owner_can_import(module: str) -> bool:
    """Whether the server's own interpreter (the owner's environment) has ``module``."""
    probe = [sys.executable, "-c", f"import {module}"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


@pytest.fixture
def wheels(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "wheels"
    build_wheel(folder)
    assert not owner_can_import("scq_tiny")
    yield folder
    if owner_can_import("scq_tiny"):  # the bug: clean the owner's environment again
        subprocess.run(
            [sys.executable, "-m", "pip", "uninstall", "-y", "-q", "scq-tiny"], check=False
        )


def run(server: scq.CodeQueueServer, ds: scq.CodeQueueClient, folder: Path) -> scq.CodeJob:
    job = ds.submit_code(DO_EMAIL, folder, name="with requirements")
    server.list_pending_jobs()
    server.approve_job(job.uid)
    run_until(server, lambda: server.get_job(job.uid).is_terminal, timeout=60)
    return server.get_job(job.uid)


@pytest.mark.parametrize("isolation", ["required", "none"])
def test_a_jobs_pip_never_installs_into_the_owners_interpreter(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path, wheels: Path, isolation: str
) -> None:
    folder = make_package(
        tmp_path / "pkg",
        'pip install --no-index --find-links "$DATA_DIR" scq-tiny || true\n',
    )
    with scq.create_server(
        email=DO_EMAIL, syftbox_dir=syftbox_dir, job_data_dir=wheels, isolation=isolation
    ) as server:
        done = run(server, ds, folder)
    assert done.status is JobStatus.completed, done.error_message
    assert "pip install: refused" in ds.get_job_logs(done.uid)  # it did try
    assert not owner_can_import("scq_tiny"), "the job installed into the owner's interpreter"


def provisioning_server(syftbox_dir: Path, wheels: Path, **settings: object) -> scq.CodeQueueServer:
    return scq.create_server(
        email=DO_EMAIL,
        syftbox_dir=syftbox_dir,
        provision_find_links=(str(wheels),),
        provision_no_index=True,
        **settings,
    )


@pytest.mark.parametrize("backend", ["auto", "landlock"])
def test_the_seed_run_sh_installs_its_requirements_with_the_network_off(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path, wheels: Path, backend: str
) -> None:
    files = {"requirements.txt": "scq-tiny==1.0\n", "analyze.py": ANALYZE}
    with provisioning_server(syftbox_dir, wheels, sandbox=backend) as server:
        assert server.guarantees().network.startswith("no network")
        first = run(server, ds, make_package(tmp_path / "one", SEED_RUN_SH, files))
        assert first.status is JobStatus.completed, server.get_job_logs(first.uid)
        assert first.output_folder is not None
        assert (first.output_folder / "result.txt").read_text() == "tiny 1.0"
        envs = list((server.private_dir / "envs").iterdir())
        second = run(server, ds, make_package(tmp_path / "two", SEED_RUN_SH, files))
        assert second.status is JobStatus.completed, server.get_job_logs(second.uid)
        assert list((server.private_dir / "envs").iterdir()) == envs  # the cached one
    assert not owner_can_import("scq_tiny")


def test_a_requirement_that_cannot_be_provisioned_fails_with_pips_message(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path, wheels: Path
) -> None:
    files = {"requirements.txt": "scq-tiny==9.9\n", "analyze.py": ANALYZE}
    with provisioning_server(syftbox_dir, wheels) as server:
        failed = run(server, ds, make_package(tmp_path / "pkg", SEED_RUN_SH, files))
    assert failed.status is JobStatus.failed
    assert failed.failure_reason is FailureReason.provisioning_failed
    assert "scq-tiny==9.9" in (failed.error_message or "")
    assert failed.started_at is None, "a job whose packages could not be provisioned never runs"


def test_provisioning_can_be_turned_off(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path, wheels: Path
) -> None:
    files = {"requirements.txt": "scq-tiny==1.0\n", "analyze.py": ANALYZE}
    with provisioning_server(syftbox_dir, wheels, provision_requirements=False) as server:
        failed = run(server, ds, make_package(tmp_path / "pkg", SEED_RUN_SH, files))
    assert (failed.status, failed.failure_reason) == (JobStatus.failed, FailureReason.exit_code)
    assert not (server.private_dir / "envs").exists()


class _HeldIndex(http.server.BaseHTTPRequestHandler):
    """A package index that answers nothing until the test lets it (then: not found)."""

    release = threading.Event()
    asked = threading.Event()

    def do_GET(self) -> None:
        type(self).asked.set()
        type(self).release.wait(30)
        self.send_error(404)

    def log_message(self, *_args: object) -> None:
        pass


def test_the_server_keeps_serving_while_requirements_are_installed(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    index = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HeldIndex)
    threading.Thread(target=index.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{index.server_address[1]}/simple"
    files = {"requirements.txt": "scq-tiny==1.0\n", "analyze.py": ANALYZE}
    slow = ds.submit_code(DO_EMAIL, make_package(tmp_path / "slow", SEED_RUN_SH, files), "slow")
    quick = ds.submit_code(DO_EMAIL, make_package(tmp_path / "quick", "echo quick\n"), "quick")
    try:
        with scq.create_server(
            email=DO_EMAIL, syftbox_dir=syftbox_dir, provision_index_url=url
        ) as server:
            server.list_pending_jobs()
            server.approve_job(slow.uid)
            run_until(server, _HeldIndex.asked.is_set)  # pip is waiting on the index now
            server.approve_job(quick.uid)
            run_until(server, lambda: server.get_job(quick.uid).is_terminal)
            assert server.get_job(quick.uid).status is JobStatus.completed
            assert server.get_job(slow.uid).status is JobStatus.approved  # still installing
            _HeldIndex.release.set()
            run_until(server, lambda: server.get_job(slow.uid).is_terminal, timeout=60)
            failed = server.get_job(slow.uid)
    finally:
        _HeldIndex.release.set()
        index.shutdown()
        index.server_close()
    assert failed.failure_reason is FailureReason.provisioning_failed
    assert "scq-tiny" in (failed.error_message or "")


def _cached_env(envs: Path, name: str, size: int, used_ago: float) -> Path:
    """An environment as provisioning leaves it: ready, its size measured, last used then."""
    env = envs / name
    (env / "bin").mkdir(parents=True)
    (env / ".scq-size").write_text(f"{size}\n")
    (env / ".scq-ready").write_text("ok\n")
    when = time.time() - used_ago
    os.utime(env / ".scq-ready", (when, when))
    return env


def test_the_least_recently_used_environments_are_evicted_never_one_in_use(
    tmp_path: Path,
) -> None:
    envs = tmp_path / "envs"
    oldest = _cached_env(envs, "oldest", 10, used_ago=3600)
    running = _cached_env(envs, "running", 10, used_ago=3000)  # older, but a job holds it
    older = _cached_env(envs, "older", 10, used_ago=2400)
    _cached_env(envs, "recent", 10, used_ago=1)  # used a moment ago
    new = _cached_env(envs, "new", 10, used_ago=1200)  # the one just built
    config = scq.QueueConfig(provision_cache_max_envs=2)
    held = provision.hold(running)
    os.utime(running / ".scq-ready", (time.time() - 3000,) * 2)  # holding it touched it
    try:
        removed = provision.evict(envs, config, keep=new)
    finally:
        held.close()
    assert removed == [oldest, older]
    assert sorted(p.name for p in envs.iterdir() if p.is_dir()) == ["new", "recent", "running"]
    # Released, the running one goes next once over the size limit too.
    by_size = scq.QueueConfig(provision_cache_max_envs=20, provision_cache_max_bytes=25)
    assert provision.evict(envs, by_size, keep=new) == [running]


def test_a_cache_hit_marks_the_environment_used(
    syftbox_dir: Path, ds: scq.CodeQueueClient, wheels: Path, tmp_path: Path
) -> None:
    server = provisioning_server(syftbox_dir, wheels)
    try:
        folder = make_package(
            tmp_path / "pkg", "python -c 'import scq_tiny'\n", {"requirements.txt": "scq-tiny\n"}
        )
        assert run(server, ds, folder).status is scq.JobStatus.completed
        (ready,) = (server.private_dir / "envs").glob("*/.scq-ready")
        os.utime(ready, (0, 0))
        assert run(server, ds, folder).status is scq.JobStatus.completed
        assert time.time() - ready.stat().st_mtime < 600
    finally:
        server.close()
