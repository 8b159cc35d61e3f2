"""The hostile-input corpus: random mixtures of valid and hostile entries, across several
requesters, while a legitimate data scientist submits and the owner keeps serving.

The kinds are in ``tests/hostile_corpus.py``: odd datasite names, FIFOs, sockets, symlinks
at every level (datasite, app_data, request folder, code/, a folder inside it, a file,
request.json), hard links, huge sparse files (on disk and declared), truncated, oversized,
wrongly typed and deeply nested JSON, NUL bytes, unicode tricks in names, deep folders, a
manifest of thousands of files that never come, forged requesters, cancellations for jobs
that never arrive, and junk in the outbox; entries also vanish, and appear and vanish
while a step runs.

Invariants, checked after every step:

- every legitimate job is received within ``RECEIVE_WITHIN`` steps of its submission;
- every step returns within ``STEP_BOUND`` seconds (generous on a shared machine: the
  benchmarks measure the real cost);
- no file in the owner's secret folder (outside every outbox) is ever opened;
- nothing published names a path on the owner's machine;
- the server keeps serving: a legitimate job approved meanwhile runs to completion.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import syft_code_queue as scq
from syft_code_queue import JobStatus
from syft_code_queue.models import utcnow
from tests.conftest import make_package
from tests.fsspy import OpenSpy
from tests.hostile_corpus import (
    DO_EMAIL,
    HOSTILE_EMAILS,
    KINDS,
    Box,
    owner_paths,
    plant_all,
    valid_request,
)
from tests.procs import wait_for

pytestmark = pytest.mark.hostile

DS_EMAIL = "ds@example.com"
CHURN_EMAIL = "churn@example.com"  # a hostile requester whose folders are never planted
STEP_BOUND = 5.0
RECEIVE_WITHIN = 3


def published_texts(jobs_dir: Path) -> list[str]:
    texts = []
    for name in ("status.json", "events.jsonl"):
        texts += [p.read_text(errors="replace") for p in jobs_dir.glob(f"*/{name}")]
    return texts


class HostileDatasites(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.base = Path(tempfile.mkdtemp(prefix="scq-hostile-"))
        self.box = Box.make(self.base)
        self.server = scq.create_server(
            email=DO_EMAIL,
            syftbox_dir=self.box.root,
            job_timeout=30,
            arrival_timeout=600,
            max_requests_per_tick=40,
        )
        self.ds = scq.create_client(email=DS_EMAIL, syftbox_dir=self.box.root)
        self.package = make_package(self.base / "legit", "echo legit\n")
        self.spy = OpenSpy()
        self.spy.watch(self.box.secret, recursive=True)
        self.now = utcnow()
        self.waiting: dict[str, int] = {}  # legitimate uid -> steps since its submission
        self.received: list[str] = []
        self.planted: list[Path] = []

    def teardown(self) -> None:
        self.server.close()
        self.spy.close()
        shutil.rmtree(self.base, ignore_errors=True)

    # Hostile requesters

    @rule(kind=st.sampled_from(sorted(KINDS)), who=st.sampled_from(HOSTILE_EMAILS))
    def plant(self, kind: str, who: str) -> None:
        self.planted.append(KINDS[kind](self.box, who))
        self.spy.watch(self.box.secret, recursive=True)  # folders the kind added
        self.spy.opens()  # planting opened them, not the server

    @precondition(lambda self: bool(self.planted))
    @rule(data=st.data())
    def vanish(self, data: st.DataObject) -> None:
        path = self.planted.pop(data.draw(st.integers(0, len(self.planted) - 1)))
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    # The legitimate data scientist and the owner

    @rule()
    def submit(self) -> None:
        job = self.ds.submit_code(DO_EMAIL, self.package, "legit")
        self.waiting[str(job.uid)] = 0

    @rule(seconds=st.sampled_from([0, 1, 30, 300]))
    def step(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        self._step()

    @rule()
    def step_while_entries_come_and_go(self) -> None:
        """Request folders appear and vanish in a hostile outbox while the step runs.

        The outbox is one no plant touches: through a datasite or app_data planted as a
        symlink, this thread itself would write into the owner's secret folder."""
        stop = threading.Event()
        outbox = self.box.outbox(CHURN_EMAIL)

        def churn() -> None:
            while not stop.is_set():
                folder = outbox / str(uuid.uuid4())
                valid_request(folder, CHURN_EMAIL)
                (folder / "code" / "run.sh").unlink()
                shutil.rmtree(folder, ignore_errors=True)

        thread = threading.Thread(target=churn, daemon=True)
        thread.start()
        try:
            self._step()
        finally:
            stop.set()
            thread.join(10)

    @precondition(lambda self: bool(self.received))
    @rule()
    def approve_and_run(self) -> None:
        uid = self.received.pop(0)
        self.server.approve_job(uid)
        deadline = time.monotonic() + 30
        while not self.server.get_job(uid).status.is_terminal:
            assert time.monotonic() < deadline, f"legitimate job {uid} did not end"
            self._step()
            self.server._wake.wait(0.01)
            self.server._wake.clear()
        job = self.server.get_job(uid)
        assert job.status is JobStatus.completed, job.error_message
        assert self.ds.get_job(uid).status is JobStatus.completed

    def _step(self) -> None:
        began = time.monotonic()
        self.server.tick(self.now)
        took = time.monotonic() - began
        assert took < STEP_BOUND, f"a step took {took:.1f} s"
        for uid in list(self.waiting):
            if self.server.ledger.find(uid) is not None:
                assert self.server.get_job(uid).status is JobStatus.pending
                del self.waiting[uid]
                self.received.append(uid)
            else:
                self.waiting[uid] += 1
                assert self.waiting[uid] < RECEIVE_WITHIN, f"legitimate job {uid} not received"
        texts = published_texts(self.server.jobs_dir)
        for secret in owner_paths(self.box):
            assert not [t for t in texts if secret in t], f"published text names {secret}"

    @invariant()
    def nothing_outside_the_outboxes_is_opened(self) -> None:
        assert self.spy.opens() == []


def test_hostile_datasites_never_stop_hang_slow_or_leak() -> None:
    run_state_machine_as_test(
        HostileDatasites,
        settings=settings(
            max_examples=int(os.environ.get("SCQ_HOSTILE_EXAMPLES", "12")),
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


SCQ = Path(sys.executable).parent / "scq"


def _read_until(proc: subprocess.Popen[bytes], text: str, timeout: float = 30.0) -> str:
    """Read the process's stdout until ``text`` shows up, failing after ``timeout`` s."""
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while text.encode() not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} not printed; got {seen.decode(errors='replace')!r}"
            if selector.select(left):
                chunk = os.read(proc.stdout.fileno(), 65536)
                assert chunk, f"the process ended; it printed {seen.decode(errors='replace')!r}"
                seen += chunk
    return seen.decode()


def test_a_served_queue_among_hostile_outboxes_runs_a_job_approved_from_another_process(
    tmp_path: Path,
) -> None:
    box = Box.make(tmp_path)
    plant_all(box)
    env = {**os.environ, "SYFTBOX_EMAIL": DO_EMAIL, "SYFTBOX_DATA_DIR": str(box.root)}
    serving = subprocess.Popen(
        [str(SCQ), "serve", "--job-timeout", "30"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _read_until(serving, "Ctrl-C stops")
        ds = scq.create_client(email=DS_EMAIL, syftbox_dir=box.root)
        job = ds.submit_code(DO_EMAIL, make_package(tmp_path / "legit", "echo legit\n"), "legit")

        def listed_by_another_process() -> bool:
            done = subprocess.run(
                [str(SCQ), "--json", "pending"],
                env=env, capture_output=True, text=True, timeout=30, check=True,
            )  # fmt: skip
            return str(job.uid) in done.stdout

        wait_for(listed_by_another_process, timeout=30, message="the job listed by scq pending")
        approved = subprocess.run(
            [str(SCQ), "approve", str(job.uid)],
            env=env, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert approved.returncode == 0, approved.stderr
        assert ds.wait(job.uid, timeout=30).status is JobStatus.completed
        serving.send_signal(signal.SIGINT)
        _out, err = serving.communicate(timeout=30)
        assert serving.returncode == 0, err.decode()
        assert b"Traceback" not in err
    finally:
        if serving.poll() is None:
            serving.kill()
            serving.wait(10)
