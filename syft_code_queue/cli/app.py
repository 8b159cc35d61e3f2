"""The ``scq`` command group: global options, settings, errors and exit codes, and
finding a job from a uid or its first characters."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar
from uuid import UUID

import click
from pydantic import ValidationError

from syft_code_queue.cli.text import clean
from syft_code_queue.client import CodeQueueClient
from syft_code_queue.errors import CodeQueueError, JobNotFoundError
from syft_code_queue.models import CodeJob, QueueConfig
from syft_code_queue.server import CodeQueueServer
from syft_code_queue.workspace import ENV_DATA_DIR, ENV_EMAIL, resolve_workspace

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUDIT_FAILED = 3

ENV_QUEUE = "SCQ_QUEUE"

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


def emit(settings: Settings, document: Any, human: Callable[[], None]) -> None:
    """Print ``document`` as JSON with ``--json``, else call ``human`` to print text."""
    if settings.json_output:
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        human()


def fail(message: str, code: int = EXIT_ERROR, kind: str = "error") -> NoReturn:
    ctx = click.get_current_context()
    settings = ctx.find_object(Settings)
    message = clean(message)
    click.echo(f"error: {message}", err=True)
    if settings is not None and settings.json_output:
        click.echo(json.dumps({"error": {"type": kind, "message": message}, "exit_code": code}))
    ctx.exit(code)


class _EchoHandler(logging.Handler):
    """Shows the library's log records on the command's stderr (click.echo finds it per call)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # logging must never take the command down
            self.handleError(record)


class Group(click.Group):
    """Turns the errors a user can hit into ``error: ...`` and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        # The order of a job's life, not the alphabet.
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CodeQueueError as exc:
            fail(str(exc), EXIT_ERROR, type(exc).__name__)
        except TimeoutError as exc:
            fail(str(exc), EXIT_ERROR, "TimeoutError")


def json_flag(func: F) -> F:
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


def role_option(default: Role, choices: tuple[Role, ...]) -> Callable[[F], F]:
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


def check_queue(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        QueueConfig(queue_name=value)
    except ValidationError as exc:
        raise click.BadParameter(exc.errors()[0]["msg"]) from None
    return value


# Finding a job from a uid or its first characters


def job_sources(settings: Settings, role: Role) -> list[Source]:
    if role == "requester":
        return [settings.client()]
    if role == "owner":
        return [settings.server()]
    sources: list[Source] = [settings.client()]
    if settings.has_owner_queue():
        sources.append(settings.server())
    return sources


def get_job(source: Source, uid: str) -> CodeJob:
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
    sources = job_sources(settings, role)
    try:
        full: str | None = str(UUID(ref))
    except ValueError:
        full = None
    if full is not None:
        for source in sources:
            try:
                return source, get_job(source, full)
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


@click.group(cls=Group, epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
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
    callback=check_queue,
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
    handler = _EchoHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    package_log = logging.getLogger("syft_code_queue")
    package_log.addHandler(handler)
    previous = package_log.level
    package_log.setLevel(logging.INFO if verbose else logging.WARNING)

    def restore() -> None:
        package_log.removeHandler(handler)
        package_log.setLevel(previous)

    ctx.call_on_close(restore)
