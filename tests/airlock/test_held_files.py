"""Reading held results: every file hashed, kinds from content, previews that stay text."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

from airlock_helpers import Check, write

from syft_code_queue.airlock.checks import file_rules, raw_records


def test_each_file_has_its_size_sha256_kind_and_a_preview(results: Path, check: Check) -> None:
    body = "name,n\n" + "".join(f"g{i},{i + 10}\n" for i in range(30))
    write(results, "t.csv", body)
    (results / "stdout.txt").write_text("".join(f"line {i}\n" for i in range(100)))
    report = check(checks=[], preview_rows=3, preview_lines=5)
    held = {f.path: f for f in report.files}
    table = held["output/t.csv"]
    assert (table.size, table.sha256) == (len(body), hashlib.sha256(body.encode()).hexdigest())
    assert table.mime == "text/csv"
    assert table.preview.kind == "table"
    assert table.preview.header == ["name", "n"]
    assert table.preview.rows == [["g0", "10"], ["g1", "11"], ["g2", "12"]]
    assert table.preview.truncated
    log = held["stdout.txt"].preview
    assert (log.kind, log.text, log.truncated) == (
        "text",
        "\n".join(f"line {i}" for i in range(5)),
        True,
    )


def test_markup_in_a_file_is_previewed_as_text_and_binary_as_hex(
    results: Path, check: Check
) -> None:
    write(results, "x.txt", "<img src=x onerror=alert(1)>\n")
    write(results, "y.dat", b"\x00\x01<script>alert(1)</script>\xff")
    report = check(checks=[])
    held = {f.path: f for f in report.files}
    assert held["output/x.txt"].preview.kind == "text"
    binary = held["output/y.dat"].preview
    assert (binary.kind, binary.text) == ("binary", None)
    assert binary.hex is not None and binary.hex.startswith("00000000  00 01 3c 73")
    assert binary.strings == ["<script>alert(1)</script>"]


def test_images_are_previewed_by_mime_only(results: Path, check: Check) -> None:
    write(results, "p.png", b"\x89PNG\r\n\x1a\n" + bytes(30))
    report = check(checks=[])
    (png,) = [f for f in report.files if f.path == "output/p.png"]
    assert (png.preview.kind, png.preview.mime, png.preview.text) == ("image", "image/png", None)


def test_a_file_over_the_read_cap_is_hashed_in_full_but_left_unread(
    results: Path, check: Check
) -> None:
    body = b"id,name\n" + b"x,y\n" * 5000
    write(results, "big.csv", body)
    report = check(checks=[file_rules, raw_records], max_read_bytes=1000)
    assert report.sha256["output/big.csv"] == hashlib.sha256(body).hexdigest()
    assert [(f.severity, f.where.file) for f in report.findings] == [("review", "output/big.csv")]
    assert "not checked for records or small cells" in report.findings[0].message


def test_a_link_is_never_followed(tmp_path: Path, results: Path, check: Check) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret\n")
    (results / "output" / "s.txt").symlink_to(secret)
    (results / "output" / "dir").symlink_to(tmp_path, target_is_directory=True)
    report = check(checks=[])
    held = {f.path: f for f in report.files}
    assert set(held) == {"output/dir", "output/s.txt", "stderr.txt", "stdout.txt"}
    assert held["output/s.txt"].kind == "symlink"
    assert held["output/dir"].kind == "symlink"
    assert "s3cret" not in report.model_dump_json()


def test_a_fifo_without_a_writer_does_not_hang_the_check(results: Path, check: Check) -> None:
    os.mkfifo(results / "output" / "pipe")
    report = check(checks=[])
    assert [f.kind for f in report.files if f.path == "output/pipe"] == ["special"]


def test_the_report_round_trips_through_json(results: Path, check: Check) -> None:
    from syft_code_queue.airlock import ResultsReport

    write(results, "t.csv", "ward,n\na,3\n")
    report = check()
    assert ResultsReport.model_validate_json(report.model_dump_json()) == report


def test_files_past_the_total_read_cap_are_hashed_but_left_unread(
    results: Path, check: Check
) -> None:
    for name in ("a.txt", "b.txt", "c.txt"):
        write(results, name, "x" * 400 + "\n")
    report = check(checks=[file_rules], max_read_total_bytes=1000)
    assert len(report.sha256) == 5
    assert [(f.severity, f.where.file) for f in report.findings] == [("review", "output/c.txt")]
    assert "larger than max_read_total_bytes" in report.findings[0].message


def test_files_named_like_temp_or_conflict_files_are_checked_too(
    results: Path, check: Check
) -> None:
    write(results, ".leak.csv.syft.tmp.abc", pickle.dumps([1]))
    write(results, "x.conflict.csv", "a,n\nb,2\n")
    report = check()
    paths = {f.path for f in report.files}
    assert {"output/.leak.csv.syft.tmp.abc", "output/x.conflict.csv"} <= paths
    assert ("block", "output/.leak.csv.syft.tmp.abc") in [
        (f.severity, f.where.file) for f in report.findings
    ]


def test_a_file_name_that_is_not_utf8_is_blocked_and_the_report_still_serializes(
    results: Path, check: Check
) -> None:
    (results / "output").joinpath(os.fsdecode(b"bad\xff.csv")).write_text("a,b\n")
    report = check()
    (held,) = [f for f in report.files if f.path.startswith("output/bad")]
    assert held.path == "output/bad\\xff.csv"
    assert held.sha256 is None
    assert [(f.severity, f.where.file) for f in report.findings] == [("block", held.path)]
    assert "not valid UTF-8" in report.findings[0].message
    report.model_dump_json()
