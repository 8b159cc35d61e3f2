"""A daemon thread that refreshes a widget every few seconds until told to stop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("syft_code_queue")


class Poller:
    """Calls ``step`` in a daemon thread, then again after the delay it returns (seconds);
    stops when it returns ``None``. The first call comes after ``interval`` seconds.

    ``step`` runs off the kernel's main thread, so a slow listing never blocks a cell; a
    failing step is logged and retried at the next interval.
    """

    def __init__(self, step: Callable[[], float | None], interval: float, name: str) -> None:
        self._step = step
        self._interval = interval
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
        delay: float | None = self._interval
        while delay is not None and not self._stop.wait(delay):
            try:
                delay = self._step()
            except Exception:
                log.warning("%s: refresh failed; trying again", self._name, exc_info=True)
                delay = self._interval
