"""Files kept by content hash, so that a later version's diff can still read them.

A job's snapshot is removed when it is cleaned up; the files of a version that a diff may
still be made against (the last approved one, the latest one) are kept here first, once
per content (versions share most of their files), in the owner's private folder.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from syft_code_queue.fsio import copy_hashed, list_entries, temp_path
from syft_code_queue.models import FileEntry

log = logging.getLogger("syft_code_queue.blobs")


class BlobStore:
    """A folder of files named by their sha256, written once, read-only."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def find(self, sha256: str) -> Path | None:
        path = self.path(sha256)
        return path if path.is_file() else None

    def keep(self, source: Path, entry: FileEntry) -> bool:
        """Keep a copy of ``source`` if it is the file ``entry`` describes; ``True`` if
        the store holds it afterwards."""
        dest = self.path(entry.sha256)
        if dest.is_file():
            return True
        tmp = temp_path(dest)
        try:
            digest, size = copy_hashed(source, tmp, max_bytes=entry.size)
            if (digest, size) != (entry.sha256, entry.size):
                log.warning("not keeping %s: it does not match its manifest hash", source)
                return False
            tmp.chmod(0o444)
            tmp.replace(dest)
        except OSError:
            log.warning("could not keep a copy of %s", source, exc_info=True)
            return False
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def keep_all(self, folder: Path, files: Iterable[FileEntry]) -> None:
        for entry in files:
            source = folder / entry.path
            if source.is_file():
                self.keep(source, entry)

    def remove_unreferenced(self, referenced: set[str]) -> int:
        """Delete every kept file whose hash is not in ``referenced``; return how many."""
        removed = 0
        for bucket in list_entries(self.root):
            for entry in list_entries(Path(bucket.path)):
                if entry.name not in referenced:
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
        return removed
