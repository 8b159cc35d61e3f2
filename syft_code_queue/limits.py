"""Limits over a job's whole process tree: memory, process count and CPU time.

Where the server may create control groups (root, or a delegated cgroup), each run gets its
own: cgroup v2 ``memory.max`` and ``pids.max``, or v1 ``memory.limit_in_bytes`` and
``pids.max``. The kernel holds those whatever the job does (as root too, across ``setsid``
and double forks), and a run's cgroup also names every process to kill at the end. The
run's CPU time over the whole tree is read from cgroup v2 ``cpu.stat`` or v1
``cpuacct.usage`` every tick. Elsewhere a watchdog (psutil, every tick) sums the resident
memory, the CPU time and counts the processes of the job's tree and kills it beyond a
limit: weaker (between two ticks a tree can overshoot), and said so in the guarantees.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

log = logging.getLogger("syft_code_queue.limits")

_ROOT = Path("/sys/fs/cgroup")
_PREFIX = "scq-"


@dataclass(frozen=True)
class Hierarchy:
    """Where this server may create a cgroup with one controller, and its file names."""

    controller: str  # "memory", "pids" or "cpuacct" (v1 accounting only)
    parent: Path
    version: int
    limit_file: str
    events_file: str
    event_key: str  # the line of events_file that counts hits of the limit

    def describe(self) -> str:
        return f"cgroup v{self.version} {self.limit_file}"


def _own_cgroups() -> dict[str, str]:
    """controller (or "" for v2) -> this process's cgroup path."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                found[name] = path
    return found


def _try_hierarchy(h: Hierarchy) -> Hierarchy | None:
    probe = h.parent / f"{_PREFIX}probe-{os.getpid()}"
    try:
        probe.mkdir()
    except OSError:
        return None
    try:
        if not (probe / h.limit_file).exists():
            return None
        if h.controller != "cpuacct":  # an accounting file, not a limit
            (probe / h.limit_file).write_text("max" if h.controller == "pids" else "-1")
        return h
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


@functools.cache
def hierarchies() -> dict[str, Hierarchy]:
    """The controllers (``memory``, ``pids``) this server can limit a run with, here."""
    own = _own_cgroups()
    found: dict[str, Hierarchy] = {}
    if "" in own and (_ROOT / "cgroup.controllers").exists():  # unified (v2) at /sys/fs/cgroup
        parent = _ROOT / own[""].lstrip("/")
        for h in (
            Hierarchy("memory", parent, 2, "memory.max", "memory.events", "oom_kill"),
            Hierarchy("pids", parent, 2, "pids.max", "pids.events", "max"),
        ):
            if _try_hierarchy(h):
                found[h.controller] = h
    for controller, limit_file, events_file, key in (
        ("memory", "memory.limit_in_bytes", "memory.oom_control", "oom_kill"),
        ("pids", "pids.max", "pids.events", "max"),
        ("cpuacct", "cpuacct.usage", "cpuacct.usage", ""),
    ):
        if controller in found or controller not in own:
            continue
        h = Hierarchy(
            controller,
            _ROOT / controller / own[controller].lstrip("/"),
            1,
            limit_file,
            events_file,
            key,
        )
        if _try_hierarchy(h):
            found[controller] = h
    return found


@dataclass
class RunGroup:
    """The cgroups of one run (possibly none) and the limits written into them."""

    paths: dict[str, Path]
    hierarchies: dict[str, Hierarchy]

    @classmethod
    def create(cls, run_id: str, memory: int | None, processes: int | None) -> RunGroup:
        """Make this run's cgroups and set their limits; controllers that fail are skipped."""
        paths: dict[str, Path] = {}
        used: dict[str, Hierarchy] = {}
        wanted = {"memory": memory, "pids": processes}
        for name, h in hierarchies().items():
            path = h.parent / f"{_PREFIX}{run_id}"
            try:
                path.mkdir(exist_ok=True)
                limit = wanted.get(name)
                if limit is not None:
                    (path / h.limit_file).write_text(str(limit))
                    swap = path / "memory.memsw.limit_in_bytes"  # v1: no escape into swap
                    if name == "memory" and swap.exists():
                        with contextlib.suppress(OSError):
                            swap.write_text(str(limit))
                    if name == "memory" and h.version == 2:
                        with contextlib.suppress(OSError):
                            (path / "memory.swap.max").write_text("0")
            except OSError as exc:
                log.warning("cgroup %s for run %s not usable: %s", name, run_id, exc)
                with contextlib.suppress(OSError):
                    path.rmdir()
                continue
            paths[name] = path
            used[name] = h
        return cls(paths, used)

    def renamed(self, run_id: str) -> RunGroup | None:
        """The same cgroups under this run's names (a pooled group taken by a run), or
        ``None`` if they cannot be renamed here (only cgroup v1 can)."""
        if any(self.hierarchies[name].version != 1 for name in self.paths):
            return None
        paths: dict[str, Path] = {}
        for name, path in self.paths.items():
            target = path.with_name(f"{_PREFIX}{run_id}")
            try:
                path.rename(target)
            except OSError as exc:
                log.warning("cgroup %s cannot be renamed for run %s: %s", path, run_id, exc)
                for back, moved in paths.items():  # undo: the group stays whole
                    with contextlib.suppress(OSError):
                        moved.rename(self.paths[back])
                return None
            paths[name] = target
        return RunGroup(paths, self.hierarchies)

    def join_files(self) -> list[Path]:
        """The ``cgroup.procs`` files the job's first process writes its pid into (one per
        distinct cgroup: in v2 every controller is the same folder)."""
        return sorted({path / "cgroup.procs" for path in self.paths.values()})

    def cpu_seconds(self) -> float | None:
        """CPU seconds the run's processes used so far (alive and ended), if accounted."""
        try:
            if "cpuacct" in self.paths:
                return int((self.paths["cpuacct"] / "cpuacct.usage").read_text()) / 1e9
            v2 = next((p for n, p in self.paths.items() if self.hierarchies[n].version == 2), None)
            if v2 is not None:
                for line in (v2 / "cpu.stat").read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        return int(value) / 1e6
        except (OSError, ValueError):
            pass
        return None

    def hits(self, controller: str) -> int:
        """How many times the limit of ``controller`` was hit (OOM kills, refused forks)."""
        path, h = self.paths.get(controller), self.hierarchies.get(controller)
        if path is None or h is None:
            return 0
        try:
            for line in (path / h.events_file).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == h.event_key:
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.paths.values():
            with contextlib.suppress(OSError, ValueError):
                found |= {int(p) for p in (path / "cgroup.procs").read_text().split()}
        return found

    def kill_all(self) -> int:
        """SIGKILL every process in the run's cgroups; how many were signalled."""
        killed = 0
        for name, path in self.paths.items():
            if self.hierarchies[name].version == 2 and (path / "cgroup.kill").exists():
                with contextlib.suppress(OSError):
                    (path / "cgroup.kill").write_text("1")  # the kernel kills all at once
        for _ in range(20):  # processes forking while being killed: until none is left
            pids = self.pids()
            if not pids:
                break
            for pid in sorted(pids, key=_started):  # parents before their children
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
        return killed

    def remove(self, timeout: float = 5.0) -> bool:
        """Kill what is left and remove the cgroups (a cgroup with processes cannot go);
        whether all of them went (then no process that was in them is left)."""
        self.kill_all()
        deadline = time.monotonic() + timeout
        removed = True
        for path in self.paths.values():
            pause = (
                0.0002  # killed processes take a moment to exit: look again soon, then less often
            )
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        log.warning("cgroup %s could not be removed", path)
                        removed = False
                        break
                    self.kill_all()
                    time.sleep(pause)
                    pause = min(pause * 2, 0.01)
        return removed


def _started(pid: int) -> int:
    """When a process started (clock ticks since boot; parents start before children)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:  # noqa: PTH123
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


POOL_PREFIX = "pool-"


def renamable() -> bool:
    """Whether a run's cgroups can be made ahead of time and renamed when a run takes them
    (cgroup v1 only; v2 cannot rename a cgroup)."""
    found = hierarchies()
    return bool(found) and all(h.version == 1 for h in found.values())


def pool_id() -> str:
    """A name for cgroups made ahead of time by this process (see :func:`remove_stale_pool`)."""
    return f"{POOL_PREFIX}{os.getpid()}-{os.urandom(6).hex()}"


def remove_stale_pool() -> None:
    """Remove the cgroups made ahead of time by servers that are gone (a crash leaves them,
    empty: their launchers exit when the server does)."""
    for h in hierarchies().values():
        try:
            names = [
                e.name for e in os.scandir(h.parent) if e.name.startswith(_PREFIX + POOL_PREFIX)
            ]
        except OSError:
            continue
        for name in names:
            pid = name.removeprefix(_PREFIX + POOL_PREFIX).split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not psutil.pid_exists(int(pid)):
                RunGroup({h.controller: h.parent / name}, {h.controller: h}).remove(timeout=1.0)


def remove_run(run_id: str) -> None:
    """Kill what is left in the cgroups of a run (say, of a crashed server) and remove them."""
    for h in hierarchies().values():
        path = h.parent / f"{_PREFIX}{run_id}"
        if path.is_dir():
            RunGroup({h.controller: path}, {h.controller: h}).remove(timeout=1.0)


def tree_usage(pid: int) -> tuple[int, int]:
    """(resident bytes, process count) of ``pid`` and all its descendants, for the watchdog."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    rss = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            rss += proc.memory_info().rss
    return rss, len(procs)


def mechanisms() -> dict[str, str]:
    """controller -> how it is enforced here ("" where only the watchdog is)."""
    found = {name: h.describe() for name, h in hierarchies().items()}
    v2 = next((h for h in hierarchies().values() if h.version == 2), None)
    if v2 is not None:
        found["cpuacct"] = "cgroup v2 cpu.stat"
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid``'s tree: its live processes and the children they reaped."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total
