"""scq doctor / server.doctor(): the guarantees here, tried with real hostile jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import syft_code_queue as scq
from syft_code_queue import sandbox
from syft_code_queue.cli import main
from tests.conftest import DO_EMAIL

ATTACKS = {"network", "foreign file", "write outside", "memory", "processes", "setsid escape"}


def test_the_default_queue_contains_every_attack(syftbox_dir: Path) -> None:
    with scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir) as server:
        report = server.doctor()
    assert {c.name for c in report.checks} == ATTACKS
    assert [c.name for c in report.checks if not c.contained] == []
    assert report.ok, report.text()
    assert "4,294,967,296" in report.guarantees.memory  # the queue's own limits are shown
    assert report.text().endswith("OK")


def test_without_a_sandbox_the_report_says_what_is_not_contained(syftbox_dir: Path) -> None:
    with scq.create_server(email=DO_EMAIL, syftbox_dir=syftbox_dir, isolation="none") as server:
        report = server.doctor()
    escaped = {c.name for c in report.checks if not c.contained}
    assert escaped == {"network", "foreign file", "write outside"}
    assert all(not c.required for c in report.checks if c.name in escaped)
    assert report.ok  # isolation="none" requires none of them
    assert "NOT CONTAINED" in report.text()


def test_scq_doctor_exits_non_zero_when_the_required_sandbox_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-tools"
    empty.mkdir()
    sandbox.bwrap.cache_clear()
    monkeypatch.setattr(sandbox, "_bundled_bwrap", lambda: None)
    try:
        with monkeypatch.context() as patch:
            patch.setenv("PATH", str(empty))
            assert sandbox.bwrap() is None
        result = CliRunner().invoke(main, ["--json", "doctor", "--sandbox", "bubblewrap"])
    finally:
        sandbox.bwrap.cache_clear()
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["ok"] is False
    assert "isolation='none'" in report["problem"]  # says how to opt out
    assert "bubblewrap" in report["problem"]  # and what to install
