"""The review table's Results view (release="manual") in a real JupyterLab, clicked in
Chromium: release one file of a job and withhold another job, then the data scientist's
status cell shows both; readable (axe-core, contrast) in light, dark and high-contrast
themes and at 500 px."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

import syft_code_queue as scq
from syft_code_queue import FailureReason, JobStatus

from .harness import JupyterLab, drive, write_notebook

pytestmark = pytest.mark.browser

DS = "ds@example.com"
DO = "do@example.com"
THEMES = {
    "light": "JupyterLab Light",
    "dark": "JupyterLab Dark",
    "high-contrast": "JupyterLab Dark High Contrast",
}

SUMMARY_AND_ROWS = """\
import csv, os
rows = list(csv.DictReader(open(os.path.join(os.environ["DATA_DIR"], "patients.csv"))))
out = os.environ["OUTPUT_DIR"]
open(os.path.join(out, "summary.csv"), "w").write(f"group,patients\\nall,{len(rows)}\\nP,3\\n")
with open(os.path.join(out, "rows.csv"), "w") as f:
    f.write(",".join(rows[0]) + "\\n")
    f.writelines(",".join(r.values()) + "\\n" for r in rows[:2])
open(os.path.join(out, "plot.svg"), "w").write(
    '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40">'
    '<rect width="120" height="40" fill="#4a90d9"/></svg>'
)
print("done; the first patient:")
print(",".join(rows[0].values()))
"""


def _run_to_review(server: scq.CodeQueueServer, uid: str) -> None:
    server.list_pending_jobs()
    server.approve_job(uid)
    job = server.wait(uid, timeout=60)
    assert job.status is JobStatus.awaiting_release, job.error_message


def _axe_and_contrast(results: dict[str, object], name: str) -> None:
    contrast = results[f"contrast-{name}"]
    assert isinstance(contrast, dict)
    assert contrast["failures"] == [], f"{name}: {contrast}"
    found = results[f"axe-{name}"]
    assert isinstance(found, dict)
    serious = [v for v in found["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], f"{name}: {serious}"
    assert "color-contrast" in found["passes"], f"{name}: contrast was not checked"
    unsure = [v for v in found["incomplete"] if v["impact"] in ("serious", "critical")]
    assert unsure == [], f"{name}: axe could not decide: {unsure}"


def test_release_one_file_and_withhold_another_job_from_the_review_table(
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
    kept = ds.submit_code(DO, root / "code", "Cohort stats")
    dropped = ds.submit_code(DO, root / "code", "Second try")
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
                server.review_widget()
                """
            ).strip(),
            textwrap.dedent(
                f"""
                client = scq.create_client(email={DS!r}, syftbox_dir={str(syftbox)!r})
                client.status_widget()
                """
            ).strip(),
            textwrap.dedent(
                f"""
                # a queue without the airlock: its Results view says so
                scq.create_server(email="plain@example.com",
                                  syftbox_dir={str(syftbox)!r}).results_widget()
                """
            ).strip(),
        ],
    )
    review = f'.scq-review[data-owner="{DO}"]'
    tab = f"{review} [role='tab'].scq-tab-results"
    row = f'{review} tr.scq-result-row[data-uid="{{}}"]'.format
    held = f'{review} .scq-held-file[data-path="{{}}"]'.format
    shots = Path(os.environ.get("SCQ_SCREENSHOTS") or screenshot_dir)
    shots.mkdir(parents=True, exist_ok=True)
    steps: list[dict[str, object]] = [
        {"op": "run_all"},
        {"op": "wait_text", "selector": tab, "text": "2 awaiting release"},
        {"op": "text", "selector": tab, "name": "tab_label"},
        # the data scientist's status cell names the state in words, not as an identifier
        {"op": "wait", "selector": '.scq-status .scq-badge[data-status="awaiting_release"]'},
        {
            "op": "texts",
            "selector": '.scq-status .scq-badge[data-status="awaiting_release"]',
            "name": "waiting_badges",
        },
        {"op": "attr", "selector": tab, "attribute": "aria-selected", "name": "selected_before"},
        # the tab list is keyboard operable: ArrowRight from the Code tab selects Results
        {"op": "click", "selector": f"{review} [role='tab'].scq-tab-code"},
        {"op": "press", "selector": f"{review} [role='tab'].scq-tab-code", "key": "ArrowRight"},
        {"op": "wait", "selector": row(a)},
        {"op": "attr", "selector": tab, "attribute": "aria-selected", "name": "selected_after"},
        {"op": "texts", "selector": f"{review} tr.scq-result-row .scq-name", "name": "order"},
        {"op": "texts", "selector": ".scq-status .scq-note", "name": "under_review"},
        {
            "op": "text",
            "selector": '.scq-review[data-owner="plain@example.com"] .scq-airlock-off',
            "name": "airlock_off",
        },
        {
            "op": "screenshot",
            "selector": '.scq-review[data-owner="plain@example.com"]',
            "path": str(shots / "results-airlock-off.png"),
        },
        # open the first job's results: held files, badges, block files start unticked
        {"op": "click", "selector": f"{row(a)} .scq-results-open"},
        {"op": "wait", "selector": held("output/rows.csv")},
        {"op": "texts", "selector": f"{held('output/rows.csv')} .scq-sev-badge", "name": "badges"},
        {
            "op": "eval",
            "name": "ticked",
            "expression": "Object.fromEntries([...document.querySelectorAll("
            "'.scq-review .scq-held-file')].map((li) => "
            "[li.dataset.path, li.querySelector('.scq-release-pick').checked]))",
        },
        {
            "op": "attr",
            "selector": f"{held('output/summary.csv')} .scq-release-pick",
            "attribute": "aria-label",
            "name": "pick_label",
        },
        # the table preview: flagged cells highlighted, the finding on hover
        {"op": "click", "selector": f"{held('output/rows.csv')} .scq-held-file-button"},
        {"op": "wait", "selector": f"{review} .scq-result-preview td.scq-cell-flag"},
        {
            "op": "attr",
            "selector": f"{review} .scq-result-preview td.scq-cell-flag",
            "attribute": "title",
            "name": "cell_title",
        },
        # a log: line numbers and its flagged line
        {"op": "click", "selector": f"{held('stdout.txt')} .scq-held-file-button"},
        {"op": "wait", "selector": f"{review} .scq-result-preview .scq-line"},
        {
            "op": "eval",
            "name": "log_lines",
            "expression": "[...document.querySelectorAll('.scq-review .scq-result-text "
            ".scq-line')].map((l) => [l.classList.contains('scq-flagged-block'), "
            "l.title.includes('raw record')])",
        },
        {
            "op": "screenshot",
            "selector": f"{review} .scq-result-preview",
            "path": str(shots / "results-log.png"),
        },
        # an SVG inline, as an image
        {"op": "click", "selector": f"{held('output/plot.svg')} .scq-held-file-button"},
        {"op": "wait", "selector": f"{review} .scq-result-preview img.scq-result-image"},
        {
            "op": "eval",
            "name": "image",
            "expression": "new Promise((done) => { const img = document.querySelector("
            "'.scq-review .scq-result-image'); const look = () => img.complete ? "
            "done([img.naturalWidth, img.getAttribute('src').slice(0, 26)]) : "
            "requestAnimationFrame(look); look(); })",
        },
        # keyboard: arrow keys move between the held files, Escape closes the job
        {
            "op": "press",
            "selector": f"{held('output/plot.svg')} .scq-held-file-button",
            "key": "ArrowDown",
        },
        {
            "op": "wait_text",
            "selector": f"{review} .scq-result-preview .scq-viewer-path",
            "text": "output/rows.csv",
        },
        {
            "op": "press",
            "selector": f"{held('output/rows.csv')} .scq-held-file-button",
            "key": "Escape",
        },
        {"op": "wait", "selector": f"{review} tr.scq-results-detail", "state": "detached"},
        {
            "op": "eval",
            "name": "focus_after_escape",
            "expression": "document.activeElement.getAttribute('aria-label')",
        },
        {"op": "click", "selector": f"{row(a)} .scq-results-open"},
        {"op": "wait", "selector": held("output/rows.csv")},
        {"op": "click", "selector": f"{held('output/rows.csv')} .scq-held-file-button"},
        {"op": "wait", "selector": f"{review} .scq-result-preview td.scq-cell-flag"},
    ]
    for slug, theme in THEMES.items():
        steps += [
            {"op": "theme", "theme": theme},
            {"op": "axe", "selector": ".scq-widget", "name": f"axe-{slug}"},
            {"op": "contrast", "selector": ".scq-widget", "name": f"contrast-{slug}"},
            {"op": "screenshot", "selector": review, "path": str(shots / f"results-{slug}.png")},
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
            "expression": f"new Promise((done) => {{ const until = Date.now() + 10000; "
            f"const look = () => {{ const w = document.querySelector({review!r})"
            ".getBoundingClientRect().width; "
            "if (w <= window.innerWidth || Date.now() > until) done(w); "
            "else requestAnimationFrame(look); }; look(); })",
        },
        {"op": "axe", "selector": ".scq-widget", "name": "axe-500px"},
        {"op": "contrast", "selector": ".scq-widget", "name": "contrast-500px"},
        {
            "op": "eval",
            "name": "overflow-500px",
            "expression": f"(() => {{ const r = document.querySelector({review!r}); "
            "const d = r.querySelector('.scq-result-decide'); "
            "return [r.getBoundingClientRect().right, d.getBoundingClientRect().right]; })()",
        },
        {"op": "screenshot", "selector": review, "path": str(shots / "results-500px.png")},
        {"op": "viewport", "width": 1280, "height": 900},
        # ticking a file with a block finding: the release asks to confirm it
        {"op": "click", "selector": f"{held('output/rows.csv')} .scq-release-pick"},
        {"op": "click", "selector": f"{review} .scq-release-selected"},
        {
            "op": "text",
            "selector": f"{review} .scq-result-prompt .scq-prompt-warning",
            "name": "block_warning",
        },
        {"op": "axe", "selector": ".scq-widget", "name": "axe-prompt"},
        {"op": "contrast", "selector": ".scq-widget", "name": "contrast-prompt"},
        {"op": "fill", "selector": f"{review} .scq-result-prompt .scq-prompt-text", "text": "half"},
        {
            "op": "attr",
            "selector": f"{review} .scq-result-prompt .scq-confirm",
            "attribute": "disabled",
            "name": "unconfirmed",
        },
        {"op": "click", "selector": f"{review} .scq-result-prompt .scq-cancel"},
        # Escape in a prompt closes the prompt only: the job stays open, focus goes back
        {"op": "click", "selector": f"{review} .scq-release-selected"},
        {
            "op": "press",
            "selector": f"{review} .scq-result-prompt .scq-prompt-text",
            "key": "Escape",
        },
        {"op": "wait", "selector": f"{review} .scq-result-prompt", "state": "detached"},
        {
            "op": "eval",
            "name": "escape_in_prompt",
            "expression": f"[!!document.querySelector({review!r} + ' tr.scq-results-detail'), "
            "document.activeElement.classList.contains('scq-release-selected')]",
        },
        # release summary.csv only, with the reason for what stays
        {"op": "click", "selector": f"{held('output/rows.csv')} .scq-release-pick"},
        {"op": "click", "selector": f"{held('output/plot.svg')} .scq-release-pick"},
        {"op": "click", "selector": f"{held('stderr.txt')} .scq-release-pick"},
        {"op": "click", "selector": f"{review} .scq-release-selected"},
        {
            "op": "attr",
            "selector": f"{review} .scq-result-prompt .scq-prompt-text",
            "attribute": "value",
            "name": "prompt_fresh",
        },
        {
            "op": "fill",
            "selector": f"{review} .scq-result-prompt .scq-prompt-text",
            "text": "rows.csv copies patient rows",
        },
        {"op": "click", "selector": f"{review} .scq-result-prompt .scq-confirm"},
        {"op": "wait_text", "selector": f"{review} .scq-notice", "text": "released 1"},
        {"op": "wait", "selector": row(a), "state": "detached"},
        # withhold the other job: a reason is required
        {"op": "click", "selector": f"{row(b)} .scq-results-open"},
        {"op": "wait", "selector": held("output/summary.csv")},
        {"op": "click", "selector": f"{review} .scq-withhold"},
        {
            "op": "attr",
            "selector": f"{review} .scq-result-prompt .scq-confirm",
            "attribute": "disabled",
            "name": "no_reason",
        },
        {
            "op": "fill",
            "selector": f"{review} .scq-result-prompt .scq-prompt-text",
            "text": "not today",
        },
        {"op": "click", "selector": f"{review} .scq-result-prompt .scq-confirm"},
        {"op": "wait_text", "selector": f"{review} .scq-notice", "text": "withheld the results"},
        {"op": "wait", "selector": row(b), "state": "detached"},
        {"op": "wait_text", "selector": tab, "text": "0 awaiting release"},
        # the data scientist's status cell shows both decisions
        {
            "op": "wait_text",
            "selector": f'.scq-status .scq-card[data-uid="{a}"] .scq-note',
            "text": "withheld: output/plot.svg, output/rows.csv, stderr.txt, stdout.txt "
            "(rows.csv copies patient rows)",
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
        # and they survive a refresh of the table
        {"op": "click", "selector": f"{review} .scq-results-refresh"},
        {"op": "wait_text", "selector": f"{review} .scq-results-empty", "text": "no results"},
        {"op": "screenshot", "selector": ".scq-status", "path": str(shots / "results-status.png")},
    ]
    results = drive(lab, nb, steps, timeout_s=240, screenshot_dir=screenshot_dir)
    assert results["tab_label"].startswith("Results (2 awaiting release)")
    assert results["waiting_badges"] == ["awaiting release"] * 2, results["waiting_badges"]
    assert (results["selected_before"], results["selected_after"]) == ("false", "true")
    assert results["order"] == ["Cohort stats", "Second try"]  # oldest first
    assert results["under_review"] == ["ran; results under review"] * 2
    assert 'release="manual"' in results["airlock_off"]
    assert results["badges"] == ["2 block"]
    assert results["ticked"] == {
        "output/plot.svg": True,
        "output/rows.csv": False,
        "output/summary.csv": True,
        "stderr.txt": True,
        "stdout.txt": False,  # it printed a patient row
    }
    assert results["pick_label"] == "Release 'output/summary.csv' of 'Cohort stats'"
    assert "block" in results["cell_title"]
    assert results["log_lines"] == [[False, False], [True, True]]
    assert results["image"] == [120, "data:image/svg+xml;base64,"]
    assert results["focus_after_escape"] == "Open the results of 'Cohort stats'"
    for name in [*THEMES, "500px", "prompt"]:
        _axe_and_contrast(results, name)
    assert 480 <= results["width-narrow"] <= 520
    right, decide_right = results["overflow-500px"]
    assert decide_right <= right + 1
    assert "2 block" in results["block_warning"]
    assert results["unconfirmed"] is not None  # confirm disabled until the block is accepted
    assert results["escape_in_prompt"] == [True, True]  # the job stayed open
    assert results["prompt_fresh"] in ("", None)  # a reason belongs to one decision
    assert results["no_reason"] is not None
    assert results["outputs"] == ["summary.csv"]
    assert results.console == []
    seen_a, seen_b = ds.get_job(kept.uid), ds.get_job(dropped.uid)
    assert seen_a.status is JobStatus.completed
    assert seen_a.withheld_files == (
        "output/plot.svg",
        "output/rows.csv",
        "stderr.txt",
        "stdout.txt",
    )
    assert seen_a.release_reason == "rows.csv copies patient rows"
    assert (seen_b.status, seen_b.failure_reason) == (JobStatus.failed, FailureReason.withheld)
    for name in ("light", "dark", "500px"):
        assert (shots / f"results-{name}.png").stat().st_size > 0
