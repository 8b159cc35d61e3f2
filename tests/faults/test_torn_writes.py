"""Writers SIGKILLed in the middle of writing never leave a torn file behind.

A writer process rewrites one ~200 KB JSON file with ``fsio.atomic_write_json`` in a loop
and is SIGKILLed at a random moment, 200 times; the parent reads the file all along and
every read must parse and be one complete version. The temp files the kills leave behind
(``*.syft.tmp``) are skipped by ``fsio.list_entries``. A data scientist SIGKILLed while
submitting likewise leaves only whole requests, or temp folders the owner ignores.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
from functools import partial
from pathlib import Path

import pytest
from faultlib import (
    DO_EMAIL,
    DS_EMAIL,
    Children,
    at_least,
    lines_of,
    outbox,
    torn_payload,
    wait_for,
)

import syft_code_queue as scq
from syft_code_queue import fsio, store
from syft_code_queue.models import JobStatus

pytestmark = pytest.mark.faults

TRIALS = 200
SIZE = 200_000
SUBMIT_KILLS = 12


def count_lines(path: Path) -> int:
    return len(lines_of(path))


def temp_names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if fsio.TEMP_SUFFIX in p.name}


class LineReader:
    """Read whole lines from a pipe with a deadline."""

    def __init__(self, stream: object) -> None:
        self.fd = stream.fileno()  # type: ignore[attr-defined]
        self.buf = b""

    def readline(self, timeout: float) -> str:
        wait_for(self._has_line, timeout, "a line from the zygote", interval=0)
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()

    def _has_line(self) -> bool:
        if b"\n" in self.buf:
            return True
        ready, _, _ = select.select([self.fd], [], [], 0.05)
        if ready:
            chunk = os.read(self.fd, 4096)
            if not chunk:
                raise AssertionError("the zygote exited")
            self.buf += chunk
        return b"\n" in self.buf


class Reader:
    """The parent's reader: every read must be one complete version."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reads = 0
        self.versions: set[tuple[int, int]] = set()

    def read(self, trial: int) -> tuple[int, int] | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            assert not self.versions, "the file vanished after a complete version existed"
            return None
        self.reads += 1
        try:
            obj = json.loads(data)
        except ValueError as exc:
            raise AssertionError(f"torn read of {len(data)} bytes in trial {trial}: {exc}") from exc
        version = (int(obj["trial"]), int(obj["n"]))
        assert version[0] <= trial, version
        assert obj == torn_payload(*version, SIZE), f"version {version} has wrong content"
        self.versions.add(version)
        return version


def test_sigkilled_writers_never_leave_a_torn_file(tmp_path: Path, children: Children) -> None:
    folder = tmp_path / "jobs" / "some-job"
    folder.mkdir(parents=True)
    path = folder / "status.json"
    zygote = children.spawn("zygote", name="zygote", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert zygote.stdin is not None and zygote.stdout is not None
    replies = LineReader(zygote.stdout)
    reader = Reader(path)
    rng = random.Random(20240611)
    mid_write_kills = 0
    for trial in range(TRIALS):
        before = temp_names(folder)
        zygote.stdin.write(f"write {trial} {path} {SIZE}\n".encode())
        zygote.stdin.flush()
        kind, pid = replies.readline(10).split()
        assert kind == "pid"
        target = rng.randint(-1, 3)  # -1: kill before this writer is seen to finish a write
        extra_reads = rng.randint(0, 8)

        def reached(trial: int = trial, target: int = target) -> bool:
            version = reader.read(trial)
            return target < 0 or (version is not None and version >= (trial, target))

        wait_for(reached, 30, f"trial {trial}: version {target} to be written", interval=0)
        for _ in range(extra_reads):
            reader.read(trial)
        os.kill(int(pid), signal.SIGKILL)
        kind, status = replies.readline(10).split()
        assert kind == "exit"
        assert os.WIFSIGNALED(int(status)) and os.WTERMSIG(int(status)) == signal.SIGKILL
        reader.read(trial)  # after the kill: still a complete version
        after = temp_names(folder)
        mid_write_kills += len(after - before)

    zygote.stdin.close()
    assert zygote.wait(10) == 0
    assert reader.reads >= 3 * TRIALS
    assert len({v[0] for v in reader.versions}) > TRIALS // 2, "most writers were never seen"
    # Killed writers leave temp files; listings skip them, and hand-made ones too.
    assert mid_write_kills > 0, "no kill landed inside a write: the test proved nothing"
    (folder / f".status.json.{'0' * 12}{fsio.TEMP_SUFFIX}").write_text("{")
    (folder / "status.json.conflict.1").write_text("{")
    assert len(list(folder.iterdir())) >= 3
    assert [e.name for e in fsio.list_entries(folder)] == ["status.json"]
    assert [rel for rel, _ in fsio.walk_files(folder)] == ["status.json"]


def test_submitter_sigkilled_mid_submission_leaves_nothing_half_received(
    syftbox_dir: Path, tmp_path: Path, children: Children
) -> None:
    rng = random.Random(7)
    results = tmp_path / "submitted.jsonl"
    for kill in range(SUBMIT_KILLS):
        proc = children.spawn(
            "submit",
            "--syftbox",
            str(syftbox_dir),
            "--email",
            DS_EMAIL,
            "--target",
            DO_EMAIL,
            "--count",
            "100000",
            "--work",
            str(tmp_path / f"work{kill}"),
            "--result",
            str(results),
            name=f"submitter{kill}",
        )
        goal = len(lines_of(results)) + rng.randint(1, 15)
        wait_for(
            partial(at_least, partial(count_lines, results), goal),
            30,
            f"kill {kill}: submissions to start",
            on_timeout=partial(children.log_text, f"submitter{kill}"),
        )
        assert Children.kill(proc) == -signal.SIGKILL

    box = outbox(syftbox_dir)
    published = {e.name for e in fsio.list_entries(box) if store.is_uid_name(e.name)}
    for uid in published:  # a uid folder appears only whole: request.json already inside
        assert (box / uid / store.REQUEST_FILE).is_file(), uid
    reported = {json.loads(line)["uid"] for line in lines_of(results)}
    assert reported <= published
    leftovers = temp_names(box)
    (box / f".{'1' * 8}.{'0' * 12}{fsio.TEMP_SUFFIX}").mkdir()  # and one made by hand

    with scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir, job_timeout=30) as server:
        report = server.tick()
        assert (report.received, report.rejected_invalid, report.waiting) == (
            len(published),
            0,
            0,
        ), leftovers
        server.tick()
        assert server.ledger.arrivals() == []
        jobs = server.list_jobs()
        assert {str(j.uid) for j in jobs} == published
        assert {j.status for j in jobs} == {JobStatus.pending}
    ds = scq.create_client(email=DS_EMAIL, syftbox_dir=syftbox_dir)
    assert {str(j.uid) for j in ds.list_jobs()} == published
