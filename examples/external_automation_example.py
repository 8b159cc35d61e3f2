"""An approval bot that lives outside syft-code-queue and uses only its manual approval API.

syft-code-queue has no auto-approval: every job waits for an explicit decision. A data
owner who wants rules writes them, as here, and calls the same ``approve_job`` and
``reject_job`` a person would; every decision lands in the audit log with its reason.

Run it with no setup::

    python examples/external_automation_example.py            # a temporary SyftBox folder
    python examples/external_automation_example.py --syftbox-dir ./SyftBox   # kept

A data scientist submits two jobs: the demo analysis package tagged ``aggregate``, and the
same package with a raw data export added and no such tag. The bot approves the first,
rejects the second with its reasons, and the owner's server runs the approved one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import syft_code_queue as scq
from syft_code_queue.demo import DO_EMAIL, DS_EMAIL, copy_demo_package, write_patients_csv

REQUIRED_TAG = "aggregate"
MAX_FILE_BYTES = 100_000
MAX_FILES = 20


def review(job: scq.CodeJob) -> list[str]:
    """Why ``job`` does not meet the criteria; an empty list means it does.

    The criteria are deliberately explicit: the data scientist declared an aggregate
    analysis, and the package is small enough for a person to have read it all.
    """
    problems = []
    if REQUIRED_TAG not in job.tags:
        problems.append(f"it is not tagged '{REQUIRED_TAG}'")
    if len(job.files) > MAX_FILES:
        problems.append(f"it has {len(job.files)} files (at most {MAX_FILES})")
    problems += [
        f"'{f.path}' is {f.size} bytes (at most {MAX_FILE_BYTES})"
        for f in job.files
        if f.size > MAX_FILE_BYTES
    ]
    return problems


def smart_approval_bot(server: scq.CodeQueueServer) -> list[tuple[scq.CodeJob, str]]:
    """Decide every pending job by :func:`review`; return each job with the decision taken."""
    decisions = []
    for job in server.list_pending_jobs():
        problems = review(job)
        if problems:
            reason = "does not meet the automatic criteria: " + "; ".join(problems)
            decisions.append((server.reject_job(job.uid, reason), reason))
        else:
            reason = f"tagged '{REQUIRED_TAG}', {len(job.files)} small files"
            decisions.append(
                (server.approve_job(job.uid, reason=f"approval bot: {reason}"), reason)
            )
    return decisions


def main(argv: list[str] | None = None) -> int:
    """Submit two jobs, let the bot decide, run the approved one, and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--syftbox-dir", type=Path, help="a SyftBox folder to use and keep (default: temporary)"
    )
    args = parser.parse_args(argv)
    root = args.syftbox_dir or Path(tempfile.mkdtemp(prefix="scq-bot-"))
    try:
        run(root.resolve())
    finally:
        if args.syftbox_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def run(root: Path) -> None:
    """The whole example on the SyftBox folder ``root``."""
    print(f"SyftBox folder: {root}")
    # Private folders, outside datasites/: never synced.
    data_dir = root / "private" / DO_EMAIL
    write_patients_csv(data_dir / "patients.csv")
    work = root / "private" / DS_EMAIL
    # The example analysis package is the one shipped for `scq demo`: no copy in the repo.
    analysis = copy_demo_package(work / "analysis_package")
    export = copy_demo_package(work / "export_package")
    (export / "raw_export.csv").write_text("patient_id,age\n" + "P0001,42\n" * 20_000)

    client = scq.create_client(email=DS_EMAIL, syftbox_dir=root)
    good = client.submit_code(DO_EMAIL, analysis, "Cohort statistics", tags=["aggregate"])
    bad = client.submit_code(DO_EMAIL, export, "Patient export", tags=["export"])
    print(f"{DS_EMAIL} submitted {good.short_id} '{good.name}' and {bad.short_id} '{bad.name}'")

    with scq.create_server(email=DO_EMAIL, syftbox_dir=root, job_data_dir=data_dir) as server:
        for job, reason in smart_approval_bot(server):
            print(f"bot: {job.status.value} {job.short_id} '{job.name}': {reason}")
        server.start()
        # Waits on the published status with a deadline, not a fixed sleep.
        finished = client.wait(good.uid, timeout=60)
        audit = server.verify_audit()

    print(f"{DS_EMAIL} sees:")
    for job in client.list_jobs():
        note = f" ({job.decision_reason})" if job.status is scq.JobStatus.rejected else ""
        print(f"  {job.short_id}  {job.name:<18}  {job.status.value}{note}")
    output = client.get_job_output(finished.uid)
    if output is not None:
        summary = json.loads((output / "summary.json").read_text(encoding="utf-8"))
        print(f"result of {finished.short_id}: {json.dumps(summary)}")
    print(f"audit log: {'OK' if audit.ok else 'BROKEN'}, {audit.entries} entries")


if __name__ == "__main__":
    sys.exit(main())
