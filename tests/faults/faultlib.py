"""Helpers shared by the fault suite and its child processes (no pytest import here).

Everything waits on a condition with a deadline (:func:`wait_for`); nothing sleeps blind.
Child processes run ``_child.py`` with ``sys.executable`` in a new session, and
:class:`Children` kills their whole process groups when a test ends, whatever happened.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import psutil

from syft_code_queue.manifest import code_hash
from syft_code_queue.models import FileEntry, JobRequest, utcnow
from syft_code_queue.runner import RUN_ID_ENV
from syft_code_queue.workspace import Workspace

CHILD = Path(__file__).resolve().with_name("_child.py")
DS_EMAIL = "ds@example.com"
DO_EMAIL = "do@example.com"
QUEUE = "code-queue"


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = 0.01,
    on_timeout: Callable[[], str] | None = None,
) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            extra = f"\n{on_timeout()}" if on_timeout is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{extra}")
        time.sleep(interval)


class PreconditionError(RuntimeError):
    """The setup of a test did not happen as planned: not the bug the test looks for.

    Strict-xfail tests declare ``raises=AssertionError``, so this error fails them loudly
    instead of being taken for the expected failure."""


def precondition(condition: object, message: str) -> None:
    if not condition:
        raise PreconditionError(message)


def at_least(count: Callable[[], int], goal: int) -> bool:
    return count() >= goal


# Child processes


class Children:
    """Child processes in their own sessions, killed (whole group) when the test ends."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []
        self.tokens: set[str] = set()
        self.run_ids: set[str] = set()

    def spawn(
        self,
        *args: str,
        name: str,
        stdin: int | None = subprocess.DEVNULL,
        stdout: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``python _child.py *args``; stdout (unless piped) and stderr go to a log."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.txt").open("ab")
        self._logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, str(CHILD), *args],
            stdin=stdin,
            stdout=log if stdout is None else stdout,
            stderr=log,
            start_new_session=True,
            env=None if env is None else dict(env),
        )
        self._procs.append(proc)
        return proc

    def log_text(self, name: str) -> str:
        path = self.log_dir / f"{name}.txt"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"

    @staticmethod
    def kill(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
        """SIGKILL the child's whole process group (before reaping it) and reap it."""
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout)

    def cleanup(self) -> None:
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.kill(proc)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        for log in self._logs:
            log.close()
        if self.tokens or self.run_ids:
            kill_matching(self.tokens, self.run_ids)


def _environ_has(pid: int, needles: set[bytes]) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:  # noqa: PTH123
            return bool(needles.intersection(f.read().split(b"\0")))
    except OSError:
        return False


def find_processes(tokens: Iterable[str] = (), run_ids: Iterable[str] = ()) -> list[psutil.Process]:
    """Live (non-zombie) processes whose command line holds a token or whose environment
    carries one of the run ids."""
    toks = [t for t in tokens if t]
    needles = {f"{RUN_ID_ENV}={r}".encode() for r in run_ids if r}
    me = os.getpid()
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        if proc.pid == me or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmdline = " ".join(proc.info["cmdline"] or ())
        if any(t in cmdline for t in toks) or (needles and _environ_has(proc.pid, needles)):
            found.append(proc)
    return found


def describe(procs: Iterable[psutil.Process]) -> str:
    rows = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            rows.append(f"pid {proc.pid} ppid {proc.ppid()} {proc.status()}: {proc.cmdline()}")
    return "\n".join(rows) or "(none)"


def none_left(tokens: Iterable[str] = (), run_ids: Iterable[str] = ()) -> bool:
    return not find_processes(tokens, run_ids)


def describe_matching(tokens: Iterable[str] = (), run_ids: Iterable[str] = ()) -> str:
    return describe(find_processes(tokens, run_ids))


def kill_matching(tokens: Iterable[str] = (), run_ids: Iterable[str] = ()) -> None:
    """Test cleanup only: SIGKILL whatever a test's jobs left behind."""
    for proc in find_processes(tokens, run_ids):
        with contextlib.suppress(psutil.Error):
            proc.kill()


def unique_token(prefix: str = "scqfault") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# Hand-built requests


def outbox(syftbox_dir: Path, requester: str = DS_EMAIL, target: str = DO_EMAIL) -> Path:
    ws = Workspace(data_dir=syftbox_dir.resolve(), email=requester)
    return ws.outbox(requester, target, QUEUE)


def entries(files: Mapping[str, bytes]) -> tuple[FileEntry, ...]:
    return tuple(
        FileEntry(path=p, sha256=hashlib.sha256(b).hexdigest(), size=len(b))
        for p, b in sorted(files.items())
    )


def build_request(
    files: Mapping[str, bytes],
    *,
    requester: str = DS_EMAIL,
    target: str = DO_EMAIL,
    name: str = "hand-built request",
    uid: uuid.UUID | None = None,
    manifest: tuple[FileEntry, ...] | None = None,
    hash_override: str | None = None,
) -> JobRequest:
    listed = entries(files) if manifest is None else manifest
    return JobRequest(
        uid=uid or uuid.uuid4(),
        name=name,
        requester=requester,
        target=target,
        created_at=utcnow(),
        files=listed,
        code_hash=hash_override or code_hash(listed),
    )


def request_bytes(request: JobRequest) -> bytes:
    return request.model_dump_json(indent=2).encode("utf-8")


def write_file(path: Path, data: bytes) -> None:
    """A plain (non-atomic) write, the way a file lands when sync delivers it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# Reading the owner's private state independently of the package


def query(private_dir: Path, sql: str, params: tuple[object, ...] = ()) -> list[dict[str, Any]]:
    """Rows of the owner's ledger, read with a separate read-only connection; none while the
    database or its tables do not exist yet (a server process is still creating them)."""
    db = private_dir / "queue.db"
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(sql, params)]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        con.close()


def ledger_rows(private_dir: Path, uid: str) -> list[dict[str, Any]]:
    return query(private_dir, "SELECT * FROM jobs WHERE uid = ?", (uid,))


def ledger_table(private_dir: Path) -> list[dict[str, Any]]:
    return query(private_dir, "SELECT * FROM jobs")


def audit_entries(private_dir: Path) -> list[dict[str, Any]]:
    path = private_dir / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def audit_count(private_dir: Path, uid: str, event: str) -> int:
    return sum(1 for e in audit_entries(private_dir) if e["uid"] == uid and e["event"] == event)


def lines_of(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def hash_tree(root: Path) -> dict[str, tuple[str, int]]:
    """Every regular file below ``root``: relative path -> (sha256, size)."""
    out: dict[str, tuple[str, int]] = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            out[path.relative_to(root).as_posix()] = (hashlib.sha256(data).hexdigest(), len(data))
    return out


def torn_payload(trial: int, n: int, size: int) -> dict[str, Any]:
    """Version ``n`` of trial ``trial`` of the torn-write file (about ``size`` bytes)."""
    unit = hashlib.sha256(f"{trial}:{n}".encode()).hexdigest()
    return {"trial": trial, "n": n, "blob": unit * (size // len(unit))}
