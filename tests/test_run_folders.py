"""Run folders kept for the next run: what a job left as it was made is reused, nothing a
job changed reaches the next job, and a folder whose processes may live on is not kept."""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from syft_code_queue import limits, runfolder
from syft_code_queue.fsio import remove_tree
from syft_code_queue.models import QueueConfig
from syft_code_queue.runner import RunResult, RunSpec, SafeCodeRunner
from tests.conftest import run_spec

needs_pids = pytest.mark.skipif(
    "pids" not in limits.hierarchies(), reason="needs a pids cgroup this server may create"
)


def _run(
    runner: SafeCodeRunner, spec: RunSpec, published: Path
) -> tuple[RunResult, dict[str, int]]:
    """Run a job; also the inodes of its folders as it ran."""
    ended = threading.Event()
    job_dir = runner.stage(spec)
    inodes = {sub: (spec.run_root / sub).stat().st_ino for sub in runfolder.SUBFOLDERS}
    handle = runner.start(spec, job_dir, datetime.now(timezone.utc), ended.set)
    assert ended.wait(30), "the job did not end"
    inodes["stdout.txt"] = handle.stdout_path.stat().st_ino
    return runner.finish(handle, published / spec.uid), inodes


def _gone(path: Path) -> bool:
    """Whether a folder moved away was deleted by the background remover (with a deadline)."""
    deadline = time.monotonic() + 10
    while path.exists() or any(
        p.name.startswith(runfolder.GONE_PREFIX) for p in path.parent.iterdir()
    ):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture(params=["required", "none"])
def runner(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SafeCodeRunner]:
    """A runner under the default isolation, and one with none (the job sees everything)."""
    config = QueueConfig(isolation=request.param, job_timeout=30)
    runner = SafeCodeRunner(config, tmp_path / "private")
    (tmp_path / "pkg").mkdir()
    yield runner
    runner.close()


@needs_pids
def test_the_next_run_reuses_the_folders_a_job_left_as_they_were(
    runner: SafeCodeRunner, tmp_path: Path
) -> None:
    package = tmp_path / "pkg"
    first, before = _run(
        runner, run_spec(tmp_path / "runs", package, "echo one\n"), tmp_path / "pub"
    )
    assert len(runner._folders.kept) == 1
    second, after = _run(
        runner, run_spec(tmp_path / "runs", package, "echo two\n"), tmp_path / "pub"
    )
    assert (first.stdout, second.stdout) == (b"one\n", b"two\n")
    for sub in ("home", "tmp", "output", "stdout.txt"):
        assert after[sub] == before[sub], f"{sub} was made again"


@needs_pids
def test_nothing_a_job_changed_in_its_folders_reaches_the_next_job(
    runner: SafeCodeRunner, tmp_path: Path
) -> None:
    package = tmp_path / "pkg"
    mess = (
        'echo secret > "$HOME/left"; mkdir "$TMPDIR/sub"; chmod 777 "$OUTPUT_DIR"; '
        "echo kept > left_in_job; "
        # an extended attribute on a folder, and the log's mode changed through its fd
        'python3 -c \'import os; os.setxattr(os.environ["TMPDIR"], "user.x", b"1")\' '
        "2>/dev/null; chmod 4777 /proc/self/fd/1 2>/dev/null; "
        'rmdir "$TMPDIR/sub"; echo first\n'
    )
    look = (
        'ls -A "$HOME" "$TMPDIR" "$OUTPUT_DIR" .; '
        'stat -c %a "$HOME" "$TMPDIR" "$OUTPUT_DIR"; echo second\n'
    )
    first, _ = _run(runner, run_spec(tmp_path / "runs", package, mess), tmp_path / "pub")
    fresh, _ = _run(runner, run_spec(tmp_path / "runs", package, look), tmp_path / "pub")
    baseline = tmp_path / "baseline"
    baseline.mkdir()
    mode = oct(stat.S_IMODE(baseline.stat().st_mode))[2:]
    assert first.stdout.endswith(b"first\n"), first.stderr
    lines = fresh.stdout.decode().split("\n")
    assert "left" not in lines and "left_in_job" not in lines, lines
    assert lines[-5:-2] == [mode, mode, mode], lines  # as a new folder has them
    logs = list((tmp_path / "runs").rglob("stdout.txt"))
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in logs), logs


def test_a_folder_whose_processes_may_live_on_is_deleted_not_kept(tmp_path: Path) -> None:
    folders = runfolder.RunFolders(keep=4)
    root = tmp_path / "runs" / "a"
    folders.make(root)
    folders.done(root, "r1", reusable=False)
    assert folders.kept == []
    assert _gone(root)


def test_changed_parts_are_moved_away_and_made_again(tmp_path: Path) -> None:
    folders = runfolder.RunFolders(keep=4)
    root = tmp_path / "runs" / "a"
    folders.make(root)
    made = {sub: (root / sub).stat().st_ino for sub in runfolder.SUBFOLDERS}
    (root / "home" / "f").write_text("x")  # not empty
    (root / "tmp").chmod(0o777)  # its mode changed
    (root / "extra").write_text("?")  # not a part of a run folder
    (root / "launch.sh").symlink_to("/etc/passwd")  # not a plain file
    (root / "stdout.txt").write_text("log")
    os.link(root / "stdout.txt", tmp_path / "elsewhere")  # a second link
    folders.done(root, "r1", reusable=True)
    assert not root.exists() and len(folders.kept) == 1
    assert _gone(root)
    again = tmp_path / "runs" / "b"
    folders.make(again)
    assert sorted(p.name for p in again.iterdir()) == sorted(runfolder.SUBFOLDERS)
    assert (again / "output").stat().st_ino == made["output"]  # untouched: kept
    baseline = tmp_path / "baseline"
    baseline.mkdir()
    for sub in ("job", "home", "tmp"):  # made again (an inode number may be used again)
        assert not any((again / sub).iterdir()), sub
        assert (again / sub).stat().st_mode == baseline.stat().st_mode, sub
    assert (tmp_path / "elsewhere").read_text() == "log"


def test_only_as_many_folders_as_asked_are_kept(tmp_path: Path) -> None:
    folders = runfolder.RunFolders(keep=2)
    roots = [tmp_path / "runs" / str(i) for i in range(4)]
    for root in roots:
        folders.make(root)
    for i, root in enumerate(roots):
        folders.done(root, f"r{i}", reusable=True)
    assert len(folders.kept) == 2
    assert sorted(
        p.name for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".gone-")
    ) == [
        ".free-r0",
        ".free-r1",
    ]


def test_a_kept_file_is_emptied_in_place_and_a_strange_one_made_again(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("old log")
    plain.chmod(0o4777)
    inode = plain.stat().st_ino
    os.close(runfolder.open_empty(plain))
    assert (plain.read_bytes(), plain.stat().st_ino) == (b"", inode)
    assert stat.S_IMODE(plain.stat().st_mode) == 0o600

    target = tmp_path / "target"
    target.write_text("not ours to empty")
    link = tmp_path / "link"
    link.symlink_to(target)
    hard = tmp_path / "hard"
    os.link(target, hard)
    for path in (link, hard):
        os.close(runfolder.open_empty(path))
        assert path.is_file() and not path.is_symlink() and path.stat().st_nlink == 1
        assert path.read_bytes() == b""
    assert target.read_text() == "not ours to empty"

    tagged = tmp_path / "tagged"
    tagged.write_text("x")
    try:
        os.setxattr(tagged, "user.scq", b"1")
    except OSError:
        pytest.skip("this file system keeps no user extended attributes")
    os.close(runfolder.open_empty(tagged))
    assert os.listxattr(tagged) == []


def test_a_kept_folder_deleted_meanwhile_is_replaced_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A restarted server deletes the runs folder's leftovers, kept folders included."""
    folders = runfolder.RunFolders(keep=4)
    root = tmp_path / "runs" / "a"
    folders.make(root)
    folders.done(root, "r1", reusable=True)
    for kept in folders.kept:
        remove_tree(kept)
    again = tmp_path / "runs" / "b"
    with caplog.at_level(logging.WARNING):
        folders.make(again)
    assert sorted(p.name for p in again.iterdir()) == sorted(runfolder.SUBFOLDERS)
    assert caplog.records == []
