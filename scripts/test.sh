#!/usr/bin/env bash
# The one test command: installs what the tests need, then lints, type-checks, smoke-runs
# the benchmarks and runs every test suite (unit, tutorials, faults, two-machine sync,
# widgets in a real JupyterLab and Chromium, attacks on the sandbox).
#
#   bash scripts/test.sh                                  everything, as CI runs it
#   bash scripts/test.sh -m "not sync and not faults"     extra args go to pytest (no benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"

echo "== install"
"$PYTHON" -m pip install --disable-pip-version-check -q -e '.[dev]'
bash scripts/install_syftbox.sh >/dev/null
bash scripts/install_browser.sh >/dev/null
bash scripts/install_sandbox.sh

echo "== lint and types"
"$PYTHON" -m ruff check .
"$PYTHON" -m ruff format --check .
"$PYTHON" -m mypy

if [ "$#" -eq 0 ]; then
    echo "== benchmark smoke runs (full tables: see bench/README.md)"
    "$PYTHON" bench/bench_core.py --quick
    "$PYTHON" bench/bench_load.py --quick
    "$PYTHON" bench/bench_sync.py --quick
fi

echo "== tests"
"$PYTHON" -m pytest -p no:cacheprovider "$@"
