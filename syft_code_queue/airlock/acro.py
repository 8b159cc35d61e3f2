"""Reading the results file of ACRO (PyPI ``acro``), where a job used it.

ACRO's ``acro.finalise(path)`` writes ``<path>/results.json``:
``{"version": ..., "tool"?: {"name": "ACRO", ...}, "results": {<output id>: {"uid",
"status": "pass" | "review" | "fail", "type", "summary", "comments": [...], "exception",
"files": [{"name": <file in path>, "sdc": {"summary": {<check>: <cells>}, "cells":
{<check>: [[row, col], ...]}}}], ...}}}`` (ACRO 0.4 and 1.x), and each output's files
beside it. This module turns that into one ``AcroOutput`` per (output, file).
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syft_code_queue.airlock.context import CheckContext

RESULTS_NAME = "results.json"
STATUSES = frozenset({"pass", "review", "fail"})


@dataclass(frozen=True)
class AcroOutput:
    """One file of one ACRO output and ACRO's verdict on it."""

    results_file: str  # the held results.json
    output_id: str
    file: str  # the held file it describes (results_file when the output has no file)
    status: str  # pass, review or fail
    output_type: str
    summary: str
    comments: tuple[str, ...]
    exception: str
    cells: dict[str, list[tuple[int, int]]]  # check -> (row, column), 0-based in the table


def read_acro_outputs(ctx: CheckContext) -> list[AcroOutput]:
    """Every output described by a held ACRO ``results.json`` (none when there is none)."""
    outputs: list[AcroOutput] = []
    held = {f.path for f in ctx.files}
    for file in ctx.files:
        if posixpath.basename(file.path) != RESULTS_NAME or file.kind != "json":
            continue
        results = _acro_results(ctx.text(file.path))
        if results is None:
            continue
        folder = posixpath.dirname(file.path)
        for output_id, record in results.items():
            outputs.extend(_outputs(file.path, folder, str(output_id), record, held))
    return outputs


def _acro_results(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("results"), dict):
        return None
    tool = document.get("tool")
    records = document["results"].values()
    named_acro = isinstance(tool, dict) and str(tool.get("name", "")).upper() == "ACRO"
    shaped = all(isinstance(r, dict) and r.get("status") in STATUSES for r in records)
    if not shaped or not (named_acro or "version" in document):
        return None
    results: dict[str, Any] = document["results"]
    return results


def _outputs(
    results_file: str, folder: str, output_id: str, record: dict[str, Any], held: set[str]
) -> list[AcroOutput]:
    files = record.get("files") if isinstance(record.get("files"), list) else []
    common = AcroOutput(
        results_file=results_file,
        output_id=output_id,
        file=results_file,
        status=str(record["status"]),
        output_type=str(record.get("type", "")),
        summary=str(record.get("summary", "")).strip(),
        comments=tuple(str(c) for c in record.get("comments") or []),
        exception=str(record.get("exception") or "").strip(),
        cells={},
    )
    found: list[AcroOutput] = []
    for entry in files or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        path = posixpath.normpath(posixpath.join(folder, entry["name"]))
        file = path if path in held else results_file
        found.append(replace(common, file=file, cells=_cells(entry.get("sdc"))))
    if not found:
        found.append(common)
    return found


def _cells(sdc: Any) -> dict[str, list[tuple[int, int]]]:
    cells = sdc.get("cells") if isinstance(sdc, dict) else None
    if not isinstance(cells, dict):
        return {}
    found: dict[str, list[tuple[int, int]]] = {}
    for check, positions in cells.items():
        if isinstance(positions, list):
            pairs = [
                (int(p[0]), int(p[1])) for p in positions if isinstance(p, list) and len(p) == 2
            ]
            if pairs:
                found[str(check)] = pairs
    return found
