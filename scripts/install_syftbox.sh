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
# syftbox 0.4.0 pins typer==0.15.2 but not click; click>=8.2 breaks typer 0.15's --help
# (TypeError: make_metavar() missing 'ctx'), so keep the click of syftbox 0.4.0's time.
CLICK_SPEC="click<8.2"
VENV="${SCQ_SYFTBOX_VENV:-/opt/scq-syftbox-venv}"
PYTHON="${PYTHON:-python3}"

installed_version() {
    [ -x "$VENV/bin/python" ] || return 1
    "$VENV/bin/python" - <<'PY' 2>/dev/null
from importlib.metadata import version

click_major_minor = tuple(int(x) for x in version("click").split(".")[:2])
print(version("syftbox") if click_major_minor < (8, 2) else "needs-click-pin")
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
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q \
    "syftbox==$SYFTBOX_VERSION" "$CLICK_SPEC" >"$log" 2>&1; then
    cat "$log" >&2
    echo "error: pip install syftbox==$SYFTBOX_VERSION failed" >&2
    exit 1
fi
# pip's output is kept out of the way; show it apart from harmless local-index notices
grep -v "is ignored: it is neither a file nor a directory" "$log" >&2 || true

if [ "$(installed_version || true)" != "$SYFTBOX_VERSION" ]; then
    echo "error: syftbox $SYFTBOX_VERSION not importable from $VENV after install" >&2
    exit 1
fi
echo "$VENV"
