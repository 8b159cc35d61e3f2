"""The widgets in a real JupyterLab, clicked in a real Chromium.

The owner's buttons must change the owner's ledger through the server API; the data
scientist's status cell must follow a job through its states; nothing a user sent may
become markup.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import syft_code_queue as scq
from syft_code_queue import JobStatus

from .harness import JupyterLab, drive, wait_for, write_notebook

pytestmark = pytest.mark.browser

DS = "ds@example.com"
DO = "do@example.com"
HOSTILE = '<img src=x onerror="document.title=`pwned`">'


def _cell(source: str) -> str:
    return textwrap.dedent(source).strip()


def _package(root: Path, script: str, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True)
    (root / "run.sh").write_text(script)
    for name, text in (files or {}).items():
        (root / name).write_text(text)
    return root


def test_owner_reviews_and_decides_in_the_table(lab: JupyterLab, screenshot_dir: Path) -> None:
    syftbox = lab.root / "owner-review" / "SyftBox"
    syftbox.mkdir(parents=True)
    ds = scq.create_client(email=DS, syftbox_dir=syftbox)
    code = _package(
        lab.root / "owner-review" / "code",
        "echo hi\n",
        {"analyze.py": "print('<script>alert(1)</script>')\n"},
    )
    jobs = {
        name: ds.submit_code(DO, code, name=name, tags=["cohort"])
        for name in ("approve me", HOSTILE, "bulk one", "bulk two")
    }
    uid = {name: str(job.uid) for name, job in jobs.items()}
    nb = write_notebook(
        lab.root / "owner-review" / "review.ipynb",
        [
            _cell(
                f"""
                import syft_code_queue as scq

                server = scq.create_server(
                    email={DO!r}, syftbox_dir={str(syftbox)!r}, isolation="none"
                )
                server.list_pending_jobs()
                """
            )
        ],
    )
    row = 'tr.scq-row[data-uid="{}"]'.format
    results = drive(
        lab,
        nb,
        [
            {"op": "run_all"},
            {"op": "wait", "selector": row(uid[HOSTILE])},
            {"op": "count", "selector": ".scq-review tr.scq-row", "name": "rows"},
            {"op": "count", "selector": ".scq-review img", "name": "images"},
            {"op": "text", "selector": f"{row(uid[HOSTILE])} .scq-name", "name": "hostile"},
            {"op": "eval", "expression": "document.title", "name": "title"},
            # read the files of one job
            {"op": "click", "selector": f"{row(uid['approve me'])} .scq-open"},
            {"op": "click", "selector": '.scq-detail .scq-file[data-path="analyze.py"]'},
            {"op": "wait_text", "selector": ".scq-viewer-path", "text": "analyze.py"},
            {"op": "text", "selector": ".scq-code td.code", "name": "code"},
            {"op": "count", "selector": ".scq-code script", "name": "scripts"},
            {"op": "texts", "selector": ".scq-detail .scq-file-name", "name": "files"},
            {"op": "texts", "selector": ".scq-guarantees .scq-not-enforced", "name": "unenforced"},
            # decide one by one
            {"op": "click", "selector": f"{row(uid['approve me'])} .scq-approve"},
            {"op": "wait_text", "selector": ".scq-notice", "text": "approved 1 job"},
            {"op": "click", "selector": f"{row(uid[HOSTILE])} .scq-reject"},
            {"op": "wait_text", "selector": ".scq-notice", "text": "reason"},
            {"op": "fill", "selector": ".scq-reason", "text": "prints raw rows"},
            {"op": "click", "selector": f"{row(uid[HOSTILE])} .scq-reject"},
            {"op": "wait_text", "selector": ".scq-notice", "text": "rejected 1 job"},
            # decide on many at once
            {"op": "check", "selector": f"{row(uid['bulk one'])} .scq-select"},
            {"op": "check", "selector": f"{row(uid['bulk two'])} .scq-select"},
            {"op": "text", "selector": ".scq-bulk-approve", "name": "bulk_label"},
            {"op": "click", "selector": ".scq-bulk-approve"},
            {"op": "wait_text", "selector": ".scq-notice", "text": "approved 2 jobs"},
            {"op": "text", "selector": ".scq-bulk-approve", "name": "bulk_after"},
            # the pending filter is now empty; all jobs show their decisions
            {"op": "count", "selector": ".scq-review tr.scq-row", "name": "pending_rows"},
            {"op": "select", "selector": ".scq-filter", "value": "all"},
            {"op": "click", "selector": ".scq-refresh"},
            {"op": "wait", "selector": f"{row(uid['bulk two'])} .scq-badge"},
            {"op": "texts", "selector": ".scq-review tr.scq-row .scq-badge", "name": "badges"},
            {"op": "fill", "selector": ".scq-search", "text": "bulk"},
            {"op": "count", "selector": ".scq-review tr.scq-row", "name": "found"},
            # a reload of the page draws the table again from the kernel: decisions stay
            {"op": "reload"},
            {"op": "wait", "selector": ".scq-review"},
            {"op": "select", "selector": ".scq-filter", "value": "all"},
            {"op": "wait", "selector": f"{row(uid['bulk two'])} .scq-badge"},
            {"op": "texts", "selector": ".scq-review tr.scq-row .scq-badge", "name": "reloaded"},
        ],
        screenshot_dir=screenshot_dir,
    )
    assert results["rows"] == 4
    assert results["images"] == 0
    assert results["hostile"].startswith(HOSTILE)
    assert results["title"] != "pwned"
    assert "print('<script>alert(1)</script>')" in results["code"]
    assert results["scripts"] == 0
    assert results["files"] == ["analyze.py", "run.sh"]
    # isolation="none": what is not enforced is marked (in red, by its CSS class)
    assert any(text.startswith("NOT ENFORCED") for text in results["unenforced"])
    assert results["bulk_label"] == "Approve selected (2)"
    assert results["bulk_after"] == "Approve selected (0)"
    assert results["pending_rows"] == 0
    assert sorted(results["badges"]) == ["approved", "approved", "approved", "rejected"]
    assert results["found"] == 2
    assert sorted(results["reloaded"]) == ["approved", "approved", "approved", "rejected"]
    assert results.console == []
    assert results.dialogs == []
    # The buttons went through the owner's server: what the data scientist now sees.
    seen = {name: ds.get_job(job.uid) for name, job in jobs.items()}
    assert seen["approve me"].status is JobStatus.approved
    assert seen[HOSTILE].status is JobStatus.rejected
    assert seen[HOSTILE].error_message == "prints raw rows"
    assert {seen["bulk one"].status, seen["bulk two"].status} == {JobStatus.approved}


def test_status_cell_follows_a_job_to_its_results(lab: JupyterLab, screenshot_dir: Path) -> None:
    base = lab.root / "ds-status"
    syftbox = base / "SyftBox"
    data = base / "data"
    syftbox.mkdir(parents=True)
    data.mkdir()
    code = _package(
        base / "code",
        'echo "started <b>"\n'
        'while [ ! -e "$DATA_DIR/release" ]; do sleep 0.05; done\n'
        'echo 42 > "$OUTPUT_DIR/result.txt"\n',
    )
    nb = write_notebook(
        base / "status.ipynb",
        [
            _cell(
                f"""
                from pathlib import Path
                import syft_code_queue as scq

                client = scq.create_client(email={DS!r}, syftbox_dir={str(syftbox)!r})
                job = client.submit_code({DO!r}, {str(code)!r}, name="follow me")
                Path({str(base / "uid.txt")!r}).write_text(str(job.uid))
                cell = client.status_widget(job.uid, interval=0.2)
                # The Refresh button lets the job finish, so the test sees it running first.
                cell.on_msg(lambda *_: Path({str(data / "release")!r}).touch())
                cell
                """
            )
        ],
    )
    with scq.create_server(
        email=DO, syftbox_dir=syftbox, job_data_dir=data, poll_interval=0.1
    ) as server:
        server.start()

        def approve_when_received() -> bool:
            pending = server.list_pending_jobs()
            for job in pending:
                server.approve_job(job.uid)
            return bool(pending)

        import threading

        approver = threading.Thread(
            target=wait_for,
            args=(approve_when_received,),
            kwargs={"timeout": 60, "message": "the job to arrive"},
            daemon=True,
        )
        approver.start()
        results = drive(
            lab,
            nb,
            [
                {"op": "run_all"},
                {"op": "wait", "selector": '.scq-status .scq-badge[data-status="running"]'},
                {"op": "wait_text", "selector": ".scq-status .scq-log", "text": "started <b>"},
                {"op": "count", "selector": ".scq-status .scq-log b", "name": "bold"},
                {"op": "text", "selector": ".scq-status .scq-watching", "name": "while_running"},
                {"op": "click", "selector": ".scq-status .scq-refresh"},
                {"op": "wait", "selector": '.scq-status .scq-badge[data-status="completed"]'},
                {"op": "wait_text", "selector": ".scq-status .scq-watching", "text": "up to date"},
                {"op": "texts", "selector": ".scq-status .scq-output", "name": "outputs"},
                {"op": "texts", "selector": ".scq-status .scq-times dt", "name": "steps"},
                {"op": "text", "selector": ".scq-status .scq-elapsed", "name": "elapsed"},
                {"op": "click", "selector": ".scq-status .scq-held summary"},
                {"op": "texts", "selector": ".scq-status .scq-held dt", "name": "held"},
            ],
            screenshot_dir=screenshot_dir,
        )
        approver.join(timeout=5)
    assert results["bold"] == 0
    assert results["while_running"] == "following…"
    assert results["outputs"] == ["result.txt"]
    assert results["steps"] == ["submitted", "received", "decided", "started", "ended"]
    assert results["elapsed"].endswith("s")
    assert results["held"] == [
        "network",
        "filesystem",
        "processes",
        "memory",
        "process count",
        "cpu and files",
        "time",
        "logs",
        "output",
        "dependencies",
    ]
    assert results.console == []
    uid = (base / "uid.txt").read_text()
    assert scq.create_client(email=DS, syftbox_dir=syftbox).get_job(uid).status is (
        JobStatus.completed
    )
