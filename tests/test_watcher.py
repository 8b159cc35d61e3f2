"""The file watcher that makes the server's loop prompt (its polling covers the rest)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from syft_code_queue.watcher import FolderWatcher


class Running:
    def __init__(self, folders: set[Path]) -> None:
        self.folders = folders
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.watcher = FolderWatcher(
            lambda: set(self.folders),
            lambda path: not path.endswith(".ignored"),
            self.wake,
            self.stop,
        )
        self.thread = threading.Thread(target=self.watcher.run, daemon=True)

    def woken(self, timeout: float = 10.0) -> bool:
        woke = self.wake.wait(timeout)
        self.wake.clear()
        return woke


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    first = tmp_path / "first"
    first.mkdir()
    running = Running({first})
    running.thread.start()
    yield running
    running.stop.set()
    running.thread.join(10)
    assert not running.thread.is_alive()


def test_wakes_once_the_watches_are_in_place_then_on_changes(
    running: Running, tmp_path: Path
) -> None:
    assert running.woken(), "no wake once watching: a change made meanwhile would wait"
    (tmp_path / "first" / "request.json").write_text("{}")
    assert running.woken(), "a change in a watched folder did not wake the loop"


def test_follows_a_folder_that_appears_later(running: Running, tmp_path: Path) -> None:
    assert running.woken()
    later = tmp_path / "later"
    later.mkdir()
    running.folders.add(later)
    running.watcher.refresh()
    assert running.woken(), "no wake once the new folder is watched"
    assert later in running.watcher.watched
    (later / "request.json").write_text("{}")
    assert running.woken(), "a change in the new folder did not wake the loop"
