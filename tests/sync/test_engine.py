"""Facts about the SyftBox 0.4.0 sync engine that the code-queue protocol relies on.

Each test runs against a real server and three real clients (see conftest.py). A negative
check ("X did NOT sync") is made after ``cluster.barrier(...)``, never after a sleep.
"""

from __future__ import annotations

import stat
import statistics
import time
import uuid
from pathlib import Path

import pytest
from cluster import ClusterClient, SyftBoxCluster, wait_for
from flow import DO, DS, EVE

pytestmark = pytest.mark.sync

SYFTPERM_READ_DO = """\
- path: '**'
  user: do@example.com
  permissions: [read]
"""

SYFT_PUB_READ_DO = """\
terminal: false
rules:
- pattern: '**'
  access: {read: ['do@example.com']}
"""

OUTBOX = Path("app_data", "code-queue", "outbox")


def uid() -> str:
    return uuid.uuid4().hex[:10]


def grant_read(folder: Path, email: str) -> None:
    """Both permission formats in ``folder``, granting ``email`` read on everything below it."""
    folder.mkdir(parents=True, exist_ok=True)
    perm = SYFTPERM_READ_DO.replace(DO, email)
    pub = SYFT_PUB_READ_DO.replace(DO, email)
    if not (folder / "syftperm.yaml").exists():
        (folder / "syftperm.yaml").write_text(perm)
    if not (folder / "syft.pub.yaml").exists():
        (folder / "syft.pub.yaml").write_text(pub)


def files_under(root: Path) -> list[str]:
    """Every file below ``root`` (hidden ones included), relative, sorted."""
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_workspace_layout_and_config(
    cluster: SyftBoxCluster, ds: ClusterClient, do: ClusterClient
) -> None:
    config = ds.config()
    assert config["email"] == DS
    assert Path(config["data_dir"]) == ds.data_dir
    assert config["server_url"].rstrip("/") == cluster.server_url
    assert config["client_url"].rstrip("/") == ds.url
    assert config.get("access_token"), "auth off still hands out an access token"

    for name in ("datasites", "apps", "plugins", "logs"):
        assert (ds.data_dir / name).is_dir(), name
    assert (ds.datasites / "_.syftignore").is_file()
    assert (ds.data_dir / "plugins" / "local_syncstate.json").is_file()
    # the client made its own datasite, with default permission files
    assert (ds.my_datasite / "syftperm.yaml").is_file()
    assert (ds.my_datasite / "public" / "syftperm.yaml").is_file()
    assert ds.datasite(DS) == ds.data_dir / "datasites" / DS
    # everyone's public/ reaches everyone
    cluster.wait_for_file(ds.datasite(DO) / "public" / "syftperm.yaml")
    cluster.wait_for_file(do.datasite(DS) / "public" / "syftperm.yaml")
    env = ds.env()
    assert env["SYFTBOX_CLIENT_CONFIG_PATH"] == str(ds.config_path)


def test_permissioned_outbox_reaches_grantee_only(
    cluster: SyftBoxCluster, ds: ClusterClient, do: ClusterClient, eve: ClusterClient
) -> None:
    rel_do = OUTBOX / DO  # both permission files live here, written before the files they grant
    rel_eve = OUTBOX / EVE
    grant_read(ds.my_datasite / rel_do, DO)
    grant_read(ds.my_datasite / rel_eve, EVE)

    job = uid()
    payload = f"request {job}\n".encode()
    for rel in (rel_do, rel_eve):
        (ds.my_datasite / rel / job / "nested" / "deeper").mkdir(parents=True)
        (ds.my_datasite / rel / job / "request.json").write_bytes(payload)
        (ds.my_datasite / rel / job / "nested" / "deeper" / "code.py").write_bytes(payload)

    # arrives on do's machine, nested folders included ('**' covers them)
    for name in ("request.json", "nested/deeper/code.py"):
        cluster.wait_for_file(do.datasite(DS) / rel_do / job / name, payload)
        cluster.wait_for_file(eve.datasite(DS) / rel_eve / job / name, payload)
    # the permission files themselves are readable by the grantee ('**' matches them)
    cluster.wait_for_file(do.datasite(DS) / rel_do / "syftperm.yaml")
    cluster.wait_for_file(do.datasite(DS) / rel_do / "syft.pub.yaml")
    assert cluster.on_server(Path(DS) / rel_do / job / "request.json").read_bytes() == payload

    # ... and NOT on eve's (nor eve's on do's): a syftperm.yaml is scoped to its own folder
    cluster.barrier(DS, [DO, EVE])
    for other, rel in ((eve, rel_do), (do, rel_eve)):
        assert files_under(other.datasite(DS) / rel / job) == []
        assert not (other.datasite(DS) / rel / "syftperm.yaml").exists()
        assert not (other.datasite(DS) / rel / "syft.pub.yaml").exists()


def test_syft_pub_yaml_alone_grants_nothing(
    cluster: SyftBoxCluster, ds: ClusterClient, do: ClusterClient
) -> None:
    """syftbox 0.4.0 only knows syftperm.yaml; syft.pub.yaml is an ordinary file to it."""
    folder = ds.my_datasite / "app_data" / "code-queue" / f"pub-only-{uid()}" / DO
    folder.mkdir(parents=True)
    (folder / "syft.pub.yaml").write_text(SYFT_PUB_READ_DO)
    (folder / "request.json").write_text("{}")
    rel = folder.relative_to(ds.datasites)
    wait_for(
        lambda: cluster.on_server(rel / "request.json").is_file(),
        timeout=30,
        message="ds to upload request.json",
    )
    cluster.barrier(DS, [DO])
    assert files_under(do.datasites / rel) == []


def test_ignored_names_are_not_synced(
    cluster: SyftBoxCluster, ds: ClusterClient, do: ClusterClient
) -> None:
    folder = ds.my_datasite / "public" / f"ignore-{uid()}"
    ignored = [
        ".name.abc123.syft.tmp",  # hidden AND *.tmp
        ".uid.abc.syft.tmp/inner.json",  # in a hidden *.tmp directory
        "uid.abc.syft.tmp/inner.json",  # in a *.tmp directory that is not hidden
        "plain.tmp",  # *.tmp
        ".hidden.json",  # hidden
        "__pycache__/mod.cpython-311.pyc",
        "mod.pyc",
        "notes.swp",
        "x.syftrejected.json",  # rejected-file marker
    ]
    synced = ["visible.json", "looks.tmp.json"]
    for name in ignored + synced:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {name}\n")

    target = do.datasites / folder.relative_to(ds.datasites)
    for name in synced:
        cluster.wait_for_file(target / name, f"content of {name}\n".encode())
    cluster.barrier(DS, [DO])

    server_copy = cluster.on_server(folder.relative_to(ds.datasites))
    assert files_under(target) == sorted(synced)
    assert files_under(server_copy) == sorted(synced)
    # the engine leaves ignored files alone on the writer's side
    for name in ignored:
        assert (folder / name).is_file(), name


def test_empty_file_is_synced(
    cluster: SyftBoxCluster, ds: ClusterClient, do: ClusterClient
) -> None:
    path = ds.my_datasite / "public" / f"empty-{uid()}" / "EMPTY"
    path.parent.mkdir(parents=True)
    path.touch()
    arrived = cluster.wait_for_file(do.datasites / path.relative_to(ds.datasites), b"")
    assert arrived.stat().st_size == 0


def test_execute_bit_is_dropped(
    cluster: SyftBoxCluster, ds: ClusterClient, do: ClusterClient
) -> None:
    path = ds.my_datasite / "public" / f"exec-{uid()}" / "run.sh"
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\necho hi\n")
    path.chmod(0o755)
    arrived = cluster.wait_for_file(do.datasites / path.relative_to(ds.datasites))
    assert path.stat().st_mode & 0o111 == 0o111  # untouched on the writer's side
    mode = stat.S_IMODE(arrived.stat().st_mode)
    assert mode & 0o111 == 0, oct(mode)


def test_foreign_write_is_rejected_and_renamed(
    cluster: SyftBoxCluster, ds: ClusterClient, do: ClusterClient, eve: ClusterClient
) -> None:
    """eve writes into ds's datasite on her own machine: new files and a modification."""
    job = uid()
    # (a) into a folder eve cannot even read (do's outbox)
    rel_outbox = Path(DS) / OUTBOX / DO / f"forged-{job}"
    forged = eve.datasites / rel_outbox / "request.json"
    forged.parent.mkdir(parents=True)
    forged.write_text("forged by eve\n")
    # (b) into ds's public/ (eve can read it, not write it)
    rel_public = Path(DS) / "public" / f"foreign-{job}"
    intruder = eve.datasites / rel_public / "note.txt"
    intruder.parent.mkdir(parents=True)
    intruder.write_text("eve was here\n")
    # (c) modify a file of ds that eve can read
    rel_shared = Path(DS) / "public" / f"shared-{job}" / "data.csv"
    original = b"a,b\n1,2\n"
    (ds.datasites / rel_shared).parent.mkdir(parents=True)
    (ds.datasites / rel_shared).write_bytes(original)
    eve_copy = cluster.wait_for_file(eve.datasites / rel_shared, original)
    eve_copy.write_bytes(b"a,b\n6,6\n")

    # rejected: renamed in place to <stem>.syftrejected<suffix> on eve's machine
    for path, content in (
        (forged, b"forged by eve\n"),
        (intruder, b"eve was here\n"),
        (eve_copy, b"a,b\n6,6\n"),
    ):
        rejected = path.with_name(f"{path.stem}.syftrejected{path.suffix}")
        cluster.wait_for_file(rejected, content)
    assert not forged.exists()
    assert not intruder.exists()
    # a rejected modification is reverted to the server's version
    cluster.wait_for_file(eve_copy, original)

    for rel in (rel_outbox, rel_public):
        assert not cluster.on_server(rel).exists()
    assert cluster.on_server(rel_shared).read_bytes() == original
    cluster.barrier(EVE, [DS, DO])
    for person in (ds, do):
        assert files_under(person.datasites / rel_outbox) == []
        assert files_under(person.datasites / rel_public) == []
    assert (ds.datasites / rel_shared).read_bytes() == original
    assert (do.datasites / rel_shared).read_bytes() == original
    # the rejected copies stay put (they match the ignore rules, so they are never uploaded)
    assert (eve_copy.with_name("data.syftrejected.csv")).is_file()


def test_write_into_unknown_datasite_stays_local(
    cluster: SyftBoxCluster, do: ClusterClient, eve: ClusterClient
) -> None:
    """A datasite the server does not list for eve is never scanned: no upload, no rejection."""
    rel = Path("nobody@example.com") / "public" / f"ghost-{uid()}.txt"
    ghost = eve.datasites / rel
    ghost.parent.mkdir(parents=True)
    ghost.write_text("boo\n")
    cluster.barrier(EVE, [DO])
    cluster.barrier(EVE, [DO])  # two full sync cycles of eve's after the write
    assert ghost.read_text() == "boo\n"
    assert not cluster.on_server(rel).exists()
    assert files_under(ghost.parent) == [ghost.name]


def test_client_restart_catches_up(
    cluster: SyftBoxCluster, ds: ClusterClient, do: ClusterClient
) -> None:
    try:
        _restart_catches_up(cluster, ds, do)
    finally:  # later tests need every client up
        if not do.is_running():
            do.start()


def _restart_catches_up(cluster: SyftBoxCluster, ds: ClusterClient, do: ClusterClient) -> None:
    job = uid()
    old_port = do.port
    started = time.monotonic()
    cluster.stop_client(DO)
    print(f"do stopped in {time.monotonic() - started:.2f}s")
    assert not do.is_running()
    # written while do is offline
    path = ds.my_datasite / "public" / f"offline-{job}" / "while-down.txt"
    path.parent.mkdir(parents=True)
    path.write_text("sent while do was down\n")
    wait_for(
        lambda: cluster.on_server(path.relative_to(ds.datasites)).is_file(),
        timeout=30,
        message="ds to upload while do is down",
    )
    # do writes while offline too: uploaded once do is back
    mine = do.my_datasite / "public" / f"offline-{job}" / "from-do.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("written offline\n")

    started = time.monotonic()
    cluster.start_client(DO)
    ready = time.monotonic() - started
    assert do.is_running()
    assert do.config()["email"] == DO
    print(f"do restarted in {ready:.2f}s (port {old_port} -> {do.port})")

    down_copy = do.datasites / path.relative_to(ds.datasites)
    cluster.wait_for_file(down_copy, b"sent while do was down\n")
    cluster.wait_for_file(ds.datasites / mine.relative_to(do.datasites), b"written offline\n")
    # restart_client = stop + start, the client keeps working afterwards
    cluster.restart_client(DO)
    again = ds.my_datasite / "public" / f"offline-{job}" / "after-restart.txt"
    again.write_text("after restart\n")
    cluster.wait_for_file(do.datasites / again.relative_to(ds.datasites), b"after restart\n")


def test_sync_hop_latency(
    cluster: SyftBoxCluster,
    ds: ClusterClient,
    do: ClusterClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = ds.my_datasite / "public" / f"hop-{uid()}"
    folder.mkdir(parents=True)
    target = do.datasites / folder.relative_to(ds.datasites)
    hops: list[float] = []
    for i in range(5):
        content = f"hop {i} {time.time()}\n".encode()
        start = time.monotonic()
        (folder / f"hop-{i}.txt").write_bytes(content)
        cluster.wait_for_file(target / f"hop-{i}.txt", content, timeout=30)
        hops.append(time.monotonic() - start)
    median = statistics.median(hops)
    with capsys.disabled():
        print(
            f"\n[sync hop ds -> do] median {median:.2f}s; "
            f"all: {', '.join(f'{h:.2f}' for h in hops)}s"
        )
    assert median < 10, hops
