#!/usr/bin/env bash
# Install the Python SyftBox (syftbox==0.4.0) into its own virtualenv.
#
# syftbox pins exact versions of its dependencies, so it must never share a venv with
# syft-code-queue. The sync test harness (tests/sync/) runs its server and clients from here.
#
# Location: $SCQ_SYFTBOX_VENV, default /opt/scq-syftbox-venv.
# Idempotent: a fast no-op when the right version is already installed.
# Prints the venv path as its last line of stdout.
set -euo pipefail

SYFTBOX_VERSION="0.4.0"
VENV="${SCQ_SYFTBOX_VENV:-/opt/scq-syftbox-venv}"
PYTHON="${PYTHON:-python3}"

installed_version() {
    [ -x "$VENV/bin/python" ] || return 1
    "$VENV/bin/python" - <<'PY' 2>/dev/null
from importlib.metadata import version
print(version("syftbox"))
PY
}

if [ "$(installed_version || true)" = "$SYFTBOX_VERSION" ] \
    && [ -x "$VENV/bin/syftbox" ] && [ -x "$VENV/bin/uvicorn" ]; then
    echo "syftbox $SYFTBOX_VERSION already installed in $VENV" >&2
    echo "$VENV"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating venv $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi

echo "installing syftbox==$SYFTBOX_VERSION into $VENV" >&2
"$VENV/bin/python" -m pip install --disable-pip-version-check -q "syftbox==$SYFTBOX_VERSION" >&2

if [ "$(installed_version || true)" != "$SYFTBOX_VERSION" ]; then
    echo "error: syftbox $SYFTBOX_VERSION not importable from $VENV after install" >&2
    exit 1
fi
echo "$VENV"
