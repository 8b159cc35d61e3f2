"""Hints for shell scripts, from tree-sitter-bash's syntax tree (never from substrings).

The parser is loaded on first use; it handles heredocs, ``[[ ]]``, ``case``, arrays,
pipelines and subshells. A heredoc or ``-c`` string fed to ``bash`` or ``python`` is parsed
as that language, so code hidden in it is flagged on its real lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from syft_code_queue.hints import (
    HintKind,
    HintSink,
    ReviewHint,
    is_safe_absolute,
    is_secret_name,
    is_sensitive,
    looks_absolute,
    unparsed_hint,
    write_target_problem,
)

if TYPE_CHECKING:
    from tree_sitter import Node, Parser

SHELLS = frozenset({"bash", "sh", "dash", "zsh", "ksh", "source", "."})
PYTHONS = frozenset({"python", "python3", "python2", "pypy", "pypy3"})
INTERPRETERS = SHELLS | PYTHONS | {"perl", "ruby", "node", "php", "Rscript", "lua"}
NETWORK = frozenset(
    {"curl", "wget", "nc", "ncat", "netcat", "ssh", "scp", "sftp", "telnet", "ftp", "socat",
     "aria2c", "lynx", "http", "https", "ping", "dig", "nslookup", "torify", "sshpass"}
)  # fmt: skip
FETCHERS = NETWORK | {"base64", "xxd", "openssl", "gzip", "zcat", "echo", "printf"}
GIT_NETWORK = frozenset({"clone", "fetch", "pull", "push", "ls-remote", "submodule", "remote"})
INSTALLERS = frozenset({"pip", "pip3", "uv", "conda", "mamba", "npm", "apt", "apt-get", "gem"})
OTHER_USER = frozenset({"sudo", "su", "doas", "pkexec", "runuser"})
PERSIST = frozenset({"crontab", "at", "batch", "systemctl", "service", "nohup", "setsid",
                     "disown", "screen", "tmux", "docker", "podman"})  # fmt: skip
SIGNALS = frozenset({"kill", "pkill", "killall"})
LIST_ENV = frozenset({"env", "printenv", "export", "declare", "set", "compgen"})
# Wrappers run the command that follows them.
WRAPPERS = frozenset({"env", "nohup", "time", "exec", "command", "builtin", "nice", "timeout",
                      "stdbuf", "xargs", "sudo", "doas", "setsid", "ionice"})  # fmt: skip
COPIERS = frozenset({"cp", "mv", "install", "ln", "rsync"})
WRITE_REDIRECTS = frozenset({">", ">>", "&>", "&>>", ">|", "<>", ">&"})


@lru_cache(maxsize=1)
def _language() -> Any:
    import tree_sitter_bash
    from tree_sitter import Language

    return Language(tree_sitter_bash.language())


def _parser() -> Parser:
    from tree_sitter import Parser

    return Parser(_language())


def bash_hints(path: str, text: str, line_offset: int = 0) -> tuple[list[ReviewHint], bool]:
    """Hints for one shell script and whether it parsed without error."""
    source = text.encode("utf-8")
    tree = _parser().parse(source)  # a parser per call: threads never share one
    walker = _Walker(path, text, source, line_offset)
    walker.walk(tree.root_node)
    hints = walker.sink.hints + walker.nested
    error = _first_error(tree.root_node)
    if error is not None:
        line, column = walker.position(error)
        hints.append(
            unparsed_hint(
                path,
                line + line_offset,
                column,
                "shell syntax error",
                walker.sink.lines[line - 1] if line <= len(walker.sink.lines) else "",
            )
        )
        return hints, False
    return hints, True


def _first_error(node: Node) -> Node | None:
    if not node.has_error:
        return None
    if node.type == "ERROR" or node.is_missing:
        return node
    for child in node.children:
        found = _first_error(child)
        if found is not None:
            return found
    return node


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text.startswith("$'") and text.endswith("'"):
        return text[2:-1]
    return text


class _Walker:
    def __init__(self, path: str, text: str, source: bytes, line_offset: int) -> None:
        self.path = path
        self.source = source
        self.offset = line_offset
        self.sink = HintSink(path, text, line_offset)
        self._byte_lines = source.split(b"\n")
        self.nested: list[ReviewHint] = []
        self._flagged_writes: set[int] = set()

    # Helpers

    def text(self, node: Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def plain(self, node: Node) -> str:
        """The word as the shell would mostly see it: quotes removed, expansions kept."""
        if node.type == "concatenation":
            return "".join(self.plain(c) for c in node.children)
        return _unquote(self.text(node))

    def position(self, node: Node) -> tuple[int, int]:
        row, col = node.start_point
        line = self._byte_lines[row] if row < len(self._byte_lines) else b""
        return row + 1, len(line[:col].decode("utf-8", "replace")) + 1

    def flag(self, node: Node, kind: HintKind, severity: str, message: str) -> None:
        line, column = self.position(node)
        self.sink.add(line, column, kind, severity, message)  # type: ignore[arg-type]

    # The walk

    def walk(self, node: Node) -> None:
        kind = node.type
        if kind == "command":
            self.command(node)
        elif kind == "pipeline":
            self.pipeline(node)
        elif kind == "file_redirect":
            self.redirect(node)
        elif kind in ("simple_expansion", "expansion"):
            self.expansion(node)
        elif kind == "variable_assignment":
            self.assignment(node)
        elif kind == "heredoc_body":
            return  # data, unless fed to an interpreter (see command)
        for child in node.children:
            self.walk(child)

    def expansion(self, node: Node) -> None:
        for child in node.children:
            if child.type == "variable_name":
                name = self.text(child)
                if is_secret_name(name):
                    self.flag(node, HintKind.secret, "warn", f"reads ${name}, which looks secret")
            elif child.type == "subscript":
                self.expansion(child)

    def assignment(self, node: Node) -> None:
        value = node.child_by_field_name("value")
        if value is not None and value.type in ("word", "string", "raw_string", "concatenation"):
            self.path_word(value)
        elif value is not None and value.type == "array":
            for item in value.children:
                if item.is_named:
                    self.path_word(item)

    def redirect(self, node: Node) -> None:
        operator = next((c.type for c in node.children if not c.is_named), "")
        dest = node.child_by_field_name("destination")
        if dest is None:
            named = [c for c in node.children if c.is_named and c.type != "file_descriptor"]
            dest = named[-1] if named else None
        if dest is None:
            return
        target = self.plain(dest)
        if target.startswith(("/dev/tcp/", "/dev/udp/")):
            self.flag(dest, HintKind.network, "warn", f"opens a network connection: {target}")
            self._flagged_writes.add(dest.id)
            return
        if operator in WRITE_REDIRECTS:
            problem = write_target_problem(target)
            if problem is not None:
                self.flag(dest, HintKind.write_outside_output, "warn", problem)
                self._flagged_writes.add(dest.id)
                return
        self.path_word(dest)

    def path_word(self, node: Node) -> None:
        if node.id in self._flagged_writes:
            return
        value = self.plain(node)
        if value.startswith("-") and "=" in value:
            value = value.split("=", 1)[1]
        if not looks_absolute(value) or is_safe_absolute(value):
            return
        if is_sensitive(value):
            self.flag(node, HintKind.absolute_path, "warn", f"reaches outside the job: {value}")
        else:
            self.flag(node, HintKind.absolute_path, "look", f"absolute path: {value}")

    def words(self, node: Node) -> Iterator[Node]:
        """The name and arguments of a command, in order."""
        for child in node.children:
            if child.type == "command_name":
                yield child.children[0] if child.children else child
            elif child.is_named and child.type not in (
                "variable_assignment",
                "file_redirect",
                "herestring_redirect",
                "comment",
            ):
                yield child

    def effective(self, node: Node) -> tuple[str, list[Node]]:
        """The program a command really runs (past ``sudo``, ``env``, ``nohup`` ...) and its
        argument nodes."""
        words = list(self.words(node))
        i = 0
        name = ""
        while i < len(words):
            name = PurePosixPath(self.plain(words[i])).name
            i += 1
            if name not in WRAPPERS:
                break
            while i < len(words) and (
                self.plain(words[i]).startswith("-") or "=" in self.plain(words[i])
            ):
                i += 1
            if i >= len(words):
                break
        return name, words[i:]

    def command(self, node: Node) -> None:
        words = list(self.words(node))
        if not words:
            return
        first = PurePosixPath(self.plain(words[0])).name
        if first in OTHER_USER:
            self.flag(node, HintKind.process, "warn", f"runs a command as another user ({first})")
        name, args = self.effective(node)
        values = [self.plain(a) for a in args]
        self.program(node, name, args, values)
        for arg in args:
            self.path_word(arg)
        self.interpreted(node, name, args, values)

    def program(  # noqa: PLR0912 - one branch per kind of program
        self, node: Node, name: str, args: list[Node], values: list[str]
    ) -> None:
        if name in NETWORK:
            self.flag(node, HintKind.network, "warn", f"uses the network ({name})")
        elif name == "git" and values and values[0] in GIT_NETWORK:
            self.flag(node, HintKind.network, "warn", f"uses the network (git {values[0]})")
        elif name in INSTALLERS and "install" in values and not _installs_requirements(values):
            self.flag(node, HintKind.network, "look", f"installs packages ({name} install)")
        elif name in PERSIST:
            self.flag(node, HintKind.process, "warn", f"starts a process outside the job ({name})")
        elif name in SIGNALS:
            self.flag(node, HintKind.process, "look", f"signals other processes ({name})")
        elif name == "eval":
            self.flag(node, HintKind.dynamic_code, "warn", "eval runs text as code")
        elif name == "base64" and any(v in ("-d", "--decode", "-D") for v in values):
            self.flag(node, HintKind.dynamic_code, "warn", "decodes base64")
        elif (name == "xxd" and "-r" in values) or (name == "openssl" and "-d" in values):
            self.flag(node, HintKind.dynamic_code, "look", f"decodes hidden data ({name})")
        elif name in LIST_ENV and not [v for v in values if not v.startswith("-")]:
            self.flag(node, HintKind.environment, "look", f"lists the environment ({name})")
        elif name in COPIERS and values:
            self.copy_target(args, values)
        elif name == "tee":
            for arg, value in zip(args, values, strict=True):
                self.write_target(arg, value)
        elif name == "dd":
            for arg, value in zip(args, values, strict=True):
                if value.startswith("of="):
                    self.write_target(arg, value[3:])
        elif name in ("rm", "shred", "truncate") and any(
            looks_absolute(v) and not is_safe_absolute(v) for v in values
        ):
            self.flag(
                node, HintKind.write_outside_output, "warn", f"deletes outside the job ({name})"
            )
        if name == "rsync" and any(":" in v and not v.startswith("-") for v in values):
            self.flag(node, HintKind.network, "warn", "copies over the network (rsync host:)")

    def copy_target(self, args: list[Node], values: list[str]) -> None:
        operands = [(a, v) for a, v in zip(args, values, strict=True) if not v.startswith("-")]
        for i, value in enumerate(values[:-1]):
            if value in ("-t", "--target-directory"):
                self.write_target(args[i + 1], values[i + 1])
                return
        if len(operands) >= 2:
            self.write_target(*operands[-1])

    def write_target(self, node: Node, value: str) -> None:
        problem = write_target_problem(value)
        if problem is not None:
            self.flag(node, HintKind.write_outside_output, "warn", problem)
            self._flagged_writes.add(node.id)

    def interpreted(self, node: Node, name: str, args: list[Node], values: list[str]) -> None:
        """Code handed to an interpreter as text: ``bash -c``, ``$(curl ...)``, ``<(...)``."""
        if name in INTERPRETERS or name == "eval":
            for arg in args:
                if _holds_fetch(self, arg):
                    self.flag(
                        node, HintKind.pipe_to_shell, "warn", f"downloads code and runs it ({name})"
                    )
        if name in INTERPRETERS and "-c" in values:
            at = values.index("-c")
            if at + 1 < len(args):
                self.flag(
                    node, HintKind.dynamic_code, "look", f"runs code given as text ({name} -c)"
                )
                self.nest(name, args[at + 1])
        if name in INTERPRETERS:
            redirected = node.parent
            if redirected is not None and redirected.type == "redirected_statement":
                for child in redirected.children:
                    if child.type == "heredoc_redirect":
                        for body in child.children:
                            if body.type == "heredoc_body":
                                self.nest(name, body)

    def nest(self, name: str, node: Node) -> None:
        """Parse text given to an interpreter as that language, on its own lines."""
        text = self.text(node)
        if node.type in ("string", "raw_string"):
            text = _unquote(text)
        row = node.start_point[0] + self.offset
        if name in SHELLS:
            found, _ = bash_hints(self.path, text, row)
        elif name in PYTHONS:
            from syft_code_queue.hints_python import python_hints

            found, _ = python_hints(self.path, text, row)
        else:
            return
        self.nested.extend(found)

    def pipeline(self, node: Node) -> None:
        commands = [c for c in node.children if c.type in ("command", "redirected_statement")]
        names: list[str] = []
        inner: set[str] = set()  # programs anywhere in the earlier stages, $(...) included
        for i, command in enumerate(commands):
            target = command if command.type == "command" else command.children[0]
            name = self.effective(target)[0] if target.type == "command" else ""
            names.append(name)
            if i > 0 and name in INTERPRETERS and any(n in FETCHERS for n in names[:i]):
                source = next(n for n in names[:i] if n in FETCHERS)
                if source in ("echo", "printf", "gzip", "zcat") and not (
                    inner & (NETWORK | {"base64"})
                ):
                    self.flag(
                        node, HintKind.dynamic_code, "look", f"runs generated text as code ({name})"
                    )
                else:
                    self.flag(
                        node,
                        HintKind.pipe_to_shell,
                        "warn",
                        f"pipes {source} into {name}: runs text it fetched or decoded",
                    )
            inner.add(name)
            inner.update(self.effective(c)[0] for c in _commands_in(command))


def _installs_requirements(values: list[str]) -> bool:
    """``pip install -r requirements.txt`` (provisioned from the reviewed file) is expected."""
    rest = [v for v in values if v not in ("install", "-q", "--quiet", "-U", "--upgrade")]
    return rest[:1] in (["-r"], ["--requirement"]) and len(rest) == 2


def _holds_fetch(walker: _Walker, node: Node) -> bool:
    """Whether a word holds ``$(curl ...)`` or ``<(wget ...)``."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type in ("command_substitution", "process_substitution"):
            for command in _commands_in(current):
                if walker.effective(command)[0] in NETWORK:
                    return True
        stack.extend(current.children)
    return False


def _commands_in(node: Node) -> Iterator[Node]:
    stack = list(node.children)
    while stack:
        current = stack.pop()
        if current.type == "command":
            yield current
        stack.extend(current.children)
