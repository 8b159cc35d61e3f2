#!/usr/bin/env python
"""Speed of the output checks (``syft_code_queue.airlock.check_results``); prints one table.

Run ``python bench/bench_checks.py`` (full sizes: a 50 MB CSV output against a 1,000,000-row
DATA_DIR table) or ``--quick`` (5 MB against 100,000 rows, for CI smoke runs). Each row is the
median of several runs with a baseline measured in the same run, interleaved with the
measured call. See ``bench/README.md`` for what each row measures.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from bench_core import Report, Row, Stats, fs_type, load_average, render

import syft_code_queue as scq
from syft_code_queue.airlock import CheckConfig, ResultsReport, check_results
from syft_code_queue.airlock.data_index import clear_memo

COLUMNS = ["patient_id", "name", "age", "sex", "postcode", "diagnosis", "weight_kg"]
PLANTED = 5  # data rows copied into the big output: every run must find them


@dataclass(frozen=True)
class Sizes:
    data_rows: int
    output_bytes: int
    repeats: int
    small_repeats: int
    text_bytes: int


FULL = Sizes(
    data_rows=1_000_000, output_bytes=50_000_000, repeats=7, small_repeats=50, text_bytes=10**7
)
QUICK = Sizes(
    data_rows=100_000, output_bytes=5_000_000, repeats=3, small_repeats=15, text_bytes=10**6
)


def patients(count: int, *, seed: int) -> pl.DataFrame:
    """``count`` made-up patients (``seed`` picks a different population)."""
    i = pl.int_range(0, count, eager=True)
    first = pl.Series(["Alice", "Bob", "Carol", "Dan", "Eve", "Frank", "Grace", "Heidi"])
    last = pl.Series(["Smith", "Jones", "White", "Brown", "Black", "Green", "Khan", "Li"])
    return pl.DataFrame(
        {
            "patient_id": "P" + (i + seed * 10_000_000).cast(pl.String).str.zfill(8),
            "name": first.gather(i % 8) + " " + last.gather((i * 7 + seed) % 8),
            "age": (20 + (i * 13 + seed) % 60).cast(pl.String),
            "sex": pl.Series(["F", "M"]).gather(i % 2),
            "postcode": "AB" + ((i * 31 + seed) % 97).cast(pl.String) + " 9XY",
            "diagnosis": pl.Series(["asthma", "diabetes", "copd", "gout"]).gather((i * 5) % 4),
            "weight_kg": (50 + (i * 17 + seed) % 50).cast(pl.String)
            + "."
            + (i % 10).cast(pl.String),
        }
    )


def write_big_case(root: Path, sizes: Sizes) -> tuple[Path, Path]:
    """DATA_DIR/patients.csv (``data_rows`` rows) and a results folder whose output/ holds a
    CSV of about ``output_bytes`` with other patients and ``PLANTED`` copied data rows."""
    data_dir, results = root / "data", root / "results"
    (results / "output").mkdir(parents=True)
    data_dir.mkdir()
    data = patients(sizes.data_rows, seed=0)
    data.write_csv(data_dir / "patients.csv")
    row_bytes = len(data.head(1000).write_csv()) / 1000
    other = patients(int(sizes.output_bytes / row_bytes), seed=1)
    planted = data.gather([7, 1000, 5000, sizes.data_rows // 2, sizes.data_rows - 1])
    big = pl.concat([other.head(other.height // 2), planted, other.tail(other.height // 2)])
    big.write_csv(results / "output" / "patients_scored.csv")
    (results / "stdout.txt").write_text("scored\n")
    (results / "stderr.txt").write_text("")
    return data_dir, results


def write_small_case(root: Path) -> tuple[Path, Path]:
    """A 2,000-row DATA_DIR table and 10 small output tables (an analysis's usual results)."""
    data_dir, results = root / "data", root / "results"
    (results / "output").mkdir(parents=True)
    data_dir.mkdir()
    patients(2000, seed=0).write_csv(data_dir / "patients.csv")
    for k in range(10):
        lines = ["group,n,mean_age,sd_age"] + [
            f"g{k}_{j},{12 + j * 7},{40 + j * 0.5:.1f},{9.5 + j * 0.1:.2f}" for j in range(20)
        ]
        (results / "output" / f"table_{k}.csv").write_text("\n".join(lines) + "\n")
    (results / "stdout.txt").write_text("".join(f"step {i} done\n" for i in range(50)))
    (results / "stderr.txt").write_text("")
    return data_dir, results


def read_all(results: Path) -> None:
    """The baseline: read and sha256 every file (the least any check must do)."""
    for path in sorted(results.rglob("*")):
        if path.is_file():
            hashlib.sha256(path.read_bytes()).hexdigest()


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def expect_planted(report: ResultsReport) -> None:
    rows = [f for f in report.findings if f.check == "raw_records" and f.severity == "block"]
    if len(rows) != PLANTED:
        raise SystemExit(f"expected {PLANTED} raw-record findings, got {len(rows)}: {rows}")


def bench_big(report: Report, sizes: Sizes, root: Path) -> None:
    data_dir, results = write_big_case(root, sizes)
    cache = root / "cache"
    output = results / "output" / "patients_scored.csv"
    mb = output.stat().st_size / 1e6
    label = f"{mb:.0f} MB CSV output vs {sizes.data_rows:,}-row DATA_DIR table"
    config = CheckConfig()

    def run() -> ResultsReport:
        return check_results(results, data_dir, config, cache_dir=cache)

    cold: list[float] = []
    for _ in range(max(1, sizes.repeats // 3)):
        clear_memo()
        for path in cache.glob("*"):
            path.unlink()
        cold.append(timed(run))
    disk: list[float] = []
    warm: list[float] = []
    read: list[float] = []
    polars_read: list[float] = []
    for _ in range(sizes.repeats):
        read.append(timed(lambda: read_all(results)))
        polars_read.append(timed(lambda: pl.read_csv(output, infer_schema=False)))
        clear_memo()
        disk.append(timed(run))
        started = time.perf_counter()
        last = run()
        warm.append(time.perf_counter() - started)
        expect_planted(last)
    baseline = (
        f"read + sha256 {Stats.of(read).median:.2f} s; "
        f"polars read {Stats.of(polars_read).median:.2f} s"
    )
    report.add(
        Row(f"check_results, {label}, index in memory", Stats.of(warm), 2.0, baseline=baseline)
    )
    report.add(
        Row("  same, index loaded from the disk cache", Stats.of(disk), 2.0, baseline=baseline)
    )
    report.add(
        Row(
            "  same, no cache (index built: reads DATA_DIR)",
            Stats.of(cold),
            None,
            baseline=baseline,
        )
    )
    report.note(
        f"big case: {mb:.1f} MB output ({output.stat().st_size:,} bytes), "
        f"{(data_dir / 'patients.csv').stat().st_size / 1e6:.1f} MB DATA_DIR table; "
        f"findings of the last run: {last.counts}"
    )


def bench_small(report: Report, sizes: Sizes, root: Path) -> None:
    data_dir, results = write_small_case(root)
    cache = root / "cache"
    config = CheckConfig()
    check_results(results, data_dir, config, cache_dir=cache)  # warm-up: builds the index
    checked: list[float] = []
    read: list[float] = []
    for _ in range(sizes.small_repeats):
        read.append(timed(lambda: read_all(results)))
        checked.append(timed(lambda: check_results(results, data_dir, config, cache_dir=cache)))
    last = check_results(results, data_dir, config, cache_dir=cache)
    if last.counts["block"] or last.counts["review"]:
        raise SystemExit(f"the clean small case has findings: {last.findings}")
    baseline = f"read + sha256 {Stats.of(read).median * 1e3:.2f} ms"
    report.add(
        Row(
            "check_results, 10 small tables + logs, 2,000-row DATA_DIR",
            Stats.of(checked),
            0.05,
            baseline=baseline,
        )
    )


def bench_text(report: Report, sizes: Sizes, root: Path) -> None:
    """The line-by-line scan's worst case: a text output of many short cells (numbers)."""
    data_dir, results = root / "data", root / "results"
    (results / "output").mkdir(parents=True)
    data_dir.mkdir()
    patients(sizes.data_rows // 10, seed=0).write_csv(data_dir / "patients.csv")
    lines = sizes.text_bytes // 140
    text = "".join(
        " ".join(f"{(i * j) % 997 / 7:.3f}" for j in range(20)) + "\n" for i in range(lines)
    )
    (results / "output" / "arrays.txt").write_text(text)
    (results / "stdout.txt").write_text("")
    (results / "stderr.txt").write_text("")
    cache = root / "cache"
    config = CheckConfig()
    check_results(results, data_dir, config, cache_dir=cache)
    checked: list[float] = []
    read: list[float] = []
    for _ in range(sizes.repeats):
        read.append(timed(lambda: read_all(results)))
        checked.append(timed(lambda: check_results(results, data_dir, config, cache_dir=cache)))
    mb = len(text) / 1e6
    baseline = f"read + sha256 {Stats.of(read).median * 1e3:.1f} ms"
    report.add(
        Row(f"check_results, {mb:.0f} MB text of 20 numbers a line", Stats.of(checked), None,
            baseline=baseline)
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes for a CI smoke run")
    parser.add_argument("--tmp", type=Path, help="where to create the temporary folders")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    tmp_root = args.tmp or Path(tempfile.gettempdir())
    tmp_root.mkdir(parents=True, exist_ok=True)
    print(
        f"syft-code-queue {scq.__version__} | polars {pl.__version__} | "
        f"Python {platform.python_version()} | {platform.platform()} | {os.cpu_count()} CPUs | "
        f"temp on {fs_type(tmp_root)} ({tmp_root}) | {'quick' if args.quick else 'full'} sizes | "
        f"{load_average()}",
        flush=True,
    )
    report = Report()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="scq-bench-checks-", dir=tmp_root) as tmp:
        print("[small]", flush=True)
        bench_small(report, sizes, Path(tmp) / "small")
        print("[big]", flush=True)
        bench_big(report, sizes, Path(tmp) / "big")
        print("[text]", flush=True)
        bench_text(report, sizes, Path(tmp) / "text")
    print()
    print(render(report.rows))
    if report.details:
        print("\nDetails:")
        for line in report.details:
            print(f"- {line}")
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s; {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
