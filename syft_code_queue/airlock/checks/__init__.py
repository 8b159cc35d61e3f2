"""The default output checks, in the order they run. Each is ``check(ctx) -> Iterable[Finding]``."""

from __future__ import annotations

from syft_code_queue.airlock.checks.acro import acro
from syft_code_queue.airlock.checks.file_rules import file_rules
from syft_code_queue.airlock.checks.raw_records import raw_records
from syft_code_queue.airlock.checks.small_cells import small_cells
from syft_code_queue.airlock.context import Check

DEFAULT_CHECKS: tuple[Check, ...] = (file_rules, raw_records, small_cells, acro)

__all__ = ["DEFAULT_CHECKS", "acro", "file_rules", "raw_records", "small_cells"]
