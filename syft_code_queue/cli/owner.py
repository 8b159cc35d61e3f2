"""The data owner's commands (pending, approve, reject, serve, audit) and the demo."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import click

from syft_code_queue.cli.app import (
    EXIT_AUDIT_FAILED,
    EXIT_ERROR,
    Settings,
    emit,
    json_flag,
    locate,
    main,
)
from syft_code_queue.cli.text import NAME_WIDTH, clean, dump, job_table, shorten
from syft_code_queue.errors import WorkspaceError
from syft_code_queue.models import CodeJob, JobStatus, utcnow
from syft_code_queue.server import CodeQueueServer
from syft_code_queue.workspace import resolve_workspace

# How often `scq serve` looks for status changes to print; the server itself is woken by
# a file watcher and does not depend on this.
SERVE_REFRESH = 1.0

log = logging.getLogger("syft_code_queue.cli")


# The data owner's commands


@main.command()
@click.option(
    "--isolation",
    type=click.Choice(["required", "auto", "none"]),
    default="required",
    show_default=True,
    help="The queue's isolation setting to check.",
)
@click.option(
    "--sandbox",
    type=click.Choice(["auto", "bubblewrap", "landlock"]),
    default="auto",
    show_default=True,
    help="Which sandbox backend to check.",
)
@json_flag
@click.pass_obj
def doctor(settings: Settings, isolation: str, sandbox: str) -> None:
    """Show what a job is held to on this machine, and try it with real hostile jobs.

    Exits non-zero when a guarantee the settings require does not hold.
    """
    from syft_code_queue.doctor import run

    report = run(settings.config(isolation=isolation, sandbox=sandbox))
    emit(
        settings,
        {
            "ok": report.ok,
            "guarantees": report.guarantees.model_dump(),
            "checks": [c.__dict__ for c in report.checks],
            "problem": report.problem,
        },
        lambda: click.echo(_colored(report.text())),
    )
    if not report.ok:
        raise SystemExit(EXIT_ERROR)


def _colored(text: str) -> str:
    """NOT ENFORCED / NOT CONTAINED / FAILED in red (only on a terminal)."""
    out = []
    for line in text.splitlines():
        bad = any(w in line for w in ("NOT ENFORCED", "NOT CONTAINED", "FAILED", "PROBLEM"))
        out.append(click.style(line, fg="red") if bad else line)
    return "\n".join(out)


@main.command()
@json_flag
@click.pass_obj
def pending(settings: Settings) -> None:
    """List the jobs waiting for your review, oldest first."""
    jobs = settings.server().list_pending_jobs()
    emit(
        settings,
        [dump(j) for j in jobs],
        lambda: click.echo(job_table(jobs, "requester") if jobs else "no pending jobs"),
    )


@main.command()
@click.argument("uid")
@click.option("--reason", "-r", help="Why (recorded in the audit log).")
@click.option("--note", help="A private note (audit log only; the data scientist never sees it).")
@click.option(
    "--unread",
    multiple=True,
    metavar="FILE",
    help="A file you approve without having read it (repeat for more); recorded in the audit.",
)
@json_flag
@click.pass_obj
def approve(
    settings: Settings, uid: str, reason: str | None, note: str | None, unread: tuple[str, ...]
) -> None:
    """Approve a pending job: exactly the reviewed code may run."""
    server = settings.server()
    _, job = locate(settings, uid, "owner")
    try:
        job = server.approve_job(job.uid, reason, note=note, unread=unread)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--unread") from None
    emit(
        settings,
        dump(job),
        lambda: click.echo(
            f"approved {job.uid} '{clean(job.name)}' from {job.requester_email}; "
            "'scq serve' runs it"
        ),
    )


def require_text(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not value.strip():
        raise click.BadParameter("give a reason; the data scientist sees it")
    return value


# A decision's reason, required and shown to the data scientist (reject, withhold).
required_reason = click.option(
    "--reason",
    "-r",
    required=True,
    callback=require_text,
    help="Why (required; the data scientist sees it).",
)


@main.command()
@click.argument("uid")
@required_reason
@json_flag
@click.pass_obj
def reject(settings: Settings, uid: str, reason: str) -> None:
    """Reject a pending or approved job, with a reason."""
    server = settings.server()
    _, job = locate(settings, uid, "owner")
    job = server.reject_job(job.uid, reason)
    emit(
        settings,
        dump(job),
        lambda: click.echo(f"rejected {job.uid} '{clean(job.name)}' from {job.requester_email}"),
    )


@main.command()
@click.option(
    "--max-concurrent-jobs",
    type=click.IntRange(1, 256),
    default=3,
    show_default=True,
    help="How many approved jobs run at once.",
)
@click.option(
    "--job-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="Seconds before a job is killed.",
)
@click.option(
    "--job-data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Your data folder, given to jobs as DATA_DIR.",
)
@click.option(
    "--release",
    type=click.Choice(["auto", "manual"]),
    default="auto",
    show_default=True,
    help="manual: hold each job's outputs and logs until you release them "
    "('scq results', 'scq release', 'scq withhold').",
)
@json_flag
@click.pass_obj
def serve(
    settings: Settings,
    max_concurrent_jobs: int,
    job_timeout: float,
    job_data_dir: Path | None,
    release: str,
) -> None:
    """Run approved jobs until Ctrl-C, then stop cleanly.

    SIGINT and SIGTERM both stop it; jobs still running then are killed and marked
    failed (interrupted).
    """
    server = settings.server(
        max_concurrent_jobs=max_concurrent_jobs,
        job_timeout=job_timeout,
        job_data_dir=job_data_dir,
        release=release,
    )
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    began, since = time.monotonic(), utcnow()
    follower = _Follower(server, since, quiet=settings.json_output)
    try:
        server.start()
        if not settings.json_output:
            click.echo(
                f"serving the '{settings.queue}' queue of {server.email} "
                f"({max_concurrent_jobs} at once, timeout {job_timeout:g} s); Ctrl-C stops"
            )
        while not stop.wait(SERVE_REFRESH):
            follower.sweep()
        server.stop()
        # Jobs the stop interrupted are reported too.
        follower.sweep()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    seconds = time.monotonic() - began
    counts = follower.counts
    changes = ", ".join(f"{n} {label}" for label, n in counts.items()) or "no job changed"
    emit(
        settings,
        {"stopped": True, "seconds": round(seconds, 3), "events": dict(counts)},
        lambda: click.echo(f"stopped after {seconds:.1f} s: {changes}"),
    )


class _Follower:
    """Prints every status change of the queue's jobs since ``since``, and counts them."""

    def __init__(self, server: CodeQueueServer, since: datetime, *, quiet: bool) -> None:
        self.server = server
        self.since = since
        self.quiet = quiet
        self.counts: Counter[str] = Counter()
        self._updated: dict[str, datetime] = {}
        self._printed: dict[str, int] = {}

    def sweep(self) -> None:
        """Look once; only jobs whose ``updated_at`` moved have their events read."""
        try:
            jobs = self.server.list_jobs()
        except Exception:
            # Only the display missed a beat; the server's own loop carries on.
            log.warning("could not list the jobs", exc_info=True)
            return
        for job in reversed(jobs):
            uid = str(job.uid)
            if self._updated.get(uid) == job.updated_at or job.updated_at < self.since:
                continue
            self._updated[uid] = job.updated_at
            events = self.server.job_events(uid)
            for event in events[self._printed.get(uid, 0) :]:
                if datetime.fromisoformat(event["at"]) >= self.since:
                    self._report(job, event)
            self._printed[uid] = len(events)

    def _report(self, job: CodeJob, event: dict[str, Any]) -> None:
        status = str(event["status"])
        label = "received" if status == JobStatus.pending.value else status
        self.counts[label] += 1
        if self.quiet:
            return
        detail = event.get("detail")
        extra = f": {shorten(str(detail), 120)}" if detail and label != "received" else ""
        click.echo(
            f"{datetime.fromisoformat(event['at']):%H:%M:%S}  {job.short_id}  {label:<9}  "
            f"'{shorten(job.name, NAME_WIDTH)}' from {clean(job.requester_email)}{extra}"
        )


@main.group()
def audit() -> None:
    """Check the owner's hash-chained audit log."""


@audit.command()
@json_flag
@click.pass_obj
def verify(settings: Settings) -> None:
    """Verify every entry of the audit log chains to the one before (exit 3 if not)."""
    if not settings.has_owner_queue():
        ws = resolve_workspace(settings.email, settings.syftbox_dir)
        raise WorkspaceError(
            f"{ws.email} runs no '{settings.queue}' queue in {ws.data_dir}; "
            "verify as the data owner (--email) on the owner's machine"
        )
    server = settings.server()
    report = server.verify_audit()
    path = server.ledger.audit_path

    def human() -> None:
        if report.ok:
            click.echo(f"audit log OK: {report.entries} entries chain ({path})")
        for note in report.notes:
            click.echo(f"note: {note}")

    emit(
        settings,
        {
            "ok": report.ok,
            "path": str(path),
            "entries": report.entries,
            "problems": report.problems,
            "notes": report.notes,
        },
        human,
    )
    if not report.ok:
        for problem in report.problems:
            click.echo(f"error: audit log '{path}': {problem}", err=True)
        click.get_current_context().exit(EXIT_AUDIT_FAILED)


@main.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Use this folder (kept) instead of a fresh temporary one.",
)
@click.option("--keep", is_flag=True, help="Keep the temporary folder to explore it.")
@json_flag
@click.pass_obj
def demo(settings: Settings, directory: Path | None, keep: bool) -> None:
    """Try the whole workflow on a throwaway local folder, in seconds."""
    from syft_code_queue.demo import run_demo

    result = run_demo(
        directory, keep=keep, say=(lambda _line: None) if settings.json_output else click.echo
    )
    if settings.json_output:
        click.echo(
            json.dumps(
                {
                    "syftbox_dir": str(result.syftbox_dir),
                    "kept": result.kept,
                    "seconds": round(result.seconds, 3),
                    "job": dump(result.job),
                    "summary": result.summary,
                    "logs": result.logs,
                },
                indent=2,
            )
        )
    if result.job.status is not JobStatus.completed:
        # Not fail: with --json the document above is already the one on stdout.
        click.echo(
            f"error: the demo job ended {result.job.status.value}: {result.job.error_message}",
            err=True,
        )
        click.get_current_context().exit(EXIT_ERROR)
