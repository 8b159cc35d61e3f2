#!/usr/bin/env bash
# Install the Python SyftBox engine (syftbox==0.4.0) into its own virtualenv, exactly as
# requirements/syftbox.lock pins it (regenerate with `bash scripts/lock.sh`).
#
# syftbox pins exact versions of its dependencies, so it must never share a venv with
# syft-code-queue. The sync test harness (tests/sync/) runs its server and clients from here.
#
# Location: $SCQ_SYFTBOX_VENV, default .venv-syftbox in the checkout (ignored by git).
# Idempotent: a fast no-op when the venv was built from the same lock.
# Prints the venv path as its last line of stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCK="$ROOT/requirements/syftbox.lock"
VENV="${SCQ_SYFTBOX_VENV:-$ROOT/.venv-syftbox}"
PYTHON="${PYTHON:-python3}"
stamp="$(sha256sum "$LOCK" | cut -c1-16)"

if [ "$(cat "$VENV/.scq-stamp" 2>/dev/null)" = "$stamp" ] \
    && [ -x "$VENV/bin/syftbox" ] && [ -x "$VENV/bin/uvicorn" ]; then
    echo "syftbox already installed in $VENV from $LOCK" >&2
    echo "$VENV"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating venv $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi

echo "installing $LOCK into $VENV" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps \
    -r "$LOCK" >"$log" 2>&1; then
    cat "$log" >&2
    echo "error: installing $LOCK failed" >&2
    exit 1
fi
# pip's output is kept out of the way; show it apart from harmless local-index notices
grep -v "is ignored: it is neither a file nor a directory" "$log" >&2 || true

if ! "$VENV/bin/python" -c "import syftbox" 2>/dev/null || [ ! -x "$VENV/bin/syftbox" ]; then
    echo "error: syftbox not importable from $VENV after install" >&2
    exit 1
fi
echo "$stamp" >"$VENV/.scq-stamp"
echo "$VENV"
