"""Which sandbox a queue gets, and failing closed where there is none."""

from __future__ import annotations

import math
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from syft_code_queue import confine, limits, sandbox
from syft_code_queue.models import FailureReason, QueueConfig
from syft_code_queue.runner import RunResult, RunSpec, SafeCodeRunner, _processes_of
from syft_code_queue.sandbox import SandboxUnavailableError
from tests.conftest import run_spec


def test_a_platform_without_a_backend_fails_closed_and_says_how_to_opt_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sandbox.sys, "platform", "darwin")
    with pytest.raises(SandboxUnavailableError) as raised:
        sandbox.backend("required")
    message = str(raised.value)
    assert "darwin" in message
    assert "isolation='none'" in message
    assert "scq doctor" in message
    assert sandbox.backend("auto") is None  # "auto" runs without one, and says so
    assert sandbox.backend("none") is None


def test_a_forced_backend_is_the_only_one_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(sandbox.backend("required", "landlock"), confine.LandlockSeccomp)
    assert isinstance(sandbox.backend("required", "bubblewrap"), sandbox.Bubblewrap)
    monkeypatch.setattr(confine, "backend", lambda: None)
    monkeypatch.setattr(confine, "unavailable_reason", lambda: "no Landlock in this kernel")
    with pytest.raises(SandboxUnavailableError, match="no Landlock in this kernel"):
        sandbox.backend("required", "landlock")
    assert isinstance(sandbox.backend("required"), sandbox.Bubblewrap)  # auto: bubblewrap


def test_the_landlock_abi_is_read_from_the_kernel() -> None:
    version = confine.abi()
    assert version >= 1, "this machine's kernel has Landlock (the fallback is tested here)"
    assert confine.LandlockSeccomp(version).network.startswith("no network")


# How a job is started: limited and inside its cgroups from its first instruction, and
# nothing of it left once its process has ended.


def _run(runner: SafeCodeRunner, spec: RunSpec, published: Path) -> tuple[RunResult, int]:
    """Run a job; also how many of its processes were still alive the moment its process
    was seen to end (before the runner's own kill at the end)."""
    ended = threading.Event()
    handle = runner.start(spec, runner.stage(spec), datetime.now(timezone.utc), ended.set)
    assert ended.wait(30), "the job did not end"
    handle.proc.wait()
    alive = len(_processes_of(spec.run_id))
    return runner.finish(handle, published / spec.uid), alive


@pytest.mark.skipif(not limits.hierarchies(), reason="needs cgroups this server may create")
@pytest.mark.parametrize("pooled", [False, True], ids=["started here", "made ahead of time"])
def test_a_job_runs_inside_its_own_cgroups_from_its_first_instruction(
    tmp_path: Path, pooled: bool
) -> None:
    """The job's first line blocks on a FIFO; while it does, every process of the job is
    already in the run's own cgroups (and under its rlimits, printed next)."""
    runner = SafeCodeRunner(QueueConfig(job_timeout=30), tmp_path / "private")
    package = tmp_path / "pkg"
    package.mkdir()
    try:
        if pooled:  # the first start fills the pool; wait until a process is ready
            _run(runner, run_spec(tmp_path / "runs", package, "true\n"), tmp_path / "pub")
            pool = runner._pool()
            assert pool is not None
            deadline = time.monotonic() + 30
            while not pool._ready:
                assert time.monotonic() < deadline, "no process was made ahead of time"
                time.sleep(0.01)
        else:
            runner._pool = lambda: None  # type: ignore[method-assign]
        spec = run_spec(
            tmp_path / "runs", package, 'read go < "$HOME/go"; ulimit -Hn; ulimit -Ht\n'
        )
        ended = threading.Event()
        job_dir = runner.stage(spec)
        os.mkfifo(spec.run_root / "home" / "go")
        handle = runner.start(spec, job_dir, datetime.now(timezone.utc), ended.set)
        try:
            deadline = time.monotonic() + 30
            while not any(p.name() == "bash" for p in _processes_of(spec.run_id)):
                assert time.monotonic() < deadline, "the job never started"
                time.sleep(0.01)
            for proc in _processes_of(spec.run_id):
                lines = Path(f"/proc/{proc.pid}/cgroup").read_text().splitlines()
                groups = {line.split(":")[1]: line.split(":")[2] for line in lines}
                for controller in limits.hierarchies():
                    assert groups[controller].endswith(f"/scq-{spec.run_id}"), (proc, groups)
            (spec.run_root / "home" / "go").write_text("go\n")
            assert ended.wait(30)
        finally:  # a failed check leaves no blocked job behind
            if not ended.is_set():
                runner.kill(handle, FailureReason.timeout, "the test failed")
            result = runner.finish(handle, tmp_path / "pub" / spec.uid)
    finally:
        runner.close()
    assert result.exit_code == 0, result.stderr
    assert result.stdout.decode().split() == ["1024", str(math.ceil(runner.cpu_seconds))]


@pytest.mark.skipif(sandbox.bwrap() is None, reason="needs a working bubblewrap")
def test_nothing_of_a_job_is_alive_once_its_process_has_ended(tmp_path: Path) -> None:
    """No reaper of bubblewrap's between the job and the kernel: the job is PID 1 of its
    namespace, so its end kills the namespace before bwrap returns (with bubblewrap's init,
    children escaped by setsid or a double fork were still alive at that moment)."""
    runner = SafeCodeRunner(QueueConfig(job_timeout=30), tmp_path / "private")
    package = tmp_path / "pkg"
    package.mkdir()
    script = "sleep 100 & setsid sleep 200 & (sleep 300 &) ; sleep 0.05; echo started\n"
    try:
        for _ in range(5):
            spec = run_spec(tmp_path / "runs", package, script)
            result, alive = _run(runner, spec, tmp_path / "pub")
            assert result.stdout == b"started\n", result.stderr
            assert alive == 0, f"{alive} processes of the job outlived it"
    finally:
        runner.close()
