"""The ``scq`` command: submit, review, run and inspect jobs from a shell.

Human output is an aligned table or a few short lines; ``--json`` prints one JSON document
on stdout for automation. Errors print ``error: <message>`` on stderr, never a traceback,
and the exit code says what happened (``EXIT_*`` below, shown by ``scq --help``).
"""

from __future__ import annotations

import json
import logging
import re
import signal
import threading
import time
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, Literal, NoReturn, TypeVar
from uuid import UUID

import click
from pydantic import ValidationError

from syft_code_queue.client import CodeQueueClient
from syft_code_queue.errors import CodeQueueError, JobNotFoundError, WorkspaceError
from syft_code_queue.models import CodeJob, JobStatus, QueueConfig, utcnow
from syft_code_queue.server import CodeQueueServer
from syft_code_queue.workspace import ENV_DATA_DIR, ENV_EMAIL, resolve_workspace

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUDIT_FAILED = 3

ENV_QUEUE = "SCQ_QUEUE"
# How often `scq serve` looks for status changes to print; the server itself is woken by
# a file watcher and does not depend on this.
SERVE_REFRESH = 1.0
NAME_WIDTH = 36

_EPILOG = f"""\b
Exit codes:
  {EXIT_OK}  success
  {EXIT_ERROR}  the queue refused: unknown job, job not pending, bad code folder,
     no SyftBox identity, job timed out (message on stderr)
  {EXIT_USAGE}  usage error: a missing or invalid option or argument
  {EXIT_AUDIT_FAILED}  'scq audit verify' found the audit log edited, reordered or truncated

\b
Identity: --email and --syftbox-dir, else SYFTBOX_EMAIL and SYFTBOX_DATA_DIR,
else the SyftBox config at SYFTBOX_CLIENT_CONFIG_PATH or ~/.syftbox/config.json.
New here? Run 'scq demo'.
"""

Role = Literal["auto", "requester", "owner"]
Source = CodeQueueClient | CodeQueueServer
F = TypeVar("F", bound=Callable[..., Any])

_HEX_PREFIX = re.compile(r"^[0-9a-f][0-9a-f-]{3,35}$")

log = logging.getLogger("syft_code_queue.cli")


@dataclass
class Settings:
    """The global options, and the client or server built from them on first use."""

    email: str | None
    syftbox_dir: Path | None
    queue: str
    json_output: bool = False
    _client: CodeQueueClient | None = field(default=None, init=False, repr=False)
    _owner: CodeQueueServer | None = field(default=None, init=False, repr=False)

    def config(self, **fields: Any) -> QueueConfig:
        """The queue settings: this queue's name plus ``fields``."""
        return QueueConfig(queue_name=self.queue, **fields)

    def client(self) -> CodeQueueClient:
        """This identity as a data scientist."""
        if self._client is None:
            self._client = CodeQueueClient(
                self.config(), email=self.email, syftbox_dir=self.syftbox_dir
            )
        return self._client

    def server(self, **fields: Any) -> CodeQueueServer:
        """This identity as a data owner; closed when the command ends."""
        if self._owner is not None and not fields:
            return self._owner
        server = CodeQueueServer(
            self.config(**fields), email=self.email, syftbox_dir=self.syftbox_dir
        )
        click.get_current_context().call_on_close(server.close)
        if not fields:
            self._owner = server
        return server

    def has_owner_queue(self) -> bool:
        """Whether this identity already runs the queue as an owner (without creating it)."""
        return resolve_workspace(self.email, self.syftbox_dir).private_dir(self.queue).is_dir()


def _emit(settings: Settings, document: Any, human: Callable[[], None]) -> None:
    """Print ``document`` as JSON with ``--json``, else call ``human`` to print text."""
    if settings.json_output:
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        human()


def _fail(message: str, code: int = EXIT_ERROR, kind: str = "error") -> NoReturn:
    ctx = click.get_current_context()
    settings = ctx.find_object(Settings)
    message = clean(message)
    click.echo(f"error: {message}", err=True)
    if settings is not None and settings.json_output:
        click.echo(json.dumps({"error": {"type": kind, "message": message}, "exit_code": code}))
    ctx.exit(code)


class _Group(click.Group):
    """Turns the errors a user can hit into ``error: ...`` and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        # The order of a job's life, not the alphabet.
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CodeQueueError as exc:
            _fail(str(exc), EXIT_ERROR, type(exc).__name__)
        except TimeoutError as exc:
            _fail(str(exc), EXIT_ERROR, "TimeoutError")


def _json_flag(func: F) -> F:
    """``--json`` after a command, as well as before it (``scq --json list``)."""

    def enable(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        settings = ctx.find_object(Settings)
        if value and settings is not None:
            settings.json_output = True

    return click.option(
        "--json",
        "json_flag",
        is_flag=True,
        expose_value=False,
        callback=enable,
        help="Print one JSON document on stdout.",
    )(func)


def _role_option(default: Role, choices: tuple[Role, ...]) -> Callable[[F], F]:
    auto = "; auto tries requester, then owner" if "auto" in choices else ""
    return click.option(
        "--as",
        "role",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help="Act as the data scientist who sent the job (requester) or the data owner "
        f"who received it (owner){auto}.",
    )


def _check_queue(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        QueueConfig(queue_name=value)
    except ValidationError as exc:
        raise click.BadParameter(exc.errors()[0]["msg"]) from None
    return value


# Text helpers


def clean(text: str, *, multiline: bool = False) -> str:
    """``text`` safe for a terminal: control characters (escape sequences) become ``?``.

    Names, reasons and logs come from the other party; printing them raw would let them
    move the cursor or rewrite what the reader sees.
    """
    keep = "\n\t" if multiline else ""
    return "".join(
        c if c in keep or not unicodedata.category(c).startswith("C") else "?" for c in text
    )


def age(then: datetime, now: datetime | None = None) -> str:
    """A short age such as ``12s``, ``5m``, ``3h`` or ``2d``."""
    seconds = max(0, int(((now or utcnow()) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _shorten(text: str, width: int) -> str:
    text = clean(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def job_table(jobs: list[CodeJob], peer: Literal["requester", "target"]) -> str:
    """An aligned table of jobs: short uid, name, the other person, status, age."""
    now = utcnow()
    header = ("UID", "NAME", peer.upper(), "STATUS", "AGE")
    rows = [
        (
            job.short_id,
            _shorten(job.name, NAME_WIDTH),
            clean(job.requester_email if peer == "requester" else job.target_email),
            job.status.value,
            age(job.created_at, now),
        )
        for job in jobs
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def _dump(job: CodeJob) -> dict[str, Any]:
    return job.model_dump(mode="json")


# Finding a job from a uid or its first characters


def _sources(settings: Settings, role: Role) -> list[Source]:
    if role == "requester":
        return [settings.client()]
    if role == "owner":
        return [settings.server()]
    sources: list[Source] = [settings.client()]
    if settings.has_owner_queue():
        sources.append(settings.server())
    return sources


def _get(source: Source, uid: str) -> CodeJob:
    if isinstance(source, CodeQueueServer):
        try:
            return source.get_job(uid)
        except JobNotFoundError:
            # The request may have arrived since the server last scanned the outboxes.
            source.list_pending_jobs()
    return source.get_job(uid)


def locate(settings: Settings, ref: str, role: Role) -> tuple[Source, CodeJob]:
    """The job a full uid or a unique uid prefix (the short id in tables) names.

    Raises:
        JobNotFoundError: no job, or more than one, matches ``ref`` for this identity.
    """
    ref = ref.strip().lower()
    sources = _sources(settings, role)
    try:
        full: str | None = str(UUID(ref))
    except ValueError:
        full = None
    if full is not None:
        for source in sources:
            try:
                return source, _get(source, full)
            except JobNotFoundError:
                continue
    elif _HEX_PREFIX.match(ref):
        matches: dict[str, tuple[Source, CodeJob]] = {}
        for source in sources:
            for job in source.list_jobs():
                if str(job.uid).startswith(ref):
                    matches.setdefault(str(job.uid), (source, job))
        if len(matches) == 1:
            return next(iter(matches.values()))
        if matches:
            raise JobNotFoundError(
                f"'{ref}' is the start of {len(matches)} job uids "
                f"({', '.join(sorted(matches))}); give more of the uid"
            )
    else:
        raise JobNotFoundError(
            f"'{clean(ref)}' is not a job uid; give a uid or its first characters "
            "(at least 4), as 'scq list' or 'scq pending' show them"
        )
    roles = {"auto": "sent or received", "requester": "sent", "owner": "received"}[role]
    raise JobNotFoundError(
        f"no job '{ref}' {roles} by {sources[0].email} in the '{settings.queue}' queue; "
        "'scq list' shows the jobs you sent, 'scq pending' those waiting for your review"
    )


# The command group


@click.group(cls=_Group, epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--email",
    envvar=ENV_EMAIL,
    show_envvar=True,
    help="Your SyftBox email (else from the SyftBox config).",
)
@click.option(
    "--syftbox-dir",
    envvar=ENV_DATA_DIR,
    show_envvar=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The SyftBox folder (else from the SyftBox config).",
)
@click.option(
    "--queue",
    envvar=ENV_QUEUE,
    show_envvar=True,
    default="code-queue",
    show_default=True,
    callback=_check_queue,
    help="The queue name; both sides must use the same.",
)
@click.option("--json", "json_output", is_flag=True, help="Print one JSON document on stdout.")
@click.option("-v", "--verbose", is_flag=True, help="Log what the queue does (INFO) on stderr.")
@click.version_option(package_name="syft-code-queue", prog_name="scq")
@click.pass_context
def main(
    ctx: click.Context,
    *,
    email: str | None,
    syftbox_dir: Path | None,
    queue: str,
    json_output: bool,
    verbose: bool,
) -> None:
    """Run code on a data owner's SyftBox datasite, only after the owner approves it.

    A data scientist submits a folder with a run.sh; the data owner reviews it with
    'scq pending' and 'scq show', decides with 'scq approve' or 'scq reject', and runs
    approved jobs with 'scq serve'.
    """
    ctx.obj = Settings(email=email or None, syftbox_dir=syftbox_dir, queue=queue)
    ctx.obj.json_output = json_output
    # The library only logs; the command shows warnings (INFO with -v) on this stderr,
    # and removes its handler when done so repeated in-process runs do not pile up.
    handler = logging.StreamHandler(click.get_text_stream("stderr"))
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    package_log = logging.getLogger("syft_code_queue")
    package_log.addHandler(handler)
    previous = package_log.level
    package_log.setLevel(logging.INFO if verbose else logging.WARNING)

    def restore() -> None:
        package_log.removeHandler(handler)
        package_log.setLevel(previous)

    ctx.call_on_close(restore)


# The data scientist's commands


@main.command()
@click.argument("target")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--name", "-n", required=True, help="What the analysis does, in a few words.")
@click.option("--description", "-d", help="More detail for the reviewer.")
@click.option("--tag", "-t", "tags", multiple=True, help="A tag (repeat for more).")
@_json_flag
@click.pass_obj
def submit(
    settings: Settings,
    *,
    target: str,
    folder: Path,
    name: str,
    description: str | None,
    tags: tuple[str, ...],
) -> None:
    """Submit a code folder to a data owner for review.

    FOLDER holds a run.sh (run as 'bash run.sh'); TARGET is the data owner's email.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        job = settings.client().submit_code(target, folder, name, description, tags)
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)

    def human() -> None:
        click.echo(f"submitted {job.uid} '{clean(job.name)}' to {job.target_email}")
        click.echo(
            f"{len(job.files)} files, status {job.status.value}; follow it: scq show {job.short_id}"
        )

    _emit(settings, _dump(job), human)


@main.command("list")
@click.option("--status", type=click.Choice([s.value for s in JobStatus]), help="Only this status.")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many, newest first.")
@_role_option("requester", ("requester", "owner"))
@_json_flag
@click.pass_obj
def list_jobs(settings: Settings, status: str | None, limit: int | None, role: Role) -> None:
    """List the jobs you submitted (--as owner: those you received)."""
    source: Source = settings.server() if role == "owner" else settings.client()
    jobs = source.list_jobs(status, limit)
    _emit(
        settings,
        [_dump(j) for j in jobs],
        lambda: click.echo(
            job_table(jobs, "requester" if role == "owner" else "target") if jobs else "no jobs"
        ),
    )


@main.command()
@click.argument("uid")
@_json_flag
@click.pass_obj
def cancel(settings: Settings, uid: str) -> None:
    """Ask the data owner's server to cancel a job you submitted."""
    _, job = locate(settings, uid, "requester")
    job = settings.client().cancel_job(job.uid)
    _emit(
        settings,
        _dump(job),
        lambda: click.echo(
            f"cancellation of {job.uid} requested; the owner's server marks it failed (cancelled)"
        ),
    )


# Commands for either side


@main.command()
@click.argument("uid")
@_role_option("auto", ("auto", "requester", "owner"))
@_json_flag
@click.pass_obj
def show(settings: Settings, uid: str, role: Role) -> None:
    """Show one job in full: who, status, decision, timings, files."""
    _, job = locate(settings, uid, role)
    _emit(settings, _dump(job), lambda: click.echo(_details(job)))


def _details(job: CodeJob) -> str:
    status = job.status.value
    if job.failure_reason is not None:
        status += f" ({job.failure_reason.value})"
    if job.exit_code is not None:
        status += f", exit code {job.exit_code}"
    decided = _when(job.decided_at)
    if job.reviewer:
        decided += f" by {clean(job.reviewer)}"
    fields = [
        ("uid", str(job.uid)),
        ("name", clean(job.name)),
        ("status", status),
        ("requester", clean(job.requester_email)),
        ("target", clean(job.target_email)),
        ("tags", clean(", ".join(job.tags)) or "-"),
        ("created", f"{_when(job.created_at)} ({age(job.created_at)} ago)"),
        ("decided", decided),
        ("reason", clean(job.decision_reason or "-")),
        ("started", _when(job.started_at)),
        ("completed", _when(job.completed_at)),
        ("code hash", job.code_hash),
        ("code", str(job.code_folder or "-")),
        ("output", str(job.output_folder or "-")),
    ]
    if job.error_message and job.error_message != job.decision_reason:
        fields.insert(3, ("error", clean(job.error_message)))
    width = max(len(k) for k, _ in fields)
    lines = [f"{k:<{width}}  {v}" for k, v in fields]
    if job.description:
        lines += ["", "description:", *(f"  {x}" for x in job.description.splitlines())]
    if job.files:
        names = [clean(f.path) for f in job.files]
        width = max(len(n) for n in names)
        lines += ["", f"files ({len(job.files)}):"]
        lines += [f"  {n:<{width}}  {_size(f.size)}" for n, f in zip(names, job.files, strict=True)]
    return clean("\n".join(lines), multiline=True)


@main.command()
@click.argument("uid")
@_role_option("auto", ("auto", "requester", "owner"))
@_json_flag
@click.option(
    "--tail", type=click.IntRange(min=1), help="Only the last N bytes of stdout and of stderr."
)
@click.pass_obj
def logs(settings: Settings, uid: str, role: Role, tail: int | None) -> None:
    """Print a job's stdout and stderr as far as it has run."""
    source, job = locate(settings, uid, role)
    text = source.get_job_logs(job.uid, tail=tail)

    def human() -> None:
        if text:
            click.echo(clean(text, multiline=True), nl=not text.endswith("\n"))
        else:
            click.echo(f"no logs yet (job is {job.status.value})", err=True)

    _emit(settings, {"uid": str(job.uid), "status": job.status.value, "logs": text}, human)


@main.command()
@click.argument("uid")
@_role_option("auto", ("auto", "requester", "owner"))
@_json_flag
@click.pass_obj
def output(settings: Settings, uid: str, role: Role) -> None:
    """Print the folder of a completed job's results and list its files."""
    source, job = locate(settings, uid, role)
    folder = source.get_job_output(job.uid)
    if folder is None:
        _fail(f"job {job.uid} has no output (it is {job.status.value})", kind="NoOutput")
    files = sorted(
        (p.relative_to(folder).as_posix(), p.stat().st_size)
        for p in folder.rglob("*")
        if p.is_file()
    )

    def human() -> None:
        click.echo(str(folder))
        width = max((len(p) for p, _ in files), default=0)
        for path, size in files:
            click.echo(f"  {clean(path):<{width}}  {_size(size)}")

    _emit(
        settings,
        {
            "uid": str(job.uid),
            "path": str(folder),
            "files": [{"path": p, "size": s} for p, s in files],
        },
        human,
    )


# The data owner's commands


@main.command()
@_json_flag
@click.pass_obj
def pending(settings: Settings) -> None:
    """List the jobs waiting for your review, oldest first."""
    jobs = settings.server().list_pending_jobs()
    _emit(
        settings,
        [_dump(j) for j in jobs],
        lambda: click.echo(job_table(jobs, "requester") if jobs else "no pending jobs"),
    )


@main.command()
@click.argument("uid")
@click.option("--reason", "-r", help="Why (recorded in the audit log).")
@_json_flag
@click.pass_obj
def approve(settings: Settings, uid: str, reason: str | None) -> None:
    """Approve a pending job: exactly the reviewed code may run."""
    server = settings.server()
    _, job = locate(settings, uid, "owner")
    job = server.approve_job(job.uid, reason)
    _emit(
        settings,
        _dump(job),
        lambda: click.echo(
            f"approved {job.uid} '{clean(job.name)}' from {job.requester_email}; "
            "'scq serve' runs it"
        ),
    )


def _require_text(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not value.strip():
        raise click.BadParameter("give a reason; the data scientist sees it")
    return value


@main.command()
@click.argument("uid")
@click.option(
    "--reason",
    "-r",
    required=True,
    callback=_require_text,
    help="Why (required; the data scientist sees it).",
)
@_json_flag
@click.pass_obj
def reject(settings: Settings, uid: str, reason: str) -> None:
    """Reject a pending or approved job, with a reason."""
    server = settings.server()
    _, job = locate(settings, uid, "owner")
    job = server.reject_job(job.uid, reason)
    _emit(
        settings,
        _dump(job),
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
@_json_flag
@click.pass_obj
def serve(
    settings: Settings,
    max_concurrent_jobs: int,
    job_timeout: float,
    job_data_dir: Path | None,
) -> None:
    """Run approved jobs until Ctrl-C, then stop cleanly.

    SIGINT and SIGTERM both stop it; jobs still running then are killed and marked
    failed (interrupted).
    """
    server = settings.server(
        max_concurrent_jobs=max_concurrent_jobs, job_timeout=job_timeout, job_data_dir=job_data_dir
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
    _emit(
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
        extra = f": {_shorten(str(detail), 120)}" if detail and label != "received" else ""
        click.echo(
            f"{datetime.fromisoformat(event['at']):%H:%M:%S}  {job.short_id}  {label:<9}  "
            f"'{_shorten(job.name, NAME_WIDTH)}' from {clean(job.requester_email)}{extra}"
        )


@main.group()
def audit() -> None:
    """Check the owner's hash-chained audit log."""


@audit.command()
@_json_flag
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

    _emit(
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
@_json_flag
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
                    "job": _dump(result.job),
                    "summary": result.summary,
                    "logs": result.logs,
                },
                indent=2,
            )
        )
    if result.job.status is not JobStatus.completed:
        # Not _fail: with --json the document above is already the one on stdout.
        click.echo(
            f"error: the demo job ended {result.job.status.value}: {result.job.error_message}",
            err=True,
        )
        click.get_current_context().exit(EXIT_ERROR)
