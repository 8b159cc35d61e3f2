"""Isolation of a running job, and an honest report of what it is held to.

With bubblewrap (``bwrap``) a job runs in its own user, PID, network, IPC and UTS namespaces
with a private mount tree in which only these are visible: the system's programs and
libraries (read-only), the Python the server runs (read-only), the job's staged code, home,
temp and output folders (writable), and ``DATA_DIR`` (read-only). The owner's ledger,
snapshots, other jobs, the SyftBox folder and every other file of the machine are not
there; the network namespace has no interface but its own loopback.

The report (:func:`guarantees`) names the mechanism behind each guarantee, or says
``NOT ENFORCED``, so the reviewer knows what an approval lets the code do.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from syft_code_queue.models import Guarantees

log = logging.getLogger("syft_code_queue.sandbox")

Isolation = Literal["none", "auto", "required"]
NOT_ENFORCED = "NOT ENFORCED"

# What a job may see of the system, read-only. /etc is not bound whole: it holds secrets
# (shadow, ssh host keys); these are what programs and Python need to start and to find
# libraries, users, time zones and certificates.
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_ENTRIES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "passwd",
    "group",
    "nsswitch.conf",
    "localtime",
    "timezone",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "mime.types",
    "os-release",
    "debian_version",
    "matplotlibrc",
    "fonts",
)


class SandboxUnavailableError(Exception):
    """The isolation the queue requires cannot be set up on this machine."""


@functools.cache
def bwrap() -> str | None:
    """The path of a bubblewrap that can create every namespace here, else ``None``."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    probe = [path, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        log.warning("bwrap cannot create namespaces here: %s", done.stderr.decode().strip())
        return None
    return path


def active(isolation: Isolation) -> bool:
    """Whether jobs run isolated under this setting on this machine.

    Raises:
        SandboxUnavailableError: ``required`` and bubblewrap is missing or refused.
    """
    if isolation == "none":
        return False
    if bwrap() is not None:
        return True
    if isolation == "required":
        raise SandboxUnavailableError(
            "the queue requires isolation (isolation='required') but bubblewrap is not "
            "usable here: install it (Debian: apt-get install bubblewrap) and allow user "
            "namespaces, or set isolation='auto' to run jobs without it"
        )
    return False


def _python_roots() -> list[Path]:
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    return sorted(root for root in roots if not any(root.is_relative_to(d) for d in _SYSTEM_DIRS))


def command(
    *,
    writable: Sequence[Path],
    readable: Sequence[Path],
    workdir: Path,
    hostname: str = "scq-job",
) -> list[str]:
    """The bubblewrap argv prefix for a job; the job's own argv follows it.

    ``writable`` and ``readable`` folders appear at their own paths, so the environment's
    paths (``OUTPUT_DIR``, ``DATA_DIR``, ...) stay valid inside.
    """
    path = bwrap()
    if path is None:
        raise SandboxUnavailableError("bubblewrap is not usable here")
    argv = [
        path,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--hostname",
        hostname,
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",  # noqa: S108 - a private, empty tmpfs inside the job's mount namespace
    ]
    for system in _SYSTEM_DIRS:
        argv += ["--ro-bind-try", system, system]
    for entry in _ETC_ENTRIES:
        argv += ["--ro-bind-try", f"/etc/{entry}", f"/etc/{entry}"]
    for root in _python_roots():
        argv += ["--ro-bind", str(root), str(root)]
    for folder in readable:  # a DATA_DIR that does not exist stays absent, as outside
        argv += ["--ro-bind-try", str(folder), str(folder)]
    for folder in writable:
        argv += ["--bind", str(folder), str(folder)]
    # The skeleton bubblewrap builds the mounts in stays read-only: nothing written outside
    # the writable folders lands anywhere.
    return [*argv, "--remount-ro", "/", "--chdir", str(workdir), "--"]


def guarantees(
    *,
    isolated: bool,
    pid_namespace: bool,
    rlimits: bool,
    job_timeout: float,
    max_log_bytes: int,
    max_output_bytes: int,
    max_memory_bytes: int | None = None,
) -> Guarantees:
    """What a job run under these layers is held to, each with its mechanism."""
    if isolated:
        network = "no network: own network namespace with only its own loopback (bubblewrap)"
        files = (
            "sees only its code, home, temp and output folders, DATA_DIR read-only and the "
            "system read-only; not the owner's other files (bubblewrap mount namespace)"
        )
        processes = "own PID namespace, every process killed at the end (bubblewrap)"
    else:
        network = f"{NOT_ENFORCED}: the job can use the network"
        files = f"{NOT_ENFORCED}: the job can read and write what the server's user can"
        processes = (
            "own PID namespace, every process killed at the end (unshare)"
            if pid_namespace
            else "process group and run id, killed at the end (no PID namespace here)"
        )
    limits = "RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_NOFILE (prlimit)" if rlimits else NOT_ENFORCED
    return Guarantees(
        network=network,
        filesystem=files,
        processes=processes,
        memory=(
            f"{NOT_ENFORCED}: no memory limit is set (QueueConfig.max_memory_bytes)"
            if max_memory_bytes is None or not rlimits
            else f"address space of each process at most {max_memory_bytes:,} bytes "
            "(RLIMIT_AS, prlimit)"
        ),
        cpu_and_files=limits,
        time=f"killed after {job_timeout:g} s (wall clock)",
        output=(
            f"logs capped at {max_log_bytes:,} bytes each (killed beyond), outputs at "
            f"{max_output_bytes:,} bytes, regular files only"
        ),
    )
