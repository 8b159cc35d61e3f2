"""Drive a real JupyterLab in a real headless Chromium from pytest (widget end-to-end tests).

Pieces:

* :class:`JupyterLab` starts ``python -m jupyter lab`` (``sys.executable``) on 127.0.0.1 with a
  random token, every Jupyter/IPython config, data, runtime, settings and workspace directory
  under a private temp dir (nothing from ``$HOME``), all network-y extras off (news,
  update checks, PyPI extension manager) and the app exposed as ``window.jupyterapp``.
* :func:`write_notebook` writes an nbformat 4 notebook of code cells (python3 kernel).
* :func:`drive` runs ``node tests/browser/driver.mjs`` (npm ``playwright-core`` driving Debian's
  ``/usr/bin/chromium``) over a notebook with a list of steps, and returns the named results.

``bash scripts/install_browser.sh`` installs Chromium and the node modules. Nothing here imports
pytest: a plain script can use it too::

    with JupyterLab(Path("/tmp/lab")) as lab:
        nb = write_notebook(lab.root / "demo.ipynb", ["import ipywidgets as w; w.Button()"])
        results = drive(lab, nb, [{"op": "run_all"}, {"op": "count", "selector": "button",
                                                      "name": "buttons"}])

Step ops (each a dict with "op"; documented in ``driver.mjs``): run_all {allow_errors?},
wait {selector, state?}, click, fill {text}, press {key}, select {value}, check, text {name},
texts {name}, count {name}, attr {attribute, name}, html_contains {text, name},
wait_text {selector, text}, eval {expression, name?}, screenshot {path, selector?}, save,
reload {save?}, theme {theme}, axe {selector, name}, viewport {width, height?},
ws_bytes {name, reset?}, contrast {selector, name}, keys {keys, name?, within?},
tab_until {selector, name?, key?, max?, within?}, wait_focus {selector},
download {selector, name, key?}.
Single-element ops act on the first match; every op takes ``timeout_ms`` (default 30 s).
``reload`` saves the notebook first unless ``"save": false`` (outputs, hence widget views, come
back from the saved file; widget models from the live kernel). No sleep op: wait on conditions.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import psutil

from tests.procs import free_port, log_tail, wait_for

if TYPE_CHECKING:  # annotation only: the module still imports on Python 3.10
    from typing import Self

__all__ = [
    "BROWSER_DIR",
    "CHROMIUM",
    "DRIVER",
    "INSTALL_SCRIPT",
    "BrowserNotInstalledError",
    "DriveResults",
    "JupyterLab",
    "check_browser_installed",
    "drive",
    "free_port",
    "wait_for",
    "write_notebook",
]

T = TypeVar("T")

BROWSER_DIR = Path(__file__).resolve().parent
DRIVER = BROWSER_DIR / "driver.mjs"
INSTALL_SCRIPT = BROWSER_DIR.parents[1] / "scripts" / "install_browser.sh"
CHROMIUM = Path(os.environ.get("SCQ_CHROMIUM", "/usr/bin/chromium"))

# JupyterLab user settings written into the private JUPYTERLAB_SETTINGS_DIR: no news/update
# prompt or toast (they can cover widgets), no autosave racing the tests, no kernel dialogs.
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False, "disclaimed": True},
}


class BrowserNotInstalledError(RuntimeError):
    """Chromium, node or the ``playwright-core`` node module is missing."""


def check_browser_installed() -> None:
    """Raise :class:`BrowserNotInstalledError` (with the install command) if anything is missing."""
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (Debian package chromium)")
    if shutil.which("node") is None:
        missing.append("node (Node.js >= 20)")
    for module in ("playwright-core", "axe-core"):
        if not (BROWSER_DIR / "node_modules" / module / "package.json").is_file():
            missing.append(f"{BROWSER_DIR / 'node_modules' / module} (npm ci)")
    if missing:
        raise BrowserNotInstalledError(
            "The browser test suite needs " + ", ".join(missing) + f". Run `bash {INSTALL_SCRIPT}`"
            " (as root, installs Debian's chromium and the pinned playwright-core) and try again."
        )


def _kill_tree(procs: Sequence[psutil.Process], timeout: float) -> None:
    """SIGTERM ``procs``, wait up to ``timeout``, SIGKILL the survivors and reap them."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=timeout)


class JupyterLab:
    """A JupyterLab server on 127.0.0.1 serving ``root``, with everything else private.

    ``root`` is the lab's root dir (notebooks live there, kernels start there); ``workdir``
    (default: a fresh temp dir, removed on :meth:`stop`) holds the config/runtime/settings dirs
    and ``lab.log``. The server and its kernels get a private ``HOME`` and no ambient
    ``JUPYTER*``/``IPYTHON*``/``SYFTBOX_*`` variables; ``env`` adds variables on top (e.g. what
    a notebook's kernel should see). ``extra_args`` go to ``jupyter lab``. Attributes once
    started: ``port``, ``token``, ``base_url`` (``http://127.0.0.1:<port>/``), ``url``
    (``base_url?token=...``, what :func:`drive` needs), ``log_path``, ``proc``.
    """

    def __init__(
        self,
        root: Path,
        *,
        workdir: Path | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self._own_workdir = workdir is None
        self.workdir = (
            Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="jl-"))
        )
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.log_path = self.workdir / "lab.log"
        self.token = secrets.token_hex(16)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._known: dict[int, psutil.Process] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def url(self) -> str:
        return f"{self.base_url}?token={self.token}"

    def environment(self) -> dict[str, str]:
        """The server's (and its kernels') environment: private HOME and Jupyter/IPython dirs."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("JUPYTER", "IPYTHON", "SYFTBOX_", "PYTEST_", "COV_"))
        }
        dirs = {
            "JUPYTER_CONFIG_DIR": "config",
            "JUPYTER_DATA_DIR": "data",
            "JUPYTER_RUNTIME_DIR": "runtime",
            "IPYTHONDIR": "ipython",
            "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
            "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
            "HOME": "home",
        }
        for name, sub in dirs.items():
            path = self.workdir / sub
            path.mkdir(parents=True, exist_ok=True)
            env[name] = str(path)
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        env.update(self.extra_env)
        return env

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.disable_check_xsrf=False",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            "--LabApp.expose_app_in_browser=True",
            # Jupyter refuses to run as root without it (CI containers run as root).
            *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []),
            *self.extra_args,
        ]

    def _write_settings(self, settings_dir: Path) -> None:
        for name, values in LAB_SETTINGS.items():
            path = settings_dir / f"{name}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values, indent=2))

    def start(self) -> Self:
        """Start the server and wait until ``/api/status`` answers 200."""
        if self.proc is not None:
            raise RuntimeError("JupyterLab already started")
        self.root.mkdir(parents=True, exist_ok=True)
        env = self.environment()
        self._write_settings(Path(env["JUPYTERLAB_SETTINGS_DIR"]))
        for attempt in range(3):
            self.port = free_port()
            with self.log_path.open("ab") as log:
                log.write(f"--- start attempt {attempt + 1}, port {self.port}\n".encode())
                log.flush()
                self.proc = subprocess.Popen(
                    self.command(),
                    cwd=self.root,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                self._wait_ready()
            except _PortTakenError:
                self.proc.wait()
                self.proc = None
                continue
            except BaseException:
                self.stop()
                raise
            return self
        raise RuntimeError(f"JupyterLab found no free port\n{log_tail(self.log_path)}")

    def _wait_ready(self) -> None:
        assert self.proc is not None
        proc = self.proc
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = proc.poll()
            if code is not None:
                tail = log_tail(self.log_path)
                if "already in use" in tail:
                    raise _PortTakenError
                raise RuntimeError(f"JupyterLab exited with code {code} while starting:\n{tail}")
            with contextlib.suppress(OSError):
                status, _ = self.request("GET", "api/status", timeout=2)
                if status == 200:
                    self._remember_children()
                    return
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"JupyterLab did not answer /api/status within {self.startup_timeout:.0f}s:\n"
                    f"{log_tail(self.log_path)}"
                )
            time.sleep(0.1)

    def _remember_children(self) -> None:
        """Note the server's descendants (kernels run in their own sessions) to reap them later."""
        if self.proc is None:
            return
        with contextlib.suppress(psutil.Error):
            server = psutil.Process(self.proc.pid)
            self._known.setdefault(server.pid, server)
            for child in server.children(recursive=True):
                self._known.setdefault(child.pid, child)

    def pids(self) -> set[int]:
        """The live pids of the server and everything it started (kernels included)."""
        self._remember_children()
        return {pid for pid, proc in self._known.items() if _alive(proc)}

    def stop(self) -> None:
        """Shut kernels down, SIGTERM the server (SIGKILL after ``stop_timeout``), reap all."""
        proc = self.proc
        if proc is not None:
            self._remember_children()
            if proc.poll() is None:
                with contextlib.suppress(OSError, RuntimeError):
                    self.shutdown_kernels()
                self._remember_children()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=self.stop_timeout)
            self.proc = None
        leftovers = [p for p in self._known.values() if _alive(p)]
        _kill_tree(leftovers, timeout=self.stop_timeout)
        self._known.clear()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- REST API ------------------------------------------------------------------------------

    def request(
        self, method: str, path: str, body: Any = None, timeout: float = 10.0
    ) -> tuple[int, Any]:
        """One REST call (``path`` relative to the base URL); returns (status, decoded JSON)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Authorization": f"token {self.token}"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, "/" + path.lstrip("/"), body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = raw.decode(errors="replace")
        return response.status, decoded

    def kernels(self) -> list[dict[str, Any]]:
        status, data = self.request("GET", "api/kernels")
        if status != 200:
            raise RuntimeError(f"GET /api/kernels answered {status}: {data!r}")
        return list(data)

    def shutdown_kernels(self) -> None:
        """Shut down every kernel (and its session) through the REST API."""
        self._remember_children()
        status, sessions = self.request("GET", "api/sessions")
        if status == 200:
            for session in sessions:
                self.request("DELETE", f"api/sessions/{session['id']}", timeout=30)
        for kernel in self.kernels():
            self.request("DELETE", f"api/kernels/{kernel['id']}", timeout=30)

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)


class _PortTakenError(Exception):
    pass


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def write_notebook(path: Path, cells: Sequence[str]) -> Path:
    """Write an nbformat 4 notebook of code ``cells`` with the python3 kernelspec; return path."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


class DriveResults(dict[str, Any]):
    """The named results of :func:`drive` (a dict), plus what the browser reported.

    ``console``: console errors and uncaught page errors; ``dialogs``: alert/confirm/prompt
    dialogs (type, message), dismissed; ``blocked``: aborted requests to other origins.
    """

    def __init__(
        self,
        results: dict[str, Any],
        *,
        console: list[str],
        dialogs: list[dict[str, str]],
        blocked: list[str],
    ) -> None:
        super().__init__(results)
        self.console = console
        self.dialogs = dialogs
        self.blocked = blocked


def drive(
    lab: JupyterLab,
    notebook: Path | str,
    steps: Sequence[dict[str, Any]],
    timeout_s: float = 120.0,
    *,
    screenshot_dir: Path | None = None,
) -> DriveResults:
    """Open ``notebook`` in ``lab`` in headless Chromium, run ``steps``; return the results.

    ``notebook`` is a path under ``lab.root`` (absolute or relative to it). On failure raise
    ``AssertionError`` with the failed step, the driver's error, the browser console errors and
    the path of a full-page screenshot (under ``screenshot_dir``, default a temp dir).
    """
    check_browser_installed()
    nb_path = Path(notebook)
    if nb_path.is_absolute():
        nb_path = nb_path.resolve().relative_to(lab.root)
    if screenshot_dir is None:
        screenshot_dir = Path(tempfile.gettempdir()) / "scq-browser-screenshots"
    screenshot_dir.mkdir(parents=True, exist_ok=True)
    shot = screenshot_dir / f"{nb_path.stem}-{secrets.token_hex(4)}.png"
    plan = {
        "url": lab.url,
        "notebook": nb_path.as_posix(),
        "steps": list(steps),
        "screenshot_on_failure": str(shot),
        "timeout_ms": int(timeout_s * 1000),
    }
    stdout, stderr, code = _run_node(json.dumps(plan), timeout=timeout_s + 30)
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    try:
        outcome = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise AssertionError(
            f"browser driver exited with code {code} without a result\n"
            f"stdout:\n{stdout[-3000:]}\nstderr:\n{stderr[-3000:]}\n"
            f"JupyterLab log:\n{lab.log_tail(20)}"
        ) from None
    if not outcome.get("ok") or code != 0:
        console = "\n".join(f"  {line}" for line in outcome.get("console", [])) or "  (none)"
        step = outcome.get("step")
        where = "opening the notebook" if step == -1 else f"step {step} {outcome.get('op')!r}"
        raise AssertionError(
            f"browser {where} failed: {outcome.get('error')}\n"
            f"results so far: {json.dumps(outcome.get('results', {}))}\n"
            f"browser console errors:\n{console}\n"
            f"dialogs: {outcome.get('dialogs', [])}\n"
            f"blocked requests: {outcome.get('blocked', [])}\n"
            f"screenshot: {outcome.get('screenshot') or '(none)'}\n"
            f"driver stderr:\n{stderr[-2000:]}\n"
            f"JupyterLab log:\n{lab.log_tail(20)}"
        )
    return DriveResults(
        outcome.get("results", {}),
        console=outcome.get("console", []),
        dialogs=outcome.get("dialogs", []),
        blocked=outcome.get("blocked", []),
    )


def _run_node(plan: str, timeout: float) -> tuple[str, str, int]:
    """Run the driver in its own session; on timeout end it and every browser it started."""
    with subprocess.Popen(
        ["node", str(DRIVER)],
        cwd=BROWSER_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(plan.encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            tree = [psutil.Process(proc.pid)]
            with contextlib.suppress(psutil.Error):
                tree += psutil.Process(proc.pid).children(recursive=True)
            _kill_tree(tree, timeout=5)
            out, err = proc.communicate()
            raise AssertionError(
                f"browser driver did not finish within {timeout:.0f}s\n"
                f"stdout:\n{out.decode(errors='replace')[-3000:]}\n"
                f"stderr:\n{err.decode(errors='replace')[-3000:]}"
            ) from None
        return out.decode(errors="replace"), err.decode(errors="replace"), proc.returncode
