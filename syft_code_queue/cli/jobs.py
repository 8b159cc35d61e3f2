"""Commands about jobs: the data scientist's (submit, list, cancel) and either side's
(show, logs, output)."""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from syft_code_queue.cli.app import (
    Role,
    Settings,
    Source,
    emit,
    fail,
    json_flag,
    locate,
    main,
    role_option,
)
from syft_code_queue.cli.text import age, clean, dump, human_size, job_table, when
from syft_code_queue.models import CodeJob, JobStatus

# The data scientist's commands


@main.command()
@click.argument("target")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--name", "-n", required=True, help="What the analysis does, in a few words.")
@click.option("--description", "-d", help="More detail for the reviewer.")
@click.option("--tag", "-t", "tags", multiple=True, help="A tag (repeat for more).")
@click.option(
    "--supersedes",
    metavar="UID",
    help="Your earlier job this is a new version of (uid or short id); the owner reviews "
    "the changes. Default: your latest job of the same name.",
)
@json_flag
@click.pass_obj
def submit(
    settings: Settings,
    *,
    target: str,
    folder: Path,
    name: str,
    description: str | None,
    tags: tuple[str, ...],
    supersedes: str | None,
) -> None:
    """Submit a code folder to a data owner for review.

    FOLDER holds a run.sh (run as 'bash run.sh'); TARGET is the data owner's email.
    """
    previous = locate(settings, supersedes, "requester")[1].uid if supersedes else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        job = settings.client().submit_code(
            target, folder, name, description, tags, supersedes=previous
        )
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)

    def human() -> None:
        click.echo(f"submitted {job.uid} '{clean(job.name)}' to {job.target_email}")
        click.echo(
            f"{len(job.files)} files, status {job.status.value}; follow it: scq show {job.short_id}"
        )

    emit(settings, dump(job), human)


@main.command("list")
@click.option("--status", type=click.Choice([s.value for s in JobStatus]), help="Only this status.")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many, newest first.")
@role_option("requester", ("requester", "owner"))
@json_flag
@click.pass_obj
def list_jobs(settings: Settings, status: str | None, limit: int | None, role: Role) -> None:
    """List the jobs you submitted (--as owner: those you received)."""
    source: Source = settings.server() if role == "owner" else settings.client()
    jobs = source.list_jobs(status, limit)
    emit(
        settings,
        [dump(j) for j in jobs],
        lambda: click.echo(
            job_table(jobs, "requester" if role == "owner" else "target") if jobs else "no jobs"
        ),
    )


@main.command()
@click.argument("uid")
@json_flag
@click.pass_obj
def cancel(settings: Settings, uid: str) -> None:
    """Ask the data owner's server to cancel a job you submitted."""
    _, job = locate(settings, uid, "requester")
    job = settings.client().cancel_job(job.uid)
    emit(
        settings,
        dump(job),
        lambda: click.echo(
            f"cancellation of {job.uid} requested; the owner's server marks it failed (cancelled)"
        ),
    )


# Commands for either side


@main.command()
@click.argument("uid")
@role_option("auto", ("auto", "requester", "owner"))
@json_flag
@click.pass_obj
def show(settings: Settings, uid: str, role: Role) -> None:
    """Show one job in full: who, status, decision, timings, files."""
    _, job = locate(settings, uid, role)
    emit(settings, dump(job), lambda: click.echo(details(job)))


def details(job: CodeJob) -> str:
    status = job.status.value
    if job.failure_reason is not None:
        status += f" ({job.failure_reason.value})"
    if job.exit_code is not None:
        status += f", exit code {job.exit_code}"
    if job.status_note:
        status += f"; {job.status_note}"
    decided = when(job.decided_at)
    if job.reviewer:
        decided += f" by {clean(job.reviewer)}"
    fields = [
        ("uid", str(job.uid)),
        ("name", clean(job.name)),
        ("status", status),
        ("requester", clean(job.requester_email)),
        ("target", clean(job.target_email)),
        ("tags", clean(", ".join(job.tags)) or "-"),
        ("created", f"{when(job.created_at)} ({age(job.created_at)} ago)"),
        ("decided", decided),
        ("reason", clean(job.decision_reason or "-")),
        ("started", when(job.started_at)),
        ("completed", when(job.completed_at)),
        ("code hash", job.code_hash),
        ("code", str(job.code_folder or "-")),
        ("output", str(job.output_folder or "-")),
    ]
    if job.error_message and job.error_message != job.decision_reason:
        fields.insert(3, ("error", clean(job.error_message)))
    if job.withheld_files:
        fields.append(("withheld", clean(", ".join(job.withheld_files))))
        fields.append(("release reason", clean(job.release_reason or "-")))
    width = max(len(k) for k, _ in fields)
    lines = [f"{k:<{width}}  {v}" for k, v in fields]
    if job.description:
        lines += ["", "description:", *(f"  {x}" for x in job.description.splitlines())]
    if job.files:
        names = [clean(f.path) for f in job.files]
        width = max(len(n) for n in names)
        lines += ["", f"files ({len(job.files)}):"]
        lines += [
            f"  {n:<{width}}  {human_size(f.size)}" for n, f in zip(names, job.files, strict=True)
        ]
    return clean("\n".join(lines), multiline=True)


@main.command()
@click.argument("uid")
@role_option("auto", ("auto", "requester", "owner"))
@json_flag
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

    emit(settings, {"uid": str(job.uid), "status": job.status.value, "logs": text}, human)


@main.command()
@click.argument("uid")
@role_option("auto", ("auto", "requester", "owner"))
@json_flag
@click.pass_obj
def output(settings: Settings, uid: str, role: Role) -> None:
    """Print the folder of a completed job's results and list its files."""
    source, job = locate(settings, uid, role)
    folder = source.get_job_output(job.uid)
    if folder is None:
        fail(f"job {job.uid} has no output (it is {job.status.value})", kind="NoOutput")
    files = sorted(
        (p.relative_to(folder).as_posix(), p.stat().st_size)
        for p in folder.rglob("*")
        if p.is_file()
    )

    def human() -> None:
        click.echo(str(folder))
        width = max((len(p) for p, _ in files), default=0)
        for path, size in files:
            click.echo(f"  {clean(path):<{width}}  {human_size(size)}")

    emit(
        settings,
        {
            "uid": str(job.uid),
            "path": str(folder),
            "files": [{"path": p, "size": s} for p, s in files],
        },
        human,
    )
