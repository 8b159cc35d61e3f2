"""``scq results``, ``scq release``, ``scq withhold`` against a real ``scq serve --release
manual`` process, and what the data scientist's ``scq show`` says meanwhile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import syft_code_queue as scq
from syft_code_queue import JobStatus
from syft_code_queue.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from tests.conftest import DO_EMAIL, make_package
from tests.test_airlock_release import AGGREGATE, AGGREGATE_AND_RECORDS, COLUMNS, patients
from tests.test_cli import SCQ, Invoke, _read_until, as_owner, cli, submit

__all__ = ["cli"]  # the fixture, imported to be used here


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    (path / "patients.csv").write_text("\n".join([COLUMNS, *patients()]) + "\n")
    return path


@pytest.fixture
def serving_manual(syftbox_dir: Path, data_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``scq serve --release manual`` as a real process, once it says it is serving."""
    env = {**os.environ, "SYFTBOX_EMAIL": DO_EMAIL, "SYFTBOX_DATA_DIR": str(syftbox_dir)}
    proc = subprocess.Popen(
        [str(SCQ), "serve", "--release", "manual", "--job-data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _read_until(proc, "Ctrl-C stops")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=20)


def package(tmp_path: Path, name: str, analysis: str) -> Path:
    return make_package(tmp_path / name, "python analyze.py\n", {"analyze.py": analysis})


def wait_held(serving: subprocess.Popen[bytes], job: scq.CodeJob) -> None:
    _read_until(serving, f"{job.short_id}  awaiting_release")


def test_results_release_and_withhold_from_the_command_line(
    serving_manual: subprocess.Popen[bytes],
    cli: Invoke,
    ds: scq.CodeQueueClient,
    tmp_path: Path,
) -> None:
    kept = submit(cli, package(tmp_path, "kept", AGGREGATE_AND_RECORDS), "Kept")
    dropped = submit(cli, package(tmp_path, "dropped", AGGREGATE), "Dropped")
    for job in (kept, dropped):
        assert as_owner(cli, "approve", job.short_id).exit_code == EXIT_OK
        wait_held(serving_manual, job)

    shown = cli("show", kept.short_id)
    assert "awaiting_release; ran; results under review" in shown.stdout

    listed = as_owner(cli, "results")
    assert listed.exit_code == EXIT_OK
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == [
        kept.short_id, dropped.short_id,
    ]  # fmt: skip

    release_first = as_owner(cli, "release", kept.short_id)
    assert release_first.exit_code == EXIT_ERROR
    assert "never checked" in release_first.stderr

    report = as_owner(cli, "results", kept.short_id)
    assert report.exit_code == EXIT_OK, report.output
    assert "output/records.csv" in report.stdout
    assert "block (" in report.stdout
    as_json = json.loads(as_owner(cli, "--json", "results", kept.short_id).stdout)
    assert as_json["counts"]["block"] >= 1

    released = as_owner(
        cli, "release", kept.short_id, "--file", "output/by_diagnosis.csv",
        "--reason", "records are not aggregates",
    )  # fmt: skip
    assert released.exit_code == EXIT_OK, released.output
    assert "withheld: output/records.csv, stderr.txt, stdout.txt" in released.stdout

    assert as_owner(cli, "withhold", dropped.short_id).exit_code == EXIT_USAGE
    withheld = as_owner(cli, "withhold", dropped.short_id, "--reason", "not today")
    assert withheld.exit_code == EXIT_OK, withheld.output

    done = ds.wait(kept.uid, timeout=20)
    assert done.status is JobStatus.completed
    assert done.withheld_files == ("output/records.csv", "stderr.txt", "stdout.txt")
    assert done.output_folder is not None
    assert sorted(p.name for p in done.output_folder.iterdir()) == ["by_diagnosis.csv"]
    shown = cli("show", kept.short_id)
    assert "output/records.csv, stderr.txt, stdout.txt" in shown.stdout
    assert "records are not aggregates" in shown.stdout
    gone = ds.get_job(dropped.uid)
    assert (gone.status, gone.error_message) == (JobStatus.failed, "not today")
    assert "failed (withheld)" in cli("show", dropped.short_id).stdout
