"""Jupyter widgets (the ``widgets`` extra): the owner's review table, the data scientist's
live status cell. Their front end is plain ESM in ``js/``; no CDN, works offline.

Made by :meth:`CodeQueueServer.review_widget` and :meth:`CodeQueueClient.status_widget`,
or shown by displaying a job listing in a notebook.
"""

from __future__ import annotations

from syft_code_queue.errors import WidgetsNotInstalledError

try:
    import anywidget  # noqa: F401
    import pygments  # noqa: F401
    import traitlets  # noqa: F401
except ImportError as exc:
    raise WidgetsNotInstalledError(
        f"the notebook widgets need the widgets extra ({exc.name} is missing): "
        "pip install 'syft-code-queue[widgets]'"
    ) from exc

from syft_code_queue.widgets.review import ReviewWidget
from syft_code_queue.widgets.status import JobStatusWidget

__all__ = ["JobStatusWidget", "ReviewWidget"]
