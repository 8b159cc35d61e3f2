"""``scq demo`` and the demo analysis package it ships."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import syft_code_queue as scq
from syft_code_queue.cli import EXIT_OK, main
from syft_code_queue.demo import (
    DO_EMAIL,
    DS_EMAIL,
    PATIENT_COLUMNS,
    copy_demo_package,
    run_demo,
    write_patients_csv,
)
from tests.conftest import DO_EMAIL as OWNER


@pytest.fixture(autouse=True)
def _temp_under_tmp_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Temporary folders of the demo land in this test's tmp_path, never in /tmp."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    return temp


def run_analyze_py(package: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python analyze.py`` in the copied demo package, with ``env`` as its environment."""
    return subprocess.run(
        [sys.executable, "analyze.py"],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def run_analysis(tmp_path: Path, rows: list[dict[str, object]]) -> subprocess.CompletedProcess[str]:
    """Run the shipped analyze.py on ``rows`` the way the runner would."""
    package = copy_demo_package(tmp_path / "package")
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    out.mkdir()
    with (data / "patients.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=PATIENT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return run_analyze_py(package, {**os.environ, "DATA_DIR": str(data), "OUTPUT_DIR": str(out)})


def patient(i: int, age: int, diagnosis: str, sex: str = "F") -> dict[str, object]:
    return {
        "patient_id": f"SECRET{i:04d}",
        "age": age,
        "sex": sex,
        "diagnosis": diagnosis,
        "systolic_bp": 120,
    }


# The whole demo


def test_demo_runs_the_package_to_completion_on_the_owners_private_data(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_demo(tmp_path / "box", say=lines.append)
    assert result.job.status is scq.JobStatus.completed
    assert result.job.requester_email == DS_EMAIL
    assert result.job.target_email == DO_EMAIL
    with (tmp_path / "box" / "private" / DO_EMAIL / "patients.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert result.summary["patients"] == len(rows) == 200
    assert result.summary["mean_age"] == round(sum(int(r["age"]) for r in rows) / 200, 1)
    assert "Analysis complete!" in result.logs
    text = "\n".join(lines)
    assert "completed" in text
    assert str(result.job.uid) in text


def test_demo_output_is_short_and_shows_result_and_logs(tmp_path: Path) -> None:
    lines: list[str] = []
    run_demo(tmp_path / "box", say=lines.append)
    assert len(lines) < 40
    assert all(len(line) <= 120 for line in lines if "/" not in line)
    assert "Result (summary.json, aggregates only):" in lines
    assert "Logs:" in lines


def test_demo_removes_its_temporary_folder_unless_kept(_temp_under_tmp_path: Path) -> None:
    removed = run_demo()
    assert not removed.syftbox_dir.exists()
    assert not removed.kept
    kept = run_demo(keep=True)
    assert kept.kept
    assert (kept.syftbox_dir / "datasites" / DO_EMAIL).is_dir()
    assert kept.syftbox_dir.parent == _temp_under_tmp_path


def test_demo_in_a_chosen_folder_keeps_it_and_explains_how_to_look_around(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_demo(tmp_path / "mine", say=lines.append)
    assert result.kept
    assert (tmp_path / "mine" / "datasites" / DS_EMAIL).is_dir()
    assert any("scq --syftbox-dir" in line and "list --as owner" in line for line in lines)


def test_demo_private_data_never_enters_a_synced_datasite(tmp_path: Path) -> None:
    run_demo(tmp_path / "box")
    synced = [p for p in (tmp_path / "box" / "datasites").rglob("*") if p.is_file()]
    assert synced
    for path in synced:
        assert "SECRET" not in path.name
        assert path.name != "patients.csv"
        assert b"P0001" not in path.read_bytes()


def test_scq_demo_json_is_one_document(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--json", "--dir", str(tmp_path / "box")])
    assert result.exit_code == EXIT_OK, result.output
    document = json.loads(result.stdout)
    assert document["job"]["status"] == "completed"
    assert document["summary"]["patients"] == 200
    assert document["kept"] is True


def test_scq_demo_ignores_ambient_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SYFTBOX_EMAIL", OWNER)
    monkeypatch.setenv("SYFTBOX_DATA_DIR", str(tmp_path / "elsewhere"))
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == EXIT_OK, result.output
    assert not (tmp_path / "elsewhere").exists()


# The synthetic dataset


def test_patients_are_made_up_and_reproducible(tmp_path: Path) -> None:
    a = write_patients_csv(tmp_path / "a.csv")
    b = write_patients_csv(tmp_path / "b.csv")
    c = write_patients_csv(tmp_path / "c.csv", seed=1)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    with a.open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == PATIENT_COLUMNS
    assert len(rows) == 200
    assert all(18 <= int(r["age"]) <= 90 for r in rows)


# The demo package


def test_demo_package_is_run_sh_analyze_and_readme_without_requirements(tmp_path: Path) -> None:
    package = copy_demo_package(tmp_path / "pkg")
    assert sorted(p.name for p in package.iterdir()) == ["README.md", "analyze.py", "run.sh"]
    run_sh = (package / "run.sh").read_text()
    assert run_sh.startswith("#!/bin/bash\nset -e\n")
    assert "if [ -f requirements.txt ]; then" in run_sh
    assert "python analyze.py" in run_sh


def test_demo_package_submits_without_untransferable_files(
    ds: scq.CodeQueueClient, tmp_path: Path
) -> None:
    # Warnings are errors in this suite: a stray cache file would fail this test.
    job = ds.submit_code(OWNER, copy_demo_package(tmp_path / "pkg"), "Demo")
    assert {f.path for f in job.files} == {"run.sh", "analyze.py", "README.md"}


def test_analysis_writes_only_aggregates(tmp_path: Path) -> None:
    rows = [patient(i, 30 + i, "asthma" if i % 2 else "none") for i in range(10)]
    done = run_analysis(tmp_path, rows)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["patients"] == 10
    assert summary["mean_age"] == 34.5
    assert summary["by_diagnosis"] == {"asthma": 5, "none": 5}
    assert "SECRET" not in done.stdout
    assert "SECRET" not in json.dumps(summary)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["summary.json"]


def test_analysis_merges_categories_too_small_to_report(tmp_path: Path) -> None:
    rows = [patient(i, 40, "flu") for i in range(6)] + [patient(9, 70, "rare disease", "M")]
    done = run_analysis(tmp_path, rows)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["by_diagnosis"] == {"flu": 6, "other": 1}
    assert summary["by_sex"] == {"F": 6, "other": 1}
    assert "rare disease" not in done.stdout


def test_analysis_without_data_dir_says_what_is_missing(tmp_path: Path) -> None:
    package = copy_demo_package(tmp_path / "package")
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_DIR", "OUTPUT_DIR")}
    done = run_analyze_py(package, env)
    assert done.returncode == 2
    assert "DATA_DIR" in done.stderr
