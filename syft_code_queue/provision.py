"""A job's ``requirements.txt``, provisioned before its network-less run.

``requirements.txt`` is part of the reviewed, hashed code. Before the run the runner builds a
virtual environment for it, keyed by the file's hash, the interpreter and the index settings,
and cached in the owner's private folder (``envs/<key>``): pip installs **wheels only**
(``--only-binary :all:``, so installing runs none of the requester's code) in a provisioning
sandbox that has the network but no data, no datasites and no owner home. The job then runs
without network with that environment first on ``PATH``, read-only; the owner's installed
packages stay visible behind it (a ``.pth`` file), so the seed's ``pip install -r
requirements.txt`` finds everything satisfied.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import site
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from syft_code_queue import sandbox
from syft_code_queue.fsio import remove_tree
from syft_code_queue.models import QueueConfig

REQUIREMENTS = "requirements.txt"
_READY = ".scq-ready"  # present once built; its mtime: when it was last used
_SIZE = ".scq-size"  # its size in bytes, measured once built
# The owner's proxies and certificate authorities reach pip (a proxy that re-signs TLS needs
# its CA); nothing else of the owner's environment or pip configuration does.
_PASSED_ENV = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
_CA_ENV = ("PIP_CERT", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


class ProvisioningError(Exception):
    """The job's requirements could not be installed; the message carries pip's own."""


def env_path(private_dir: Path, requirements: bytes | None, config: QueueConfig) -> Path | None:
    """Where the environment of a job's ``requirements.txt`` (its bytes) lives, ``None`` if it
    has none (or provisioning is off)."""
    if not config.provision_requirements or requirements is None:
        return None
    key = hashlib.sha256()
    for part in (
        requirements,
        sys.executable.encode(),
        sys.version.encode(),
        repr((config.provision_index_url, config.provision_find_links)).encode(),
        repr(config.provision_no_index).encode(),
    ):
        key.update(hashlib.sha256(part).digest())
    return private_dir / "envs" / key.hexdigest()[:24]


def is_ready(env: Path) -> bool:
    return (env / _READY).exists()


def touch(env: Path) -> None:
    """Mark ``env`` used now (the cache keeps the most recently used)."""
    with contextlib.suppress(OSError):
        os.utime(env / _READY)


@contextlib.contextmanager
def in_use(env: Path | None) -> Iterator[None]:
    """Hold ``env`` as used by a running job (a shared lock on it): never evicted meanwhile.
    Released when the block ends."""
    if env is None:
        yield
        return
    fd = os.open(env.with_name(env.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        touch(env)
        yield
    finally:
        os.close(fd)


def hold(env: Path | None) -> contextlib.ExitStack:
    """:func:`in_use` entered now, for a caller that releases it later (``.close()``)."""
    stack = contextlib.ExitStack()
    stack.enter_context(in_use(env))
    return stack


RECENT = 60.0  # seconds: an environment used this recently is never evicted


def evict(envs: Path, config: QueueConfig, keep: Path | None = None) -> list[Path]:
    """Remove the least recently used environments beyond ``provision_cache_max_envs`` or
    ``provision_cache_max_bytes`` in all; never ``keep``, one in use by a running job (its
    lock is held) or one used in the last :data:`RECENT` seconds. Returns those removed."""
    found: list[tuple[float, int, Path]] = []
    for ready in envs.glob(f"*/{_READY}"):
        try:
            used = ready.stat().st_mtime
            size = int((ready.parent / _SIZE).read_text())
        except (OSError, ValueError):
            continue
        found.append((used, size, ready.parent))
    found.sort()  # least recently used first
    count, total = len(found), sum(size for _, size, _ in found)
    removed = []
    now = time.time()
    for used, size, env in found:
        if count <= config.provision_cache_max_envs and total <= config.provision_cache_max_bytes:
            break
        if env == keep or now - used < RECENT:
            continue
        fd = os.open(
            env.with_name(env.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a running job uses it, or it is being built
            (env / _READY).unlink(missing_ok=True)  # no longer offered, then removed
            remove_tree(env)
        finally:
            os.close(fd)
        removed.append(env)
        count, total = count - 1, total - size
    return removed


def _tree_size(root: Path) -> int:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(folder) / name).lstat().st_size
    return total


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure(
    env: Path, requirements: bytes, config: QueueConfig, backend: sandbox.Backend | None
) -> None:
    """Build ``env`` for a ``requirements.txt`` (its reviewed bytes) unless it is there.

    Raises:
        ProvisioningError: pip could not install the requirements (its message included).
    """
    if is_ready(env):
        return
    with _locked(env.with_name(env.name + ".lock")):
        if is_ready(env):
            return
        remove_tree(env)
        source = env.with_name(env.name + ".in") / REQUIREMENTS
        remove_tree(source.parent)
        source.parent.mkdir(parents=True)
        source.write_bytes(requirements)
        try:
            _build(env, source, config, backend)
        except BaseException:
            remove_tree(env)
            raise
        finally:
            remove_tree(source.parent)
        (env / _SIZE).write_text(f"{_tree_size(env)}\n")
        (env / _READY).write_text("ok\n")
    evict(env.parent, config, keep=env)


def _build(
    env: Path, requirements: Path, config: QueueConfig, backend: sandbox.Backend | None
) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(env)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        raise ProvisioningError(f"could not create a virtual environment: {made.stderr.decode()}")
    python = env / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The owner's packages stay importable behind the job's own (and pip with them).
    owner_paths = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "_scq_owner_packages.pth").write_text("\n".join(owner_paths) + "\n")
    pip = env / "bin" / "pip"
    pip.write_text(f'#!/bin/sh\nexec "{python}" -m pip "$@"\n')
    pip.chmod(0o755)
    (env / "bin" / "pip3").symlink_to("pip")

    argv = [
        str(python), "-m", "pip", "install", "--only-binary", ":all:", "--no-input",
        "--disable-pip-version-check", "--no-cache-dir", "--progress-bar", "off",
        "-r", str(requirements),
    ]  # fmt: skip
    if config.provision_no_index:
        argv.append("--no-index")
    if config.provision_index_url:
        argv += ["--index-url", config.provision_index_url]
    for link in config.provision_find_links:
        argv += ["--find-links", str(link)]
    with tempfile.TemporaryDirectory(prefix="scq-provision-") as home:
        environ = {
            "PATH": os.pathsep.join([str(env / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": home,
            "TMPDIR": home,
            "LANG": "C.UTF-8",
            "PIP_CONFIG_FILE": os.devnull,  # only what the queue's settings say
            **{k: v for k, v in os.environ.items() if k in _PASSED_ENV + _CA_ENV},
        }
        authorities = [Path(environ[k]) for k in _CA_ENV if k in environ]
        if "PIP_CERT" not in environ and "SSL_CERT_FILE" in environ:
            environ["PIP_CERT"] = environ["SSL_CERT_FILE"]  # pip reads only its own setting
        if backend is not None:
            readable = [requirements.parent, *(Path(p) for p in config.provision_find_links)]
            readable += [p for p in authorities if p.exists()]
            mounts = sandbox.Mounts(
                writable=[env, Path(home)], readable=readable, workdir=Path(home), network=True
            )
            argv = [*backend.prefix(mounts), *argv]
        try:
            done = subprocess.run(
                argv,
                env=environ,
                cwd=home,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=config.job_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ProvisioningError(
                f"installing requirements.txt took longer than {config.job_timeout:g} s"
            ) from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).decode(errors="replace").strip()
        raise ProvisioningError(
            "requirements.txt could not be installed from wheels (pip install --only-binary "
            f":all:): {said[-2000:]}"
        )
