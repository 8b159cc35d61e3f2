"""An honest report of what a job is held to: each guarantee with its mechanism, or
``NOT ENFORCED``, so the reviewer knows what an approval lets the code do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from syft_code_queue.models import Guarantees, QueueConfig
from syft_code_queue.sandbox import NOT_ENFORCED

if TYPE_CHECKING:
    from syft_code_queue.sandbox import Backend

WATCHDOG = "watchdog over the job's process tree, every tick (psutil)"


def report(
    config: QueueConfig,
    *,
    backend: Backend | None,
    pid_namespace: bool,
    rlimits: bool,
    cgroups: dict[str, str],
    cpu_seconds: float,
) -> Guarantees:
    """What a job run under these layers is held to, each with its mechanism.

    ``cgroups`` maps a controller (``memory``, ``pids``, ``cpuacct``) to how it is
    enforced here.
    """
    if backend is not None:
        network, files, processes = backend.network, backend.filesystem, backend.processes
    else:
        network = f"{NOT_ENFORCED}: the job can use the network (isolation='none')"
        files = (
            f"{NOT_ENFORCED}: the job can read and write what the server's user can "
            "(isolation='none')"
        )
        processes = (
            "own PID namespace, every process killed at the end (unshare)"
            if pid_namespace
            else "process group and run id, killed at the end (no PID namespace here)"
        )
    return Guarantees(
        network=network,
        filesystem=files,
        processes=processes,
        memory=_tree_limit(
            config.max_memory_bytes, "bytes of memory", "max_memory_bytes", cgroups.get("memory")
        ),
        process_count=_tree_limit(
            config.max_processes, "processes at once", "max_processes", cgroups.get("pids")
        ),
        cpu_and_files=(
            f"at most {cpu_seconds:g} CPU seconds over the whole process tree, killed beyond "
            f"({cgroups.get('cpuacct') or WATCHDOG}) and per process (RLIMIT_CPU); "
            + (
                "1024 open files, no core dumps (RLIMIT_NOFILE, RLIMIT_CORE)"
                if rlimits
                else f"open files and core dumps {NOT_ENFORCED}"
            )
        ),
        time=f"killed after {config.job_timeout:g} s (wall clock)",
        logs=(f"stdout and stderr at most {config.max_log_bytes:,} bytes each, killed beyond"),
        output=(
            f"outputs at most {config.max_output_bytes:,} bytes in all, "
            f"{config.max_output_file_bytes:,} per file, {config.max_output_files:,} files, "
            "regular files only (checked while it runs and at the end)"
        ),
        dependencies=_dependencies(config, backend),
    )


def _dependencies(config: QueueConfig, backend: Backend | None) -> str:
    if not config.provision_requirements:
        return "only the owner's installed packages (provision_requirements=False)"
    where = (
        f"in a sandbox with the network and no data, datasites or home ({backend.name}); "
        "read-only for the job"
        if backend is not None
        else f"{NOT_ENFORCED}: pip runs without a sandbox (isolation='none')"
    )
    source = config.provision_index_url or "pip's default index (PyPI)"
    if config.provision_no_index:
        source = "the configured wheel folders only"
    return (
        f"requirements.txt installed before the run from wheels only (pip --only-binary "
        f":all:, from {source}), {where}"
    )


def _tree_limit(limit: int | None, unit: str, field: str, cgroup: str | None) -> str:
    if limit is None:
        return f"{NOT_ENFORCED}: no limit is set (QueueConfig.{field}=None)"
    mechanism = cgroup or WATCHDOG
    return f"at most {limit:,} {unit} over the whole process tree, killed beyond ({mechanism})"
