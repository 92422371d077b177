#!/usr/bin/env bash
# Installs curl (Debian's, which signs with `--aws-sigv4`) for tests/e2e/test_auth_compat.py.
# Idempotent: nothing happens when curl is already on PATH.
set -euo pipefail

command -v curl >/dev/null 2>&1 && exit 0
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [[ "$(id -u)" != "0" ]] && command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
fi
apt-cache show curl >/dev/null 2>&1 || $SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends curl
