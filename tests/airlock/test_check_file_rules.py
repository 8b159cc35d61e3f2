"""file_rules: kinds told from content, allowed types, archives, pickles, sizes, links."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import pytest
from airlock_helpers import Check, severities, write

from syft_code_queue.airlock.checks import file_rules

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect/></svg>\n'


def zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("data.csv", "a,b\n1,2\n")
    return buffer.getvalue()


def tarred() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as t:
        info = tarfile.TarInfo("data.csv")
        info.size = 4
        t.addfile(info, io.BytesIO(b"a,b\n"))
    return buffer.getvalue()


def test_the_allowed_types_pass(results: Path, check: Check) -> None:
    write(results, "a.csv", "x,y\n1,2\n")
    write(results, "b.tsv", "x\ty\n1\t2\n")
    write(results, "c.json", '{"mean": 1.5}\n')
    write(results, "d.txt", "hello\n")
    write(results, "e.md", "# Results\n")
    write(results, "f.png", PNG)
    write(results, "g.svg", SVG)
    write(results, "h.pdf", PDF)
    write(results, "empty.txt", "")
    report = check(checks=[file_rules])
    assert report.findings == []
    kinds = {f.path.removeprefix("output/"): f.kind for f in report.files}
    assert kinds == {
        "a.csv": "csv", "b.tsv": "tsv", "c.json": "json", "d.txt": "text", "e.md": "markdown",
        "f.png": "png", "g.svg": "svg", "h.pdf": "pdf", "empty.txt": "empty",
        "stdout.txt": "empty", "stderr.txt": "empty",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("out.zip", zipped(), "zip"),
        ("model.bin", gzip.compress(b"weights"), "gzip"),
        ("results.csv", tarred(), "tar"),
    ],
)
def test_archives_are_blocked_whatever_their_name(
    results: Path, check: Check, name: str, content: bytes, kind: str
) -> None:
    write(results, name, content)
    report = check(checks=[file_rules])
    assert severities(report) == [("block", f"output/{name}")]
    assert f"a {kind} archive" in report.findings[0].message


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickles_of_every_protocol_are_blocked(results: Path, check: Check, protocol: int) -> None:
    write(results, "table.csv", pickle.dumps([("P1", 34), ("P2", 51)], protocol=protocol))
    report = check(checks=[file_rules])
    assert severities(report) == [("block", "output/table.csv")]
    assert report.files[0].kind == "pickle"


def test_severities_are_the_owners_choice(results: Path, check: Check) -> None:
    write(results, "a.zip", zipped())
    write(results, "p.pkl", pickle.dumps(1))
    report = check(checks=[file_rules], archive_severity="review", pickle_severity="review")
    assert severities(report) == [("review", "output/a.zip"), ("review", "output/p.pkl")]


def test_other_types_and_unknown_binaries_are_reviews(results: Path, check: Check) -> None:
    write(results, "photo.jpg", b"\xff\xd8\xff\xe0" + bytes(20))
    write(results, "blob.dat", bytes(range(256)))
    write(results, "script.py", "print('hi')\n")
    report = check(checks=[file_rules], allowed_types=frozenset({"csv"}))
    messages = {f.where.file: f.message for f in report.findings}
    assert severities(report) == [
        ("review", "output/blob.dat"),
        ("review", "output/photo.jpg"),
        ("review", "output/script.py"),
    ]
    assert "binary" in messages["output/blob.dat"]
    assert (
        "type jpg (named .jpg) is not among the allowed types (csv)" in messages["output/photo.jpg"]
    )


def test_a_name_that_disagrees_with_the_content_is_a_review(results: Path, check: Check) -> None:
    write(results, "chart.csv", PNG)
    report = check(checks=[file_rules])
    assert severities(report) == [("review", "output/chart.csv")]
    assert "named .csv but its content is png" in report.findings[0].message


def test_files_over_the_size_caps_are_reviews(results: Path, check: Check) -> None:
    write(results, "big.txt", "x" * 2000)
    write(results, "small.txt", "x" * 10)
    report = check(checks=[file_rules], max_file_bytes=1000, max_total_bytes=1500)
    assert severities(report) == [("review", ""), ("review", "output/big.txt")]


def test_an_svg_with_a_script_is_a_review(results: Path, check: Check) -> None:
    write(results, "plot.svg", SVG.replace("<rect/>", "<script>alert(1)</script>"))
    report = check(checks=[file_rules])
    assert severities(report) == [("review", "output/plot.svg")]


def test_links_and_fifos_are_blocked(results: Path, check: Check) -> None:
    (results / "output" / "secret.txt").symlink_to(results / "stdout.txt")
    os.mkfifo(results / "stdout_pipe.txt")
    report = check(checks=[file_rules])
    assert severities(report) == [("block", "output/secret.txt"), ("block", "stdout_pipe.txt")]
    assert "symbolic link" in report.findings[0].message
    assert "FIFO" in report.findings[1].message


def test_a_binary_type_the_owner_allows_passes(results: Path, check: Check) -> None:
    write(results, "t.parquet", b"PAR1" + bytes(40) + b"PAR1")
    assert severities(check(checks=[file_rules])) == [("review", "output/t.parquet")]
    allowed = frozenset({"csv", "parquet"})
    assert check(checks=[file_rules], allowed_types=allowed).findings == []
