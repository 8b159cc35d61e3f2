"""Fixtures of the output-check tests: a DATA_DIR with patients.csv, and real jobs that read it.

A "job" here is a real Python process run the way the runner runs one: ``DATA_DIR`` and
``OUTPUT_DIR`` in its environment, its stdout and stderr captured to ``stdout.txt`` and
``stderr.txt`` beside ``output/`` in a results folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from airlock_helpers import PATIENT_COLUMNS, Check, RunJob, patient_rows

from syft_code_queue.airlock import CheckConfig, ResultsReport, check_results
from syft_code_queue.airlock.data_index import clear_memo


@pytest.fixture(autouse=True)
def _fresh_index_memo() -> None:
    """Each test builds or loads its own DATA_DIR index (no copy left in memory by another)."""
    clear_memo()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A DATA_DIR holding patients.csv (60 patients)."""
    path = tmp_path / "data"
    path.mkdir()
    lines = [",".join(PATIENT_COLUMNS)] + [",".join(r) for r in patient_rows(60)]
    (path / "patients.csv").write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """An empty results folder: output/, stdout.txt, stderr.txt."""
    path = tmp_path / "results"
    (path / "output").mkdir(parents=True)
    (path / "stdout.txt").write_text("")
    (path / "stderr.txt").write_text("")
    return path


@pytest.fixture
def run_job(tmp_path: Path, results: Path, data_dir: Path) -> RunJob:
    """Run a Python analysis as a job: DATA_DIR, OUTPUT_DIR set; logs into the results."""

    def run(script: str) -> subprocess.CompletedProcess[bytes]:
        code = tmp_path / "analysis.py"
        code.write_text(textwrap.dedent(script))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DATA_DIR": str(data_dir),
            "OUTPUT_DIR": str(results / "output"),
        }
        with (results / "stdout.txt").open("wb") as out, (results / "stderr.txt").open("wb") as err:
            done = subprocess.run(
                [sys.executable, str(code)], env=env, stdout=out, stderr=err, check=False
            )
        assert done.returncode == 0, (results / "stderr.txt").read_text()
        return done

    return run


@pytest.fixture
def check(tmp_path: Path, results: Path, data_dir: Path) -> Check:
    """``check(**config)``: check_results over the results folder and DATA_DIR."""

    def run(checks: Any = None, **config: Any) -> ResultsReport:
        return check_results(
            results,
            data_dir,
            CheckConfig(**config),
            checks,
            uid="job-1",
            cache_dir=tmp_path / "cache",
        )

    return run
