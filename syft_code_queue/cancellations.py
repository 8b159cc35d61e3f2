"""The data scientists' cancellation markers: read safely, applied once, given up in time.

A marker (``outbox/<owner>/cancellations/<uid>.json``) can arrive before its request, or
half-synced. A marker whose job has not arrived waits for that job to be received; one
that cannot be read yet is read again on later steps. Either expires after
``arrival_timeout`` (logged once), so markers for jobs that never arrive are not retried
forever. A folder is listed again only when it changed; markers are read through
:mod:`syft_code_queue.safewalk` (no links, no FIFOs, bounded size).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError

from syft_code_queue import safewalk
from syft_code_queue.fsio import FolderChanges
from syft_code_queue.intake import Intake
from syft_code_queue.ledger import JobRecord, Ledger
from syft_code_queue.models import CancelRequest, QueueConfig
from syft_code_queue.store import CANCEL_DIR, is_uid_name

log = logging.getLogger("syft_code_queue.cancellations")

MAX_MARKER_BYTES = 64 * 1024
REREADS_PER_STEP = 256  # unreadable markers of received jobs read again per step

CancelJob = Callable[[JobRecord, datetime], int]


@dataclass
class _Unresolved:
    first_seen: datetime
    unreadable: bool  # the job is here but the marker could not be read


class Cancellations:
    """Applies cancellation markers to the jobs of the requesters that wrote them."""

    def __init__(
        self, config: QueueConfig, ledger: Ledger, intake: Intake, cancel: CancelJob
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.intake = intake
        self.cancel = cancel
        self._changes = FolderChanges()
        self._done: set[tuple[str, str]] = set()
        self._unresolved: dict[tuple[str, str], _Unresolved] = {}

    def apply(self, now: datetime) -> int:
        """Apply every marker that can be applied now; return how many jobs were cancelled."""
        count = 0
        retry = self._due(now)
        for requester, outbox in self.intake.outboxes:
            folder = outbox / CANCEL_DIR
            stamp = self._changes.stamp(folder)
            again = retry.pop(requester, [])
            if stamp is None:
                continue
            changed = not self._changes.unchanged(requester, stamp)
            if not changed and not again:
                continue
            try:
                count += self._apply_folder(requester, changed, again, now)
            except Exception:
                log.exception("cancellations of %s could not be applied", requester)
            if changed:
                self._changes.listed(requester, stamp)
        return count

    def _due(self, now: datetime) -> dict[str, list[str]]:
        """Unresolved markers to look at again, by requester; expired ones are given up."""
        timeout = timedelta(seconds=self.config.arrival_timeout)
        due: dict[str, list[str]] = {}
        rereads = 0
        for key, pending in list(self._unresolved.items()):
            requester, uid = key
            if now - pending.first_seen >= timeout:
                del self._unresolved[key]
                self._done.add(key)
                log.warning(
                    "giving up the cancellation of job %s from %s: %s within %g s",
                    uid, requester,
                    "its marker could not be read" if pending.unreadable
                    else "no such job arrived",
                    self.config.arrival_timeout,
                )  # fmt: skip
                continue
            if uid in self.intake.known and rereads < REREADS_PER_STEP:
                rereads += 1
                due.setdefault(requester, []).append(uid)
        return due

    def _apply_folder(self, requester: str, listed: bool, again: list[str], now: datetime) -> int:
        state = self.intake.requester(requester)
        if state is None:
            return 0
        with safewalk.opened(safewalk.open_path(self.intake.ws.datasites, state.parts)) as box:
            folder = safewalk.open_dir(CANCEL_DIR, box)
        with safewalk.opened(folder):
            uids = list(again)
            if listed:
                uids += [
                    name.removesuffix(".json")
                    for name, is_dir in safewalk.list_dir(folder)
                    if not is_dir and name.endswith(".json")
                ]
            count = 0
            for uid in dict.fromkeys(uids):
                if is_uid_name(uid) and (requester, uid) not in self._done:
                    count += self._one(requester, uid, folder, now)
            return count

    def _one(self, requester: str, uid: str, folder: int, now: datetime) -> int:
        key = (requester, uid)
        record = self.ledger.find(uid) if uid in self.intake.known else None
        if record is not None and (record.requester != requester or record.status.is_terminal):
            self._resolved(key)
            return 0
        marker = None if record is None else _read_marker(folder, uid)
        if record is None or marker is None:
            pending = self._unresolved.setdefault(key, _Unresolved(now, record is not None))
            pending.unreadable = record is not None
            return 0
        self._resolved(key)
        return self.cancel(record, now)

    def _resolved(self, key: tuple[str, str]) -> None:
        self._done.add(key)
        self._unresolved.pop(key, None)


def _read_marker(folder: int, uid: str) -> CancelRequest | None:
    try:
        data = safewalk.read_file(folder, f"{uid}.json", MAX_MARKER_BYTES)
        marker = CancelRequest.model_validate_json(data)
    except (OSError, ValidationError):
        return None
    return marker if str(marker.uid) == uid else None
