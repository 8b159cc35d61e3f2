"""File rules: what kinds and sizes of file may leave at all.

The kind is told from the content (``syft_code_queue.airlock.filetypes``), so a pickle named
``summary.csv`` is a pickle. Links, FIFOs and devices are always ``block``: they are never
released. Pickles (which run code when loaded), archives (which hide what they hold),
other binaries (unless their type is in ``allowed_types``, e.g. ``parquet``), types outside
``allowed_types``, names that disagree with the content, files over the size caps and SVGs
with scripts get the severity the config gives them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from syft_code_queue.airlock import filetypes
from syft_code_queue.airlock.context import CheckContext
from syft_code_queue.airlock.models import Finding, HeldFile, Location, Severity

NAME = "file_rules"

_BINARY_KINDS = frozenset({"binary", "executable", "npy", "sqlite", "hdf5", "arrow", "parquet"})
# Which detected kinds a file name's extension promises.
_EXTENSION_KINDS: dict[str, frozenset[str]] = {
    "csv": frozenset({"csv", "text", "empty"}),
    "tsv": frozenset({"tsv", "text", "empty"}),
    "txt": frozenset(filetypes.TEXT_KINDS | {"empty"}),
    "md": frozenset(filetypes.TEXT_KINDS | {"empty"}),
    "json": frozenset({"json", "jsonl", "empty"}),
    "jsonl": frozenset({"jsonl", "json", "empty"}),
    "png": frozenset({"png"}),
    "svg": frozenset({"svg"}),
    "pdf": frozenset({"pdf"}),
    "jpg": frozenset({"jpeg"}),
    "jpeg": frozenset({"jpeg"}),
    "gif": frozenset({"gif"}),
}
_SVG_ACTIVE = re.compile(
    rb"<script|\son[a-z]+\s*=|javascript:|<foreignObject|href\s*=\s*[\"']https?:", re.I
)


def file_rules(ctx: CheckContext) -> Iterator[Finding]:
    """Findings about each held file's kind and size, and the total size."""
    config = ctx.config
    total = 0
    for file in ctx.files:
        total += file.size
        yield from _kind_findings(ctx, file)
        if file.size > config.max_file_bytes:
            yield _finding(
                config.size_severity, file,
                f"{file.size:,} bytes, over the cap of {config.max_file_bytes:,} bytes per file",
            )  # fmt: skip
        problem = ctx.problem(file.path)
        if problem is not None and file.kind not in ("symlink", "special"):
            yield _finding(
                "review", file,
                f"not checked for records or small cells: {problem}; look at it yourself",
            )  # fmt: skip
    if total > config.max_total_bytes:
        yield Finding(
            check=NAME,
            severity=config.size_severity,
            message=f"the results hold {total:,} bytes, over the cap of {config.max_total_bytes:,}",
            where=Location(file=""),
        )


def _kind_findings(ctx: CheckContext, file: HeldFile) -> Iterator[Finding]:
    config = ctx.config
    kind = file.kind
    name = file.path.rsplit("/", 1)[-1]
    extension = name.rpartition(".")[2].lower() if "." in name.lstrip(".") else ""
    named = f" (named .{extension})" if extension else ""
    if kind in ("symlink", "special"):
        yield _finding("block", file, f"{ctx.problem(file.path)}: only regular files are released")
        return
    if kind == "pickle":
        yield _finding(
            config.pickle_severity, file,
            f"a Python pickle{named}: loading it runs code, and it can hold any object, "
            "data included",
        )  # fmt: skip
        return
    if kind in filetypes.ARCHIVE_KINDS:
        yield _finding(
            config.archive_severity, file,
            f"a {kind} archive{named}: what it holds is not checked; release the files themselves",
        )  # fmt: skip
        return
    if kind in _BINARY_KINDS and filetypes.type_name(kind) not in config.allowed_types:
        yield _finding(config.binary_severity, file, f"a binary file ({kind}){named}")
        return
    if kind != "empty" and filetypes.type_name(kind) not in config.allowed_types:
        yield _finding(
            config.disallowed_type_severity, file,
            f"type {filetypes.type_name(kind)}{named} is not among the allowed types "
            f"({', '.join(sorted(config.allowed_types))})",
        )  # fmt: skip
    elif extension in _EXTENSION_KINDS and kind not in _EXTENSION_KINDS[extension]:
        yield _finding(
            config.disallowed_type_severity, file,
            f"named .{extension} but its content is {filetypes.type_name(kind)}",
        )  # fmt: skip
    if kind == "svg":
        data = ctx.data(file.path)
        if data is not None and _SVG_ACTIVE.search(data):
            yield _finding(
                "review", file,
                "an SVG with scripts, event handlers or external links: show it only as an image",
            )  # fmt: skip


def _finding(severity: Severity, file: HeldFile, message: str) -> Finding:
    return Finding(check=NAME, severity=severity, message=message, where=Location(file=file.path))
