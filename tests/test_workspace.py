"""Finding the SyftBox folder and identity: arguments, environment, config file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import syft_code_queue as scq
from syft_code_queue import InvalidEmailError, WorkspaceError
from syft_code_queue.workspace import grant_read, resolve_workspace


def test_explicit_arguments_win_over_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYFTBOX_EMAIL", "env@example.com")
    monkeypatch.setenv("SYFTBOX_DATA_DIR", str(tmp_path / "env"))
    ws = resolve_workspace("Arg@Example.com", tmp_path / "arg")
    assert ws.email == "arg@example.com"
    assert ws.data_dir == (tmp_path / "arg").resolve()


def test_environment_variables_are_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYFTBOX_EMAIL", "env@example.com")
    monkeypatch.setenv("SYFTBOX_DATA_DIR", str(tmp_path))
    ws = resolve_workspace()
    assert (ws.email, ws.data_dir) == ("env@example.com", tmp_path.resolve())


def test_client_config_path_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"data_dir": str(tmp_path / "box"), "email": "cfg@example.com"}))
    monkeypatch.setenv("SYFTBOX_CLIENT_CONFIG_PATH", str(config))
    ws = resolve_workspace()
    assert (ws.email, ws.data_dir) == ("cfg@example.com", (tmp_path / "box").resolve())


def test_default_config_in_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / ".syftbox").mkdir(parents=True)
    (home / ".syftbox" / "config.json").write_text(
        json.dumps({"data_dir": str(tmp_path / "box"), "email": "home@example.com"})
    )
    monkeypatch.setenv("HOME", str(home))
    assert resolve_workspace().email == "home@example.com"


def test_nothing_configured_says_what_to_set() -> None:
    with pytest.raises(WorkspaceError, match=r"SYFTBOX_EMAIL.*scq demo"):
        resolve_workspace()


def test_broken_config_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.json"
    config.write_text("{not json")
    monkeypatch.setenv("SYFTBOX_CLIENT_CONFIG_PATH", str(config))
    with pytest.raises(WorkspaceError, match="cannot be read"):
        resolve_workspace()


@pytest.mark.parametrize("bad", ["no-at-sign", "a@b", "../x@y.com", "a/b@c.com", "a@b..com"])
def test_invalid_emails_are_refused(bad: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidEmailError, match="not a valid email"):
        resolve_workspace(bad, tmp_path)


def test_import_touches_no_file_and_needs_no_config(tmp_path: Path) -> None:
    """Importing the package in a HOME without SyftBox works and creates nothing."""
    home = tmp_path / "empty-home"
    home.mkdir()
    code = "import syft_code_queue, sys; sys.exit('widgets' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert list(home.iterdir()) == []


def test_permission_files_in_both_formats(tmp_path: Path) -> None:
    grant_read(tmp_path / "folder", "Reader@Example.com")
    perm = (tmp_path / "folder" / "syftperm.yaml").read_text()
    pub = (tmp_path / "folder" / "syft.pub.yaml").read_text()
    assert "user: reader@example.com" in perm
    assert "permissions: [read]" in perm
    assert "read: ['reader@example.com']" in pub
    assert "write" not in perm + pub
    assert "*" not in perm.replace("'**'", "") + pub.replace("'**'", "")


def test_two_identities_share_one_folder(syftbox_dir: Path) -> None:
    a = scq.create_client(email="a@example.com", syftbox_dir=syftbox_dir)
    b = scq.create_client(email="b@example.com", syftbox_dir=syftbox_dir)
    assert a.workspace.data_dir == b.workspace.data_dir
    assert a.email != b.email


def test_import_loads_no_heavy_module_and_every_public_name_resolves(tmp_path: Path) -> None:
    """`import syft_code_queue` is cheap: pydantic, psutil, sqlite load on first use of a name."""
    code = (
        "import sys, syft_code_queue as scq\n"
        "heavy = [m for m in ('pydantic', 'psutil', 'sqlite3', 'click') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "missing = [n for n in scq.__all__ if getattr(scq, n, None) is None]\n"
        "assert not missing, missing\n"
        "assert 'pydantic' in sys.modules and set(scq.__all__) <= set(dir(scq))\n"
        "try:\n"
        "    scq.no_such_name\n"
        "except AttributeError as e:\n"
        "    assert 'no_such_name' in str(e)\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
