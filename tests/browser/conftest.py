"""Fixtures of the browser suite: one JupyterLab per session, driven by headless Chromium.

``jupyterlab`` (session) is the running :class:`~.harness.JupyterLab`; tests write notebooks
under ``jupyterlab.root`` and call :func:`~.harness.drive`. ``lab`` is the same server for one
test, with every kernel shut down after it (each notebook a test opens starts a kernel).
``screenshot_dir`` is where failure screenshots of a test go.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import BrowserNotInstalledError, JupyterLab, check_browser_installed


@pytest.fixture(scope="session")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    try:
        check_browser_installed()
    except BrowserNotInstalledError as exc:
        pytest.fail(str(exc), pytrace=False)
    base = tmp_path_factory.mktemp("jupyterlab")
    with JupyterLab(base / "root", workdir=base / "work") as lab:
        yield lab


@pytest.fixture
def lab(jupyterlab: JupyterLab) -> Iterator[JupyterLab]:
    yield jupyterlab
    jupyterlab.shutdown_kernels()


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    path = tmp_path / "screenshots"
    path.mkdir()
    return path
