"""ACRO's own verdicts, where the job used ACRO (``acro.finalise`` wrote a results.json).

Each output ACRO checked becomes one finding on the file it wrote: ``fail`` ->
``acro_fail_severity`` (``block``), ``review`` -> ``review``, ``pass`` -> ``info``, with ACRO's
summary, the cells it would suppress, the researcher's comments and requested exception.
The job wrote the results file: its verdicts inform the checker, they prove nothing, and a
``pass`` does not stop the other checks from looking at the file.
"""

from __future__ import annotations

from collections.abc import Iterator

from syft_code_queue.airlock.acro import AcroOutput
from syft_code_queue.airlock.context import CheckContext
from syft_code_queue.airlock.models import Finding, Location, Severity

NAME = "acro"
_MAX_CELLS = 10


def acro(ctx: CheckContext) -> Iterator[Finding]:
    """One finding per output in each held ACRO results.json."""
    severity: dict[str, Severity] = {
        "fail": ctx.config.acro_fail_severity,
        "review": "review",
        "pass": "info",
    }
    for output in ctx.acro_outputs:
        yield Finding(
            check=NAME,
            severity=severity[output.status],
            message=_message(output),
            where=Location(file=output.file),
        )


def _message(output: AcroOutput) -> str:
    parts = [f"ACRO {output.status} ({output.output_type or 'output'} {output.output_id})"]
    if output.summary:
        parts.append(output.summary.replace("\n", " "))
    for check, cells in output.cells.items():
        shown = ", ".join(f"({r}, {c})" for r, c in cells[:_MAX_CELLS])
        more = f" and {len(cells) - _MAX_CELLS} more" if len(cells) > _MAX_CELLS else ""
        parts.append(f"{check} cells (row, column; 0-based): {shown}{more}")
    if output.comments:
        parts.append("comments: " + " | ".join(output.comments))
    if output.exception:
        parts.append(f"exception requested: {output.exception}")
    return "; ".join(parts)
