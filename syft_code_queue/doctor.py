"""``scq doctor`` / ``server.doctor()``: what this machine holds a job to, tried for real.

Prints the guarantees of a queue's settings here, then runs a few hostile jobs through the
real runner, in a throwaway SyftBox folder with the same settings (never the owner's own
queue): a network connection, reading a file outside the job, writing outside it, memory
over the limit, processes over the limit and a ``setsid`` escape. Each is reported
contained or not. The memory and process attacks run against smaller limits than the
queue's (same mechanism, seconds instead of gigabytes).
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from syft_code_queue.models import CodeJob, FailureReason, Guarantees, JobStatus, QueueConfig

_OWNER = "doctor-owner@localhost.invalid"
_REQUESTER = "doctor-requester@localhost.invalid"
_MEMORY = 256 * 1024 * 1024
_PROCESSES = 32


@dataclass(frozen=True)
class Check:
    """One attack (``detail``: what was tried, and how it ended) and whether it was contained."""

    name: str
    contained: bool
    required: bool
    detail: str


@dataclass
class DoctorReport:
    """The guarantees here and what the self-test found; ``ok`` unless a required one failed."""

    guarantees: Guarantees
    checks: list[Check] = field(default_factory=list)
    problem: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem is None and all(c.contained or not c.required for c in self.checks)

    def text(self) -> str:
        lines = ["Guarantees of a job run here:"]
        for name, value in self.guarantees.model_dump().items():
            lines.append(f"  {name:<14} {value}")
        lines.append(f"Self-test ({self.seconds:.1f} s): real jobs through the real runner")
        for c in self.checks:
            mark = "contained" if c.contained else "NOT CONTAINED"  # detail: what was tried
            need = "" if c.required else " (not required by these settings)"
            lines.append(f"  {c.name:<22} {mark}{need}: {c.detail}")
        if self.problem:
            lines.append(f"PROBLEM: {self.problem}")
        lines.append("OK" if self.ok else "FAILED: a required guarantee does not hold here")
        return "\n".join(lines)


@contextlib.contextmanager
def _listener() -> Iterator[tuple[int, list[tuple[socket.socket, object]]]]:
    accepted: list[tuple[socket.socket, object]] = []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sock.settimeout(0.1)
        done = threading.Event()

        def accept() -> None:
            while not done.is_set():
                with contextlib.suppress(OSError):
                    accepted.append(sock.accept())

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            yield sock.getsockname()[1], accepted
        finally:
            done.set()
            thread.join(2)
            for conn in accepted:
                with contextlib.suppress(Exception):
                    conn[0].close()


def run(config: QueueConfig, timeout: float = 60.0) -> DoctorReport:
    """Report the guarantees of ``config`` here and try them with real hostile jobs."""
    from syft_code_queue.client import CodeQueueClient
    from syft_code_queue.runner import SafeCodeRunner
    from syft_code_queue.sandbox import SandboxUnavailableError
    from syft_code_queue.server import CodeQueueServer

    started = time.monotonic()
    isolated = config.isolation != "none"
    settings = config.model_copy(
        update={
            "queue_name": "scq-doctor",
            "max_concurrent_jobs": 8,
            "job_timeout": min(config.job_timeout, 30.0),
            "max_memory_bytes": None if config.max_memory_bytes is None else _MEMORY,
            "max_processes": None if config.max_processes is None else _PROCESSES,
            "job_data_dir": None,
        }
    )
    with tempfile.TemporaryDirectory(prefix="scq-doctor-") as tmp, _listener() as (port, got):
        root = Path(tmp)
        syftbox = root / "SyftBox"
        syftbox.mkdir()
        secret = root / "owner-secret.txt"
        secret.write_text("owner secret\n")
        planted = root / "planted.txt"
        token = f"{uuid.uuid4().hex[:6]}"
        escape = f"300.{int(token, 16) % 100000:05d}"
        attacks: dict[str, tuple[str, bool, Callable[[CodeJob, str], tuple[bool, str]]]] = {
            "network": (
                f"python -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 3)\""
                " && echo CONNECTED\n",
                isolated,
                lambda job, log: (
                    not got and "CONNECTED" not in log,
                    "a connection to a listener on the owner's 127.0.0.1",
                ),
            ),
            "foreign file": (
                f"cat '{secret}' && echo READ\n",
                isolated,
                lambda job, log: (
                    "owner secret" not in log,
                    "reading a file of the owner outside the job",
                ),
            ),
            "write outside": (
                f"echo planted > '{planted}'\n",
                isolated,
                lambda job, log: (
                    not planted.exists(),
                    "writing a file outside the job's folders",
                ),
            ),
            "memory": (
                'python -c "x = bytearray(1024 ** 3); print(len(x))"\n',
                settings.max_memory_bytes is not None,
                lambda job, log: (
                    job.failure_reason is FailureReason.memory_limit,
                    f"1 GiB against a {_MEMORY // 2**20} MiB limit: "
                    f"{job.failure_reason or job.status}",
                ),
            ),
            "processes": (
                "for i in $(seq 64); do sleep 20 & done; wait\n",
                settings.max_processes is not None,
                lambda job, log: (
                    job.failure_reason is FailureReason.process_limit,
                    f"64 processes against a limit of {_PROCESSES}: "
                    f"{job.failure_reason or job.status}",
                ),
            ),
            "setsid escape": (
                f"setsid sleep {escape} </dev/null >/dev/null 2>&1 &\n",
                True,
                lambda job, log: (
                    not _alive(escape),
                    "a setsid child outliving its job",
                ),
            ),
        }
        client = CodeQueueClient(settings, email=_REQUESTER, syftbox_dir=syftbox)
        with CodeQueueServer(settings, email=_OWNER, syftbox_dir=syftbox) as server:
            # The queue's own guarantees; the attacks below run against smaller limits.
            report = DoctorReport(
                guarantees=SafeCodeRunner(config, server.private_dir).guarantees()
            )
            try:
                server.runner.backend()
            except SandboxUnavailableError as exc:
                report.problem = str(exc)
            jobs = {}
            for name, (script, _, _) in attacks.items():
                folder = root / "jobs" / name.replace(" ", "-")
                folder.mkdir(parents=True)
                (folder / "run.sh").write_text("#!/bin/bash\n" + script)
                jobs[name] = client.submit_code(_OWNER, folder, name=f"doctor: {name}")
            server.tick()
            for job in jobs.values():
                server.approve_job(job.uid)
            deadline = time.monotonic() + timeout
            while not all(server.get_job(j.uid).is_terminal for j in jobs.values()):
                if time.monotonic() > deadline:
                    report.problem = f"the self-test did not end within {timeout:g} s"
                    break
                server.tick()
                server._wake.wait(0.02)
                server._wake.clear()
            for name, (_, required, judge) in attacks.items():
                job = server.get_job(jobs[name].uid)
                if job.failure_reason is FailureReason.sandbox_unavailable:
                    report.checks.append(Check(name, False, required, "not run: no sandbox"))
                    continue
                contained, detail = judge(job, server.get_job_logs(job.uid))
                if job.status is not JobStatus.completed and job.failure_reason in (
                    FailureReason.internal_error,
                    FailureReason.hash_mismatch,
                ):
                    contained, detail = False, f"the job did not run: {job.error_message}"
                report.checks.append(Check(name, contained, required, detail))
    report.seconds = time.monotonic() - started
    return report


def _alive(argument: str) -> bool:
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if argument in (proc.info["cmdline"] or []):
                return True
    return False
