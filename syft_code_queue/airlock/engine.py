"""``check_results``: read a job's held results once and run every check over them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from syft_code_queue.airlock.context import Check, CheckContext
from syft_code_queue.airlock.errors import AirlockNotInstalledError
from syft_code_queue.airlock.held import read_held
from syft_code_queue.airlock.models import (
    SEVERITIES,
    CheckConfig,
    Finding,
    Location,
    ResultsReport,
    counts_by_severity,
)

log = logging.getLogger(__name__)


def require_polars() -> None:
    """Raise a clear error when the ``airlock`` extra (polars) is not installed."""
    try:
        import polars  # noqa: F401
    except ImportError as err:
        raise AirlockNotInstalledError(
            "the output checks read tables with polars, which is not installed here: "
            "pip install 'syft-code-queue[airlock]' (or pip install polars)"
        ) from err


def check_results(
    results_root: Path | str,
    data_dir: Path | str | None = None,
    config: CheckConfig | None = None,
    checks: Sequence[Check] | None = None,
    *,
    uid: str | None = None,
    cache_dir: Path | str | None = None,
    now: datetime | None = None,
) -> ResultsReport:
    """Check every held file of one job and report what the checks found.

    Args:
        results_root: the folder of held results (``output/...``, ``stdout.txt``,
            ``stderr.txt``); every file below it is checked.
        data_dir: the job's ``DATA_DIR``, whose tables the raw-records check compares with;
            ``None`` when the job was given no data.
        config: thresholds, severities and caps (default ``CheckConfig()``).
        checks: the checks to run, each ``check(ctx: CheckContext) -> Iterable[Finding]``
            (default ``DEFAULT_CHECKS``); add your own with ``[*DEFAULT_CHECKS, mine]``.
        uid: the job's uid for the report (default: the folder's name).
        cache_dir: a private folder for the row-hash index of ``data_dir`` (rebuilt when a
            data file's size or modification time changes); ``None``: memory only.
        now: the time to record as ``checked_at`` (default: now, UTC).

    Returns:
        Every held file with its size, sha256, detected kind and a safe preview; every
        finding, sorted by severity (``block`` first), file and position; counts by severity.

    Raises:
        ResultsFolderError: ``results_root`` is missing or not a folder.
        AirlockNotInstalledError: polars is missing and a check needs it.
    """
    results_root = Path(results_root)
    data_dir = None if data_dir is None else Path(data_dir)
    cache_dir = None if cache_dir is None else Path(cache_dir)
    config = config or CheckConfig()
    if checks is None:
        require_polars()
        from syft_code_queue.airlock.checks import DEFAULT_CHECKS

        checks = DEFAULT_CHECKS
    held = read_held(results_root, config)
    ctx = CheckContext(held, config=config, data_dir=data_dir, cache_dir=cache_dir)
    findings: list[Finding] = []
    for check in checks:
        findings.extend(_run(check, ctx))
    findings.sort(key=_order)
    return ResultsReport(
        uid=uid or results_root.name,
        checked_at=now or datetime.now(timezone.utc),
        files=ctx.files,
        findings=findings,
        counts=counts_by_severity(findings),
        sha256={f.path: f.sha256 for f in ctx.files if f.sha256 is not None},
        checks=[check_name(c) for c in checks],
    )


def check_name(check: Check) -> str:
    return str(getattr(check, "__name__", type(check).__name__))


def _run(check: Check, ctx: CheckContext) -> list[Finding]:
    """A check's findings; a check that fails says so (a ``review``), it never passes silently."""
    name = check_name(check)
    try:
        return list(check(ctx))
    except AirlockNotInstalledError:
        raise
    except ImportError as err:
        if err.name == "polars":
            require_polars()
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # polars panics are BaseExceptions: still one check's failure
        log.exception("output check %s failed", name)
        return [
            Finding(
                check=name,
                severity="review",
                message=f"the check failed ({type(err).__name__}: {err}); check the files by hand",
                where=Location(file=""),
            )
        ]


def _order(finding: Finding) -> tuple[int, str, int, int, str]:
    """Severity (``block`` first), then file, then position: the line where there is one."""
    where = finding.where
    row = where.row or 0
    return (
        SEVERITIES.index(finding.severity),
        where.file,
        where.line if where.line is not None else row,
        row,
        finding.check,
    )
