#!/usr/bin/env bash
# Install what the browser test suite (tests/browser/) needs to drive a real JupyterLab:
#   * Debian's chromium (/usr/bin/chromium) -- Playwright's own browser downloads are not used;
#   * Node.js (>= 20) and npm, if missing (Debian packages nodejs, npm);
#   * the pinned npm playwright-core and axe-core (the accessibility check), from tests/browser/package-lock.json (npm ci).
#
# Idempotent and fast (no network) when everything is already there. Run as root on Debian.
# Override the browser path with $SCQ_CHROMIUM (the harness honours it too).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BROWSER_DIR="$ROOT/tests/browser"
CHROMIUM="${SCQ_CHROMIUM:-/usr/bin/chromium}"

apt_packages=()
[ -x "$CHROMIUM" ] || apt_packages+=(chromium)
command -v node >/dev/null 2>&1 || apt_packages+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)

if [ "${#apt_packages[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install_browser.sh: need root to apt-get install ${apt_packages[*]}" >&2
        exit 1
    fi
    echo "installing ${apt_packages[*]} (apt)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt_opts=(-q -o DPkg::Lock::Timeout=600)
    apt-get "${apt_opts[@]}" update >/dev/null
    apt-get "${apt_opts[@]}" install -y "${apt_packages[@]}" >/dev/null
fi

if [ ! -x "$CHROMIUM" ]; then
    echo "install_browser.sh: $CHROMIUM is still missing after installing chromium" >&2
    exit 1
fi

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
    echo "install_browser.sh: warning: node $(node --version) is older than the v20" \
        "that playwright-core supports" >&2
fi

if [ ! -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ] || [ ! -f "$BROWSER_DIR/node_modules/axe-core/package.json" ]; then
    echo "installing playwright-core and axe-core (npm ci in $BROWSER_DIR)" >&2
    # No browser download: playwright-core never fetches one; the driver uses $CHROMIUM.
    (cd "$BROWSER_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >&2)
fi

echo "browser suite ready: $("$CHROMIUM" --version 2>/dev/null | head -n1), node $(node --version)," \
    "playwright-core $(node -p "require('$BROWSER_DIR/node_modules/playwright-core/package.json').version")"
