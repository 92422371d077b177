#!/usr/bin/env bash
# Installs schemathesis (tests/e2e/requirements-schemathesis.txt) into its own venv for
# tests/e2e/test_observe.py. Idempotent: does nothing when the venv already holds exactly
# these requirements (a stamp keeps their hash). The venv lives inside .venv/ (ignored by
# git); set SCHEMATHESIS_VENV to put it elsewhere.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${SCHEMATHESIS_VENV:-$ROOT/.venv/schemathesis}"
REQ="$ROOT/tests/e2e/requirements-schemathesis.txt"
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ -x "$VENV/bin/schemathesis" && "$(cat "$STAMP" 2>/dev/null || true)" == "$want" ]]; then
    exit 0
fi
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ"
echo "$want" >"$STAMP"
