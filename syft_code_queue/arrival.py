"""One incoming request, read from its requester's outbox as hostile input.

:class:`RequestReader` reads ``request.json`` (only when it changed), checks it against
where it lives and the queue's limits, and copies and verifies the files not verified yet
into a private folder; an :class:`Arrival` remembers what was verified and when to look
again. It raises :class:`Incomplete` while the request may still be arriving and
:class:`Invalid` when it can never be valid. Everything is read through
:mod:`syft_code_queue.safewalk`.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path

from syft_code_queue import safewalk
from syft_code_queue.errors import InvalidRequestError
from syft_code_queue.fsio import new_temp_dir, remove_tree
from syft_code_queue.manifest import code_hash, manifest_problem
from syft_code_queue.models import FileEntry, JobRequest, QueueConfig
from syft_code_queue.store import CODE_DIR, REQUEST_FILE, parse_request

MAX_DEPTH = 32  # folders deep a submitted file may be
WATCHED_FILES = 64  # files of an incomplete request whose stamps tell it changed
ACTIVE = timedelta(seconds=10)  # a request that changed this recently is looked at every scan
MAX_BACKOFF = timedelta(seconds=30)


class Refusal(str, Enum):
    """Why an incomplete request was refused, as the requester is told: one generic reason
    per class, naming nothing on the owner's machine, and never telling a file that is
    missing from one that is not allowed (a link is refused without being followed)."""

    not_arrived = "not arrived: its files did not all arrive within the arrival timeout"
    too_large = "too large: the request is over this queue's limits on files and bytes"
    not_regular = (
        "not a regular file: only regular files and folders can be submitted "
        "(no links, FIFOs, sockets, devices or hard links)"
    )
    hash_mismatch = "hash mismatch: a file does not match its manifest hash"


class Incomplete(Exception):
    """The request may still be arriving."""

    def __init__(self, refusal: Refusal, detail: str) -> None:
        super().__init__(detail)
        self.refusal = refusal
        # What of the request it is: names from the request only, never an owner path.
        self.detail = detail


class Invalid(Exception):
    """The request can never become valid."""

    def __init__(self, reason: str, request: JobRequest | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request = request


@dataclass
class Arrival:
    """An incomplete request: what was verified of it so far, and when to look again."""

    requester: str
    uid: str
    first_seen: datetime
    noted: str | None = None  # the problem last written to the ledger's arrivals
    refusal: Refusal = Refusal.not_arrived
    request: JobRequest | None = None
    request_stamp: safewalk.FileStamp | None = None
    tmp: Path | None = None
    verified: set[str] = field(default_factory=set)
    witness: tuple[object, ...] | None = None
    light: object = None  # the request folder's and request.json's stamps
    changed_at: datetime | None = None
    next_check: datetime | None = None
    delay: timedelta = timedelta(seconds=1)
    logged: bool = False

    def due(self, now: datetime) -> bool:
        if self.changed_at is None or now - self.changed_at < ACTIVE:
            return True
        return self.next_check is None or now >= self.next_check

    def back_off(self, now: datetime) -> None:
        """After a look that found it still incomplete: once it has been quiet a while,
        look again later and later (a change of its folder or request.json is still seen
        at the next scan)."""
        if self.changed_at is not None and now - self.changed_at >= ACTIVE:
            self.next_check = now + self.delay
            self.delay = min(MAX_BACKOFF, self.delay * 2)

    def discard(self) -> None:
        if self.tmp is not None:
            remove_tree(self.tmp)
            self.tmp = None
        self.verified.clear()


# Whether ``requester`` would hold more than allowed with ``total`` more bytes: the bytes
# held now when it would, else None.
HeldBytes = Callable[[str, int], "int | None"]


class RequestReader:
    """Reads, checks and verifies incoming requests for one owner.

    Args:
        config: the queue's limits.
        owner: the owner's email (requests must be addressed to it).
        folder: the private folder that holds what was verified of incomplete requests.
        held_bytes: tells whether a requester would go over ``max_requester_bytes``.
    """

    def __init__(
        self, config: QueueConfig, owner: str, folder: Path, held_bytes: HeldBytes
    ) -> None:
        self.config = config
        self.owner = owner
        self.folder = folder
        self.held_bytes = held_bytes

    def examine(self, arrival: Arrival, outbox_fd: int, now: datetime) -> JobRequest:
        """Read what changed of a request; the request once every file is verified (its
        copy is then in ``arrival.tmp``).

        Raises:
            FileNotFoundError: the request folder is gone.
            Incomplete: it may still be arriving.
            Invalid: it can never be valid.
        """
        try:
            uid_fd = safewalk.open_dir(arrival.uid, outbox_fd)
        except safewalk.NotRegularError:
            raise Incomplete(Refusal.not_regular, "the request folder is a link") from None
        with safewalk.opened(uid_fd):
            witness = self._witness(arrival, uid_fd)
            quiet = arrival.changed_at is not None and now - arrival.changed_at >= ACTIVE
            if witness == arrival.witness and not quiet:
                raise Incomplete(arrival.refusal, arrival.noted or "unchanged")
            if witness != arrival.witness:
                arrival.changed_at = now
                arrival.delay = timedelta(seconds=1)
                arrival.next_check = None
            arrival.witness = witness
            request = self._load(arrival, uid_fd)
            self._check_limits(arrival.requester, request)
            self._copy_verified(arrival, request, uid_fd)
        return request

    def _witness(self, arrival: Arrival, uid_fd: int) -> tuple[object, ...]:
        """Stamps that change when the request may have changed: the folder, request.json
        and the first few files not verified yet. Nothing is opened but folders."""
        stamps: list[object] = [_lstamp(uid_fd, REQUEST_FILE)]
        request = arrival.request
        if request is None:
            stamps.append(_lstamp(uid_fd, "."))
            return tuple(stamps)
        try:
            code_fd = safewalk.open_dir(CODE_DIR, uid_fd)
        except OSError as exc:
            return (*stamps, exc.errno)
        with safewalk.opened(code_fd), safewalk.DirChain(code_fd) as chain:
            stamps.append(_lstamp(code_fd, "."))
            watched = 0
            for entry in request.files:
                if entry.path in arrival.verified:
                    continue
                *folders, name = entry.path.split("/")
                try:
                    stamps.append(_lstamp(chain.folder_of(folders), name))
                except OSError as exc:
                    stamps.append(exc.errno)
                watched += 1
                if watched >= WATCHED_FILES:
                    break
        return tuple(stamps)

    def _load(self, arrival: Arrival, uid_fd: int) -> JobRequest:
        """The parsed, checked request.json (read again only when it changed)."""
        try:
            st = safewalk.lstat(uid_fd, REQUEST_FILE)
        except FileNotFoundError:
            raise Incomplete(Refusal.not_arrived, "request.json has not arrived") from None
        stamp = safewalk.FileStamp.of(st)
        if arrival.request is not None and stamp == arrival.request_stamp:
            return arrival.request
        limit = self.config.max_request_json_bytes
        try:
            data = safewalk.read_file(uid_fd, REQUEST_FILE, limit)
        except safewalk.TooLargeError:
            raise Invalid(f"{Refusal.too_large.value} (request.json over {limit} bytes)") from None
        except safewalk.NotRegularError:
            raise Incomplete(Refusal.not_regular, "request.json is not a regular file") from None
        except FileNotFoundError:
            raise Incomplete(Refusal.not_arrived, "request.json has not arrived") from None
        except OSError as exc:
            # Unreadable for now (permissions, sync mid-write): wait, and refuse it once
            # arrival_timeout has passed.
            raise Incomplete(
                Refusal.not_arrived, f"request.json cannot be read ({exc.strerror})"
            ) from None
        try:
            request = parse_request(data)
        except InvalidRequestError as exc:
            try:
                json.loads(data)
            except ValueError:
                raise Incomplete(
                    Refusal.not_arrived, f"request.json is incomplete or corrupt ({exc})"
                ) from None
            except RecursionError:
                raise Invalid("request.json is nested too deeply") from None
            raise Invalid(str(exc)) from None
        self._check(arrival, request)
        if arrival.request is not None and arrival.request != request:
            arrival.discard()  # a different request now: what was verified is void
        arrival.request, arrival.request_stamp = request, stamp
        return request

    def _check(self, arrival: Arrival, request: JobRequest) -> None:
        problem = None
        if str(request.uid) != arrival.uid:
            problem = f"request.json names uid {request.uid} but lives in folder {arrival.uid}"
        elif request.requester != arrival.requester:
            problem = (
                f"request claims requester {request.requester} but was submitted from "
                f"{arrival.requester}'s datasite (forged requester)"
            )
        elif request.target != self.owner:
            problem = f"request is addressed to {request.target}, not {self.owner}"
        elif code_hash(request.files) != request.code_hash:
            problem = "request's code_hash does not match its own file list"
        else:
            problem = manifest_problem(request.files)
        if problem is not None:
            raise Invalid(problem, request)

    def _check_limits(self, requester: str, request: JobRequest) -> None:
        cfg = self.config
        total = sum(f.size for f in request.files)
        problem = None
        if len(request.files) > cfg.max_request_files:
            problem = f"{len(request.files)} files, over {cfg.max_request_files}"
        elif any(f.size > cfg.max_file_bytes for f in request.files):
            problem = f"a file over {cfg.max_file_bytes} bytes"
        elif total > cfg.max_request_bytes:
            problem = f"{total} bytes, over {cfg.max_request_bytes}"
        elif any(f.path.count("/") >= MAX_DEPTH for f in request.files):
            problem = f"a file more than {MAX_DEPTH} folders deep"
        elif (held := self.held_bytes(requester, total)) is not None:
            problem = (
                f"this requester's jobs waiting or running already hold "
                f"{held} bytes, over {cfg.max_requester_bytes} with it"
            )
        if problem is not None:
            raise Invalid(f"{Refusal.too_large.value} ({problem})", request)

    def _copy_verified(self, arrival: Arrival, request: JobRequest, uid_fd: int) -> None:
        """Copy and verify the files not verified yet into the request's private folder."""
        if arrival.tmp is None:
            arrival.tmp = new_temp_dir(self.folder, arrival.uid)
            arrival.verified.clear()
        missing = 0
        try:
            code_fd = safewalk.open_dir(CODE_DIR, uid_fd)
        except FileNotFoundError:
            code_fd = None
        except safewalk.NotRegularError:
            raise Incomplete(Refusal.not_regular, "code/ is not a folder") from None
        root = uid_fd if code_fd is None else code_fd
        made: set[Path] = set()  # folders of the copy already created
        with _maybe_opened(code_fd), safewalk.DirChain(root) as chain:
            for entry in sorted(request.files, key=lambda f: f.path):
                if entry.path in arrival.verified:
                    continue
                target = arrival.tmp / entry.path
                if target.parent not in made:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    made.add(target.parent)
                if entry.size == 0:
                    # SyftBox never syncs empty files; the manifest is enough to recreate one.
                    target.touch(mode=0o444)
                elif code_fd is None or not _copy_one(entry, chain, target):
                    missing += 1
                    continue
                arrival.verified.add(entry.path)
        if missing:
            raise Incomplete(
                Refusal.not_arrived, f"{missing} of {len(request.files)} files have not arrived"
            )


def light_stamp(outbox_fd: int, uid: str) -> object:
    """Stamps of a request folder and its request.json, without opening either."""
    folder = _lstamp(outbox_fd, uid)
    try:
        st = os.stat(f"{uid}/{REQUEST_FILE}", dir_fd=outbox_fd, follow_symlinks=False)
    except OSError as exc:
        return (folder, exc.errno)
    return (folder, st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _lstamp(dir_fd: int, name: str) -> object:
    try:
        st = safewalk.lstat(dir_fd, name)
    except OSError as exc:
        return exc.errno
    return (st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _copy_one(entry: FileEntry, chain: safewalk.DirChain, target: Path) -> bool:
    """Copy one file of a request and check its hash; ``False`` while it has not arrived.

    Raises:
        Incomplete: it is not a regular file, or it does not match its manifest entry.
    """
    *folders, name = entry.path.split("/")
    mismatch = Incomplete(Refusal.hash_mismatch, f"'{entry.path}' does not match its manifest hash")
    not_regular = Incomplete(Refusal.not_regular, f"'{entry.path}' is not a regular file")
    try:
        folder_fd = chain.folder_of(folders)
        st = safewalk.lstat(folder_fd, name)
    except FileNotFoundError:
        return False
    except safewalk.NotRegularError:
        raise not_regular from None
    if not _is_regular(st):
        raise not_regular
    if st.st_size != entry.size:
        raise mismatch  # still being written, or not what was declared: not read at all
    try:
        digest, size, _ = safewalk.copy_file(folder_fd, name, target, entry.size)
    except FileNotFoundError:
        return False
    except safewalk.NotRegularError:
        raise not_regular from None
    except safewalk.TooLargeError:
        target.unlink(missing_ok=True)
        raise mismatch from None
    if (digest, size) != (entry.sha256, entry.size):
        target.unlink(missing_ok=True)
        raise mismatch
    return True


def _is_regular(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode) and st.st_nlink == 1


class _maybe_opened:
    """Close ``fd`` at the end of the block, if there is one."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def __enter__(self) -> int | None:
        return self.fd

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
