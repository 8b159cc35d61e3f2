"""Where the front-end files (``js/``) are: bundled in the wheel, or the repository's folder."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def asset(name: str) -> Path:
    """The path of a front-end file such as ``review.js`` or ``templates/job.html``.

    Raises:
        FileNotFoundError: the package was installed without its front-end files.
    """
    for root in (_PACKAGE / "_static", _PACKAGE.parent / "js"):
        path = root / name
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"front-end file {name!r} is missing; reinstall syft-code-queue (pip install -e .)"
    )
