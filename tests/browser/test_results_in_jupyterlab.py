"""The owner's results view (release="manual") in a real JupyterLab, clicked in Chromium:
release one file of a job and withhold another job, then the data scientist's status cell
shows both."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import syft_code_queue as scq
from syft_code_queue import FailureReason, JobStatus

from .harness import JupyterLab, drive, write_notebook

pytestmark = pytest.mark.browser

DS = "ds@example.com"
DO = "do@example.com"

SUMMARY_AND_ROWS = """\
import csv, os
rows = list(csv.DictReader(open(os.path.join(os.environ["DATA_DIR"], "patients.csv"))))
out = os.environ["OUTPUT_DIR"]
open(os.path.join(out, "summary.csv"), "w").write(f"patients\\n{len(rows)}\\n")
with open(os.path.join(out, "rows.csv"), "w") as f:
    f.write(",".join(rows[0]) + "\\n")
    f.writelines(",".join(r.values()) + "\\n" for r in rows[:2])
print("done")
"""


def _run_to_review(server: scq.CodeQueueServer, uid: str) -> None:
    server.list_pending_jobs()
    server.approve_job(uid)
    job = server.wait(uid, timeout=60)
    assert job.status is JobStatus.awaiting_release, job.error_message


def test_release_one_file_and_withhold_another_job_then_the_status_cell_shows_both(
    lab: JupyterLab, screenshot_dir: Path
) -> None:
    root = lab.root / "results-view"
    syftbox = root / "SyftBox"
    data = root / "data"
    for folder in (syftbox, data, root / "code"):
        folder.mkdir(parents=True)
    lines = ["patient_id,name,age"] + [f"P{i:03d},Person {i},{20 + i}" for i in range(1, 41)]
    (data / "patients.csv").write_text("\n".join(lines) + "\n")
    (root / "code" / "run.sh").write_text("python analyze.py\n")
    (root / "code" / "analyze.py").write_text(SUMMARY_AND_ROWS)
    ds = scq.create_client(email=DS, syftbox_dir=syftbox)
    kept = ds.submit_code(DO, root / "code", "kept")
    dropped = ds.submit_code(DO, root / "code", "dropped")
    with scq.create_server(
        email=DO, syftbox_dir=syftbox, release="manual", job_data_dir=data
    ) as server:
        for job in (kept, dropped):
            _run_to_review(server, str(job.uid))
    a, b = str(kept.uid), str(dropped.uid)
    nb = write_notebook(
        root / "results.ipynb",
        [
            textwrap.dedent(
                f"""
                import syft_code_queue as scq

                server = scq.create_server(
                    email={DO!r}, syftbox_dir={str(syftbox)!r}, release="manual",
                    job_data_dir={str(data)!r},
                )
                server.results_widget()
                """
            ).strip(),
            textwrap.dedent(
                f"""
                client = scq.create_client(email={DS!r}, syftbox_dir={str(syftbox)!r})
                client.status_widget()
                """
            ).strip(),
        ],
    )
    file = '.scq-results li[data-path="{}"]'.format
    results = drive(
        lab,
        nb,
        [
            {"op": "run_all"},
            {"op": "wait", "selector": f'.scq-results tr[data-uid="{a}"]'},
            {"op": "texts", "selector": ".scq-status .scq-note", "name": "under_review"},
            {"op": "click", "selector": f'.scq-results tr[data-uid="{a}"] .scq-results-check'},
            {"op": "wait", "selector": file("output/rows.csv")},
            {"op": "texts", "selector": f"{file('output/rows.csv')} .scq-badge", "name": "badges"},
            {"op": "click", "selector": f"{file('stdout.txt')} .scq-pick"},
            {"op": "click", "selector": f"{file('stderr.txt')} .scq-pick"},
            {"op": "click", "selector": ".scq-results .scq-release"},
            {"op": "wait_text", "selector": ".scq-results .scq-notice", "text": "released 1"},
            {"op": "click", "selector": f'.scq-results tr[data-uid="{b}"] .scq-results-check'},
            {"op": "wait_text", "selector": ".scq-results .scq-report-title", "text": b},
            {"op": "click", "selector": ".scq-results .scq-withhold"},
            {"op": "wait_text", "selector": ".scq-results .scq-notice", "text": "reason"},
            {"op": "fill", "selector": ".scq-results .scq-reason", "text": "not today"},
            {"op": "click", "selector": ".scq-results .scq-withhold"},
            {"op": "wait_text", "selector": ".scq-results .scq-notice", "text": "withheld the"},
            {
                "op": "wait_text",
                "selector": f'.scq-status .scq-card[data-uid="{a}"] .scq-note',
                "text": "withheld: output/rows.csv, stderr.txt, stdout.txt",
            },
            {
                "op": "wait_text",
                "selector": f'.scq-status .scq-card[data-uid="{b}"] .scq-note',
                "text": "results withheld: not today",
            },
            {
                "op": "texts",
                "selector": f'.scq-status .scq-card[data-uid="{a}"] .scq-output-name',
                "name": "outputs",
            },
        ],
        screenshot_dir=screenshot_dir,
    )
    assert results["under_review"] == ["ran; results under review"] * 2
    assert results["badges"] == ["2 block"]
    assert results["outputs"] == ["summary.csv"]
    assert results.console == []
    seen_a, seen_b = ds.get_job(kept.uid), ds.get_job(dropped.uid)
    assert seen_a.status is JobStatus.completed
    assert seen_a.withheld_files == ("output/rows.csv", "stderr.txt", "stdout.txt")
    assert (seen_b.status, seen_b.failure_reason) == (JobStatus.failed, FailureReason.withheld)
