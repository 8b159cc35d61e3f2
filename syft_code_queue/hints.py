"""Lines worth a reviewer's look: flagged from parsed code, never a gate.

Shell scripts are parsed with tree-sitter-bash, Python with :mod:`ast`; every text file is
searched for invisible and bidirectional characters (Trojan Source). A hint only points at
a line; nothing here blocks an approval, and a file that cannot be parsed says so instead
of pretending to be clean.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict

# Bump when the rules change: cached hints of older rules are recomputed.
RULES_VERSION = 1
MAX_PARSE_BYTES = 2 * 1024 * 1024
MAX_LINE_TEXT = 300
BINARY_SNIFF = 8192

Severity = Literal["look", "warn"]


class HintKind(str, Enum):
    """What a flagged line does."""

    network = "network"
    process = "process"
    dynamic_code = "dynamic_code"
    pipe_to_shell = "pipe_to_shell"
    secret = "secret"  # noqa: S105 - the kind of hint, not a password
    environment = "environment"
    absolute_path = "absolute_path"
    write_outside_output = "write_outside_output"
    unsafe_load = "unsafe_load"
    bidi_unicode = "bidi_unicode"
    invisible_unicode = "invisible_unicode"
    binary_file = "binary_file"
    unparsed = "unparsed"

    def __str__(self) -> str:
        return self.value


class ReviewHint(BaseModel):
    """One flagged place in one file.

    ``line`` and ``column`` count from 1; ``column`` counts characters. ``text`` is the
    whole line (cut at 300 characters) with invisible and bidirectional characters shown
    as ``<U+202E>`` so that the line cannot hide what it holds.
    """

    model_config = ConfigDict(defer_build=True, frozen=True)

    path: str
    line: int
    column: int
    kind: HintKind
    severity: Severity
    message: str
    text: str = ""


class ReviewHints(BaseModel):
    """Every hint of one job's code, sorted by file and line.

    ``unparsed`` lists the files whose code could not be parsed (review them by hand);
    ``checked`` the files whose code was parsed (shell and Python).
    """

    model_config = ConfigDict(defer_build=True, frozen=True)

    uid: str
    code_hash: str
    hints: tuple[ReviewHint, ...] = ()
    checked: tuple[str, ...] = ()
    unparsed: tuple[str, ...] = ()
    rules_version: int = RULES_VERSION

    @property
    def warnings(self) -> int:
        return sum(1 for h in self.hints if h.severity == "warn")

    @property
    def looks(self) -> int:
        return sum(1 for h in self.hints if h.severity == "look")

    def for_file(self, path: str) -> list[ReviewHint]:
        return [h for h in self.hints if h.path == path]


# Unicode that changes what a line appears to say (CVE-2021-42574 and friends).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e\u3164\u115f\u1160\uffa0"
)
_CONTROL = frozenset(chr(c) for c in range(32) if chr(c) not in "\t\n\r") | {"\x7f"}


def _is_tag(ch: str) -> bool:
    return 0xE0000 <= ord(ch) <= 0xE007F  # tag characters: invisible ASCII look-alikes


_HIDDEN_RE = re.compile(
    "["
    + "".join(re.escape(c) for c in sorted(_BIDI | _INVISIBLE | _CONTROL))
    + "\U000e0000-\U000e007f]"
)


def is_hidden_char(ch: str) -> bool:
    return ch in _BIDI or ch in _INVISIBLE or ch in _CONTROL or _is_tag(ch)


def show_hidden(text: str) -> str:
    """``text`` with every invisible, bidirectional or control character as ``<U+XXXX>``."""
    if not any(is_hidden_char(ch) for ch in text):
        return text
    return "".join(f"<U+{ord(ch):04X}>" if is_hidden_char(ch) else ch for ch in text)


class HintSink:
    """Collects the hints of one file, with the line text each one points at."""

    def __init__(self, path: str, text: str, line_offset: int = 0) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.offset = line_offset
        self.hints: list[ReviewHint] = []
        self._seen: set[tuple[int, HintKind, str]] = set()

    def add(self, line: int, column: int, kind: HintKind, severity: Severity, message: str) -> None:
        """Flag ``line`` (1-based, in this text); one hint per line, kind and message."""
        key = (line, kind, message)
        if key in self._seen:
            return
        self._seen.add(key)
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        if len(text) > MAX_LINE_TEXT:
            text = text[:MAX_LINE_TEXT] + "…"
        self.hints.append(
            ReviewHint(
                path=self.path,
                line=line + self.offset,
                column=max(1, column),
                kind=kind,
                severity=severity,
                message=message,
                text=show_hidden(text),
            )
        )


def scan_unicode(path: str, text: str) -> list[ReviewHint]:
    """Bidirectional controls, invisible characters and stray control codes: one hint per
    kind and line, naming every such character on it."""
    if not _HIDDEN_RE.search(text):
        return []  # the common case, found at C speed even in a 10 MB file
    sink = HintSink(path, text)
    for number, line in enumerate(text.splitlines(), start=1):
        if not _HIDDEN_RE.search(line):
            continue
        found: dict[HintKind, tuple[int, Severity, list[str]]] = {}
        for column, ch in enumerate(line, start=1):
            severity: Severity
            if ch in _BIDI:
                kind, severity = HintKind.bidi_unicode, "warn"
            elif ch in _INVISIBLE or _is_tag(ch):
                if ch == "\ufeff" and number == 1 and column == 1:
                    continue  # a byte-order mark at the start is harmless
                kind, severity = HintKind.invisible_unicode, "warn"
            elif ch in _CONTROL:
                kind, severity = HintKind.invisible_unicode, "look"
            else:
                continue
            first, worst, codes = found.setdefault(kind, (column, severity, []))
            if severity == "warn" and worst == "look":
                found[kind] = (first, "warn", codes)
            code = f"U+{ord(ch):04X}"
            if code not in codes:
                codes.append(code)
        for kind, (column, severity, codes) in found.items():
            what = (
                "bidirectional control"
                if kind is HintKind.bidi_unicode
                else "invisible or control character"
            )
            plural = "s" if len(codes) > 1 else ""
            tail = ": the line may not read as it runs" if kind is HintKind.bidi_unicode else ""
            sink.add(number, column, kind, severity, f"{what}{plural} {', '.join(codes)}{tail}")
    return sink.hints


# Paths: what a job may touch without a second look.

_SAFE_ABSOLUTE = (
    "/dev/null",
    "/dev/stdout",
    "/dev/stderr",
    "/dev/stdin",
    "/dev/fd/",
    "/dev/urandom",
    "/dev/random",
    "/tmp",  # noqa: S108 - a job's scratch space, not ours
    "/bin/",
    "/usr/bin/",
    "/usr/local/bin/",
)
_SENSITIVE = (
    "/etc",
    "/root",
    "/home",
    "/proc",
    "/sys",
    "/var/run",
    "/run",
    "/dev/tcp",
    "/dev/udp",
    "~",
    "$HOME",
    "${HOME}",
)
_OUTPUT_VARS = ("$OUTPUT_DIR", "${OUTPUT_DIR}")
_SECRET_RE = re.compile(
    r"(TOKEN|SECRET|PASSW(OR)?D|PASSPHRASE|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY|"
    r"(^|_)KEY($|_)|^AWS_|^AZURE_|^GCP_|^GOOGLE_APPLICATION|^GITHUB_|^HF_|^OPENAI_|^SSH_AUTH)",
    re.IGNORECASE,
)
# Variables a job is given on purpose (see the runner): reading them is expected.
JOB_VARIABLES = frozenset(
    {"OUTPUT_DIR", "DATA_DIR", "JOB_ID", "JOB_NAME", "JOB_UID", "REQUESTER", "HOME", "PATH",
     "PWD", "TMPDIR", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "USER", "SHELL"}
)  # fmt: skip


def is_secret_name(name: str) -> bool:
    return name not in JOB_VARIABLES and bool(_SECRET_RE.search(name))


def looks_absolute(text: str) -> bool:
    """A path outside the job's folder: absolute, or under a home folder."""
    return bool(re.match(r"^(/[^\s/]|~/|~$|\$HOME\b|\$\{HOME\})", text)) or text.startswith(
        "/dev/tcp"
    )


def is_safe_absolute(text: str) -> bool:
    return any(
        text == p.rstrip("/") or text.startswith(p.rstrip("/") + "/") for p in _SAFE_ABSOLUTE
    )


def is_sensitive(text: str) -> bool:
    return any(text == p or text.startswith(p + "/") for p in _SENSITIVE)


def write_target_problem(target: str) -> str | None:
    """Why writing to ``target`` leaves the job's folders, or ``None`` if it does not.

    Writes under ``$OUTPUT_DIR`` are results; relative paths stay in the job's own working
    copy; ``/dev/null`` and ``/tmp`` are scratch.
    """
    target = target.strip("'\"")
    if not target or target.startswith(_OUTPUT_VARS):
        return None
    if target.startswith("../") or target == "..":
        return f"writes outside the job's folder: {target}"
    if looks_absolute(target) and not is_safe_absolute(target):
        return f"writes outside $OUTPUT_DIR: {target}"
    return None


# Files


def is_binary(data: bytes) -> bool:
    if b"\0" in data[:BINARY_SNIFF]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


_PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".bin", ".npy",
                              ".npz", ".dill", ".sav", ".h5", ".keras"})  # fmt: skip
_NATIVE_SUFFIXES = frozenset({".so", ".dylib", ".dll", ".exe", ".pyd", ".whl", ".egg"})
_PYTHON_NAMES = re.compile(r"^#!.*\bpython[0-9.]*\b")
_SHELL_NAMES = re.compile(r"^#!.*\b(bash|sh|dash|zsh|ksh)\b")


def language_of(path: str, text: str) -> Literal["bash", "python"] | None:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in (".sh", ".bash"):
        return "bash"
    if suffix == ".py":
        return "python"
    first = text.split("\n", 1)[0]
    if suffix == "" and _SHELL_NAMES.match(first):
        return "bash"
    if suffix == "" and _PYTHON_NAMES.match(first):
        return "python"
    return None


_BINARY_MESSAGES: tuple[tuple[frozenset[str], Severity, str], ...] = (
    (
        _PICKLE_SUFFIXES,
        "warn",
        "binary model or pickled data: loading it can run code — check where it comes from",
    ),
    (_NATIVE_SUFFIXES, "warn", "compiled program or library: its code cannot be reviewed here"),
)


def binary_hint(path: str) -> ReviewHint:
    suffix = PurePosixPath(path).suffix.lower()
    severity: Severity = "look"
    message = "binary file: not shown as text — check what it is"
    for suffixes, sev, text in _BINARY_MESSAGES:
        if suffix in suffixes:
            severity, message = sev, text
            break
    return ReviewHint(
        path=path, line=1, column=1, kind=HintKind.binary_file, severity=severity, message=message
    )


def unparsed_hint(path: str, line: int, column: int, why: str, text: str = "") -> ReviewHint:
    return ReviewHint(
        path=path,
        line=max(1, line),
        column=max(1, column),
        kind=HintKind.unparsed,
        severity="warn",
        message=f"could not parse — review manually ({why})",
        text=show_hidden(text[:MAX_LINE_TEXT]),
    )


def file_hints(path: str, data: bytes) -> tuple[list[ReviewHint], bool | None]:
    """The hints of one file and whether its code parsed (``None``: not code).

    Never raises on the file's content: anything the parsers cannot take is reported as
    an ``unparsed`` hint.
    """
    if is_binary(data):
        return [binary_hint(path)], None
    text = data.decode("utf-8")
    hints = scan_unicode(path, text)
    language = language_of(path, text)
    if language is None:
        return hints, None
    if len(data) > MAX_PARSE_BYTES:
        hints.append(unparsed_hint(path, 1, 1, f"over {MAX_PARSE_BYTES // 1024 // 1024} MB"))
        return hints, False
    if language == "bash":
        from syft_code_queue.hints_bash import bash_hints

        found, parsed = bash_hints(path, text)
    else:
        from syft_code_queue.hints_python import python_hints

        found, parsed = python_hints(path, text)
    return hints + found, parsed


def collect(uid: str, code_hash: str, files: Iterable[tuple[str, bytes | None]]) -> ReviewHints:
    """The hints of a job from its files' bytes (``None``: the file could not be read)."""
    hints: list[ReviewHint] = []
    checked: list[str] = []
    unparsed: list[str] = []
    for path, data in files:
        if data is None:
            hints.append(unparsed_hint(path, 1, 1, "the file could not be read"))
            unparsed.append(path)
            continue
        found, parsed = file_hints(path, data)
        hints.extend(found)
        if parsed is True:
            checked.append(path)
        elif parsed is False:
            unparsed.append(path)
    hints.sort(key=lambda h: (h.path != "run.sh", h.path, h.line, h.column))
    return ReviewHints(
        uid=uid,
        code_hash=code_hash,
        hints=tuple(hints),
        checked=tuple(checked),
        unparsed=tuple(unparsed),
    )
