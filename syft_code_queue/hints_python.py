"""Hints for Python files, from :mod:`ast`, with imports resolved (``sp.run``: subprocess)."""

from __future__ import annotations

import ast

from syft_code_queue.hints import (
    JOB_VARIABLES,
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

NETWORK_MODULES = frozenset(
    {"socket", "requests", "urllib", "urllib3", "http", "httpx", "aiohttp", "ftplib", "smtplib",
     "poplib", "imaplib", "telnetlib", "paramiko", "websocket", "websockets", "pycurl", "boto3",
     "botocore", "ssl", "xmlrpc", "grpc"}
)  # fmt: skip
NETWORK_PREFIXES = (
    "socket.", "requests.", "urllib.request.", "urllib3.", "http.client.", "httpx.", "aiohttp.",
    "ftplib.", "smtplib.", "paramiko.", "websocket.", "websockets.", "pycurl.", "boto3.",
    "xmlrpc.client.", "telnetlib.",
)  # fmt: skip
PROCESS_CALLS = frozenset(
    {"subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
     "subprocess.Popen", "subprocess.getoutput", "subprocess.getstatusoutput", "os.system",
     "os.popen", "os.execv", "os.execve", "os.execl", "os.execle", "os.execlp", "os.execlpe",
     "os.execvp", "os.execvpe", "os.spawnl", "os.spawnle", "os.spawnlp", "os.spawnlpe",
     "os.spawnv", "os.spawnve", "os.spawnvp", "os.spawnvpe", "os.posix_spawn",
     "os.posix_spawnp", "os.fork", "os.forkpty", "os.kill", "os.killpg", "pty.spawn",
     "asyncio.create_subprocess_exec", "asyncio.create_subprocess_shell", "ctypes.CDLL",
     "ctypes.cdll.LoadLibrary", "multiprocessing.Process"}
)  # fmt: skip
DYNAMIC_CALLS = {"eval": "warn", "exec": "warn", "compile": "look", "__import__": "look",
                 "importlib.import_module": "look", "runpy.run_path": "look",
                 "runpy.run_module": "look"}  # fmt: skip
DECODERS = frozenset(
    {"base64.b64decode", "base64.b32decode", "base64.b16decode", "base64.a85decode",
     "base64.b85decode", "base64.decodebytes", "base64.standard_b64decode",
     "base64.urlsafe_b64decode", "binascii.a2b_base64", "binascii.unhexlify", "codecs.decode",
     "bytes.fromhex", "zlib.decompress"}
)  # fmt: skip
UNSAFE_LOADS = frozenset(
    {"pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads",
     "cPickle.load", "cPickle.loads", "dill.load", "dill.loads", "cloudpickle.load",
     "cloudpickle.loads", "joblib.load", "marshal.load", "marshal.loads", "shelve.open",
     "pandas.read_pickle", "yaml.unsafe_load", "jsonpickle.decode", "keras.models.load_model",
     "tensorflow.keras.models.load_model", "sklearn.externals.joblib.load"}
)  # fmt: skip
WRITE_METHODS = frozenset(
    {"write_text", "write_bytes", "to_csv", "to_parquet", "to_json", "to_pickle", "to_excel",
     "to_feather", "to_hdf", "to_sql", "savefig", "save", "savez", "savez_compressed",
     "savetxt", "mkdir", "makedirs", "touch", "symlink_to", "hardlink_to", "copy", "copy2",
     "copyfile", "copytree", "move", "rename", "replace", "unlink", "remove", "rmtree",
     "rmdir", "chmod", "chown"}
)  # fmt: skip
# Calls whose destination is their last positional argument.
TWO_PATH_CALLS = frozenset(
    {"shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.copytree", "shutil.move",
     "os.rename", "os.replace", "os.symlink", "os.link", "torch.save"}
)  # fmt: skip
ENV_READERS = frozenset({"os.getenv", "os.environ.get", "os.environ.pop", "os.getenvb"})


def python_hints(path: str, text: str, line_offset: int = 0) -> tuple[list[ReviewHint], bool]:
    """Hints for one Python file and whether it parsed."""
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        lines = text.splitlines()
        line = exc.lineno or 1
        why = f"Python syntax error: {exc.msg}"
        source = lines[line - 1] if 0 < line <= len(lines) else ""
        return [unparsed_hint(path, line + line_offset, exc.offset or 1, why, source)], False
    except (ValueError, RecursionError, MemoryError) as exc:
        return [unparsed_hint(path, 1 + line_offset, 1, f"Python parser: {exc}")], False
    visitor = _Visitor(HintSink(path, text, line_offset))
    try:
        visitor.visit(tree)
    except RecursionError:
        return [*visitor.sink.hints, unparsed_hint(path, 1, 1, "nested too deeply")], False
    return visitor.sink.hints, True


def _const_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


class _Visitor(ast.NodeVisitor):
    def __init__(self, sink: HintSink) -> None:
        self.sink = sink
        self.aliases: dict[str, str] = {}
        self.handled: set[int] = set()
        self.docstrings: set[int] = set()

    def flag(self, node: ast.AST, kind: HintKind, severity: str, message: str) -> None:
        line = getattr(node, "lineno", 1)
        column = getattr(node, "col_offset", 0) + 1
        self.sink.add(line, column, kind, severity, message)  # type: ignore[arg-type]

    def qualified(self, node: ast.AST) -> str | None:
        """``sp.run`` as ``subprocess.run``, ``np.load`` as ``numpy.load``."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Call):
            base = self.qualified(node.func)
            if base in ("pathlib.Path", "Path", "open"):
                parts.append("Path")
                return ".".join(reversed(parts))
            return None
        if not isinstance(node, ast.Name):
            return None
        parts.append(self.aliases.get(node.id, node.id))
        return ".".join(reversed(parts))

    # Imports

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0]
            )
            self.imported(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
        if node.level == 0:
            self.imported(node, module)

    def imported(self, node: ast.AST, module: str) -> None:
        root = module.split(".", maxsplit=1)[0]
        if root in NETWORK_MODULES:
            self.flag(node, HintKind.network, "look", f"imports {module} (network)")
        elif root in ("subprocess", "pty", "ctypes", "cffi"):
            self.flag(node, HintKind.process, "look", f"imports {module} (runs programs)")

    # Docstrings are prose, not paths.

    def _docstring(self, node: ast.AST) -> None:
        body = getattr(node, "body", None)
        if body and isinstance(body[0], ast.Expr) and _const_str(body[0].value) is not None:
            self.docstrings.add(id(body[0].value))

    def visit_Module(self, node: ast.Module) -> None:
        self._docstring(node)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._docstring(node)
        self.generic_visit(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._docstring(node)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._docstring(node)
        self.generic_visit(node)

    # Calls

    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualified(node.func) or ""
        short = name.rsplit(".", 1)[-1]
        if name in PROCESS_CALLS:
            shell = any(
                k.arg == "shell" and isinstance(k.value, ast.Constant) and k.value.value
                for k in node.keywords
            )
            self.flag(
                node,
                HintKind.process,
                "warn",
                f"runs a program ({name}{', shell=True' if shell else ''})",
            )
        elif name.startswith(NETWORK_PREFIXES):
            self.flag(node, HintKind.network, "warn", f"uses the network ({name})")
        elif name in DYNAMIC_CALLS and not (
            name in ("__import__", "importlib.import_module") and _const_str(_arg(node, 0))
        ):
            decoded = any(self.qualified(c.func) in DECODERS for c in _calls_in(node))
            severity = "warn" if decoded else DYNAMIC_CALLS[name]
            extra = " on decoded data" if decoded else ""
            self.flag(node, HintKind.dynamic_code, severity, f"{name}() runs text as code{extra}")
        elif name in DECODERS:
            self.flag(node, HintKind.dynamic_code, "look", f"decodes hidden data ({name})")
        elif name in UNSAFE_LOADS or self.unsafe_library_load(name, node):
            self.flag(node, HintKind.unsafe_load, "warn", f"{name}() can run code while loading")
        elif name in ENV_READERS:
            self.env_read(node, _const_str(_arg(node, 0)))
        self.writes(node, name, short)
        self.generic_visit(node)

    def unsafe_library_load(self, name: str, node: ast.Call) -> bool:
        keywords = {k.arg: k.value for k in node.keywords}
        if name == "torch.load":
            flag = keywords.get("weights_only")
            return not (isinstance(flag, ast.Constant) and flag.value is True)
        if name == "numpy.load":
            flag = keywords.get("allow_pickle")
            return isinstance(flag, ast.Constant) and flag.value is True
        if name == "yaml.load":
            loader = keywords.get("Loader") or _arg(node, 1)
            loader_name = self.qualified(loader) if loader is not None else ""
            return not (loader_name or "").endswith(("SafeLoader", "CSafeLoader"))
        return False

    def writes(self, node: ast.Call, name: str, short: str) -> None:
        target: ast.AST | None = None
        if name in ("open", "io.open", "Path.open"):
            on_path = name == "Path.open" and isinstance(node.func, ast.Attribute)
            mode = _const_str(_arg(node, 0 if on_path else 1)) or _const_str(
                next((k.value for k in node.keywords if k.arg == "mode"), None)
            )
            if mode and any(c in mode for c in "wax+"):
                path_call = node.func.value if isinstance(node.func, ast.Attribute) else None
                if on_path and isinstance(path_call, ast.Call):
                    target = _arg(path_call, 0)
                else:
                    target = _arg(node, 0)
        elif name in TWO_PATH_CALLS and len(node.args) >= 2:
            target = node.args[-1]
        elif short in WRITE_METHODS and isinstance(node.func, ast.Attribute):
            pathlike = node.func.value
            if isinstance(pathlike, ast.Call) and self.qualified(pathlike.func) in (
                "pathlib.Path",
                "Path",
            ):
                target = _arg(pathlike, 0)
            else:
                target = _arg(node, 0)
        value = _const_str(target)
        if target is None or value is None:
            return
        problem = write_target_problem(value)
        if problem is not None:
            self.flag(target, HintKind.write_outside_output, "warn", problem)
            self.handled.add(id(target))

    # The environment

    def env_read(self, node: ast.AST, key: str | None) -> None:
        if key is None:
            self.flag(
                node,
                HintKind.environment,
                "look",
                "reads an environment variable chosen at run time",
            )
        elif is_secret_name(key):
            self.flag(node, HintKind.secret, "warn", f"reads ${key}, which looks secret")
        elif key not in JOB_VARIABLES:
            self.flag(node, HintKind.environment, "look", f"reads ${key} from the environment")

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if self.qualified(node.value) == "os.environ" and isinstance(node.ctx, ast.Load):
            self.env_read(node, _const_str(node.slice))
            self.handled.add(id(node.value))
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = self.qualified(node)
        if name == "os.environ" and id(node) not in self.handled:
            self.flag(node, HintKind.environment, "look", "uses os.environ")
        elif (
            name is not None
            and name.startswith("os.environ.")
            and isinstance(node.value, ast.Attribute)
        ):
            self.handled.add(id(node.value))
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if self.aliases.get(node.id) == "os.environ" and id(node) not in self.handled:
            self.flag(node, HintKind.environment, "look", "uses os.environ")

    # Paths and URLs

    def visit_Constant(self, node: ast.Constant) -> None:
        if (
            not isinstance(node.value, str)
            or id(node) in self.docstrings
            or id(node) in self.handled
        ):
            return
        value = node.value
        if (
            value.startswith(("http://", "https://", "ftp://", "s3://", "gs://"))
            and " " not in value
        ):
            self.flag(node, HintKind.network, "look", f"names a URL: {value[:80]}")
        elif looks_absolute(value) and "\n" not in value and not is_safe_absolute(value):
            if is_sensitive(value):
                self.flag(
                    node, HintKind.absolute_path, "warn", f"reaches outside the job: {value[:80]}"
                )
            elif " " not in value:
                self.flag(node, HintKind.absolute_path, "look", f"absolute path: {value[:80]}")


def _arg(node: ast.Call, index: int) -> ast.expr | None:
    return node.args[index] if len(node.args) > index else None


def _calls_in(node: ast.Call) -> list[ast.Call]:
    return [n for arg in node.args for n in ast.walk(arg) if isinstance(n, ast.Call)]
