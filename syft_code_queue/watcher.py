"""Wakes the server's loop when files change in the folders it reads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("syft_code_queue")

READY_MS = 100  # how soon after the watches are set the loop is woken once more


class _EitherEvent:
    """Set when any of its events is (what ``watchfiles`` polls to stop)."""

    def __init__(self, *events: threading.Event) -> None:
        self._events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)


class FolderWatcher:
    """Sets ``wake`` on file events in ``folders()`` (each folder itself, not its
    subfolders), until ``stop`` is set.

    The loop's own polling covers anything missed; the watcher only makes it prompt.
    Anything written after the loop's last listing but before the watches are in place
    raises no event, so ``wake`` is also set once as soon as they are (the first yield of
    ``watchfiles.watch``, an empty one at the latest after ``READY_MS``).

    Args:
        folders: the folders to watch, asked again after :meth:`refresh`.
        wanted: which changed paths wake the loop.
        wake: set on every wanted change.
        stop: ends :meth:`run`.
    """

    def __init__(
        self,
        folders: Callable[[], set[Path]],
        wanted: Callable[[str], bool],
        wake: threading.Event,
        stop: threading.Event,
    ) -> None:
        self._folders = folders
        self._wanted = wanted
        self._wake = wake
        self._stop = stop
        self._changed = threading.Event()
        self.watched: set[Path] = set()

    def refresh(self) -> None:
        """Watch ``folders()`` anew if it changed (e.g. a new data scientist's outbox)."""
        if self._folders() != self.watched:
            self._changed.set()

    def run(self) -> None:
        import watchfiles

        stop = _EitherEvent(self._stop, self._changed)
        while not self._stop.is_set():
            self._changed.clear()
            self.watched = self._folders()
            ready = False
            try:
                for changes in watchfiles.watch(
                    *self.watched,
                    watch_filter=lambda _change, path: self._wanted(path),
                    stop_event=stop,
                    debounce=200,
                    step=5,
                    rust_timeout=READY_MS,
                    yield_on_timeout=True,
                    raise_interrupt=False,
                    # Each folder itself, never its subfolders: a recursive watch would
                    # follow links planted in another datasite's outbox through the
                    # owner's whole filesystem. Polling covers files deeper down.
                    recursive=False,
                ):
                    if changes or not ready:
                        self._wake.set()
                    ready = True
            except Exception:
                log.warning("file watcher failed; the server polls instead", exc_info=True)
                return
