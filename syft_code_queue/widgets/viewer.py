"""What the file viewer shows of one file: highlighted text, or a binary file's bytes.

Code is highlighted by Pygments' lexers into short token classes (``t-kw``, ``t-str`` ...)
that ``widgets.css`` colours from JupyterLab's editor variables, so highlighting follows the
theme; none of Pygments' own (page-wide) CSS is used.
"""

from __future__ import annotations

import html
import re
from typing import Any

MAX_VIEW_BYTES = 512 * 1024  # more is truncated in the viewer; the whole file still runs
HEX_PREVIEW_BYTES = 256
STRINGS_PREVIEW = 40
_BINARY_SNIFF = 8192
_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e\t]{4,}")

# Files whose loading can run code: pickles and the formats built on them.
CODE_RUNNING_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".npy", ".npz")
_PICKLE_MAGIC = re.compile(rb"^\x80[\x02-\x05]")


def is_binary(head: bytes) -> bool:
    """Whether the first bytes of a file look binary (a NUL byte, or not UTF-8)."""
    if b"\0" in head[:_BINARY_SNIFF]:
        return True
    try:
        head[:_BINARY_SNIFF].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < min(len(head), _BINARY_SNIFF) - 4  # not just a cut character
    return False


def runs_code_when_loaded(path: str, head: bytes) -> bool:
    """Pickle-like files: loading them (``pickle.load``, ``torch.load``) can run any code."""
    return path.lower().endswith(CODE_RUNNING_SUFFIXES) or bool(_PICKLE_MAGIC.match(head))


def count_lines(data: bytes) -> int:
    """Lines of a whole file: a last line without its newline counts too."""
    return data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)


def file_view(path: str, data: bytes, size: int | None = None) -> dict[str, Any]:
    """A JSON-ready description of a file for the viewer, from the file's whole ``data``.

    ``size`` and ``lines`` are those of the whole file; at most :data:`MAX_VIEW_BYTES` are
    shown (``truncated``). ``html`` is the highlighted text, every character escaped here
    (the front end inserts only this as markup); ``text`` is the shown text, for search.
    Binary files get ``hex`` (the first bytes) and ``strings`` (printable runs) instead, and
    ``warning`` says why they cannot be reviewed as text.
    """
    size = len(data) if size is None else size
    shown = data[:MAX_VIEW_BYTES]
    view: dict[str, Any] = {
        "path": path,
        "size": size,
        "truncated": size > len(shown),
        "binary": False,
        "lines": 0,
        "shown_lines": 0,
        "text": "",
        "html": "",
        "hex": "",
        "strings": [],
        "warning": "",
    }
    if is_binary(shown):
        view["binary"] = True
        view["hex"] = hex_dump(shown[:HEX_PREVIEW_BYTES])
        view["strings"] = [
            run.decode("ascii") for run in _PRINTABLE_RUN.findall(shown)[:STRINGS_PREVIEW]
        ]
        view["warning"] = "Binary file: it cannot be reviewed as text. " + (
            "It looks like a pickle: loading it can run any code."
            if runs_code_when_loaded(path, shown)
            else "Check what the code does with it."
        )
        return view
    try:
        text = shown.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = shown[: exc.start].decode("utf-8")  # cut inside a multi-byte character
    view["text"] = text
    view["lines"] = count_lines(data)
    view["shown_lines"] = count_lines(text.encode("utf-8"))
    view["html"] = highlight(path, text)
    return view


def hex_dump(data: bytes, width: int = 16) -> str:
    """``offset  hex bytes  |ascii|`` lines, as ``xxd`` shows them."""
    lines = []
    for start in range(0, len(data), width):
        chunk = data[start : start + width]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{start:08x}  {hexes:<{width * 3 - 1}}  |{text}|")
    return "\n".join(lines)


# Pygments token type (by its top levels) -> the class widgets.css colours.
_TOKEN_CLASSES = {
    ("Keyword",): "t-kw",
    ("Keyword", "Constant"): "t-atom",
    ("Keyword", "Type"): "t-type",
    ("Name", "Builtin"): "t-bi",
    ("Name", "Function"): "t-def",
    ("Name", "Class"): "t-def",
    ("Name", "Decorator"): "t-meta",
    ("Name", "Variable"): "t-var",
    ("Name", "Attribute"): "t-prop",
    ("Name", "Tag"): "t-tag",
    ("Name", "Exception"): "t-bi",
    ("Literal", "String"): "t-str",
    ("Literal", "Number"): "t-num",
    ("Comment",): "t-com",
    ("Operator",): "t-op",
    ("Punctuation",): "t-punc",
    ("Generic", "Heading"): "t-head",
    ("Error",): "t-err",
}


def _token_class(token: Any) -> str | None:
    parts = tuple(token)
    for depth in (2, 1):
        found = _TOKEN_CLASSES.get(parts[:depth])
        if found:
            return found
    return None


def highlight(path: str, text: str) -> str:
    """``text`` as escaped HTML lines (``<span class="scq-line">``) with token spans."""
    from pygments.lexers import BashLexer, TextLexer, guess_lexer_for_filename
    from pygments.util import ClassNotFound

    try:
        lexer = BashLexer() if path.endswith(".sh") else guess_lexer_for_filename(path, text)
    except ClassNotFound:
        lexer = TextLexer()
    lexer.stripnl = False
    lexer.ensurenl = False
    lines: list[str] = []
    current: list[str] = []
    for token, value in lexer.get_tokens(text):
        css = _token_class(token)
        pieces = value.split("\n")
        for i, piece in enumerate(pieces):
            if i:
                lines.append("".join(current))
                current = []
            if piece:
                escaped = html.escape(piece, quote=False)
                current.append(f'<span class="{css}">{escaped}</span>' if css else escaped)
    if current or not text.endswith("\n"):
        lines.append("".join(current))
    return "".join(f'<span class="scq-line">{line}</span>\n' for line in lines)
