#!/usr/bin/env bash
# Installs the third-party S3 clients tests/e2e/test_tools.py and test_large.py drive:
# rclone and s3cmd, from Debian. Idempotent: a tool already on PATH is left alone, and
# `apt-get update` runs only when something has to be installed and the package is not
# known to apt yet.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [[ "$(id -u)" != "0" ]] && command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
fi

missing=()
command -v rclone >/dev/null 2>&1 || missing+=(rclone)
command -v s3cmd >/dev/null 2>&1 || missing+=(s3cmd)
((${#missing[@]})) || exit 0

# An index without the packages (fresh container, emptied lists) needs an update first.
need_update=0
for p in "${missing[@]}"; do
    if ! apt-cache show "$p" >/dev/null 2>&1; then
        need_update=1
    fi
done
if ((need_update)); then
    $SUDO apt-get update -q
fi
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

command -v rclone >/dev/null 2>&1
command -v s3cmd >/dev/null 2>&1
