"""What the reviewer must know before approving: true sizes and line counts, and which
files cannot be read in full (binary, truncated in the viewer, unreadable)."""

from __future__ import annotations

import shutil
from pathlib import Path

import syft_code_queue as scq
from syft_code_queue.review import DISPLAY_LIMIT, inspect_file
from tests.conftest import DO_EMAIL, make_package


def big_csv(lines: int) -> str:
    header = "id,age,postcode,diagnosis,visit_date,notes\n"
    row = "{i},{a},AB{i:05d},code-{d},2024-01-{day:02d},free text of a visit record here\n"
    body = "".join(
        row.format(i=i, a=20 + i % 60, d=i % 97, day=1 + i % 28) for i in range(lines - 1)
    )
    return header + body


def test_a_large_csv_has_its_true_line_count_not_the_displayed_prefix(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    csv = big_csv(33_154)
    assert len(csv) > 2 * DISPLAY_LIMIT  # larger than the viewer shows
    folder = make_package(tmp_path / "pkg", "python analyze.py\n", {"cohort.csv": csv})
    job = ds.submit_code(DO_EMAIL, folder, "big data")
    status = do.review_status(job.uid)
    [entry] = [f for f in status.files if f.path == "cohort.csv"]
    assert entry.lines == 33_154
    assert entry.size == len(csv.encode())
    assert entry.kind == "text"
    assert entry.truncated is True
    assert status.truncated == ("cohort.csv",)


def test_run_sh_comes_first_then_files_by_path(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    folder = make_package(tmp_path / "pkg", "echo hi\n", {"a.py": "x = 1\n", "z/b.txt": "b"})
    job = ds.submit_code(DO_EMAIL, folder, "ordered")
    status = do.review_status(job.uid)
    assert [f.path for f in status.files] == ["run.sh", "a.py", "z/b.txt"]
    run_sh, a_py, b_txt = status.files
    assert (run_sh.lines, a_py.lines, b_txt.lines) == (3, 1, 1)  # b.txt: no final newline
    assert status.attention == ()


def test_binary_files_need_attention(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    folder = make_package(tmp_path / "pkg", "python load.py\n")
    (folder / "weights.pkl").write_bytes(b"\x80\x04\x95" + bytes(range(256)) * 10)
    (folder / "latin1.txt").write_bytes("café".encode("latin-1"))
    job = ds.submit_code(DO_EMAIL, folder, "binary")
    status = do.review_status(job.uid)
    assert set(status.binary) == {"weights.pkl", "latin1.txt"}
    assert {f.path: f.lines for f in status.files if f.kind == "binary"} == {
        "latin1.txt": None,
        "weights.pkl": None,
    }
    assert set(status.attention) == {"weights.pkl", "latin1.txt"}


def test_files_whose_snapshot_is_gone_are_unreadable(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "gone")
    do.get_job(job.uid)
    snapshot = do.snapshots / str(job.uid)
    for path in snapshot.rglob("*"):
        path.chmod(0o644)
    shutil.rmtree(snapshot)
    status = do.review_status(job.uid)
    assert {f.kind for f in status.files} == {"unreadable"}
    assert set(status.unreadable) == {"run.sh", "analyze.py"}


def test_line_counts_stream_over_chunk_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_bytes((("é" * 700_000) + "\n").encode() * 3)  # multi-byte characters across chunks
    assert inspect_file(path) == ("text", 3)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert inspect_file(empty) == ("text", 0)
