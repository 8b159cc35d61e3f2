"""A daemon thread that refreshes a widget every few seconds until told to stop."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import ClassVar

log = logging.getLogger("syft_code_queue")


class Poller:
    """Calls ``step`` in a daemon thread, then again after the delay it returns (seconds);
    stops when it returns ``None``. The first call comes after ``interval`` seconds.

    ``step`` runs off the kernel's main thread, so a slow listing never blocks a cell; a
    failing step is logged and retried at the next interval.
    """

    def __init__(self, step: Callable[[], float | None], interval: float, name: str) -> None:
        self._step = step
        self.interval = interval
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        delay: float | None = self.interval
        while delay is not None and not self._stop.wait(delay):
            try:
                delay = self._step()
            except Exception:
                log.warning("%s: refresh failed; trying again", self._name, exc_info=True)
                delay = self.interval


class Watch:
    """One poller per watched object (a server), shared by all of its widgets.

    Every ``interval`` seconds it calls the first subscriber's ``look`` (cheap: takes in
    arrivals, returns a version number) and, when the version changed, every subscriber's
    ``changed``. The thread stops when the last subscriber leaves (its widget closed).
    """

    _all: ClassVar[weakref.WeakKeyDictionary[object, Watch]] = weakref.WeakKeyDictionary()
    _all_lock = threading.Lock()

    def __init__(self, interval: float, name: str) -> None:
        self.interval = interval
        self._subscribers: list[tuple[Callable[[], None], Callable[[], object]]] = []
        self._lock = threading.Lock()
        self._version: object = None
        self.poller = Poller(self._step, interval, name)

    @classmethod
    def of(cls, owner: object, interval: float, name: str) -> Watch:
        """The watch of ``owner``, made on first use."""
        with cls._all_lock:
            watch = cls._all.get(owner)
            if watch is None:
                watch = cls._all[owner] = cls(interval, name)
            return watch

    def subscribe(
        self,
        changed: Callable[[], None],
        look: Callable[[], object],
        interval: float,
        version: object = None,
    ) -> None:
        """Call ``changed`` after each change; ``version``: what the subscriber has seen."""
        with self._lock:
            if not self._subscribers:
                self._version = version
            self._subscribers.append((changed, look))
            self.interval = min(self.interval, interval)
            self.poller.interval = self.interval
        self.poller.start()

    def unsubscribe(self, changed: Callable[[], None]) -> None:
        with self._lock:
            self._subscribers = [s for s in self._subscribers if s[0] != changed]
            empty = not self._subscribers
            if empty:
                self._version = None
        if empty:
            self.poller.stop()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def _step(self) -> float | None:
        with self._lock:
            subscribers = list(self._subscribers)
        if not subscribers:
            return None
        version = subscribers[0][1]()
        if version != self._version:
            self._version = version
            for changed, _ in subscribers:
                changed()
        return self.interval
