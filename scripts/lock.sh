#!/usr/bin/env bash
# Regenerate the locks that scripts/test.sh installs from, with uv's resolver:
#   requirements/dev.lock      the package's runtime ranges (pyproject.toml) + the widgets,
#                              airlock and dev extras, resolved to exact versions for every platform and
#                              Python the package supports (--universal)
#   requirements/syftbox.lock  the SyftBox engine of the two-machine suite (requirements/syftbox.in)
#
#   bash scripts/lock.sh             keep current pins where the ranges still allow them
#   bash scripts/lock.sh --upgrade   move every pin to the newest allowed version
#
# Run it after changing a dependency in pyproject.toml, then commit the locks.
set -euo pipefail
cd "$(dirname "$0")/.."

UV="${UV:-}"
if [ -z "$UV" ]; then
    if [ -x .venv/bin/uv ]; then UV=.venv/bin/uv; else UV="$(command -v uv)"; fi
fi

"$UV" pip compile pyproject.toml --extra widgets --extra airlock --extra dev --universal --python-version 3.10 \
    --custom-compile-command "bash scripts/lock.sh" --quiet "$@" -o requirements/dev.lock
"$UV" pip compile requirements/syftbox.in --python-version 3.11 \
    --custom-compile-command "bash scripts/lock.sh" --quiet "$@" -o requirements/syftbox.lock
echo "wrote requirements/dev.lock ($(grep -c '==' requirements/dev.lock) pins)," \
    "requirements/syftbox.lock ($(grep -c '==' requirements/syftbox.lock) pins)"
