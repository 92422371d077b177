#!/usr/bin/env bash
# Installs the data-pipeline clients tests/e2e/test_pipelines.py drives (pyarrow, polars,
# pandas + s3fs, deltalake; tests/e2e/requirements-pipelines.txt) into their own venv,
# .venv/pipelines: s3fs's aiobotocore pins an older botocore than the suite's boto3, so they
# cannot live in .venv itself. Idempotent: does nothing when the venv already holds exactly
# these requirements (a stamp keeps their hash). Set PIPELINES_VENV to put it elsewhere.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${PIPELINES_VENV:-$ROOT/.venv/pipelines}"
REQ="$ROOT/tests/e2e/requirements-pipelines.txt"
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && "$(cat "$STAMP" 2>/dev/null || true)" == "$want" ]]; then
    exit 0
fi
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
fi
# Wheels only: a source build of any of these (Rust / C++) would take far too long here.
"$VENV/bin/python" -m pip install --disable-pip-version-check -q --only-binary=:all: -r "$REQ"
"$VENV/bin/python" -c 'import pyarrow.fs, polars, pandas, s3fs, deltalake'
echo "$want" >"$STAMP"
