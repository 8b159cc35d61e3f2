"""The job lifecycle as one pure table of allowed transitions.

Every status change in the package goes through :func:`check_transition`.
"""

from __future__ import annotations

from syft_code_queue.errors import InvalidTransitionError
from syft_code_queue.models import JobStatus

_S = JobStatus

# pending -> approved -> running -> completed | failed; pending|approved -> rejected.
# pending|approved -> failed covers a cancellation by the requester and a snapshot whose
# hash no longer matches the approval: nothing ran, but the job cannot go on.
# running -> awaiting_release -> completed | failed happens only on a queue with
# QueueConfig(release="manual"): the job ran and its results wait for the owner's release.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    _S.pending: frozenset({_S.approved, _S.rejected, _S.failed}),
    _S.approved: frozenset({_S.running, _S.rejected, _S.failed}),
    _S.running: frozenset({_S.completed, _S.failed, _S.awaiting_release}),
    _S.awaiting_release: frozenset({_S.completed, _S.failed}),
    _S.completed: frozenset(),
    _S.failed: frozenset(),
    _S.rejected: frozenset(),
}


def can_transition(current: JobStatus, new: JobStatus) -> bool:
    """Whether a job in ``current`` may move to ``new``."""
    return new in TRANSITIONS[current]


def check_transition(current: JobStatus, new: JobStatus, uid: object = None) -> None:
    """Raise unless a job in ``current`` may move to ``new``.

    Raises:
        InvalidTransitionError: the move is not in the table.
    """
    if can_transition(current, new):
        return
    which = f"job {uid} " if uid is not None else "a job "
    allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "nothing (final)"
    raise InvalidTransitionError(
        f"{which}is {current.value} and cannot become {new.value}; "
        f"from {current.value} it can become: {allowed}"
    )
