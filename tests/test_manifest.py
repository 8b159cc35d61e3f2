"""Manifest rules: which paths are safe, which names travel, what the code hash covers."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from syft_code_queue.manifest import EMPTY_SHA256, code_hash, manifest_problem, sync_ignored
from syft_code_queue.models import FileEntry

SHA = "a" * 64


def reference_safe(path: str) -> bool:
    """The rule in plain Python: relative, no empty, '.' or '..' segment, no '\\' or control."""
    if not path or path.startswith("/") or "\\" in path:
        return False
    if any(ord(c) < 32 for c in path):
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


paths = st.text(alphabet=string.ascii_letters + "./\\ \x00\x1f\n-_é", max_size=24)


@given(paths)
def test_the_path_pattern_is_exactly_the_safety_rule(path: str) -> None:
    try:
        FileEntry(path=path, sha256=SHA, size=1)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted is reference_safe(path)


@given(st.permutations([FileEntry(path=f"f{i}.py", sha256=SHA, size=i) for i in range(6)]))
def test_code_hash_does_not_depend_on_order(files: list[FileEntry]) -> None:
    assert code_hash(files) == code_hash(sorted(files, key=lambda f: f.path))


def test_code_hash_covers_path_content_and_size() -> None:
    base = [FileEntry(path="run.sh", sha256=SHA, size=3)]
    assert code_hash(base) != code_hash([FileEntry(path="run2.sh", sha256=SHA, size=3)])
    assert code_hash(base) != code_hash([FileEntry(path="run.sh", sha256="b" * 64, size=3)])
    assert code_hash(base) != code_hash([FileEntry(path="run.sh", sha256=SHA, size=4)])


@pytest.mark.parametrize(
    "path",
    ["__pycache__/m.pyc", "a/.git/config", ".env", "notes.log", "logs/x.txt", "x.tmp",
     "venv/bin/python", "dist/pkg.whl", ".ipynb_checkpoints/n.ipynb", "a.syftrejected.json"],
)  # fmt: skip
def test_names_sync_never_carries(path: str) -> None:
    assert sync_ignored(path) is not None


@pytest.mark.parametrize("path", ["run.sh", "src/analyze.py", "data/rows.csv", "README.md"])
def test_names_that_travel(path: str) -> None:
    assert sync_ignored(path) is None


def entry(path: str, size: int = 1, sha: str = SHA) -> FileEntry:
    return FileEntry(path=path, sha256=sha, size=size)


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ([entry("run.sh"), entry("run.sh")], "twice"),
        ([entry("run.sh"), entry("a"), entry("a/b")], "both as a file and as a folder"),
        ([entry("run.sh"), entry("empty", size=0)], "non-empty hash"),
        ([entry("analyze.py")], "no run.sh"),
    ],
)
def test_manifests_that_can_never_be_satisfied(files: list[FileEntry], problem: str) -> None:
    assert problem in (manifest_problem(files) or "")


def test_a_sound_manifest_has_no_problem() -> None:
    files = [entry("run.sh"), entry("src/a.py"), entry("empty", size=0, sha=EMPTY_SHA256)]
    assert manifest_problem(files) is None
