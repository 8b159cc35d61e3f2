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
from collections.abc import Iterator
from pathlib import Path

from syft_code_queue import sandbox
from syft_code_queue.fsio import remove_tree
from syft_code_queue.models import QueueConfig

REQUIREMENTS = "requirements.txt"
_READY = ".scq-ready"
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
        (env / _READY).write_text("ok\n")


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
