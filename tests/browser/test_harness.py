"""Self-tests of the browser harness: real widgets, real clicks, real kernel side effects."""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path

import psutil
import pytest

from .harness import JupyterLab, drive, wait_for, write_notebook

pytestmark = pytest.mark.browser


def _cell(source: str) -> str:
    return textwrap.dedent(source).strip()


def test_ipywidgets_button_click_runs_the_python_handler(
    lab: JupyterLab, screenshot_dir: Path
) -> None:
    target = lab.root / "button-clicked.txt"
    nb = write_notebook(
        lab.root / "button.ipynb",
        [
            _cell(
                f"""
                from pathlib import Path
                import ipywidgets as widgets

                target = Path({str(target)!r})
                button = widgets.Button(description="Write the file")
                button.add_class("t-write")
                button.on_click(lambda _button: target.write_text("clicked"))
                button
                """
            )
        ],
    )
    results = drive(
        lab,
        nb,
        [
            {"op": "run_all"},
            {"op": "text", "selector": ".t-write", "name": "label"},
            {"op": "click", "selector": ".t-write"},
        ],
        screenshot_dir=screenshot_dir,
    )
    assert results == {"label": "Write the file"}
    wait_for(lambda: target.read_text() == "clicked", timeout=20, message=f"{target} written")


def test_anywidget_counter_syncs_clicks_to_the_kernel(
    lab: JupyterLab, screenshot_dir: Path
) -> None:
    target = lab.root / "count.txt"
    esm = """
        function render({ model, el }) {
          const button = document.createElement("button");
          button.className = "t-count";
          const show = () => { button.innerText = String(model.get("count")); };
          button.addEventListener("click", () => {
            model.set("count", model.get("count") + 1);
            model.save_changes();
          });
          model.on("change:count", show);
          show();
          el.appendChild(button);
        }
        export default { render };
    """
    nb = write_notebook(
        lab.root / "counter.ipynb",
        [
            _cell(
                f"""
                from pathlib import Path
                import anywidget
                import traitlets

                class Counter(anywidget.AnyWidget):
                    _esm = {esm!r}
                    count = traitlets.Int(0).tag(sync=True)

                target = Path({str(target)!r})
                counter = Counter()
                counter.observe(lambda change: target.write_text(str(change["new"])), "count")
                counter
                """
            )
        ],
    )
    results = drive(
        lab,
        nb,
        [
            {"op": "run_all"},
            {"op": "text", "selector": ".t-count", "name": "before"},
            {"op": "click", "selector": ".t-count"},
            {"op": "wait_text", "selector": ".t-count", "text": "1"},
            {"op": "click", "selector": ".t-count"},
            {"op": "wait_text", "selector": ".t-count", "text": "2"},
            {"op": "text", "selector": ".t-count", "name": "after"},
            {"op": "count", "selector": ".t-count", "name": "buttons"},
            # After a page refresh the view re-renders from the live kernel's model.
            {"op": "reload"},
            {"op": "wait_text", "selector": ".t-count", "text": "2"},
            {"op": "count", "selector": ".t-count", "name": "buttons_after_reload"},
        ],
        screenshot_dir=screenshot_dir,
    )
    assert results == {"before": "0", "after": "2", "buttons": 1, "buttons_after_reload": 1}
    assert results.console == []
    wait_for(lambda: target.read_text() == "2", timeout=20, message=f"{target} to say 2")


def test_label_value_is_escaped_not_rendered(lab: JupyterLab, screenshot_dir: Path) -> None:
    payload = "<img src=x onerror=alert(1)>"
    nb = write_notebook(
        lab.root / "escape.ipynb",
        [
            _cell(
                f"""
                import ipywidgets as widgets

                label = widgets.Label(value={payload!r})
                label.add_class("t-label")
                label
                """
            )
        ],
    )
    results = drive(
        lab,
        nb,
        [
            {"op": "run_all"},
            {"op": "wait_text", "selector": ".t-label", "text": "onerror"},
            {"op": "text", "selector": ".t-label", "name": "text"},
            {
                "op": "html_contains",
                "selector": ".t-label",
                "text": "&lt;img src=x onerror=alert(1)&gt;",
                "name": "escaped",
            },
            {"op": "html_contains", "selector": ".t-label", "text": "<img", "name": "raw"},
            {"op": "count", "selector": ".jp-OutputArea-output img", "name": "images"},
        ],
        screenshot_dir=screenshot_dir,
    )
    assert results == {"text": payload, "escaped": True, "raw": False, "images": 0}
    assert results.dialogs == []


def test_the_accessibility_check_finds_what_it_should(
    lab: JupyterLab, screenshot_dir: Path
) -> None:
    """axe-core and the contrast check run in the page on the chosen elements only, and
    report real problems. (axe-core's own contrast rule does not apply inside JupyterLab's
    output areas, hence the driver's own contrast op.)"""
    esm = """
        function render({ el }) {
          el.innerHTML = '<div class="t-bad"><input type="text">' +
            '<span style="color:#777;background:#888">faint</span></div>' +
            '<div class="t-good"><label>name <input type="text"></label></div>';
        }
        export default { render };
    """
    nb = write_notebook(
        lab.root / "axe.ipynb",
        [
            _cell(
                f"""
                import anywidget

                class Page(anywidget.AnyWidget):
                    _esm = {esm!r}

                Page()
                """
            )
        ],
    )
    results = drive(
        lab,
        nb,
        [
            {"op": "run_all"},
            {"op": "wait", "selector": ".t-bad"},
            {"op": "axe", "selector": ".t-bad", "name": "bad"},
            {"op": "axe", "selector": ".t-good", "name": "good"},
            {"op": "contrast", "selector": ".t-bad", "name": "bad_contrast"},
            {"op": "contrast", "selector": ".t-good", "name": "good_contrast"},
        ],
        screenshot_dir=screenshot_dir,
    )
    found = {v["id"] for v in results["bad"]["violations"]}
    assert "label" in found
    [faint] = results["bad_contrast"]["failures"]
    assert (faint["text"], faint["ratio"]) == ("faint", 1.26)
    assert results["good_contrast"]["failures"] == []
    assert results["good_contrast"]["checked"] == 1
    assert results["good"]["violations"] == []
    assert "label" in results["good"]["passes"]


def test_a_failing_step_reports_error_and_screenshot(lab: JupyterLab, screenshot_dir: Path) -> None:
    nb = write_notebook(lab.root / "empty.ipynb", ["1 + 1"])
    with pytest.raises(AssertionError, match=r"unsupported op \"sleep_ms\""):
        drive(lab, nb, [{"op": "sleep_ms", "ms": 100}], screenshot_dir=screenshot_dir)
    with pytest.raises(AssertionError) as failure:
        drive(
            lab,
            nb,
            [
                {"op": "run_all"},
                {"op": "wait", "selector": ".t-never-there", "timeout_ms": 500},
            ],
            screenshot_dir=screenshot_dir,
        )
    message = str(failure.value)
    assert "step 1 'wait' failed" in message
    assert ".t-never-there" in message
    shots = list(screenshot_dir.glob("*.png"))
    assert len(shots) == 1
    assert f"screenshot: {shots[0]}" in message
    assert shots[0].read_bytes().startswith(b"\x89PNG")


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    """A lab of its own, with a kernel: after stop, neither the server nor the kernel lives."""
    with JupyterLab(tmp_path / "root", workdir=tmp_path / "work") as own:
        server_pid = own.proc.pid if own.proc else -1
        status, kernel = own.request("POST", "api/kernels", {"name": "python3"}, timeout=30)
        assert status == 201, kernel
        pids = wait_for(lambda: own.pids() - {server_pid}, timeout=30, message="kernel process")
        procs = [psutil.Process(pid) for pid in pids | {server_pid}]
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            alive = proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
            assert not alive, f"{proc.pid} {proc.cmdline()} still running"
