"""Which sandbox a queue gets, and failing closed where there is none."""

from __future__ import annotations

import pytest

from syft_code_queue import confine, sandbox
from syft_code_queue.sandbox import SandboxUnavailableError


def test_a_platform_without_a_backend_fails_closed_and_says_how_to_opt_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sandbox.sys, "platform", "darwin")
    with pytest.raises(SandboxUnavailableError) as raised:
        sandbox.backend("required")
    message = str(raised.value)
    assert "darwin" in message
    assert "isolation='none'" in message
    assert "scq doctor" in message
    assert sandbox.backend("auto") is None  # "auto" runs without one, and says so
    assert sandbox.backend("none") is None


def test_a_forced_backend_is_the_only_one_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(sandbox.backend("required", "landlock"), confine.LandlockSeccomp)
    assert isinstance(sandbox.backend("required", "bubblewrap"), sandbox.Bubblewrap)
    monkeypatch.setattr(confine, "backend", lambda: None)
    monkeypatch.setattr(confine, "unavailable_reason", lambda: "no Landlock in this kernel")
    with pytest.raises(SandboxUnavailableError, match="no Landlock in this kernel"):
        sandbox.backend("required", "landlock")
    assert isinstance(sandbox.backend("required"), sandbox.Bubblewrap)  # auto: bubblewrap


def test_the_landlock_abi_is_read_from_the_kernel() -> None:
    version = confine.abi()
    assert version >= 1, "this machine's kernel has Landlock (the fallback is tested here)"
    assert confine.LandlockSeccomp(version).network.startswith("no network")
