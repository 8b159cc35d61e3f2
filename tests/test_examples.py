"""The examples: the external approval bot decides by explicit criteria, and runs as is."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import syft_code_queue as scq
from syft_code_queue import JobStatus, demo
from syft_code_queue.demo import copy_demo_package
from tests.conftest import DO_EMAIL, make_package

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "external_automation_example.py"


@pytest.fixture(scope="module")
def bot() -> ModuleType:
    """The example script, imported as a module (it is not part of the package)."""
    spec = importlib.util.spec_from_file_location("external_automation_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pending_job(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, folder: Path, tags: list[str]
) -> scq.CodeJob:
    job = ds.submit_code(DO_EMAIL, folder, "job", tags=tags)
    return do.get_job(next(j.uid for j in do.list_pending_jobs() if j.uid == job.uid))


def test_review_accepts_a_small_job_tagged_aggregate(
    bot: ModuleType, ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    job = pending_job(ds, do, copy_demo_package(tmp_path / "pkg"), ["aggregate"])
    assert bot.review(job) == []


def test_review_names_every_criterion_a_job_misses(
    bot: ModuleType, ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    big = "x" * (bot.MAX_FILE_BYTES + 1)
    folder = make_package(tmp_path / "pkg", files={"dump.csv": big})
    problems = bot.review(pending_job(ds, do, folder, ["statistics"]))
    assert len(problems) == 2
    assert "not tagged 'aggregate'" in problems[0]
    assert "'dump.csv'" in problems[1]


def test_bot_approves_what_meets_the_criteria_and_rejects_the_rest_with_reasons(
    bot: ModuleType, ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    good = ds.submit_code(DO_EMAIL, copy_demo_package(tmp_path / "a"), "ok", tags=["aggregate"])
    bad = ds.submit_code(DO_EMAIL, copy_demo_package(tmp_path / "b"), "no", tags=["export"])
    decisions = bot.smart_approval_bot(do)
    assert {str(job.uid): job.status for job, _ in decisions} == {
        str(good.uid): JobStatus.approved,
        str(bad.uid): JobStatus.rejected,
    }
    rejected = ds.get_job(bad.uid)
    assert rejected.decision_reason is not None
    assert "not tagged 'aggregate'" in rejected.decision_reason
    assert do.get_job(good.uid).decision_reason == "approval bot: tagged 'aggregate', 3 small files"
    assert do.verify_audit().ok


def test_bot_leaves_decided_jobs_alone(
    bot: ModuleType, ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    ds.submit_code(DO_EMAIL, copy_demo_package(tmp_path / "a"), "ok", tags=["aggregate"])
    assert len(bot.smart_approval_bot(do)) == 1
    assert bot.smart_approval_bot(do) == []


def test_example_runs_with_no_setup(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "bot: approved" in out
    assert "bot: rejected" in out
    assert "completed" in out
    assert '"patients": 200' in out
    assert "audit log: OK" in out
    assert list(tmp_path.iterdir()) == [], "nothing is left in the working folder"


def test_example_with_a_syftbox_dir_keeps_it(
    bot: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bot.main(["--syftbox-dir", str(tmp_path / "box")]) == 0
    assert (tmp_path / "box" / "datasites" / demo.DO_EMAIL).is_dir()
    assert "audit log: OK" in capsys.readouterr().out
