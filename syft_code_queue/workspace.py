"""Finding the SyftBox folder and who I am; every path of the on-disk layout.

Layout (``<q>`` is the queue name)::

    datasites/<ds>/app_data/<q>/outbox/<do>/<uid>/code/...     the data scientist writes
    datasites/<ds>/app_data/<q>/outbox/<do>/<uid>/request.json  (last: the commit marker)
    datasites/<ds>/app_data/<q>/outbox/<do>/cancellations/<uid>.json
    datasites/<do>/app_data/<q>/jobs/<uid>/status.json, ...     the data owner writes
    .syft_code_queue/<do>/<q>/                                   the owner's private runtime
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from syft_code_queue.errors import WorkspaceError
from syft_code_queue.fsio import write_if_changed
from syft_code_queue.models import validate_email

ENV_EMAIL = "SYFTBOX_EMAIL"
ENV_DATA_DIR = "SYFTBOX_DATA_DIR"
ENV_CONFIG = "SYFTBOX_CLIENT_CONFIG_PATH"
DEFAULT_CONFIG = Path("~/.syftbox/config.json")
PRIVATE_DIRNAME = ".syft_code_queue"

_HOW_TO = (
    "set SYFTBOX_EMAIL and SYFTBOX_DATA_DIR, or SYFTBOX_CLIENT_CONFIG_PATH, or pass "
    "email= and syftbox_dir=; to try it on a local folder run 'scq demo'"
)


@dataclass(frozen=True)
class Workspace:
    """One person's view of a SyftBox folder: where it is and who they are."""

    data_dir: Path
    email: str

    @property
    def datasites(self) -> Path:
        return self.data_dir / "datasites"

    def datasite(self, email: str) -> Path:
        return self.datasites / email

    def app_dir(self, email: str, queue: str) -> Path:
        return self.datasite(email) / "app_data" / queue

    def outbox(self, requester: str, target: str, queue: str) -> Path:
        """Where ``requester`` puts jobs for ``target``."""
        return self.app_dir(requester, queue) / "outbox" / target

    def jobs_dir(self, owner: str, queue: str) -> Path:
        """Where ``owner`` publishes the status, logs and outputs of the jobs it received."""
        return self.app_dir(owner, queue) / "jobs"

    def private_dir(self, queue: str) -> Path:
        """This person's runtime folder, outside ``datasites/`` and so never synced."""
        return self.data_dir / PRIVATE_DIRNAME / self.email / queue


def _read_config(path: Path) -> tuple[Path | None, str | None]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkspaceError(f"SyftBox config '{path}' does not exist; {_HOW_TO}") from None
    except (OSError, ValueError) as exc:
        raise WorkspaceError(f"SyftBox config '{path}' cannot be read ({exc}); {_HOW_TO}") from exc
    if not isinstance(raw, dict):
        raise WorkspaceError(f"SyftBox config '{path}' is not a JSON object; {_HOW_TO}")
    data_dir = raw.get("data_dir")
    email = raw.get("email")
    return (
        Path(data_dir).expanduser() if isinstance(data_dir, str) and data_dir else None,
        email if isinstance(email, str) and email else None,
    )


def resolve_workspace(
    email: str | None = None,
    syftbox_dir: str | os.PathLike[str] | None = None,
) -> Workspace:
    """Find the SyftBox folder and identity.

    Explicit arguments win, then ``SYFTBOX_EMAIL`` and ``SYFTBOX_DATA_DIR``, then the config
    at ``SYFTBOX_CLIENT_CONFIG_PATH``, then ``~/.syftbox/config.json``. Nothing is created.

    Raises:
        WorkspaceError: no folder or no email could be found; the message says what to set.
        InvalidEmailError: the email found is not a valid address.
    """
    found_email = email or os.environ.get(ENV_EMAIL) or None
    found_dir: Path | None = Path(syftbox_dir).expanduser() if syftbox_dir else None
    if found_dir is None and os.environ.get(ENV_DATA_DIR):
        found_dir = Path(os.environ[ENV_DATA_DIR]).expanduser()
    if found_email is None or found_dir is None:
        config_env = os.environ.get(ENV_CONFIG)
        config_path = Path(config_env).expanduser() if config_env else DEFAULT_CONFIG.expanduser()
        if config_env or config_path.exists():
            cfg_dir, cfg_email = _read_config(config_path)
            found_dir = found_dir or cfg_dir
            found_email = found_email or cfg_email
    if found_dir is None:
        raise WorkspaceError(f"no SyftBox folder found; {_HOW_TO}")
    if found_email is None:
        raise WorkspaceError(f"no SyftBox email found; {_HOW_TO}")
    return Workspace(data_dir=found_dir.resolve(), email=validate_email(found_email))


def _syftperm_yaml(reader: str) -> str:
    return f"- path: '**'\n  user: {reader}\n  permissions: [read]\n"


def _syft_pub_yaml(reader: str) -> str:
    return f"terminal: false\nrules:\n- pattern: '**'\n  access: {{read: ['{reader}']}}\n"


def grant_read(folder: Path, reader: str, *, durable: bool = True) -> None:
    """Let ``reader`` (and only them, besides the owner) read ``folder`` over SyftBox.

    Both permission formats are written, since each sync engine reads only its own, and
    they are written before anything they grant.
    """
    reader = validate_email(reader)
    folder.mkdir(parents=True, exist_ok=True)
    write_if_changed(folder / "syftperm.yaml", _syftperm_yaml(reader), durable=durable)
    write_if_changed(folder / "syft.pub.yaml", _syft_pub_yaml(reader), durable=durable)
