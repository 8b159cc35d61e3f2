"""The data owner's commands for held results (a queue served with ``--release manual``):
results, release, withhold."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import click

from syft_code_queue.cli.app import Settings, emit, json_flag, locate, main
from syft_code_queue.cli.owner import required_reason
from syft_code_queue.cli.text import clean, dump, human_size, job_table

if TYPE_CHECKING:
    from syft_code_queue.airlock import ResultsReport


@main.command()
@click.argument("uid", required=False)
@json_flag
@click.pass_obj
def results(settings: Settings, uid: str | None) -> None:
    """List the jobs whose results wait for your release, oldest first; with UID, check
    that job's held files and show the report (files, findings by severity)."""
    server = settings.server()
    if uid is None:
        jobs = server.list_awaiting_release()
        emit(
            settings,
            [dump(j) for j in jobs],
            lambda: click.echo(
                job_table(jobs, "requester") if jobs else "no results awaiting release"
            ),
        )
        return
    _, job = locate(settings, uid, "owner")
    report = server.check_results(job.uid)
    emit(settings, report.model_dump(mode="json"), lambda: click.echo(report_text(report)))


def report_text(report: ResultsReport) -> str:
    """The report for a terminal: each held file with its findings, then the counts."""
    counts = ", ".join(f"{n} {severity}" for severity, n in report.counts.items())
    lines = [f"results of {report.uid}: {counts}", "", "files:"]
    width = max((len(clean(f.path)) for f in report.files), default=0)
    for held in report.files:
        per_file = Counter(f.severity for f in report.findings_for(held.path))
        marks = ", ".join(f"{per_file[s]} {s}" for s in ("block", "review", "info") if per_file[s])
        lines.append(
            f"  {clean(held.path):<{width}}  {human_size(held.size):>9}  {held.kind:<8}  "
            f"{marks or 'no findings'}"
        )
    for severity in ("block", "review", "info"):
        found = [f for f in report.findings if f.severity == severity]
        if found:
            lines += ["", f"{severity} ({len(found)}):"]
            lines += [f"  {clean(str(f.where))}: {clean(f.message)} [{f.check}]" for f in found]
    lines += [
        "",
        f"release: scq release {report.uid} [--file PATH]... [--reason R]; "
        f"withhold: scq withhold {report.uid} --reason R",
    ]
    return "\n".join(lines)


@main.command()
@click.argument("uid")
@click.option(
    "--file",
    "-f",
    "files",
    multiple=True,
    help="A held file to release, as 'scq results UID' lists it (repeat; default: all).",
)
@click.option("--reason", "-r", help="Why (the data scientist sees it beside withheld files).")
@json_flag
@click.pass_obj
def release(settings: Settings, uid: str, files: tuple[str, ...], reason: str | None) -> None:
    """Publish a job's checked results (all, or each --file) to the data scientist.

    Run 'scq results UID' first: only files whose bytes are still those checked leave.
    """
    server = settings.server()
    _, job = locate(settings, uid, "owner")
    job = server.release_results(job.uid, list(files) or None, reason)

    def human() -> None:
        click.echo(f"released the results of {job.uid} '{clean(job.name)}' ({job.status.value})")
        if job.withheld_files:
            click.echo(f"withheld: {clean(', '.join(job.withheld_files))}")

    emit(settings, dump(job), human)


@main.command()
@click.argument("uid")
@required_reason
@json_flag
@click.pass_obj
def withhold(settings: Settings, uid: str, reason: str) -> None:
    """Publish nothing of a job's results; it ends failed (withheld) with the reason."""
    server = settings.server()
    _, job = locate(settings, uid, "owner")
    job = server.withhold_results(job.uid, reason)
    emit(
        settings,
        dump(job),
        lambda: click.echo(f"withheld the results of {job.uid} '{clean(job.name)}'"),
    )
