"""The transition table, cell by cell."""

from __future__ import annotations

import itertools

import pytest

from syft_code_queue import InvalidTransitionError, JobStatus
from syft_code_queue.lifecycle import TRANSITIONS, can_transition, check_transition

S = JobStatus
ALLOWED = {
    (S.pending, S.approved),
    (S.pending, S.rejected),
    (S.pending, S.failed),
    (S.approved, S.running),
    (S.approved, S.rejected),
    (S.approved, S.failed),
    (S.running, S.completed),
    (S.running, S.failed),
    # Only on a queue with release="manual": the job ran, its results wait for the owner.
    (S.running, S.awaiting_release),
    (S.awaiting_release, S.completed),
    (S.awaiting_release, S.failed),
}


def test_the_six_seed_states_and_awaiting_release_exist() -> None:
    assert [s.value for s in JobStatus] == [
        "pending", "approved", "running", "completed", "failed", "rejected", "awaiting_release",
    ]  # fmt: skip
    assert set(TRANSITIONS) == set(JobStatus)


def test_awaiting_release_is_not_terminal() -> None:
    assert not JobStatus.awaiting_release.is_terminal


@pytest.mark.parametrize(("current", "new"), list(itertools.product(JobStatus, JobStatus)))
def test_every_cell_of_the_table(current: JobStatus, new: JobStatus) -> None:
    expected = (current, new) in ALLOWED
    assert can_transition(current, new) is expected
    if expected:
        check_transition(current, new)
    else:
        with pytest.raises(InvalidTransitionError, match=f"is {current.value}"):
            check_transition(current, new, "abc")


def test_terminal_states_have_no_way_out() -> None:
    for status in JobStatus:
        assert status.is_terminal is (not TRANSITIONS[status])
