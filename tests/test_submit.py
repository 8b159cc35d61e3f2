"""The data scientist's submission: validation, manifest, layout, warnings."""

from __future__ import annotations

import json
import os
import socket
import stat
import warnings
from pathlib import Path
from uuid import UUID

import pytest

import syft_code_queue as scq
from syft_code_queue import CodeFolderError, InvalidEmailError, JobStatus, UntransferableFileWarning
from syft_code_queue.manifest import MAX_SYNC_FILE_BYTES, code_hash
from syft_code_queue.models import JobRequest
from tests.conftest import DO_EMAIL, DS_EMAIL, make_package


def outbox(syftbox_dir: Path) -> Path:
    return syftbox_dir / "datasites" / DS_EMAIL / "app_data" / "code-queue" / "outbox" / DO_EMAIL


def test_submit_returns_a_pending_job(ds: scq.CodeQueueClient, code_folder: Path) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "Stats", "Aggregate stats", ["statistics"])
    assert job.status is JobStatus.pending
    assert isinstance(job.uid, UUID)
    assert (job.name, job.description, job.tags) == ("Stats", "Aggregate stats", ("statistics",))
    assert (job.requester_email, job.target_email) == (DS_EMAIL, DO_EMAIL)
    assert job.created_at.utcoffset() is not None
    assert ds.get_job(job.uid).status is JobStatus.pending


def test_code_folder_as_string_or_path(ds: scq.CodeQueueClient, code_folder: Path) -> None:
    a = ds.submit_code(DO_EMAIL, str(code_folder), "as str")
    b = ds.submit_code(DO_EMAIL, code_folder, "as path")
    assert a.code_hash == b.code_hash


def test_request_is_a_manifest_written_in_the_data_scientists_outbox(
    ds: scq.CodeQueueClient, code_folder: Path, syftbox_dir: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "Stats")
    folder = outbox(syftbox_dir) / str(job.uid)
    request = JobRequest.model_validate_json((folder / "request.json").read_bytes())
    assert {f.path for f in request.files} == {"run.sh", "analyze.py"}
    assert request.code_hash == code_hash(request.files) == job.code_hash
    assert (folder / "code" / "analyze.py").read_text() == (code_folder / "analyze.py").read_text()
    # The owner may read the outbox, nobody else; nothing lands in the owner's datasite.
    assert DO_EMAIL in (outbox(syftbox_dir) / "syftperm.yaml").read_text()
    assert DO_EMAIL in (outbox(syftbox_dir) / "syft.pub.yaml").read_text()
    assert not (syftbox_dir / "datasites" / DO_EMAIL).exists()
    # No temp folders are left behind.
    assert [p.name for p in outbox(syftbox_dir).iterdir() if "tmp" in p.name] == []


def test_missing_folder(ds: scq.CodeQueueClient, tmp_path: Path) -> None:
    with pytest.raises(CodeFolderError, match="does not exist"):
        ds.submit_code(DO_EMAIL, tmp_path / "nope", "x")


def test_folder_without_run_sh(ds: scq.CodeQueueClient, tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "analyze.py").write_text("print(1)")
    with pytest.raises(CodeFolderError, match=r"no run\.sh; add one"):
        ds.submit_code(DO_EMAIL, tmp_path / "pkg", "x")


def test_symlink_is_refused(ds: scq.CodeQueueClient, tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "pkg")
    (pkg / "secret").symlink_to("/etc/passwd")
    with pytest.raises(CodeFolderError, match="symbolic link"):
        ds.submit_code(DO_EMAIL, pkg, "x")


def test_hard_link_is_refused(ds: scq.CodeQueueClient, tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "pkg", files={"a.py": "x"})
    os.link(pkg / "a.py", pkg / "b.py")
    with pytest.raises(CodeFolderError, match="hard link"):
        ds.submit_code(DO_EMAIL, pkg, "x")


def test_fifo_is_refused(ds: scq.CodeQueueClient, tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "pkg")
    os.mkfifo(pkg / "pipe")
    with pytest.raises(CodeFolderError, match="FIFO"):
        ds.submit_code(DO_EMAIL, pkg, "x")


def test_device_is_refused(ds: scq.CodeQueueClient, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("creating a device node needs root (CI runs as root)")
    pkg = make_package(tmp_path / "pkg")
    os.mknod(pkg / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    with pytest.raises(CodeFolderError, match="a device"):
        ds.submit_code(DO_EMAIL, pkg, "x")


def test_socket_is_refused(ds: scq.CodeQueueClient, tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "pkg")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(pkg / "sock"))
        with pytest.raises(CodeFolderError, match="a socket"):
            ds.submit_code(DO_EMAIL, pkg, "x")


def test_failed_submission_leaves_nothing_behind(
    ds: scq.CodeQueueClient, tmp_path: Path, syftbox_dir: Path
) -> None:
    pkg = make_package(tmp_path / "pkg", files={"a.py": "x"})
    (pkg / "link").symlink_to(pkg / "a.py")
    with pytest.raises(CodeFolderError):
        ds.submit_code(DO_EMAIL, pkg, "x")
    leftovers = [p.name for p in outbox(syftbox_dir).iterdir() if not p.name.endswith(".yaml")]
    assert leftovers == []
    assert (pkg / "a.py").read_text() == "x"  # the data scientist's own folder is untouched


def test_file_too_large_to_sync(ds: scq.CodeQueueClient, tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "pkg")
    with (pkg / "big.bin").open("wb") as f:
        f.truncate(MAX_SYNC_FILE_BYTES + 1)
    with pytest.raises(CodeFolderError, match="does not sync files over"):
        ds.submit_code(DO_EMAIL, pkg, "x")


def test_files_that_never_sync_are_left_out_with_a_warning(
    ds: scq.CodeQueueClient, tmp_path: Path
) -> None:
    pkg = make_package(
        tmp_path / "pkg",
        files={"__pycache__/m.cpython-311.pyc": "x", "debug.log": "x", "keep.py": "x"},
    )
    with pytest.warns(UntransferableFileWarning) as caught:
        job = ds.submit_code(DO_EMAIL, pkg, "x")
    messages = " ".join(str(w.message) for w in caught)
    assert "debug.log" in messages
    assert "__pycache__" in messages
    assert {f.path for f in job.files} == {"run.sh", "keep.py"}


def test_clean_folder_gives_no_warning(ds: scq.CodeQueueClient, code_folder: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds.submit_code(DO_EMAIL, code_folder, "x")


def test_invalid_target_email(ds: scq.CodeQueueClient, code_folder: Path) -> None:
    with pytest.raises(InvalidEmailError):
        ds.submit_code("not-an-email", code_folder, "x")


def test_empty_name_is_refused(ds: scq.CodeQueueClient, code_folder: Path) -> None:
    with pytest.raises(CodeFolderError, match="needs a name"):
        ds.submit_code(DO_EMAIL, code_folder, "  ")


def test_module_level_submit_uses_the_environment(
    code_folder: Path, syftbox_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYFTBOX_EMAIL", DS_EMAIL)
    monkeypatch.setenv("SYFTBOX_DATA_DIR", str(syftbox_dir))
    job = scq.submit_code(
        target_email=DO_EMAIL,
        code_folder=code_folder,
        name="Statistical Analysis",
        description="Aggregate statistics computation",
        tags=["statistics", "privacy-safe"],
    )
    assert job.status is JobStatus.pending
    folder = outbox(syftbox_dir) / str(job.uid)
    assert json.loads((folder / "request.json").read_text())["requester"] == DS_EMAIL


def test_list_jobs_newest_first_filter_before_limit(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, code_folder: Path
) -> None:
    jobs = [ds.submit_code(DO_EMAIL, code_folder, f"job {i}") for i in range(5)]
    do.list_pending_jobs()
    do.reject_job(jobs[0].uid, "no")
    listed = ds.list_jobs()
    assert [j.name for j in listed] == [f"job {i}" for i in reversed(range(5))]
    assert [j.name for j in ds.list_jobs(limit=2)] == ["job 4", "job 3"]
    rejected = ds.list_jobs(status=JobStatus.rejected, limit=1)
    assert [j.name for j in rejected] == ["job 0"]
    assert [j.name for j in ds.list_jobs(status="rejected")] == ["job 0"]


def test_unknown_uid(ds: scq.CodeQueueClient) -> None:
    with pytest.raises(scq.JobNotFoundError, match="no job"):
        ds.get_job("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    with pytest.raises(scq.JobNotFoundError, match="not a job uid"):
        ds.get_job("garbage")


def test_files_the_sync_engine_refused_are_surfaced(
    ds: scq.CodeQueueClient, code_folder: Path, syftbox_dir: Path
) -> None:
    job = ds.submit_code(DO_EMAIL, code_folder, "x")
    folder = outbox(syftbox_dir) / str(job.uid)
    # What SyftBox 0.4 does to a file it will not upload: rename it in place.
    (folder / "request.json").rename(folder / "request.syftrejected.json")
    (folder / "request.json").write_bytes((folder / "request.syftrejected.json").read_bytes())
    seen = ds.get_job(job.uid)
    assert seen.status is JobStatus.pending
    assert "SyftBox refused to sync request.syftrejected.json" in (seen.error_message or "")
    assert ds.sync_problems() == [folder / "request.syftrejected.json"]
