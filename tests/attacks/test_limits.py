"""Approved code that attacks the owner's machine under the DEFAULT queue settings.

Each job first writes ``ran`` to its output (so no test passes because a job never ran),
then attacks. Each test checks containment, the failure reason where a limit is hit, that
no process of the job is left and that the server still serves the next job.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import syft_code_queue as scq
from syft_code_queue import FailureReason, JobStatus, limits
from tests.conftest import DO_EMAIL, make_package, run_until

pytestmark = pytest.mark.attacks


@pytest.fixture(params=["auto", "landlock"])
def owner(syftbox_dir: Path, request: pytest.FixtureRequest) -> Iterator[scq.CodeQueueServer]:
    """The default settings; and again with the Landlock + seccomp fallback forced."""
    server = scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir, sandbox=request.param)
    assert server.config.isolation == "required"
    yield server
    server.close()


def attack(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path, script: str
) -> tuple[scq.CodeJob, str]:
    """Run ``script`` approved; check nothing of it is left and the server still serves."""
    folder = make_package(
        tmp_path / f"attack-{len(list(tmp_path.iterdir()))}",
        'echo ran > "$OUTPUT_DIR/ran.txt"\nset +e\n' + script,
    )
    job = ds.submit_code(DO_EMAIL, folder, name="attack")
    owner.list_pending_jobs()
    owner.approve_job(job.uid)
    run_until(owner, lambda: owner.get_job(job.uid).is_terminal, timeout=90)
    done = owner.get_job(job.uid)
    run_id = owner.ledger.get(str(job.uid)).run_id
    assert run_id is not None, "the attack job never started"
    left = _processes_of(run_id)
    states = [psutil.Process(p).status() for p in left if psutil.pid_exists(p)]
    assert not left, f"a process of the job outlived it: {states}"
    ran = owner.jobs_dir / str(job.uid) / "output" / "ran.txt"  # published, failed or not
    assert ran.exists() and ran.read_text() == "ran\n", "the attack job never ran"
    # The server still serves: the next ordinary job completes.
    fine = ds.submit_code(
        DO_EMAIL, make_package(tmp_path / f"{job.uid}-next", "echo ok\n"), name="next"
    )
    owner.list_pending_jobs()
    owner.approve_job(fine.uid)
    run_until(owner, lambda: owner.get_job(fine.uid).is_terminal)
    assert owner.get_job(fine.uid).status is JobStatus.completed
    return done, owner.get_job_logs(job.uid)


def _processes_of(run_id: str) -> list[int]:
    found = []
    for proc in psutil.process_iter():
        try:
            with open(f"/proc/{proc.pid}/environ", "rb") as f:  # noqa: PTH123
                if f"SCQ_RUN_ID={run_id}".encode() in f.read():
                    found.append(proc.pid)
        except OSError:
            continue
    return found


def test_memory_split_across_8_processes_is_limited_in_total(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    # 8 x 640 MiB = 5 GiB touched, each process well under any per-process limit.
    hog = (
        "import time; x = bytearray(640 * 2**20); x[::4096] = b'x' * len(x[::4096]); time.sleep(60)"
    )
    job, _ = attack(
        ds, owner, tmp_path, f'for i in 1 2 3 4 5 6 7 8; do python -c "{hog}" & done\nwait\n'
    )
    assert job.failure_reason is FailureReason.memory_limit, job.error_message
    assert "max_memory_bytes" in (job.error_message or "")


def test_a_fork_bomb_hits_the_process_limit(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job, _ = attack(ds, owner, tmp_path, "bomb() { bomb | bomb & }; bomb\nsleep 30\n")
    assert job.failure_reason is FailureReason.process_limit, job.error_message
    assert "max_processes (256)" in (job.error_message or "")


def test_many_small_files_hit_the_file_count_limit(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job, _ = attack(
        ds, owner, tmp_path, 'for i in $(seq 3000); do echo $i > "$OUTPUT_DIR/f$i"; done\n'
    )
    assert job.failure_reason is FailureReason.output_limit, job.error_message
    assert "max_output_files (1,000)" in (job.error_message or "")
    assert len(list((owner.jobs_dir / str(job.uid) / "output").iterdir())) <= 1000


def test_a_symlink_and_a_fifo_in_the_output_are_not_kept(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job, _ = attack(
        ds,
        owner,
        tmp_path,
        'ln -s /etc/passwd "$OUTPUT_DIR/passwd"\nln -s / "$OUTPUT_DIR/root"\n'
        'mkfifo "$OUTPUT_DIR/pipe"\n',
    )
    assert job.status is JobStatus.completed, job.error_message
    assert job.output_folder is not None
    kept = sorted(p.name for p in job.output_folder.iterdir())
    assert kept == ["ran.txt"]
    assert all(not p.is_symlink() for p in job.output_folder.iterdir())


def test_the_owners_home_and_ledger_are_not_readable(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    home = Path(os.environ["HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / ".ssh").mkdir(exist_ok=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE KEY")
    ledger = owner.private_dir / "queue.db"
    job, log = attack(
        ds,
        owner,
        tmp_path,
        f'cat "{home}/.ssh/id_ed25519" "{ledger}" "{owner.private_dir}/audit.jsonl"\n'
        f'ls "{home}" "{owner.private_dir}"\ntrue\n',
    )
    assert job.status is JobStatus.completed
    assert "PRIVATE KEY" not in log
    assert "SQLite" not in log
    assert "No such file or directory" in log or "Permission denied" in log


def test_the_server_process_cannot_be_signalled(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    me = os.getpid()
    job, log = attack(
        ds, owner, tmp_path, f"kill -TERM {me}; kill -KILL {me}; kill -STOP {me}; echo tried\n"
    )
    assert job.status is JobStatus.completed
    assert "tried" in log
    assert psutil.Process(me).status() != psutil.STATUS_STOPPED  # and this test is alive


def test_other_processes_environments_are_not_visible(
    ds: scq.CodeQueueClient,
    owner: scq.CodeQueueServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCQ_OWNER_TOKEN", "owner-secret-token-5521")
    job, log = attack(
        ds,
        owner,
        tmp_path,
        "cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep SCQ_OWNER_TOKEN\n"
        f"cat /proc/{os.getpid()}/environ\ntrue\n",
    )
    assert job.status is JobStatus.completed
    assert "owner-secret-token-5521" not in log


def test_no_device_node_can_be_made_to_read_the_disk(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    disk = next((d for d in Path("/sys/block").iterdir() if (d / "dev").exists()), None)
    assert disk is not None, "this machine has no block device to aim at"
    major, minor = (disk / "dev").read_text().split(":")
    _, log = attack(
        ds,
        owner,
        tmp_path,
        f'mknod "$HOME/disk" b {major} {minor.strip()} && echo MADE\n'
        'head -c 512 "$HOME/disk" | od | head -3\n'
        "true\n",
    )
    assert "MADE" not in log, log


def test_no_udp_raw_or_unix_socket_reaches_out(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        probe = (
            "import socket\n"
            "for family, kind in ((socket.AF_INET, socket.SOCK_DGRAM),"
            " (socket.AF_INET, socket.SOCK_RAW), (socket.AF_UNIX, socket.SOCK_STREAM)):\n"
            "    try:\n"
            "        s = socket.socket(family, kind)\n"
            "        if family == socket.AF_INET:\n"
            f"            s.sendto(b'leak', ('127.0.0.1', {port}))\n"
            "        print('MADE', family, kind)\n"
            "    except OSError as exc:\n"
            "        print('refused', family, kind, exc)\n"
        )
        _, log = attack(ds, owner, tmp_path, f"python - <<'EOF'\n{probe}EOF\n")
        with pytest.raises(TimeoutError):
            listener.recvfrom(100)  # nothing reached the owner's machine
    if owner.config.sandbox == "landlock":  # the seccomp filter refuses them outright
        assert "MADE" not in log and log.count("refused") == 3, log
    else:  # a network namespace of its own: a UDP socket, with nowhere to send
        assert "refused 2 3" in log, log  # no raw socket (no capability)


@pytest.fixture
def no_cgroups(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine where the server may not create cgroups (no root, no delegation)."""
    monkeypatch.setattr(limits, "hierarchies", dict)


@pytest.mark.usefixtures("no_cgroups")
def test_without_cgroups_the_watchdog_holds_memory_and_process_count(
    ds: scq.CodeQueueClient, owner: scq.CodeQueueServer, tmp_path: Path
) -> None:
    held = owner.guarantees()
    assert "watchdog" in held.memory and "watchdog" in held.process_count
    hog = (
        "import time; x = bytearray(640 * 2**20); x[::4096] = b'x' * len(x[::4096]); time.sleep(60)"
    )
    memory, _ = attack(
        ds, owner, tmp_path, f'for i in 1 2 3 4 5 6 7 8; do python -c "{hog}" & done\nwait\n'
    )
    assert memory.failure_reason is FailureReason.memory_limit, memory.error_message
    crowd, _ = attack(ds, owner, tmp_path, "for i in $(seq 400); do sleep 60 & done\nwait\n")
    assert crowd.failure_reason is FailureReason.process_limit, crowd.error_message


def test_cpu_time_is_limited_over_the_whole_tree(
    ds: scq.CodeQueueClient, syftbox_dir: Path, tmp_path: Path
) -> None:
    burn = 'python -c "while True: pass" &\n'
    folder = make_package(tmp_path / "burn", burn * 4 + "wait\n")
    with scq.create_server(
        email="cpu-owner@example.com", syftbox_dir=syftbox_dir, max_cpu_seconds=2
    ) as server:
        assert "over the whole process tree" in server.guarantees().cpu_and_files
        job = ds.submit_code("cpu-owner@example.com", folder, name="burn")
        server.list_pending_jobs()
        server.approve_job(job.uid)
        run_until(server, lambda: server.get_job(job.uid).is_terminal, timeout=60)
        done = server.get_job(job.uid)
    # Four processes each under 2 s of CPU when killed: only the total holds them.
    assert done.failure_reason is FailureReason.cpu_limit, done.error_message
    assert "2 CPU seconds together" in (done.error_message or "")
