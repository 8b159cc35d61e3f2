"""The ``scq`` command: each subcommand, JSON output, exit codes, and real processes."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import syft_code_queue as scq
from syft_code_queue import FailureReason, JobStatus
from syft_code_queue.cli import EXIT_AUDIT_FAILED, EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from tests.conftest import DO_EMAIL, DS_EMAIL, make_package, run_until

SCQ = Path(sys.executable).parent / "scq"

Invoke = Callable[..., Result]


@pytest.fixture
def cli(syftbox_dir: Path) -> Invoke:
    """Run ``scq`` in-process on the shared folder, as the data scientist by default."""
    runner = CliRunner()

    def invoke(*args: str, email: str = DS_EMAIL) -> Result:
        return runner.invoke(
            main,
            ["--syftbox-dir", str(syftbox_dir), "--email", email, *args],
            catch_exceptions=False,
        )

    return invoke


def as_owner(cli: Invoke, *args: str) -> Result:
    return cli(*args, email=DO_EMAIL)


def submit(cli: Invoke, folder: Path, name: str = "Stats", *extra: str) -> scq.CodeJob:
    result = cli("--json", "submit", DO_EMAIL, str(folder), "--name", name, *extra)
    assert result.exit_code == EXIT_OK, result.output
    return scq.CodeJob.model_validate(json.loads(result.stdout))


def audit_log(syftbox_dir: Path) -> Path:
    return syftbox_dir / ".syft_code_queue" / DO_EMAIL / "code-queue" / "audit.jsonl"


# Help, identity, usage


def test_help_documents_the_exit_codes() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == EXIT_OK
    assert "Exit codes:" in result.stdout
    for code in (EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_AUDIT_FAILED):
        assert f"  {code}  " in result.stdout


def test_without_identity_says_what_to_set() -> None:
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.startswith("error: ")
    assert "SYFTBOX_EMAIL" in result.stderr
    assert "Traceback" not in result.output


def test_identity_can_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, syftbox_dir: Path, code_folder: Path, cli: Invoke
) -> None:
    job = submit(cli, code_folder)
    monkeypatch.setenv("SYFTBOX_EMAIL", DS_EMAIL)
    monkeypatch.setenv("SYFTBOX_DATA_DIR", str(syftbox_dir))
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == EXIT_OK
    assert job.short_id in result.stdout


def test_invalid_queue_name_is_a_usage_error(cli: Invoke) -> None:
    result = cli("--queue", "../etc", "list")
    assert result.exit_code == EXIT_USAGE
    assert "queue" in result.stderr


# The data scientist's side


def test_submit_then_list_shows_the_job_pending(cli: Invoke, code_folder: Path) -> None:
    result = cli("submit", DO_EMAIL, str(code_folder), "--name", "Stats", "--tag", "aggregate")
    assert result.exit_code == EXIT_OK
    assert "submitted" in result.stdout
    listing = cli("list")
    header, row = listing.stdout.splitlines()
    assert header.split() == ["UID", "NAME", "TARGET", "STATUS", "AGE"]
    assert row.split()[1:4] == ["Stats", DO_EMAIL, "pending"]
    # Columns line up: every cell starts where its header does.
    assert row.index(DO_EMAIL) == header.index("TARGET")


def test_submit_json_is_one_job_document(cli: Invoke, code_folder: Path) -> None:
    job = submit(cli, code_folder, "Stats", "-t", "a", "-t", "b", "-d", "why")
    assert job.status is JobStatus.pending
    assert job.tags == ("a", "b")
    assert job.description == "why"
    assert job.requester_email == DS_EMAIL


def test_submit_warns_about_files_sync_will_not_carry(cli: Invoke, tmp_path: Path) -> None:
    folder = make_package(tmp_path / "pkg", files={"__pycache__/x.pyc": "junk"})
    result = cli("submit", DO_EMAIL, str(folder), "--name", "Stats")
    assert result.exit_code == EXIT_OK
    assert result.stderr.startswith("warning: '__pycache__")
    assert "left out" in result.stderr


def test_submit_folder_without_run_sh_exits_1(cli: Invoke, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = cli("submit", DO_EMAIL, str(tmp_path / "empty"), "--name", "Stats")
    assert result.exit_code == EXIT_ERROR
    assert "error: " in result.stderr
    assert "run.sh" in result.stderr


def test_list_filters_by_status_then_limits(
    cli: Invoke, do: scq.CodeQueueServer, code_folder: Path
) -> None:
    first = submit(cli, code_folder, "first")
    second = submit(cli, code_folder, "second")
    submit(cli, code_folder, "third")
    do.list_pending_jobs()
    do.reject_job(first.uid, "no")
    do.reject_job(second.uid, "no")
    result = cli("--json", "list", "--status", "rejected", "--limit", "1")
    jobs = json.loads(result.stdout)
    assert [j["uid"] for j in jobs] == [str(second.uid)]
    owner_view = json.loads(as_owner(cli, "list", "--as", "owner", "--json").stdout)
    assert len(owner_view) == 3


def test_cancel_ends_the_job_failed_cancelled(
    cli: Invoke, do: scq.CodeQueueServer, ds: scq.CodeQueueClient, code_folder: Path
) -> None:
    job = submit(cli, code_folder)
    result = cli("cancel", job.short_id)
    assert result.exit_code == EXIT_OK
    assert "cancellation" in result.stdout
    run_until(do, lambda: ds.get_job(job.uid).status.is_terminal)
    ended = ds.get_job(job.uid)
    assert ended.status is JobStatus.failed
    assert ended.failure_reason is FailureReason.cancelled
    again = cli("cancel", str(job.uid))
    assert again.exit_code == EXIT_ERROR
    assert "nothing to cancel" in again.stderr


# The data owner's side, and the whole round trip


def test_round_trip_submit_review_approve_run_logs_output(
    cli: Invoke, do: scq.CodeQueueServer, ds: scq.CodeQueueClient, code_folder: Path
) -> None:
    job = submit(cli, code_folder, "Stats", "--tag", "aggregate")

    pending = as_owner(cli, "pending")
    assert pending.exit_code == EXIT_OK
    assert pending.stdout.splitlines()[0].split() == ["UID", "NAME", "REQUESTER", "STATUS", "AGE"]
    assert job.short_id in pending.stdout
    assert DS_EMAIL in pending.stdout

    review = as_owner(cli, "show", job.short_id)
    assert review.exit_code == EXIT_OK
    assert "analyze.py" in review.stdout
    assert "snapshots" in review.stdout  # the owner reviews their verified copy

    approved = as_owner(cli, "approve", job.short_id, "--reason", "aggregate only")
    assert approved.exit_code == EXIT_OK
    assert "approved" in approved.stdout
    run_until(do, lambda: ds.get_job(job.uid).status is JobStatus.completed)

    shown = json.loads(cli("show", str(job.uid), "--json").stdout)
    assert shown["status"] == "completed"
    assert shown["decision_reason"] == "aggregate only"
    assert shown["exit_code"] == 0

    logs = cli("logs", job.short_id)
    assert logs.exit_code == EXIT_OK
    assert "rows: 3" in logs.stdout
    assert cli("logs", job.short_id, "--tail", "3").stdout == " 3\n"

    output = cli("output", job.short_id)
    assert output.exit_code == EXIT_OK
    folder = Path(output.stdout.splitlines()[0])
    assert (folder / "result.txt").read_text() == "42"
    assert "result.txt" in output.stdout
    as_json = json.loads(cli("output", job.short_id, "--json").stdout)
    assert as_json["files"] == [{"path": "result.txt", "size": 2}]

    owner_logs = as_owner(cli, "logs", job.short_id, "--as", "owner")
    assert "rows: 3" in owner_logs.stdout


def test_reject_shows_the_reason_to_the_data_scientist(cli: Invoke, code_folder: Path) -> None:
    job = submit(cli, code_folder)
    result = as_owner(cli, "reject", str(job.uid), "--reason", "raw rows requested")
    assert result.exit_code == EXIT_OK
    shown = cli("show", job.short_id)
    assert "rejected" in shown.stdout
    assert "raw rows requested" in shown.stdout


@pytest.mark.parametrize("reason", [None, "   "])
def test_reject_without_a_reason_is_a_usage_error(
    cli: Invoke, code_folder: Path, reason: str | None
) -> None:
    job = submit(cli, code_folder)
    args = ["reject", str(job.uid)] + ([] if reason is None else ["--reason", reason])
    result = as_owner(cli, *args)
    assert result.exit_code == EXIT_USAGE
    assert "reason" in result.stderr
    assert json.loads(as_owner(cli, "pending", "--json").stdout)[0]["status"] == "pending"


def test_approving_a_decided_job_exits_1(cli: Invoke, code_folder: Path) -> None:
    job = submit(cli, code_folder)
    assert as_owner(cli, "approve", job.short_id).exit_code == EXIT_OK
    again = as_owner(cli, "approve", job.short_id)
    assert again.exit_code == EXIT_ERROR
    assert "not pending" in again.stderr


def test_owner_can_approve_a_job_their_server_has_not_scanned_yet(
    cli: Invoke, do: scq.CodeQueueServer, code_folder: Path
) -> None:
    job = submit(cli, code_folder)
    result = as_owner(cli, "approve", str(job.uid))
    assert result.exit_code == EXIT_OK
    assert do.get_job(job.uid).status is JobStatus.approved


@pytest.mark.parametrize(
    ("command", "email"),
    [
        ("show", DS_EMAIL),
        ("logs", DS_EMAIL),
        ("output", DS_EMAIL),
        ("cancel", DS_EMAIL),
        ("approve", DO_EMAIL),
        ("reject", DO_EMAIL),
    ],
)
def test_unknown_uid_exits_1_with_a_clear_message(cli: Invoke, command: str, email: str) -> None:
    uid = "3f2a1b4c-0000-4000-8000-000000000000"
    args = [command, uid] + (["--reason", "no"] if command == "reject" else [])
    result = cli(*args, email=email)
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.startswith("error: ")
    assert uid in result.stderr
    assert "Traceback" not in result.output


def test_unknown_uid_with_json_prints_an_error_document(cli: Invoke) -> None:
    result = cli("--json", "show", "deadbeef")
    assert result.exit_code == EXIT_ERROR
    document = json.loads(result.stdout)
    assert document["exit_code"] == EXIT_ERROR
    assert document["error"]["type"] == "JobNotFoundError"
    assert "deadbeef" in document["error"]["message"]


def test_text_that_is_not_a_uid_is_refused(cli: Invoke) -> None:
    result = cli("show", "../../etc")
    assert result.exit_code == EXIT_ERROR
    assert "not a job uid" in result.stderr


def test_output_of_a_job_without_results_exits_1(cli: Invoke, code_folder: Path) -> None:
    job = submit(cli, code_folder)
    result = cli("output", job.short_id)
    assert result.exit_code == EXIT_ERROR
    assert "no output" in result.stderr


def test_json_flag_works_before_and_after_the_command(cli: Invoke, code_folder: Path) -> None:
    job = submit(cli, code_folder)
    before = json.loads(cli("--json", "list").stdout)
    after = json.loads(cli("list", "--json").stdout)
    assert before == after
    assert before[0]["uid"] == str(job.uid)


def test_control_characters_from_the_other_side_are_not_sent_to_the_terminal(
    cli: Invoke, code_folder: Path
) -> None:
    submit(cli, code_folder, "Stats\x1b[2J\x1b]0;pwned\x07")
    table = as_owner(cli, "pending").stdout
    assert "\x1b" not in table
    assert "\x07" not in table
    assert "Stats?[2J" in table


# Audit


def test_audit_verify_passes_then_fails_with_exit_3_after_an_edit(
    cli: Invoke, syftbox_dir: Path, code_folder: Path
) -> None:
    job = submit(cli, code_folder)
    as_owner(cli, "approve", job.short_id, "--reason", "fine")
    ok = as_owner(cli, "audit", "verify")
    assert ok.exit_code == EXIT_OK
    assert "OK" in ok.stdout

    path = audit_log(syftbox_dir)
    lines = path.read_text().splitlines()
    entry = json.loads(lines[-1])
    entry["details"]["reason"] = "approved by someone else"
    lines[-1] = json.dumps(entry, sort_keys=True)
    path.write_text("\n".join(lines) + "\n")

    broken = as_owner(cli, "audit", "verify")
    assert broken.exit_code == EXIT_AUDIT_FAILED
    assert "edited" in broken.stderr
    report = json.loads(as_owner(cli, "audit", "verify", "--json").stdout)
    assert report["ok"] is False
    assert report["problems"]


def test_audit_verify_for_someone_without_a_queue_exits_1(cli: Invoke) -> None:
    result = cli("audit", "verify")
    assert result.exit_code == EXIT_ERROR
    assert "runs no 'code-queue' queue" in result.stderr


# Serving


def test_serve_refuses_while_another_server_runs_the_queue(
    cli: Invoke, do: scq.CodeQueueServer
) -> None:
    do.tick()  # takes the datasite's server lock
    result = as_owner(cli, "serve")
    assert result.exit_code == EXIT_ERROR
    assert "already runs" in result.stderr


def _read_until(proc: subprocess.Popen[bytes], text: str, timeout: float = 20.0) -> str:
    """Read the process's stdout until ``text`` shows up, failing after ``timeout`` s."""
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while text.encode() not in seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} not printed within {timeout} s: {seen!r}")
            if selector.select(left):
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError(f"process ended before printing {text!r}: {seen!r}")
                seen += chunk
    return seen.decode()


@pytest.fixture
def owner_env(syftbox_dir: Path) -> dict[str, str]:
    return {**os.environ, "SYFTBOX_EMAIL": DO_EMAIL, "SYFTBOX_DATA_DIR": str(syftbox_dir)}


@pytest.fixture
def serving(owner_env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``scq serve`` as a real process, once it says it is serving."""
    proc = subprocess.Popen(
        [str(SCQ), "serve", "--job-timeout", "30"],
        env=owner_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _read_until(proc, "Ctrl-C stops")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_scq_serve_runs_an_approved_job_and_stops_cleanly_on_ctrl_c(
    serving: subprocess.Popen[bytes], cli: Invoke, ds: scq.CodeQueueClient, code_folder: Path
) -> None:
    job = submit(cli, code_folder)
    assert as_owner(cli, "approve", job.short_id).exit_code == EXIT_OK
    assert ds.wait(job.uid, timeout=20).status is JobStatus.completed
    printed = _read_until(serving, "completed")
    serving.send_signal(signal.SIGINT)
    out, err = serving.communicate(timeout=20)
    assert serving.returncode == 0, err.decode()
    text = printed + out.decode()
    assert f"{job.short_id}  approved" in text
    assert "stopped after" in text
    assert "1 completed" in text
    assert b"Traceback" not in err


def test_scq_serve_stops_on_sigterm_and_fails_the_running_job_as_interrupted(
    serving: subprocess.Popen[bytes], cli: Invoke, ds: scq.CodeQueueClient, tmp_path: Path
) -> None:
    job = submit(cli, make_package(tmp_path / "slow", "echo started\nsleep 60\n"))
    as_owner(cli, "approve", job.short_id)
    _read_until(serving, f"{job.short_id}  running")
    serving.send_signal(signal.SIGTERM)
    out, err = serving.communicate(timeout=20)
    assert serving.returncode == 0, err.decode()
    assert "stopped after" in out.decode()
    ended = ds.get_job(job.uid)
    assert ended.status is JobStatus.failed
    assert ended.failure_reason is FailureReason.interrupted


def test_installed_scq_demo_runs_end_to_end(owner_env: dict[str, str], tmp_path: Path) -> None:
    env = {**owner_env, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [str(SCQ), "demo"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "completed" in done.stdout
    assert "Patient cohort statistics" in done.stdout
    assert "patients" in done.stdout
    assert done.stderr == ""
    assert not list(tmp_path.glob("scq-demo-*")), "the temporary folder is removed"
