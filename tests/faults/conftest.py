"""Fixtures of the fault suite: child processes that are always cleaned up."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

try:  # pytest's default import mode puts this folder (no __init__.py) on sys.path
    from faultlib import Children
except ModuleNotFoundError:  # --import-mode=importlib does not
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from faultlib import Children


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    """Start child processes with ``children.spawn``; every one of them (its whole process
    group), and every job process carrying a registered token or run id, is SIGKILLed when
    the test ends, pass or fail."""
    kids = Children(tmp_path / "child-logs")
    try:
        yield kids
    finally:
        kids.cleanup()
