"""A corpus of what a hostile datasite can plant where the owner's server looks.

Each kind is one function that writes one hostile entry into a SyftBox folder, under one
requester's datasite. The owner keeps a secret folder beside the SyftBox folder (outside
every outbox) holding a valid-looking request and its files, so that following any link
into it would be rewarded: the corpus tests watch it for opens.

Used by the property-based corpus test, the real-process test and ``bench/bench_core.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from syft_code_queue.manifest import code_hash
from syft_code_queue.models import FileEntry, JobRequest, utcnow

DO_EMAIL = "do@example.com"
QUEUE = "code-queue"
RUN_SH = b"#!/bin/bash\necho planted\n"

# Datasite names that are not plain lower-case emails (each one a folder name).
ODD_NAMES = (
    "not-an-email",
    "Mallory@Example.com",
    "m\u00e4llory@example.com",
    "eve@localhost",
    "..hidden@example.com",
    "e\u202eve@example.com",
    "x" * 200,
    "white space@example.com",
)
HOSTILE_EMAILS = ("mallory@example.com", "eve@example.net", "trudy@example.org")


@dataclass(frozen=True)
class Box:
    """A SyftBox folder shared by the owner and every requester, and the owner's secret."""

    root: Path
    secret: Path

    @classmethod
    def make(cls, base: Path) -> Box:
        root = base / "SyftBox"
        (root / "datasites").mkdir(parents=True, exist_ok=True)
        secret = base / "owner-secret"
        (secret / "code").mkdir(parents=True, exist_ok=True)
        (secret / "code" / "run.sh").write_bytes(RUN_SH)
        (secret / "passwords.txt").write_bytes(b"hunter2\n")
        return cls(root, secret)

    def datasite(self, name: str) -> Path:
        return self.root / "datasites" / name

    def outbox(self, name: str) -> Path:
        return self.datasite(name) / "app_data" / QUEUE / "outbox" / DO_EMAIL


def entry(path: str, data: bytes) -> FileEntry:
    return FileEntry(path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def request_json(requester: str, uid: str, files: dict[str, bytes]) -> bytes:
    listed = tuple(entry(p, d) for p, d in sorted(files.items()))
    request = JobRequest(
        uid=uuid.UUID(uid),
        name="planted",
        requester=requester,
        target=DO_EMAIL,
        created_at=utcnow(),
        files=listed,
        code_hash=code_hash(listed),
    )
    return request.model_dump_json().encode()


def valid_request(folder: Path, requester: str, files: dict[str, bytes] | None = None) -> Path:
    """A complete, valid request folder (what a legitimate requester would write)."""
    files = files or {"run.sh": RUN_SH}
    uid = folder.name
    for path, data in files.items():
        (folder / "code" / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / "code" / path).write_bytes(data)
    (folder / "request.json").write_bytes(request_json(requester, uid, files))
    return folder


def _new(box: Box, requester: str) -> Path:
    folder = box.outbox(requester) / str(uuid.uuid4())
    folder.mkdir(parents=True)
    return folder


def _bind_socket(path: Path) -> None:
    """A Unix socket at ``path`` (bound relative to its folder: socket paths are short)."""
    here = Path.cwd()
    os.chdir(path.parent)
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path.name)
        sock.close()
    finally:
        os.chdir(here)


def _secret_request(box: Box, requester: str) -> Path:
    """A valid request inside the owner's secret folder: the prize for following a link."""
    folder = box.secret / str(uuid.uuid4())
    folder.mkdir()
    return valid_request(folder, requester)


# The kinds. Each plants one entry for ``requester`` and returns the path it planted.


def odd_name(box: Box, requester: str) -> Path:
    name = ODD_NAMES[abs(hash(requester)) % len(ODD_NAMES)]
    folder = box.outbox(name) / str(uuid.uuid4())
    folder.mkdir(parents=True, exist_ok=True)
    valid_request(folder, HOSTILE_EMAILS[0])
    data = json.loads((folder / "request.json").read_text())
    data["requester"] = name
    (folder / "request.json").write_text(json.dumps(data))
    return folder


def fifo_request(box: Box, requester: str) -> Path:
    folder = _new(box, requester)
    os.mkfifo(folder / "request.json")
    return folder


def fifo_code(box: Box, requester: str) -> Path:
    folder = valid_request(_new(box, requester), requester)
    (folder / "code" / "run.sh").unlink()
    os.mkfifo(folder / "code" / "run.sh")
    return folder


def fifo_cancel(box: Box, requester: str) -> Path:
    cancels = box.outbox(requester) / "cancellations"
    cancels.mkdir(parents=True, exist_ok=True)
    path = cancels / f"{uuid.uuid4()}.json"
    os.mkfifo(path)
    return path


def socket_code(box: Box, requester: str) -> Path:
    folder = valid_request(_new(box, requester), requester)
    (folder / "code" / "run.sh").unlink()
    _bind_socket(folder / "code" / "run.sh")
    return folder


def symlink_datasite(box: Box, requester: str) -> Path:
    link = box.datasite(f"link-{uuid.uuid4().hex[:8]}@example.com")
    target = box.secret / "fake-datasite"
    valid_request(target / "app_data" / QUEUE / "outbox" / DO_EMAIL / str(uuid.uuid4()), link.name)
    link.symlink_to(target)
    return link


def symlink_app_data(box: Box, requester: str) -> Path:
    site = box.datasite(requester)
    site.mkdir(parents=True, exist_ok=True)
    if (site / "app_data").exists() or (site / "app_data").is_symlink():
        return site / "app_data"
    target = box.secret / f"app-data-{uuid.uuid4().hex[:8]}"
    valid_request(target / QUEUE / "outbox" / DO_EMAIL / str(uuid.uuid4()), requester)
    (site / "app_data").symlink_to(target)
    return site / "app_data"


def symlink_uid(box: Box, requester: str) -> Path:
    link = box.outbox(requester) / str(uuid.uuid4())
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(_secret_request(box, requester))
    return link


def symlink_code_dir(box: Box, requester: str) -> Path:
    folder = valid_request(_new(box, requester), requester)
    _replace_with_link(folder / "code", box.secret / "code")
    return folder


def symlink_code_sub(box: Box, requester: str) -> Path:
    folder = valid_request(
        _new(box, requester), requester, {"run.sh": RUN_SH, "lib/run.sh": RUN_SH}
    )
    _replace_with_link(folder / "code" / "lib", box.secret / "code")
    return folder


def symlink_file(box: Box, requester: str) -> Path:
    folder = valid_request(_new(box, requester), requester)
    _replace_with_link(folder / "code" / "run.sh", box.secret / "code" / "run.sh")
    return folder


def symlink_request(box: Box, requester: str) -> Path:
    folder = _new(box, requester)
    secret = _secret_request(box, requester)
    data = json.loads((secret / "request.json").read_text())
    data["uid"] = folder.name
    (secret / "request.json").write_text(json.dumps(data))
    (folder / "code").symlink_to(secret / "code")
    (folder / "request.json").symlink_to(secret / "request.json")
    return folder


def hardlink_file(box: Box, requester: str) -> Path:
    folder = valid_request(_new(box, requester), requester)
    (folder / "code" / "run.sh").unlink()
    os.link(box.secret / "code" / "run.sh", folder / "code" / "run.sh")
    return folder


def sparse_huge(box: Box, requester: str) -> Path:
    folder = valid_request(_new(box, requester), requester)
    with (folder / "code" / "run.sh").open("r+b") as f:
        f.truncate(50 * 1024**3)  # 50 GB on paper, nothing on disk
    return folder


def sparse_declared(box: Box, requester: str) -> Path:
    """A request that declares one huge file (over every limit) and holds it sparse."""
    folder = _new(box, requester)
    size = 50 * 1024**3
    listed = (
        FileEntry(path="run.sh", sha256="0" * 64, size=size),
    )  # fmt: skip
    request = JobRequest(
        uid=uuid.UUID(folder.name), name="huge", requester=requester, target=DO_EMAIL,
        created_at=utcnow(), files=listed, code_hash=code_hash(listed),
    )  # fmt: skip
    (folder / "code").mkdir()
    with (folder / "code" / "run.sh").open("wb") as f:
        f.truncate(size)
    (folder / "request.json").write_text(request.model_dump_json())
    return folder


def truncated_json(box: Box, requester: str) -> Path:
    folder = valid_request(_new(box, requester), requester)
    text = (folder / "request.json").read_bytes()
    (folder / "request.json").write_bytes(text[: len(text) // 3])
    return folder


def oversized_json(box: Box, requester: str) -> Path:
    folder = _new(box, requester)
    with (folder / "request.json").open("wb") as f:
        f.write(b"{" + b" " * (6 * 1024 * 1024))
    return folder


def wrong_types(box: Box, requester: str) -> Path:
    folder = _new(box, requester)
    (folder / "request.json").write_text(
        json.dumps({"uid": 5, "files": "all of them", "requester": ["x"], "created_at": {}})
    )
    return folder


def deep_nesting(box: Box, requester: str) -> Path:
    folder = _new(box, requester)
    (folder / "request.json").write_bytes(b"[" * 200_000 + b"]" * 200_000)
    return folder


def deep_folders(box: Box, requester: str) -> Path:
    path = "/".join(["d"] * 60) + "/run.sh"
    return valid_request(_new(box, requester), requester, {"run.sh": RUN_SH, path: b"x"})


def unicode_names(box: Box, requester: str) -> Path:
    files = {
        "run.sh": RUN_SH,
        "\u202etxt.exe": b"rtl override\n",
        "caf\u00e9/na\u0308ive.py": b"combining\n",
        "\uff52\uff55\uff4e.sh": b"fullwidth\n",
    }
    folder = valid_request(_new(box, requester), requester, files)
    (folder / "code" / "caf\u00e9" / "na\u0308ive.py").unlink()  # never arrives
    return folder


def null_bytes(box: Box, requester: str) -> Path:
    folder = _new(box, requester)
    (folder / "request.json").write_bytes(b'{"uid": "\x00\x00", "name": "\x00"}')
    return folder


def many_missing(box: Box, requester: str) -> Path:
    files = {f"f{i:05}.py": b"x" for i in range(5_000)}
    files["run.sh"] = RUN_SH
    folder = _new(box, requester)
    (folder / "request.json").write_bytes(request_json(requester, folder.name, files))
    return folder


def forged_requester(box: Box, requester: str) -> Path:
    folder = valid_request(_new(box, requester), requester)
    data = json.loads((folder / "request.json").read_text())
    data["requester"] = "ds@example.com"
    (folder / "request.json").write_text(json.dumps(data))
    return folder


def cancel_unknown(box: Box, requester: str) -> Path:
    cancels = box.outbox(requester) / "cancellations"
    cancels.mkdir(parents=True, exist_ok=True)
    uid = uuid.uuid4()
    path = cancels / f"{uid}.json"
    path.write_text(json.dumps({"uid": str(uid), "requested_at": utcnow().isoformat()}))
    return path


def junk_entries(box: Box, requester: str) -> Path:
    outbox = box.outbox(requester)
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / "not-a-uid").mkdir(exist_ok=True)
    (outbox / f"{uuid.uuid4()}").write_bytes(b"a file where a folder belongs")
    os.mkfifo(outbox / f"{uuid.uuid4()}")
    return outbox


def _replace_with_link(path: Path, target: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        for child in sorted(path.rglob("*"), reverse=True):
            child.rmdir() if child.is_dir() else child.unlink()
        path.rmdir()
    else:
        path.unlink()
    path.symlink_to(target)


KINDS: dict[str, Callable[[Box, str], Path]] = {
    f.__name__: f
    for f in (
        odd_name, fifo_request, fifo_code, fifo_cancel, socket_code, symlink_datasite,
        symlink_app_data, symlink_uid, symlink_code_dir, symlink_code_sub, symlink_file,
        symlink_request, hardlink_file, sparse_huge, sparse_declared, truncated_json,
        oversized_json, wrong_types, deep_nesting, deep_folders, unicode_names, null_bytes,
        many_missing, forged_requester, cancel_unknown, junk_entries,
    )
}  # fmt: skip


def plant_all(box: Box) -> list[Path]:
    """One entry of every kind, spread over the hostile requesters."""
    return [
        plant(box, HOSTILE_EMAILS[i % len(HOSTILE_EMAILS)])
        for i, plant in enumerate(KINDS.values())
    ]


def owner_paths(box: Box) -> list[str]:
    """Strings that must never appear in anything published to a requester."""
    return [str(box.root), str(box.root.resolve()), str(box.secret)]
