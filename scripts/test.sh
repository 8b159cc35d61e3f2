#!/usr/bin/env bash
# The one test command. It installs what the tests need into environments of its own inside
# the checkout (never into the system Python), then lints, type-checks, smoke-runs the
# benchmarks and runs every test suite (unit, tutorials, faults, two-machine sync, widgets in
# a real JupyterLab and Chromium, attacks on the sandbox), and finally runs the fast tests
# again against the newest versions that pyproject.toml allows.
#
#   bash scripts/test.sh                               everything, as CI runs it
#   bash scripts/test.sh -m "not sync and not faults"  extra args go to pytest (locked env only:
#                                                      no benchmarks, no newest-versions run)
#   bash scripts/test.sh --newest [pytest args]        only the newest-versions run
#
# Environments (ignored by git; rebuilt only when what they are built from changes):
#   .venv/          exactly requirements/dev.lock (+ this package, editable)
#   .venv-newest/   the newest versions pyproject.toml allows, re-resolved on every run
#   .venv-syftbox/  requirements/syftbox.lock (the real SyftBox engine; scripts/install_syftbox.sh)
# Regenerate the locks with `bash scripts/lock.sh` (see requirements/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

BASE_PYTHON="${PYTHON:-python3}"
FAST_TESTS="not sync and not faults and not browser and not attacks"

step() { printf '== %s (%ss)\n' "$1" "$SECONDS"; }

# A venv that has pip, made from the base interpreter. Debian's python3 needs python3-venv.
make_venv() {
    local dir="$1"
    [ -x "$dir/bin/python" ] && return 0
    if ! "$BASE_PYTHON" -m venv "$dir" 2>/dev/null; then
        rm -rf "$dir"
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "installing python3-venv (apt)" >&2
            DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 update >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 \
                install -y python3-venv >/dev/null
            "$BASE_PYTHON" -m venv "$dir"
        else
            echo "error: '$BASE_PYTHON -m venv' failed; install your Python's venv module" \
                "(Debian: apt-get install python3-venv) or set PYTHON=/path/to/python3" >&2
            exit 1
        fi
    fi
}

# uv, at the version the lock pins, inside the venv (never in the system interpreter).
ensure_uv() {
    local dir="$1" want
    want="$(sed -n 's/^uv==\([^ ;]*\).*/\1/p' requirements/dev.lock | head -n1)"
    if [ "$("$dir/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$want" ]; then
        "$dir/bin/python" -m pip install --disable-pip-version-check -q "uv==$want"
    fi
}

locked_env() {
    local dir=.venv stamp
    stamp="$(cat requirements/dev.lock pyproject.toml | sha256sum | cut -c1-16)-$("$BASE_PYTHON" -c 'import sys; print(sys.version.split()[0])')"
    if [ "$(cat "$dir/.scq-stamp" 2>/dev/null)" = "$stamp" ]; then
        echo "$dir is up to date with requirements/dev.lock"
        return 0
    fi
    make_venv "$dir"
    ensure_uv "$dir"
    VIRTUAL_ENV="$ROOT/$dir" "$dir/bin/uv" pip sync -q requirements/dev.lock
    VIRTUAL_ENV="$ROOT/$dir" "$dir/bin/uv" pip install -q --no-deps -e .
    echo "$stamp" >"$dir/.scq-stamp"
    echo "$dir: $(grep -c '==' requirements/dev.lock) locked packages"
}

newest_env() {
    local dir=.venv-newest
    make_venv "$dir"
    ensure_uv "$dir"
    VIRTUAL_ENV="$ROOT/$dir" "$dir/bin/uv" pip install -q --upgrade --refresh -e '.[dev]'
}

system_deps() {
    bash scripts/install_syftbox.sh >/dev/null
    bash scripts/install_browser.sh >/dev/null
    bash scripts/install_sandbox.sh
}

versions() {
    "$1/bin/python" - <<'PY'
from importlib.metadata import version

names = ["pydantic", "psutil", "click", "watchfiles", "anywidget", "ipywidgets", "jupyterlab",
         "pytest", "mypy", "ruff"]
print("   ", ", ".join(f"{n} {version(n)}" for n in names))
PY
}

run_newest() {
    step "newest allowed versions: install (.venv-newest)"
    newest_env
    versions .venv-newest
    step "newest allowed versions: types and fast tests"
    .venv-newest/bin/python -m mypy
    .venv-newest/bin/python -m pytest -p no:cacheprovider -q -m "$FAST_TESTS" "$@"
}

if [ "${1:-}" = "--newest" ]; then
    shift
    system_deps
    run_newest "$@"
    exit 0
fi

step "install (.venv from requirements/dev.lock)"
locked_env
system_deps
versions .venv
PY=.venv/bin/python

step "lint and types"
"$PY" -m ruff check .
"$PY" -m ruff format --check .
"$PY" -m mypy

if [ "$#" -eq 0 ]; then
    step "benchmark smoke runs (full tables: see bench/README.md)"
    "$PY" bench/bench_core.py --quick
    "$PY" bench/bench_load.py --quick
    "$PY" bench/bench_sync.py --quick
    "$PY" bench/bench_checks.py --quick
fi

step "tests (locked versions)"
"$PY" -m pytest -p no:cacheprovider "$@"

if [ "$#" -eq 0 ] && [ -z "${SCQ_SKIP_NEWEST:-}" ]; then
    run_newest
fi
step "done"
