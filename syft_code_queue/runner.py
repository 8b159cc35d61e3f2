"""SafeCodeRunner: runs one approved snapshot as real processes, in a sandbox, under limits.

Execution follows a template: provision (install the approved ``requirements.txt`` into a
cached environment, in the background: :mod:`syft_code_queue.provision`) -> stage (copy the
approved snapshot to a fresh folder and re-hash it) -> start (``bash run.sh`` behind
rlimits, the run's own cgroups (:mod:`syft_code_queue.limits`) and its sandbox
(:mod:`syft_code_queue.sandbox`), clean environment, stdin from /dev/null, a new session)
-> check (wall time, log size, memory and process count over the tree, outputs) -> finish
(kill whatever is left of the tree, collect capped logs and regular-file outputs, and keep
the run folder for the next run where nothing of the job can be left:
:mod:`syft_code_queue.runfolder`).

The job's first process is a small shell that sets the rlimits and joins the run's cgroups
before it runs anything else. Where cgroups can be renamed (v1), such processes are made
ahead of time (:class:`_LaunchPool`): joining a cgroup waits for the kernel, and a run then
only renames a ready process's cgroups to its run id and hands it the launch script.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psutil

from syft_code_queue import limits, provision, runfolder, sandbox
from syft_code_queue.fsio import copy_hashed, new_temp_dir, publish_dir, remove_tree, walk_files
from syft_code_queue.guarantees import report as guarantee_report
from syft_code_queue.manifest import ENTRYPOINT, MAX_SYNC_FILE_BYTES, code_hash
from syft_code_queue.models import FailureReason, FileEntry, Guarantees, QueueConfig

log = logging.getLogger("syft_code_queue.runner")

RUN_ID_ENV = "SCQ_RUN_ID"
# The job's first process: it sets its rlimits (shell builtins: no extra program to start),
# moves itself into the run's cgroups (one write per hierarchy), then execs the sandbox, so
# every process of the job is born limited and inside its cgroups.
_LIMIT_AND_JOIN = (
    'ulimit -c 0 && ulimit -n 1024 && ulimit -f "$1" && ulimit -t "$2" || exit 125; shift 2; '
    'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; '
)
_LAUNCH_SCRIPT = _LIMIT_AND_JOIN + 'exec "$@"'
# The same first process made ahead of time (see _LaunchPool): limited and inside the
# cgroups its run will have (it says so on stdout), it waits on stdin for the path of the
# launch script the runner writes when a run takes it (_launch_script), and runs it in
# place; EOF (the server is gone) ends it.
_POOLED_SCRIPT = _LIMIT_AND_JOIN + 'echo joined; IFS= read -r script || exit 125; . "$script"'
_LAUNCHER = "/bin/sh"
_COPY_FDS = range(3, 10)  # the descriptors a launch script can open (sh takes one digit)
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_PIP_SHIM = """#!/bin/sh
case "$1" in
  install|uninstall)
    echo "pip $1: refused: a job cannot change the owner's Python environment; list the" \\
      "packages it needs in requirements.txt, which is installed before the run" >&2
    exit 1 ;;
esac
exec "{exe}" -m pip "$@"
"""
_OUTPUT_CHECK_EVERY = 1.0  # seconds between two looks at a running job's output folder
_UNSHARE = shutil.which("unshare")
_PID_NAMESPACE_ARGS = ("--pid", "--fork", "--kill-child")


@functools.cache
def pid_namespace_prefix() -> tuple[str, ...]:
    """The argv prefix that runs a job as PID 1 of its own PID namespace, if allowed here.

    When PID 1 of a namespace ends, the kernel kills every process left in it, so no
    descendant of a job (setsid, double fork, scrubbed environment) can outlive it.
    Tried as root first, then in a user namespace; empty if neither works.
    """
    if _UNSHARE is None:
        return ()
    for extra in ((), ("--user", "--map-root-user")):
        argv = (_UNSHARE, *extra, *_PID_NAMESPACE_ARGS)
        try:
            probe = subprocess.run([*argv, "true"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return argv
    log.warning("no PID namespace available: job processes are tracked by group and run id only")
    return ()


class StagingError(Exception):
    """The approved code could not be staged exactly as approved."""


@dataclass(frozen=True)
class RunSpec:
    """Everything the runner needs to run one approved job."""

    uid: str
    name: str
    requester: str
    run_id: str
    snapshot: Path
    files: Sequence[FileEntry]
    approved_hash: str
    run_root: Path


@dataclass
class RunResult:
    """How a run ended."""

    exit_code: int | None
    failure_reason: FailureReason | None
    error_message: str | None
    stdout: bytes
    stderr: bytes
    outputs: tuple[FileEntry, ...] = ()
    notes: list[str] = field(default_factory=list)


@dataclass
class RunHandle:
    """A started job: its process and where it writes."""

    spec: RunSpec
    proc: subprocess.Popen[bytes]
    started_at: datetime
    pid_started: float
    stdout_path: Path
    stderr_path: Path
    output_dir: Path
    group: limits.RunGroup = field(default_factory=lambda: limits.RunGroup({}, {}))
    kill_reason: tuple[FailureReason, str] | None = None
    next_output_check: float = 0.0
    packages: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)  # its env, held

    @property
    def pid(self) -> int:
        return self.proc.pid


def _shim_dir(root: Path) -> Path:
    """A bin folder whose ``python`` is the server's own interpreter and whose ``pip``
    never changes it (a job's packages come from its ``requirements.txt``)."""
    shims = root / "bin"
    if not (shims / "pip").exists() or "refused" not in (shims / "pip").read_text():
        shims.mkdir(parents=True, exist_ok=True)
        exe = sys.executable
        scripts = {
            "python": f'#!/bin/sh\nexec "{exe}" "$@"\n',
            "python3": f'#!/bin/sh\nexec "{exe}" "$@"\n',
            "pip": _PIP_SHIM.format(exe=exe),
            "pip3": _PIP_SHIM.format(exe=exe),
        }
        for name, text in scripts.items():
            tmp = shims / f".{name}.tmp"
            tmp.write_text(text)
            tmp.chmod(0o755)
            tmp.replace(shims / name)
    return shims


def kill_run(run_id: str, pgid: int | None = None) -> int:
    """Kill every process of a run: its process group and anything carrying its run id.

    Killing the group ends the job's PID namespace (see :func:`pid_namespace_prefix`),
    which takes every descendant with it. Where no namespace is available, processes
    that left the group are found by the run id in their environment.
    Returns how many processes were signalled.
    """
    killed = 0
    if pgid is not None:
        # First the top of the tree: its PID namespace ends at once, and no parent is left
        # to go on running its script when its children die first.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
            killed += 1
    limits.remove_run(run_id)  # kills whatever is left in the run's cgroups, if it has any
    if pgid is not None and pid_namespace_prefix():
        return killed  # the namespace took every descendant with it
    for proc in _processes_of(run_id):
        with contextlib.suppress(psutil.Error):
            proc.kill()
            killed += 1
    return killed


def _processes_of(run_id: str) -> list[psutil.Process]:
    """The processes carrying this run id in their environment."""
    marker = f"{RUN_ID_ENV}={run_id}".encode()
    me = os.getpid()
    found = []
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            with open(f"/proc/{proc.pid}/environ", "rb") as f:  # noqa: PTH123
                if marker in f.read().split(b"\0"):
                    found.append(proc)
        except OSError:
            continue
    return found


def wait_gone(run_id: str, timeout: float = 5.0) -> bool:
    """Wait until no process of the run is left (killed processes take a moment to exit,
    longer when they hold much memory); kill stragglers again. ``False`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        left = _processes_of(run_id)
        if not left:
            return True
        if time.monotonic() > deadline:
            log.warning("run %s: %d processes still alive after the kill", run_id, len(left))
            return False
        for proc in left:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        time.sleep(0.01)


class SafeCodeRunner:
    """Stages and starts approved jobs and turns their processes into results."""

    def __init__(self, config: QueueConfig, private_dir: Path) -> None:
        self.config = config
        self.private_dir = private_dir
        self._provisioning: dict[Path, _Build] = {}
        self._provisioning_lock = threading.Lock()
        self._launchers: _LaunchPool | None = None
        self._folders = runfolder.RunFolders(keep=config.max_concurrent_jobs + 1)

    def close(self) -> None:
        """End the job processes made ahead of time (a later start makes new ones)."""
        pool, self._launchers = self._launchers, None
        if pool is not None:
            pool.close()

    def _pool(self) -> _LaunchPool | None:
        """The job processes made ahead of time, where cgroups can be renamed (v1)."""
        if self._launchers is None and limits.renamable():
            cfg = self.config
            self._launchers = _LaunchPool(
                self._limit_args(),
                cfg.max_memory_bytes,
                cfg.max_processes,
                size=max(1, min(cfg.max_concurrent_jobs, 4)),
            )
            weakref.finalize(self, self._launchers.close)
        return self._launchers

    def _limit_args(self) -> list[str]:
        """The launch shell's first arguments: RLIMIT_FSIZE (in its 512-byte blocks) and
        RLIMIT_CPU (per process)."""
        fsize = max(self.config.max_log_bytes, self.config.max_output_bytes) + 1
        return [str(math.ceil(fsize / 512)), str(math.ceil(self.cpu_seconds))]

    # Template steps

    def stage(self, spec: RunSpec) -> Path:
        """Copy the approved files into a fresh ``job/`` folder and check they are what was
        approved.

        Raises:
            StagingError: a file is missing or differs, or the set differs from the approval.
        """
        if code_hash(spec.files) != spec.approved_hash:
            raise StagingError("the job's manifest does not match the approved code hash")
        self._folders.make(spec.run_root)
        job_dir = spec.run_root / "job"
        for entry in spec.files:
            try:
                digest, size = copy_hashed(
                    spec.snapshot / entry.path, job_dir / entry.path, max_bytes=entry.size
                )
            except OSError as exc:
                raise StagingError(f"'{entry.path}' cannot be staged: {exc}") from exc
            if (digest, size) != (entry.sha256, entry.size):
                raise StagingError(f"'{entry.path}' differs from the approved code")
        return job_dir

    def packages(self, spec: RunSpec) -> Path | None:
        """The provisioned environment of the staged job's ``requirements.txt``, if any."""
        staged = spec.run_root / "job" / provision.REQUIREMENTS
        wanted = staged.read_bytes() if staged.is_file() else None
        return provision.env_path(self.private_dir, wanted, self.config)

    def provision(self, spec: RunSpec, on_done: Callable[[], None] | None = None) -> bool:
        """Whether the job's ``requirements.txt`` is installed (or it has none); if not, its
        installation is started in the background (cached: once per file and interpreter)
        and ``on_done`` is called when it ends: ask again then.

        Raises:
            ProvisioningError: pip could not install them; the message says why.
            SandboxUnavailableError: isolation is required and cannot be had here.
        """
        requirements = _approved_requirements(spec)
        env = provision.env_path(self.private_dir, requirements, self.config)
        if env is None or requirements is None:
            return True
        if provision.is_ready(env):
            provision.touch(env)
            return True
        with self._provisioning_lock:
            build = self._provisioning.get(env)
            if build is None:
                backend = self.backend()
                build = _Build()

                def run(build: _Build = build, env: Path = env, data: bytes = requirements) -> None:
                    try:
                        provision.ensure(env, data, self.config, backend)
                    except Exception as exc:  # handed to the next call of provision()
                        build.error = exc
                    build.done.set()
                    if on_done is not None:
                        on_done()

                self._provisioning[env] = build
                threading.Thread(target=run, name="scq-provision", daemon=True).start()
            if not build.done.is_set():
                return False
            del self._provisioning[env]
        if build.error is not None:
            raise build.error
        return True

    def environment(self, spec: RunSpec) -> dict[str, str]:
        shims = _shim_dir(self.private_dir)
        packages = self.packages(spec)
        first = [] if packages is None else [str(packages / "bin")]
        rest = [str(shims), str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]
        path = os.pathsep.join([*first, *rest])
        env = {
            "PATH": path,
            "HOME": str(spec.run_root / "home"),
            "TMPDIR": str(spec.run_root / "tmp"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "OUTPUT_DIR": str(spec.run_root / "output"),
            "JOB_DIR": str(spec.run_root / "job"),
            "JOB_ID": spec.uid,
            "JOB_NAME": spec.name,
            "REQUESTER_EMAIL": spec.requester,
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            RUN_ID_ENV: spec.run_id,
        }
        if self.config.job_data_dir is not None:
            env["DATA_DIR"] = str(Path(self.config.job_data_dir).resolve())
        return env

    def backend(self) -> sandbox.Backend | None:
        """The sandbox jobs run in now (see :mod:`syft_code_queue.sandbox`), ``None`` if none.

        Raises:
            SandboxUnavailableError: isolation is required and cannot be had here.
        """
        return sandbox.backend(self.config.isolation, self.config.sandbox)

    @property
    def isolated(self) -> bool:
        """Whether jobs run in a sandbox.

        Raises:
            SandboxUnavailableError: isolation is required and cannot be had here.
        """
        return self.backend() is not None

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds each job process may use: configured, or the timeout on every core
        (a job using all cores for the whole timeout must not be stopped early)."""
        if self.config.max_cpu_seconds is not None:
            return self.config.max_cpu_seconds
        return float(math.ceil(self.config.job_timeout * (os.cpu_count() or 1)) + 1)

    def guarantees(self) -> Guarantees:
        """What a job run now is held to, each with its mechanism or ``NOT ENFORCED``."""
        try:
            backend = self.backend()
        except sandbox.SandboxUnavailableError:
            backend = None
        return guarantee_report(
            self.config,
            backend=backend,
            pid_namespace=bool(pid_namespace_prefix()),
            rlimits=True,
            cgroups=limits.mechanisms(),
            cpu_seconds=self.cpu_seconds,
        )

    def command(
        self,
        spec: RunSpec,
        group: limits.RunGroup | None = None,
        copies: Mapping[str, int] | None = None,
    ) -> list[str]:
        """The argv that runs a job: a shell that sets its rlimits and joins its cgroups,
        then execs its sandbox (or at least its own PID namespace), then ``bash run.sh``.

        ``copies``: files opened by :func:`sandbox.open_copies`, whose descriptors the
        process gets (``pass_fds``).
        """
        backend = self.backend()
        joins = group.join_files() if group is not None else []
        return [
            _LAUNCHER,
            "-c",
            _LAUNCH_SCRIPT,
            "scq-launch",
            *self._limit_args(),
            str(len(joins)),
            *map(str, joins),
            *self._job_argv(spec, backend, copies),
        ]

    def _job_argv(
        self, spec: RunSpec, backend: sandbox.Backend | None, copies: Mapping[str, int] | None
    ) -> list[str]:
        """The sandbox (or at least its own PID namespace), then ``bash run.sh``."""
        cfg = self.config
        if backend is not None:
            root = spec.run_root
            readable = [_shim_dir(self.private_dir)]
            packages = self.packages(spec)
            if packages is not None:
                readable.append(packages)
            if cfg.job_data_dir is not None:
                readable.append(Path(cfg.job_data_dir).resolve())
            prefix = backend.prefix(
                sandbox.Mounts(
                    writable=[root / "job", root / "home", root / "tmp", root / "output"],
                    readable=readable,
                    workdir=root / "job",
                    copies=copies or {},
                )
            )
            if backend.name != "bubblewrap":  # it makes its own PID namespace
                prefix = [*pid_namespace_prefix(), *prefix]
        else:
            prefix = list(pid_namespace_prefix())
        return [*prefix, "bash", ENTRYPOINT]

    def start(
        self, spec: RunSpec, job_dir: Path, started_at: datetime, on_exit: Callable[[], None]
    ) -> RunHandle:
        """Start the staged job; ``on_exit`` is called from a thread when its process ends."""
        packages = provision.hold(self.packages(spec))  # never evicted while it runs
        try:
            handle = self._start(spec, job_dir, started_at, on_exit)
        except BaseException:
            packages.close()
            raise
        handle.packages = packages
        return handle

    def _start(
        self, spec: RunSpec, job_dir: Path, started_at: datetime, on_exit: Callable[[], None]
    ) -> RunHandle:
        stdout_path = spec.run_root / "stdout.txt"
        stderr_path = spec.run_root / "stderr.txt"
        backend = self.backend()
        taken = self._take_launcher(spec, backend, job_dir, stdout_path, stderr_path)
        if taken is not None:
            proc, group = taken
            return self._started(spec, proc, group, started_at, on_exit)
        group = limits.RunGroup.create(
            spec.run_id, self.config.max_memory_bytes, self.config.max_processes
        )
        try:
            with (
                os.fdopen(runfolder.open_empty(stdout_path), "wb") as out,
                os.fdopen(runfolder.open_empty(stderr_path), "wb") as err,
                sandbox.open_copies(backend) as copies,
            ):
                proc = subprocess.Popen(
                    self.command(spec, group, copies),
                    cwd=job_dir,
                    pass_fds=tuple(copies.values()),
                    env=self.environment(spec),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    close_fds=True,
                )
        except BaseException:
            group.remove()
            raise
        return self._started(spec, proc, group, started_at, on_exit)

    def _take_launcher(
        self,
        spec: RunSpec,
        backend: sandbox.Backend | None,
        job_dir: Path,
        stdout_path: Path,
        stderr_path: Path,
    ) -> tuple[subprocess.Popen[bytes], limits.RunGroup] | None:
        """Hand the job to a process made ahead of time (already limited and in cgroups that
        become this run's); ``None`` if none is ready: the caller starts one itself."""
        pool = self._pool()
        launcher = pool.take() if pool is not None else None
        if launcher is None:
            return None
        group = launcher.group.renamed(spec.run_id) if launcher.proc.poll() is None else None
        if group is None:
            launcher.discard()
            return None
        launcher.group = group
        script = spec.run_root / "launch.sh"
        try:
            for path in (stdout_path, stderr_path):
                os.close(runfolder.open_empty(path))
            copies = dict(
                zip(backend.copied if backend is not None else (), _COPY_FDS, strict=False)
            )
            with os.fdopen(runfolder.open_empty(script), "w", encoding="utf-8") as f:
                f.write(
                    _launch_script(
                        self._job_argv(spec, backend, copies),
                        self.environment(spec),
                        job_dir,
                        stdout_path,
                        stderr_path,
                        copies,
                    )
                )
            line = f"{script}\n".encode()
            if "\n" in str(script) or os.write(launcher.control, line) != len(line):
                raise OSError(f"the launch script's path {script} cannot be handed over")
        except OSError as exc:
            log.warning("job %s: a prepared process could not take it: %s", spec.uid, exc)
            launcher.discard()
            return None
        launcher.close_control()  # it has its script: EOF after that line
        return launcher.proc, group

    def _started(
        self,
        spec: RunSpec,
        proc: subprocess.Popen[bytes],
        group: limits.RunGroup,
        started_at: datetime,
        on_exit: Callable[[], None],
    ) -> RunHandle:
        try:
            pid_started = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            pid_started = 0.0

        def wait() -> None:
            proc.wait()
            on_exit()

        threading.Thread(target=wait, name=f"scq-wait-{spec.uid[:8]}", daemon=True).start()
        return RunHandle(
            spec=spec,
            proc=proc,
            started_at=started_at,
            pid_started=pid_started,
            stdout_path=spec.run_root / "stdout.txt",
            stderr_path=spec.run_root / "stderr.txt",
            output_dir=spec.run_root / "output",
            group=group,
        )

    def check(self, handle: RunHandle, now: datetime) -> bool:
        """Enforce limits on a running job; ``True`` once its process has ended."""
        if handle.proc.poll() is not None:
            return True
        if handle.kill_reason is None:
            problem = self._limit_hit(handle, now)
            if problem is not None:
                self.kill(handle, *problem)
        return handle.proc.poll() is not None

    def _limit_hit(self, handle: RunHandle, now: datetime) -> tuple[FailureReason, str] | None:
        """The first limit a running job is over, if any."""
        cfg = self.config
        if (now - handle.started_at).total_seconds() >= cfg.job_timeout:
            return FailureReason.timeout, f"timed out after {cfg.job_timeout:g} s"
        for stream in (handle.stdout_path, handle.stderr_path):
            size = stream.stat().st_size if stream.exists() else 0
            if size > cfg.max_log_bytes:
                return (
                    FailureReason.log_limit,
                    f"{stream.stem} exceeded max_log_bytes ({cfg.max_log_bytes:,} bytes)",
                )
        tree_hit = self._tree_limit_hit(handle, watch=True)
        if tree_hit is not None:
            return tree_hit
        used = handle.group.cpu_seconds()
        if used is None:
            used = limits.tree_cpu_seconds(handle.pid)
        if used > self.cpu_seconds:
            return (
                FailureReason.cpu_limit,
                f"the job's processes used more than {self.cpu_seconds:g} CPU seconds together",
            )
        if time.monotonic() >= handle.next_output_check:
            handle.next_output_check = time.monotonic() + _OUTPUT_CHECK_EVERY
            problem = _outputs_over(handle.output_dir, cfg)
            if problem is not None:
                return FailureReason.output_limit, problem
        return None

    def _tree_limit_hit(
        self, handle: RunHandle, *, watch: bool
    ) -> tuple[FailureReason, str] | None:
        """Memory or process count over its limit: from the run's cgroups (what the kernel
        refused or killed), or from the watchdog where no cgroup holds the limit."""
        cfg = self.config
        memory = (
            FailureReason.memory_limit,
            f"the job's processes used more than max_memory_bytes "
            f"({cfg.max_memory_bytes or 0:,} bytes) together",
        )
        processes = (
            FailureReason.process_limit,
            f"the job had more than max_processes ({cfg.max_processes or 0}) processes at once",
        )
        if cfg.max_memory_bytes is not None and handle.group.hits("memory"):
            return memory
        if cfg.max_processes is not None and handle.group.hits("pids"):
            return processes
        watch_memory = cfg.max_memory_bytes is not None and "memory" not in handle.group.paths
        watch_count = cfg.max_processes is not None and "pids" not in handle.group.paths
        if watch and (watch_memory or watch_count):
            rss, count = limits.tree_usage(handle.pid)
            if watch_memory and rss > (cfg.max_memory_bytes or 0):
                return memory
            if watch_count and count > (cfg.max_processes or 0):
                return processes
        return None

    def kill(self, handle: RunHandle, reason: FailureReason, message: str) -> None:
        if handle.kill_reason is None:
            handle.kill_reason = (reason, message)
        kill_run(handle.spec.run_id, handle.pid)
        handle.group.kill_all()
        with contextlib.suppress(subprocess.TimeoutExpired):
            handle.proc.wait(timeout=5)

    def finish(self, handle: RunHandle, publish_to: Path) -> RunResult:
        """Collect the results of an ended job; its private run folder is kept for the next run
        or deleted (:mod:`syft_code_queue.runfolder`)."""
        try:
            return self._finish(handle, publish_to)
        finally:
            handle.packages.close()  # its environment may be evicted from now on

    def _finish(self, handle: RunHandle, publish_to: Path) -> RunResult:
        exit_code = handle.proc.wait()
        tree_hit = self._tree_limit_hit(handle, watch=False)
        # Whatever the job left behind (background children) does not outlive it: its
        # cgroups are removed only once empty; without them, wait for the run's processes.
        had_cgroups = bool(handle.group.paths)
        # Its folder can serve the next run only if no process of the job can be left.
        all_gone = handle.group.remove() and "pids" in handle.group.paths
        kill_run(handle.spec.run_id, handle.pid)
        if not had_cgroups:
            wait_gone(handle.spec.run_id)
        cap = self.config.max_log_bytes
        stdout = _read_capped(handle.stdout_path, cap)
        stderr = _read_capped(handle.stderr_path, cap)
        notes: list[str] = []
        outputs, output_problem = self._collect_outputs(handle.output_dir, publish_to, notes)
        if handle.kill_reason is not None:
            reason, message = handle.kill_reason
        elif tree_hit is not None:
            reason, message = tree_hit
        elif exit_code in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
            reason, message = (
                FailureReason.cpu_limit,
                f"a process of the job used more than {self.cpu_seconds:g} CPU seconds",
            )
        elif exit_code != 0:
            reason, message = FailureReason.exit_code, f"run.sh exited with code {exit_code}"
        elif output_problem is not None:
            reason, message = FailureReason.output_limit, output_problem
        else:
            reason, message = None, None
        self._folders.done(handle.spec.run_root, handle.spec.run_id, reusable=all_gone)
        return RunResult(exit_code, reason, message, stdout, stderr, outputs, notes)

    def _collect_outputs(
        self, output_dir: Path, publish_to: Path, notes: list[str]
    ) -> tuple[tuple[FileEntry, ...], str | None]:
        """Copy regular files (never links, FIFOs or devices) under the caps; publish in one
        rename."""
        cfg = self.config
        budget = cfg.max_output_bytes
        entries: list[FileEntry] = []
        problem = None
        tmp = new_temp_dir(publish_to.parent, publish_to.name)
        try:
            for rel, entry in walk_files(output_dir):
                if not entry.is_file(follow_symlinks=False):
                    notes.append(f"output '{rel}' is not a regular file and was not kept")
                    continue
                if len(entries) >= cfg.max_output_files:
                    problem = f"more than max_output_files ({cfg.max_output_files:,}) outputs"
                    break
                size = entry.stat(follow_symlinks=False).st_size
                if size > min(cfg.max_output_file_bytes, MAX_SYNC_FILE_BYTES):
                    problem = (
                        f"output '{rel}' is {size:,} bytes, over max_output_file_bytes "
                        f"({cfg.max_output_file_bytes:,}; SyftBox syncs no file over "
                        f"{MAX_SYNC_FILE_BYTES:,} bytes), so it was left out: write smaller files"
                    )
                    notes.append(problem)
                    continue
                if size > budget:
                    problem = f"outputs exceed max_output_bytes ({cfg.max_output_bytes:,} bytes)"
                    break
                digest, size = copy_hashed(Path(entry.path), tmp / rel, max_bytes=budget)
                budget -= size
                entries.append(FileEntry(path=rel, sha256=digest, size=size))
            remove_tree(publish_to)
            # Durable when there is something to lose: an empty folder lost in a crash of
            # the machine is the same as the empty folder announced.
            publish_dir(tmp, publish_to, durable=bool(entries))
        except BaseException:
            remove_tree(tmp)
            raise
        return tuple(entries), problem


def _launch_script(  # noqa: PLR0917 - the parts of one process start
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    stdout: Path,
    stderr: Path,
    copies: Mapping[str, int],
) -> str:
    """What a prepared launcher runs in place (``.``) once a run takes it: the job's standard
    streams, folder and environment (its own is empty), the files the sandbox copies, then
    ``exec`` of the job's argv. Every value is quoted; nothing in it is the requester's code."""
    q = shlex.quote
    lines = [
        f"exec </dev/null >>{q(str(stdout))} 2>>{q(str(stderr))} || exit 125",
        f"cd {q(str(cwd))} || exit 125",
        "unset OLDPWD script",
    ]
    for name, value in env.items():
        if not _ENV_NAME.fullmatch(name):
            raise OSError(f"environment variable name {name!r} cannot be passed on")
        lines.append(f"export {name}={q(value)}")
    if copies:
        opened = " ".join(f"{fd}<{q(path)}" for path, fd in copies.items())
        lines.append(f"exec {opened} || exit 125")
    lines.append("exec " + " ".join(q(arg) for arg in argv))
    return "\n".join(lines) + "\n"


@dataclass
class _Launcher:
    """A job's first process made ahead of time, waiting for its launch script."""

    proc: subprocess.Popen[bytes]
    control: int  # the write end of its stdin
    group: limits.RunGroup

    def close_control(self) -> None:
        if self.control >= 0:
            fd, self.control = self.control, -1
            with contextlib.suppress(OSError):
                os.close(fd)

    def discard(self) -> None:
        self.close_control()  # it exits at EOF
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.group.remove()


class _LaunchPool:
    """Job processes made ahead of time, each already under the rlimits and inside cgroups
    of its own (limits written) that the run taking it renames to its run id.

    Joining a cgroup makes the kernel wait for an RCU grace period (milliseconds, more on a
    busy machine) when none is under way; here that wait is paid in the background, off the
    job's start. A job still never runs a single instruction outside its cgroups: the
    process joins them before it reads what to run.
    """

    def __init__(
        self, limit_args: list[str], memory: int | None, processes: int | None, size: int
    ) -> None:
        self._limit_args = limit_args
        self._memory = memory
        self._processes = processes
        self._size = size
        self._ready: list[_Launcher] = []
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def take(self) -> _Launcher | None:
        """A ready launcher, if any; making more starts in the background."""
        with self._lock:
            if self._closed:
                return None
            launcher = self._ready.pop(0) if self._ready else None
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._fill, name="scq-launchers", daemon=True
                )
                self._thread.start()
            self._wanted.set()
        return launcher

    def close(self) -> None:
        with self._lock:
            self._closed = True
            ready, self._ready = self._ready, []
            self._wanted.set()
        for launcher in ready:
            launcher.discard()

    def _fill(self) -> None:
        limits.remove_stale_pool()
        while True:
            self._wanted.wait()
            with self._lock:
                self._wanted.clear()
                missing = 0 if self._closed else self._size - len(self._ready)
            for _ in range(missing):
                try:
                    launcher = self._make()
                except Exception:
                    log.exception("a job process could not be made ahead of time")
                    return  # jobs start their own processes, as without the pool
                with self._lock:
                    if not self._closed:
                        self._ready.append(launcher)
                        continue
                launcher.discard()
            if self._closed:
                return

    def _make(self) -> _Launcher:
        group = limits.RunGroup.create(limits.pool_id(), self._memory, self._processes)
        joins = group.join_files()
        read, write = os.pipe()
        try:
            proc = subprocess.Popen(
                [
                    _LAUNCHER,
                    "-c",
                    _POOLED_SCRIPT,
                    "scq-launch",
                    *self._limit_args,
                    str(len(joins)),
                    *map(str, joins),
                ],
                cwd="/",
                env={},
                stdin=read,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        except BaseException:
            os.close(write)
            group.remove()
            raise
        finally:
            os.close(read)
        launcher = _Launcher(proc, write, group)
        # Ready once it is inside its cgroups: they are renamed when a run takes it.
        said = b""
        if proc.stdout is not None:  # stdout=PIPE above
            with proc.stdout:
                said = proc.stdout.readline()
        if said != b"joined\n":
            launcher.discard()
            raise OSError(f"a prepared job process could not join its cgroups (exit {proc.poll()})")
        return launcher


def _outputs_over(output_dir: Path, cfg: QueueConfig) -> str | None:
    """Whether a running job's output folder is already over its caps (a bounded walk)."""
    count = total = 0
    stack = [output_dir]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                        continue
                    count += 1
                    with contextlib.suppress(OSError):
                        total += entry.stat(follow_symlinks=False).st_size
                    if count > cfg.max_output_files:
                        return f"more than max_output_files ({cfg.max_output_files:,}) outputs"
                    if total > cfg.max_output_bytes:
                        return f"outputs exceed max_output_bytes ({cfg.max_output_bytes:,} bytes)"
        except OSError:
            continue
    return None


@dataclass
class _Build:
    """A requirements environment being installed in the background."""

    done: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None


def _approved_requirements(spec: RunSpec) -> bytes | None:
    """The approved ``requirements.txt`` of a job, read from its snapshot and checked against
    its approved hash (``None`` if it has none, or the snapshot differs: staging fails then)."""
    entry = next((f for f in spec.files if f.path == provision.REQUIREMENTS), None)
    if entry is None:
        return None
    try:
        data = (spec.snapshot / entry.path).read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == entry.sha256 else None


def _read_capped(path: Path, cap: int) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(cap + 1)
    except FileNotFoundError:
        return b""
    if len(data) > cap:
        data = data[:cap] + f"\n[log truncated at {cap} bytes]\n".encode()
    return data
