"""What the file viewer shows of one file: highlighted text, or why it shows none."""

from __future__ import annotations

from typing import Any

MAX_VIEW_BYTES = 512 * 1024  # more is truncated in the viewer; the whole file still runs
_BINARY_SNIFF = 8192


def file_view(path: str, data: bytes, size: int) -> dict[str, Any]:
    """A JSON-ready description of a file for the viewer.

    ``html`` is Pygments' output (it escapes the file's text; the front end inserts only
    this); ``text`` is the same content as plain text for search and copy.
    """
    view: dict[str, Any] = {
        "path": path,
        "size": size,
        "truncated": size > len(data),
        "binary": False,
        "lines": 0,
        "text": "",
        "html": "",
    }
    if b"\0" in data[:_BINARY_SNIFF]:
        view["binary"] = True
        return view
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if view["truncated"] and exc.start >= len(data) - 4:
            text = data[: exc.start].decode("utf-8")  # cut inside a multi-byte character
        else:
            view["binary"] = True
            return view
    view["text"] = text
    view["lines"] = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    view["html"] = highlight(path, text)
    return view


def highlight(path: str, text: str) -> str:
    from pygments import highlight as pygmentize
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import BashLexer, TextLexer, guess_lexer_for_filename
    from pygments.util import ClassNotFound

    try:
        lexer = BashLexer() if path.endswith(".sh") else guess_lexer_for_filename(path, text)
    except ClassNotFound:
        lexer = TextLexer()
    formatter = HtmlFormatter(linenos="table", cssclass="scq-hl", wrapcode=True)
    return str(pygmentize(text, lexer, formatter))


def highlight_css() -> str:
    """The colours of highlighted code, scoped to the viewer."""
    from pygments.formatters import HtmlFormatter

    return str(HtmlFormatter(style="default").get_style_defs(".scq-hl"))  # type: ignore[no-untyped-call]
