"""Checking a job's results before they leave: the output airlock's automatic checks.

``check_results(results_root, data_dir, config)`` reads every file the job left (its
``output/`` folder, ``stdout.txt``, ``stderr.txt``) once, safely (regular files only, no link
followed, bounded reads), and runs each check over the exact bytes it hashed. The report lists
every file (size, sha256, kind told from its content, a preview safe to show) and every
finding with a severity (``block``: must not leave as it is; ``review``: a person should look;
``info``) and where it is (file, line, row, column). The checks help the owner decide; they
never release anything themselves.

The default checks (``DEFAULT_CHECKS``):

- ``file_rules``: links, FIFOs and devices (``block``); pickles (``block``), archives
  (``block``), other binaries (``review``), types outside ``allowed_types`` (csv, tsv, json,
  txt, md, png, svg, pdf), a name that disagrees with the content, files over the size caps
  (``review``), SVGs with scripts (``review``).
- ``raw_records``: an output row or a log line that reproduces a row of a table under
  ``DATA_DIR`` (CSV, TSV, Parquet, JSON lines), compared as normalized row hashes
  (``block``); an output table with 90% or more of a data table's rows (``review``).
- ``small_cells``: counts below ``min_cell_count`` (10) in output tables, and means, sums
  and other statistics whose paired count is that small (``review``).
- ``acro``: where the job used ACRO, its own per-output verdicts and reasons (``fail`` ->
  ``block``, ``review`` -> ``review``, ``pass`` -> ``info``); ``small_cells`` leaves the
  files ACRO flags to it (a ``pass``, written by the job, silences nothing).

A check of your own is a function ``my_check(ctx: CheckContext) -> Iterable[Finding]``; pass
``checks=[*DEFAULT_CHECKS, my_check]``. Read files through ``ctx.files``, ``ctx.data(path)``,
``ctx.text(path)``, ``ctx.table(path)`` (a polars DataFrame of strings) and
``ctx.data_index``. A check that raises becomes a ``review`` finding saying so.

The checks need the ``airlock`` extra (``pip install 'syft-code-queue[airlock]'``: polars);
without it ``check_results`` raises ``AirlockNotInstalledError``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "AirlockNotInstalledError": "errors",
    "Check": "context",
    "CheckConfig": "models",
    "CheckContext": "context",
    "DEFAULT_CHECKS": "checks",
    "Finding": "models",
    "HeldFile": "models",
    "Location": "models",
    "Preview": "models",
    "ResultsFolderError": "errors",
    "ResultsReport": "models",
    "Severity": "models",
    "check_results": "engine",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ imports these
    from syft_code_queue.airlock.checks import DEFAULT_CHECKS as DEFAULT_CHECKS
    from syft_code_queue.airlock.context import Check as Check
    from syft_code_queue.airlock.context import CheckContext as CheckContext
    from syft_code_queue.airlock.engine import check_results as check_results
    from syft_code_queue.airlock.errors import AirlockNotInstalledError as AirlockNotInstalledError
    from syft_code_queue.airlock.errors import ResultsFolderError as ResultsFolderError
    from syft_code_queue.airlock.models import CheckConfig as CheckConfig
    from syft_code_queue.airlock.models import Finding as Finding
    from syft_code_queue.airlock.models import HeldFile as HeldFile
    from syft_code_queue.airlock.models import Location as Location
    from syft_code_queue.airlock.models import Preview as Preview
    from syft_code_queue.airlock.models import ResultsReport as ResultsReport
    from syft_code_queue.airlock.models import Severity as Severity
