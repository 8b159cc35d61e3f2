"""Helpers the real-process suites share: free ports, log tails, waiting on a condition."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1 (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.1,
    *,
    message: str | Callable[[], str] = "condition",
    ignore: tuple[type[BaseException], ...] = (OSError, ValueError),
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that value.

    Exceptions of the types in ``ignore`` (a file not there yet, half-written JSON) count as
    "not yet". On timeout a ``TimeoutError`` names ``message`` (a string, or a callable
    evaluated only then, e.g. to add a log tail), the last value and the last exception.
    """
    deadline = time.monotonic() + timeout
    last_value: Any = None
    last_error: BaseException | None = None
    while True:
        try:
            last_value = predicate()
            last_error = None
            if last_value:
                return last_value
        except ignore as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    text = message() if callable(message) else message
    detail = f"; last error: {last_error!r}" if last_error is not None else ""
    raise TimeoutError(
        f"timed out after {timeout:.1f}s waiting for {text} (last value {last_value!r}{detail})"
    )
