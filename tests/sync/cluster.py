"""A real SyftBox sync cluster (one server, several clients) on 127.0.0.1, for tests.

The Python SyftBox (``syftbox==0.4.0``) lives in its own virtualenv because it pins exact
versions of its dependencies; ``scripts/install_syftbox.sh`` creates it. Its location is
``$SCQ_SYFTBOX_VENV`` (default ``.venv-syftbox`` in the checkout).

Layout of a cluster's temporary directory::

    <root>/
    ├── logs/server.log, logs/<email>.log      stdout+stderr of each process (appended on restart)
    ├── server/                                SYFTBOX_DATA_FOLDER of the server
    │   └── snapshot/<email>/...               what the server holds, per datasite
    └── clients/<email>/
        ├── home/                              HOME of that client (one "machine" per person)
        │   └── .syftbox/config.json           the client's config (-c)
        └── SyftBox/                           the client's data_dir (-d)
            └── datasites/<email>/...          every datasite this client can see

Nothing here imports pytest: the module can be used from a plain script too::

    with SyftBoxCluster() as cluster:
        cluster.start(["ds@example.com", "do@example.com"])
        ds, do = cluster["ds@example.com"], cluster["do@example.com"]
        ...
        wait_for(lambda: target.is_file(), timeout=30, message="file to sync")
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from tests.procs import free_port, log_tail, wait_for

if TYPE_CHECKING:  # annotation only: the module still imports on Python 3.10
    from typing import Self

__all__ = [
    "DEFAULT_SYFTBOX_VENV",
    "INSTALL_SCRIPT",
    "ClusterClient",
    "ManagedProcess",
    "SyftBoxCluster",
    "SyftBoxNotInstalledError",
    "check_syftbox_venv",
    "free_port",
    "log_tail",
    "syftbox_venv",
    "wait_for",
]

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SYFTBOX_VENV = ROOT / ".venv-syftbox"
VENV_ENV_VAR = "SCQ_SYFTBOX_VENV"
KEEP_ENV_VAR = "SCQ_SYFTBOX_KEEP"
INSTALL_SCRIPT = ROOT / "scripts" / "install_syftbox.sh"

# A barrier sentinel is larger than any small test file, so that SyftBox's sync queue (ordered by
# file size, smallest first; permission files before everything) handles it after them.
SENTINEL_SIZE = 64 * 1024


class SyftBoxNotInstalledError(RuntimeError):
    """The SyftBox virtualenv is missing or incomplete."""


def syftbox_venv() -> Path:
    """The SyftBox virtualenv: ``$SCQ_SYFTBOX_VENV`` or ``.venv-syftbox`` in the checkout."""
    return Path(os.environ.get(VENV_ENV_VAR) or DEFAULT_SYFTBOX_VENV)


def check_syftbox_venv(venv: Path | None = None) -> Path:
    """Return the venv path, or raise :class:`SyftBoxNotInstalledError` with install hints."""
    venv = venv if venv is not None else syftbox_venv()
    missing = [name for name in ("uvicorn", "syftbox") if not (venv / "bin" / name).is_file()]
    if missing:
        raise SyftBoxNotInstalledError(
            f"SyftBox is not installed in {venv} (missing bin/{', bin/'.join(missing)}). "
            f"Run `bash {INSTALL_SCRIPT}` (honours ${VENV_ENV_VAR}) and try again."
        )
    return venv


def _http_ok(port: int, path: str, expect: str = "", timeout: float = 1.0) -> bool:
    """True when ``GET http://127.0.0.1:<port><path>`` answers 2xx (with ``expect`` in the body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        # the syftbox server answers 500 to a request without a User-Agent header
        conn.request("GET", path, headers={"User-Agent": "scq-test-harness"})
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
        return 200 <= response.status < 300 and expect in body
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _clean_environ(extra: Mapping[str, str]) -> dict[str, str]:
    """os.environ without inherited SYFTBOX_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYFTBOX_")}
    env.update(extra)
    return env


class ManagedProcess:
    """A child process in its own session (process group), logging to a file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None
        self._stopped = False

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def is_running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> None:
        if self.is_running():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"\n===== {stamp} start {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self._stopped = False
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the whole process group, SIGKILL it after ``timeout``; return the exit code."""
        if self.popen is None:
            return None
        popen = self.popen
        if self._stopped:  # never signal a process group id that may have been reused since
            return popen.returncode
        self._stopped = True
        pgid = popen.pid  # start_new_session=True: the child leads its own group
        if popen.poll() is None:
            _killpg(pgid, signal.SIGTERM)
            try:
                popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _killpg(pgid, signal.SIGKILL)
                popen.wait(timeout=10)
        # the leader may be gone while stragglers of its group linger
        _killpg(pgid, signal.SIGKILL)
        return popen.returncode

    def tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def wait_ready(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``check`` until true; fail early (with the log tail) if the process dies."""

        def ready() -> bool:
            if self.popen is not None and self.popen.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.popen.returncode} before {what}; "
                    f"log {self.log_path}:\n{self.tail()}"
                )
            return check()

        wait_for(
            ready,
            timeout=timeout,
            interval=0.1,
            message=lambda: f"{self.name}: {what}; log {self.log_path}:\n{self.tail()}",
        )


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class ClusterClient:
    """One person's SyftBox client (their own HOME, data_dir, config and port)."""

    def __init__(self, cluster: SyftBoxCluster, email: str) -> None:
        self.cluster = cluster
        self.email = email
        self.root = cluster.root / "clients" / email
        self.home = self.root / "home"
        # NB: must differ from $HOME/SyftBox, or `syftbox client` prompts for a folder.
        self.data_dir = self.root / "SyftBox"
        self.config_path = self.home / ".syftbox" / "config.json"
        self.port = 0
        self.process: ManagedProcess | None = None

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"ClusterClient({self.email!r}, port={self.port}, {state})"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def datasites(self) -> Path:
        """``<data_dir>/datasites``: every datasite this client syncs."""
        return self.data_dir / "datasites"

    @property
    def my_datasite(self) -> Path:
        return self.datasite(self.email)

    @property
    def log_path(self) -> Path:
        return self.cluster.logs_dir / f"{self.email}.log"

    def datasite(self, email: str) -> Path:
        """``<data_dir>/datasites/<email>`` as seen on this client's machine."""
        return self.datasites / email

    def config(self) -> dict[str, Any]:
        """The client's config.json, parsed."""
        data: dict[str, Any] = json.loads(self.config_path.read_text())
        return data

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for a process acting as this person.

        ``base`` (default: ``os.environ``) minus inherited ``SYFTBOX_*`` variables, plus
        ``SYFTBOX_CLIENT_CONFIG_PATH`` = this client's config.json and ``HOME`` = its home.
        """
        env = {
            k: v
            for k, v in (os.environ if base is None else base).items()
            if not k.startswith("SYFTBOX_")
        }
        env["SYFTBOX_CLIENT_CONFIG_PATH"] = str(self.config_path)
        env["HOME"] = str(self.home)
        return env

    def is_running(self) -> bool:
        return self.process is not None and self.process.is_running()

    def start(self, timeout: float | None = None) -> None:
        if self.is_running():
            raise RuntimeError(f"client {self.email} is already running")
        cluster = self.cluster
        if cluster.server_port == 0:
            raise RuntimeError("the cluster's server is not running")
        if (
            self.data_dir.is_dir()
            and any(self.data_dir.iterdir())
            and not (self.data_dir / ".metadata.json").is_file()
        ):
            # syftbox would ask "Found old SyftBox folder ... [y/n]" and abort on our /dev/null
            raise RuntimeError(
                f"{self.data_dir} has content but no .metadata.json: start the client once "
                "before writing into its SyftBox folder"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        attempts = 3
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            argv = [
                str(cluster.venv / "bin" / "syftbox"),
                "client",
                "-e",
                self.email,
                "-d",
                str(self.data_dir),
                "-c",
                str(self.config_path),
                "-s",
                cluster.server_url,
                "-p",
                str(self.port),
                "--no-open-dir",
            ]
            env = _clean_environ({"HOME": str(self.home), "SYFTBOX_DISABLE_ICONS": "true"})
            self.process = ManagedProcess(
                f"client {self.email}", argv, env, cwd=self.root, log_path=self.log_path
            )
            self.process.start()
            try:
                self.process.wait_ready(
                    lambda: _http_ok(self.port, "/", expect="SyftBox"),
                    timeout=cluster.ready_timeout if timeout is None else timeout,
                    what=f"GET {self.url}/ answers",
                )
                return
            except RuntimeError:
                # lost a race for the port between free_port() and the client's bind: retry
                if attempt < attempts and "already in use" in self.process.tail():
                    self.process.stop()
                    continue
                self.process.stop()
                raise
            except TimeoutError:
                self.process.stop()
                raise

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.process is None:
            return None
        return self.process.stop(timeout=timeout)

    def restart(self, timeout: float | None = None) -> None:
        self.stop()
        self.start(timeout=timeout)


class SyftBoxCluster:
    """A SyftBox server plus one client per email, all on 127.0.0.1, in a temp dir.

    ``start(emails)`` blocks until the server answers ``GET /info`` and every client answers
    ``GET /`` on its port. ``stop()`` terminates everything (SIGTERM, then SIGKILL) and removes the
    temp dir unless ``keep=True`` or ``$SCQ_SYFTBOX_KEEP`` is set (its path is then printed).
    """

    def __init__(
        self,
        venv: Path | None = None,
        root: Path | None = None,
        *,
        ready_timeout: float = 60.0,
        keep: bool | None = None,
    ) -> None:
        self.venv = check_syftbox_venv(venv)
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="scq-syftbox-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True)
        self.logs_dir = self.root / "logs"
        self.server_dir = self.root / "server"
        self.ready_timeout = ready_timeout
        self.keep = bool(os.environ.get(KEEP_ENV_VAR)) if keep is None else keep
        self.server_port = 0
        self.server: ManagedProcess | None = None
        self.clients: dict[str, ClusterClient] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def server_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    @property
    def snapshot_dir(self) -> Path:
        """Where the server keeps the files: ``<server data>/snapshot/<email>/...``."""
        return self.server_dir / "snapshot"

    def start(self, emails: Iterable[str]) -> SyftBoxCluster:
        try:
            self.start_server()
            for email in emails:
                self.add_client(email)
        except BaseException:
            self.stop()
            raise
        return self

    def start_server(self) -> None:
        if self.server is not None and self.server.is_running():
            raise RuntimeError("server already running")
        self.server_dir.mkdir(parents=True, exist_ok=True)
        self.server_port = free_port()
        argv = [
            str(self.venv / "bin" / "uvicorn"),
            "syftbox.server.server:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.server_port),
        ]
        env = _clean_environ(
            {"SYFTBOX_DATA_FOLDER": str(self.server_dir), "SYFTBOX_OTEL_ENABLED": "false"}
        )
        # cwd = server dir: ServerSettings also reads ./server.env, which must not leak in
        self.server = ManagedProcess(
            "server", argv, env, cwd=self.server_dir, log_path=self.logs_dir / "server.log"
        )
        self.server.start()
        self.server.wait_ready(
            lambda: _http_ok(self.server_port, "/info", expect="version"),
            timeout=self.ready_timeout,
            what=f"GET {self.server_url}/info answers",
        )

    def add_client(self, email: str) -> ClusterClient:
        if email in self.clients:
            raise ValueError(f"client {email} already exists")
        client = ClusterClient(self, email)
        self.clients[email] = client
        client.start()
        return client

    def stop(self) -> None:
        """Stop every client, then the server; remove the temp dir unless kept. Idempotent."""
        errors: list[BaseException] = []
        for client in self.clients.values():
            try:
                client.stop()
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                errors.append(exc)  # keep stopping the rest
        if self.server is not None:
            try:
                self.server.stop()
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                errors.append(exc)
        if self.keep:
            print(f"[syftbox cluster] kept {self.root}")
        elif self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
        if errors:
            raise errors[0]

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- clients ---------------------------------------------------------------------------------

    def __getitem__(self, email: str) -> ClusterClient:
        return self.clients[email]

    def client(self, email: str) -> ClusterClient:
        return self.clients[email]

    def stop_client(self, email: str) -> None:
        self.clients[email].stop()

    def start_client(self, email: str) -> None:
        self.clients[email].start()

    def restart_client(self, email: str) -> None:
        self.clients[email].restart()

    # -- helpers for tests -----------------------------------------------------------------------

    def on_server(self, relpath: str | Path) -> Path:
        """The server's copy of ``<email>/...`` (a path relative to ``datasites/``)."""
        return self.snapshot_dir / relpath

    def logs(self, lines: int = 40) -> str:
        """Tails of every log, for failure messages."""
        parts = []
        if self.server is not None:
            parts.append(f"--- server ({self.server.log_path})\n{self.server.tail(lines)}")
        for client in self.clients.values():
            tail = log_tail(client.log_path, lines)
            parts.append(f"--- {client.email} ({client.log_path})\n{tail}")
        return "\n".join(parts)

    def wait_for_file(
        self,
        path: Path,
        content: bytes | None = None,
        timeout: float = 30.0,
    ) -> Path:
        """Wait until ``path`` is a file (with exactly ``content``, if given)."""

        def arrived() -> bool:
            if not path.is_file():
                return False
            return content is None or path.read_bytes() == content

        wait_for(arrived, timeout=timeout, message=lambda: f"{path} to arrive\n{self.logs(15)}")
        return path

    def barrier(self, writer: str, readers: Iterable[str], timeout: float = 30.0) -> None:
        """Make sure that whatever ``writer`` wrote before this call has finished syncing.

        Writes a sentinel larger than the test files into the writer's ``public/`` folder
        (readable by everyone) and waits until it arrives on every reader. SyftBox handles its
        sync queue smallest file first, on the uploading and on the downloading side, so when
        the sentinel is there any smaller file written before it that the reader may see is
        there too. Use it before asserting that something did NOT sync (instead of sleeping).
        Caveat: a reader's first sync after (re)start downloads in bulk, in no defined order.
        """
        source = self.clients[writer]
        name = f"barrier-{uuid.uuid4().hex}.txt"
        payload = (name + "\n").encode().ljust(SENTINEL_SIZE, b"#")
        relative = Path(writer) / "public" / "_barriers" / name
        target = source.datasites / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload)
        for email in readers:
            self.wait_for_file(self.clients[email].datasites / relative, payload, timeout)
