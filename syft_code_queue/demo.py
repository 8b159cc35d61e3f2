"""The whole workflow on one local folder, in a few seconds: what ``scq demo`` runs.

A data scientist and a data owner share a fresh local SyftBox folder (both datasites sit
side by side, as on a machine that syncs both). The owner keeps a made-up patient dataset in
a private folder outside ``datasites/``; the data scientist submits the shipped analysis
package; the owner reviews it, approves it, and the owner's server runs it. Nothing here
prints: the caller passes ``say`` to show progress.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syft_code_queue.client import create_client
from syft_code_queue.models import CodeJob
from syft_code_queue.server import create_server

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

DS_EMAIL = "alice@datascience.example"
DO_EMAIL = "bob@hospital.example"
JOB_NAME = "Patient cohort statistics"
JOB_TAGS = ("aggregate", "statistics")
PATIENT_COLUMNS = ("patient_id", "age", "sex", "diagnosis", "systolic_bp")
PATIENTS = 200

_DIAGNOSES = ("hypertension", "type 2 diabetes", "asthma", "none", "copd")
_DIAGNOSIS_WEIGHTS = (30, 20, 15, 30, 5)
_PACKAGE_DATA = "demo_package"
# Files a checkout or an earlier run may leave beside the shipped ones; never copied.
_NOT_PACKAGE = ("__pycache__", ".DS_Store")


def _silent(_line: str) -> None:
    """The default ``say``: the library never prints."""


def copy_demo_package(dest: Path) -> Path:
    """Copy the shipped example analysis package (run.sh, analyze.py, README.md) to ``dest``.

    Returns:
        ``dest``, now a code folder ready to submit.
    """

    def copy(node: Traversable, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        for child in node.iterdir():
            if child.name in _NOT_PACKAGE or child.name.endswith((".pyc", ".pyo")):
                continue
            if child.is_dir():
                copy(child, target / child.name)
            else:
                (target / child.name).write_bytes(child.read_bytes())

    copy(resources.files("syft_code_queue") / _PACKAGE_DATA, dest)
    return dest


def write_patients_csv(path: Path, rows: int = PATIENTS, seed: int = 0) -> Path:
    """Write a synthetic patient table: made-up rows, the same for the same ``seed``.

    Returns:
        ``path``.
    """
    # Not cryptographic on purpose: a seeded generator makes the demo's numbers reproducible.
    rng = random.Random(seed)  # noqa: S311
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(PATIENT_COLUMNS)
        for i in range(1, rows + 1):
            diagnosis = rng.choices(_DIAGNOSES, weights=_DIAGNOSIS_WEIGHTS)[0]
            age = rng.randint(18, 90)
            pressure = round(
                rng.gauss(118 + age * 0.3 + (15 if diagnosis == "hypertension" else 0), 9)
            )
            writer.writerow([f"P{i:04d}", age, rng.choice("FM"), diagnosis, pressure])
    return path


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """``summary.json`` as aligned ``key  value`` lines; nested counts on one line each."""
    width = max((len(key) for key in summary), default=0)
    lines = []
    for key, value in summary.items():
        text = ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value
        lines.append(f"{key:<{width}}  {text}")
    return lines


@dataclass(frozen=True)
class DemoResult:
    """What a demo run produced; ``syftbox_dir`` no longer exists unless ``kept``."""

    syftbox_dir: Path
    kept: bool
    job: CodeJob
    summary: dict[str, Any]
    logs: str
    seconds: float


def run_demo(
    directory: Path | None = None,
    *,
    keep: bool = False,
    say: Callable[[str], None] = _silent,
    timeout: float = 60.0,
) -> DemoResult:
    """Submit, review, approve and run the demo package between two local datasites.

    Args:
        directory: the SyftBox folder to use (created if missing, always kept); by default a
            fresh temporary folder, removed at the end unless ``keep``.
        keep: keep the temporary folder to explore it afterwards with ``scq``.
        say: called with each line of progress meant for a person.
        timeout: seconds to wait for the job to finish.

    Raises:
        TimeoutError: the job did not finish within ``timeout`` seconds.
    """
    began = time.monotonic()
    root = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="scq-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    kept = keep or directory is not None
    try:
        job, summary, logs = _run(root, say, timeout)
    finally:
        if not kept:
            shutil.rmtree(root, ignore_errors=True)
    seconds = time.monotonic() - began
    say("")
    if kept:
        say(f"Done in {seconds:.1f} s. The folder is kept; look around as either person:")
        say(f"  scq --syftbox-dir {root} --email {DS_EMAIL} list")
        say(f"  scq --syftbox-dir {root} --email {DO_EMAIL} list --as owner")
    else:
        say(f"Done in {seconds:.1f} s. The folder was removed; 'scq demo --keep' keeps it.")
    return DemoResult(root, kept, job, summary, logs, seconds)


def _run(
    root: Path, say: Callable[[str], None], timeout: float
) -> tuple[CodeJob, dict[str, Any], str]:
    say(f"SyftBox folder: {root}")
    # Both people's private files live outside datasites/, so SyftBox would never sync them.
    data_dir = root / "private" / DO_EMAIL
    csv_path = write_patients_csv(data_dir / "patients.csv")
    say(f"1. {DO_EMAIL} keeps {PATIENTS} made-up patients private in {csv_path.relative_to(root)}")

    alice = create_client(email=DS_EMAIL, syftbox_dir=root)
    package = copy_demo_package(root / "private" / DS_EMAIL / "patient-stats")
    job = alice.submit_code(
        DO_EMAIL,
        package,
        JOB_NAME,
        description="Counts and means only; categories under 5 patients are merged.",
        tags=JOB_TAGS,
    )
    say(f"2. {DS_EMAIL} submits '{job.name}' ({len(job.files)} files)")
    say(f"   job {job.uid}")

    with create_server(
        email=DO_EMAIL, syftbox_dir=root, job_timeout=timeout, job_data_dir=data_dir
    ) as bob:
        say(f"3. {DO_EMAIL} reviews the pending jobs:")
        for pending in bob.list_pending_jobs():
            files = ", ".join(f.path for f in pending.files)
            say(f"     {pending.short_id}  '{pending.name}' from {pending.requester_email}")
            say(f"               tags: {', '.join(pending.tags)}; files: {files}")
        bob.approve_job(job.uid, reason="aggregates only; reviewed analyze.py")
        say(
            f"4. {DO_EMAIL} approves it; the server runs it with DATA_DIR set to the private folder"
        )
        bob.start()
        # Polls the status the server publishes, with a deadline: no fixed sleep.
        finished = alice.wait(job.uid, timeout=timeout)

    ran = ""
    if finished.started_at and finished.completed_at:
        ran = f" in {(finished.completed_at - finished.started_at).total_seconds():.1f} s"
    exit_info = f", exit code {finished.exit_code}" if finished.exit_code is not None else ""
    say(f"5. {DS_EMAIL} sees: {finished.status.value}{ran}{exit_info}")
    if finished.error_message:
        say(f"   {finished.error_message}")

    summary: dict[str, Any] = {}
    output = alice.get_job_output(job.uid)
    if output is not None and (output / "summary.json").is_file():
        summary = json.loads((output / "summary.json").read_text(encoding="utf-8"))
        say("")
        say("Result (summary.json, aggregates only):")
        for line in summary_lines(summary):
            say(f"  {line}")
    logs = alice.get_job_logs(job.uid)
    say("")
    say("Logs:")
    for line in logs.rstrip("\n").splitlines():
        say(f"  {line}")
    return finished, summary, logs
