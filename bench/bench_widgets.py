#!/usr/bin/env python
"""The review widget in a real JupyterLab and Chromium, with 2,000 and 100,000 jobs.

Run ``python bench/bench_widgets.py`` (2,000 then 100,000 jobs) or ``--sizes 2000``. Needs
the browser suite's tools (``bash scripts/install_browser.sh``). For each size it prints,
measured in the page (``performance.now()``) or on the kernel's process:

- first paint: running the cell ``server.review_widget()`` -> its first row drawn, and the
  bytes the page received over the kernel's websocket meanwhile; baseline: the same for a
  plain ``ipywidgets.HTML`` in the same notebook;
- search: typing a job's number in the search box -> only its row drawn (the 150 ms
  debounce included), and the same from the end of the debounce;
- approve: the prompt's Approve button -> the row gone from the pending page, and -> the
  page full again (the next job's row drawn in its place);
- idle kernel CPU over 10 s with the widget shown; baseline: the same kernel before it.

The queue is real except for its size: a few jobs go through ``submit_code`` and the
owner's intake; the rest are ledger rows inserted in one transaction (``Ledger.insert_many``,
no snapshots, no published status files), as receiving 100,000 submissions takes long and
the widget reads only the ledger until a job is opened.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import textwrap
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_core import Report, Row, Stats, make_package, render  # noqa: E402

import syft_code_queue as scq  # noqa: E402
from syft_code_queue.ledger import JobRecord, Ledger  # noqa: E402
from syft_code_queue.models import FileList, JobStatus, utcnow  # noqa: E402
from tests.browser.harness import JupyterLab, drive, write_notebook  # noqa: E402

DO = "do@example.com"
SCIENTISTS = 50
RUNS = 5

# Page-side helpers: each returns milliseconds from its action to what it waits for.
HELPERS = """
window.scqBench = {
  until(check, ms = 30000) {
    return new Promise((done, fail) => {
      const end = performance.now() + ms;
      const look = () => {
        const value = check();
        if (value) done(value);
        else if (performance.now() > end) fail(new Error('timed out'));
        else requestAnimationFrame(look);
      };
      look();
    });
  },
  async runCell(index, selector) {
    const panel = window.jupyterapp.shell.currentWidget;
    const old = [...document.querySelectorAll(selector)];
    panel.content.activeCellIndex = index;
    const t0 = performance.now();
    window.jupyterapp.commands.execute('notebook:run-cell');
    await this.until(() => [...document.querySelectorAll(selector)].some((n) => !old.includes(n)));
    return performance.now() - t0;
  },
  async search(text) {
    const input = document.querySelector('.scq-search');
    const t0 = performance.now();
    input.value = text;
    input.dispatchEvent(new Event('input'));
    const names = () => [...document.querySelectorAll('.scq-review tr.scq-row .scq-name')];
    const only = (n) => n.textContent.includes(text);
    await this.until(() => names().length > 0 && names().every(only));
    return performance.now() - t0;
  },
  async approve(uid) {
    const row = await this.until(() => document.querySelector(`tr.scq-row[data-uid="${uid}"]`));
    row.querySelector('.scq-approve').click();
    const box = document.querySelector('.scq-prompt .scq-unread-confirm');
    if (box) { box.checked = true; box.dispatchEvent(new Event('change')); }
    const full = document.querySelectorAll('.scq-review tr.scq-row').length;
    const t0 = performance.now();
    document.querySelector('.scq-prompt .scq-confirm').click();
    await this.until(() => !document.querySelector(`tr.scq-row[data-uid="${uid}"]`));
    const gone = performance.now() - t0;
    await this.until(() => document.querySelectorAll('.scq-review tr.scq-row').length === full);
    return [gone, performance.now() - t0];
  },
};
true
"""


def build_queue(base: Path, n: int) -> tuple[Path, list[str]]:
    """A SyftBox folder whose owner has ``n`` pending jobs; returns it and the uids of the
    oldest ones (the first page, oldest first)."""
    box = base / "SyftBox"
    box.mkdir(parents=True)
    client = scq.create_client(email="ds00@example.com", syftbox_dir=box)
    package = make_package(base / "pkg", 3)
    for i in range(3):
        client.submit_code(DO, package, f"real job {i}")
    with scq.create_server(email=DO, syftbox_dir=box) as server:
        real = [str(job.uid) for job in server.list_pending_jobs()]
        path, audit_path = server.ledger.path, server.ledger.audit_path
    ledger = Ledger(path, audit_path)  # no publishing hook: rows only
    start = utcnow() - timedelta(days=30)
    records = []
    for i in range(n - len(real)):
        at = start + timedelta(seconds=i)
        records.append(
            (
                JobRecord(
                    uid=str(uuid.uuid4()),
                    requester=f"ds{i % SCIENTISTS:02d}@example.com",
                    name=f"analysis {i:06d}",
                    description="",
                    tags=("cohort",),
                    created_at=at,
                    received_at=at,
                    code_hash="0" * 64,
                    files=FileList(),
                    status=JobStatus.pending,
                    updated_at=at,
                ),
                None,
            )
        )
    for i in range(0, len(records), 20_000):
        ledger.insert_many(records[i : i + 20_000], actor=DO)
    ledger.close()
    return box, [record.uid for record, _ in records[:10]]


def kernel_cpu(lab: JupyterLab, seconds: float) -> float:
    """The kernel processes' CPU use over ``seconds`` (a fraction of one core)."""
    assert lab.proc is not None
    kernels = [
        psutil.Process(pid)
        for pid in lab.pids()
        if pid != lab.proc.pid and "ipykernel" in " ".join(psutil.Process(pid).cmdline())
    ]
    if len(kernels) != 1:
        raise RuntimeError(f"expected one kernel process, found {len(kernels)}")
    before = sum(sum(p.cpu_times()[:2]) for p in kernels)
    time.sleep(seconds)  # measuring idle use: nothing to wait for
    return (sum(sum(p.cpu_times()[:2]) for p in kernels) - before) / seconds


def measure(n: int, report: Report) -> None:
    with tempfile.TemporaryDirectory(prefix="scq-bench-widgets-") as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        box, oldest = build_queue(base / "queue", n)
        print(f"  {n:,} jobs built in {time.perf_counter() - t0:.0f} s", flush=True)
        nb = write_notebook(
            base / "lab" / "bench.ipynb",
            [
                textwrap.dedent(
                    f"""
                    import ipywidgets
                    import syft_code_queue as scq
                    server = scq.create_server(email={DO!r}, syftbox_dir={str(box)!r})
                    _ = server.list_jobs(limit=0)  # take in arrivals before timing
                    """
                ),
                "ipywidgets.HTML('<b>baseline</b>')",
                "server.review_widget()",
            ],
        )
        with JupyterLab(base / "lab") as lab:
            first_paints, baseline_paints, sent, baseline_sent = [], [], [], []
            steps: list[dict[str, Any]] = [
                {
                    "op": "eval",
                    "expression": "window.jupyterapp.commands.execute('notebook:run-cell')",
                },  # the setup cell
                {"op": "eval", "expression": HELPERS},
            ]
            for i in range(RUNS):
                steps += [
                    {"op": "ws_bytes", "name": f"skip{i}", "reset": True},
                    {
                        "op": "eval",
                        "name": f"base{i}",
                        "expression": "window.scqBench.runCell(1, '.widget-html')",
                    },
                    {"op": "ws_bytes", "name": f"base_bytes{i}", "reset": True},
                    {
                        "op": "eval",
                        "name": f"paint{i}",
                        "expression": "window.scqBench.runCell(2, '.scq-review tr.scq-row')",
                    },
                    {"op": "ws_bytes", "name": f"paint_bytes{i}", "reset": True},
                ]
            for i in range(RUNS):
                steps.append(
                    {
                        "op": "eval",
                        "name": f"search{i}",
                        "expression": f"window.scqBench.search('analysis {i * 7 + 3:06d}')",
                    }
                )
            steps.append(
                {"op": "eval", "expression": "window.scqBench.search('analysis 0000')"}
            )  # the first rows again
            for i in range(RUNS):
                steps.append(
                    {
                        "op": "eval",
                        "name": f"approve{i}",
                        "expression": f"window.scqBench.approve('{oldest[i]}')",
                    }
                )
            results = drive(lab, nb, steps, timeout_s=600)
            for i in range(RUNS):
                baseline_paints.append(results[f"base{i}"] / 1e3)
                first_paints.append(results[f"paint{i}"] / 1e3)
                baseline_sent.append(results[f"base_bytes{i}"])
                sent.append(results[f"paint_bytes{i}"])
            searches = [results[f"search{i}"] / 1e3 for i in range(RUNS)]
            approvals = [results[f"approve{i}"][0] / 1e3 for i in range(RUNS)]
            refilled = [results[f"approve{i}"][1] / 1e3 for i in range(RUNS)]
            idle_base = kernel_cpu_without_widget(lab, nb)
            idle = kernel_cpu_with_widget(lab, nb)
        report.add(
            Row(
                f"first paint, {n:,} jobs",
                Stats.of(first_paints),
                1.0,
                baseline=f"ipywidgets.HTML {Stats.of(baseline_paints).median * 1e3:.0f} ms",
            )
        )
        kb = Stats.of([b / 1024 for b in sent]).median
        report.note(
            f"{n:,} jobs: bytes received by the page for the first paint: median "
            f"{kb:.0f} KB (target <= 300 KB; ipywidgets.HTML: "
            f"{Stats.of([b / 1024 for b in baseline_sent]).median:.0f} KB)"
        )
        report.add(
            Row(
                f"search -> rows drawn, {n:,} jobs (150 ms debounce incl.)",
                Stats.of(searches),
                0.150 + 0.150,
                baseline="-",
            )
        )
        report.add(
            Row(
                f"search after the debounce, {n:,} jobs",
                Stats.of([max(0.0, s - 0.150) for s in searches]),
                0.150,
            )
        )
        report.add(Row(f"approve -> row updated, {n:,} jobs", Stats.of(approvals), 0.200))
        report.add(
            Row(
                f"approve -> page full again, {n:,} jobs",
                Stats.of(refilled),
                None,
                baseline="-",
            )
        )
        report.note(
            f"{n:,} jobs: idle kernel CPU with the widget shown: {idle * 100:.2f}% "
            f"of a core (target <= 1%; same kernel before the widget: "
            f"{idle_base * 100:.2f}%)"
        )


def kernel_cpu_without_widget(lab: JupyterLab, nb: Path) -> float:
    """Idle CPU of a fresh kernel that ran only the setup cell."""
    lab.shutdown_kernels()
    drive(
        lab,
        nb,
        [
            {"op": "eval", "expression": "window.jupyterapp.commands.execute('notebook:run-cell')"},
            {"op": "eval", "expression": "true"},
        ],
    )
    return kernel_cpu(lab, 10)


def kernel_cpu_with_widget(lab: JupyterLab, nb: Path) -> float:
    """Idle CPU of a kernel showing the review widget (its poller running)."""
    lab.shutdown_kernels()
    drive(lab, nb, [{"op": "run_all"}, {"op": "wait", "selector": ".scq-review tr.scq-row"}])
    return kernel_cpu(lab, 10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 100_000])
    args = parser.parse_args()
    report = Report()
    print(
        f"syft-code-queue {scq.__version__} | {psutil.cpu_count()} CPUs | "
        f"load {psutil.getloadavg()[0]:.1f}",
        flush=True,
    )
    for n in args.sizes:
        measure(n, report)
    print()
    print(render(report.rows))
    for line in report.details:
        print(f"- {line}")
    print(f"load {psutil.getloadavg()[0]:.1f}")
    print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
