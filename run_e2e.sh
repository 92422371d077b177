#!/usr/bin/env bash
# End-to-end tests: build the server, start it on a free port with a fresh data
# dir and the test configuration, run pytest against it, kill it (kill -9: the
# server is crash-only) and exit with pytest's status.
#
#   ./run_e2e.sh                                  # the whole suite
#   ./run_e2e.sh tests/e2e/test_objects.py        # one file (any pytest path/node id)
#   ./run_e2e.sh -k multipart -x                  # any pytest options pass through
#   ./run_e2e.sh --backend aws|gcp|azure ...      # the suite through a gateway backend: the
#                                                 # upstream (a second bleepstore, fake-gcs-server,
#                                                 # Azurite) is installed and started by
#                                                 # tests/e2e/upstreams/start_<backend>.sh
#
# Environment: BLEEPSTORE_SKIP_BUILD=1 skips `cargo build --release`;
# BLEEPSTORE_KEEP=1 keeps the temp dir (data, config, log) after the run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

backend="local"
pytest_args=()
while (($#)); do
    case "$1" in
        --backend)
            [[ $# -ge 2 ]] || { echo "run_e2e.sh: --backend needs a value" >&2; exit 2; }
            backend="$2"; shift 2 ;;
        --backend=*)
            backend="${1#--backend=}"; shift ;;
        *)
            pytest_args+=("$1"); shift ;;
    esac
done
case "$backend" in
    local|aws|gcp|azure) ;;
    *) echo "run_e2e.sh: unsupported backend '$backend' (supported: local, aws, gcp, azure)" >&2; exit 2 ;;
esac

log() { printf '[run_e2e] %s\n' "$*" >&2; }

# ---- build -------------------------------------------------------------------------
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/bleepstore"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
if [[ "${BLEEPSTORE_SKIP_BUILD:-0}" != "1" ]]; then
    log "cargo build --release"
    cargo build --release
fi
[[ -x "$BIN" ]] || { log "server binary $BIN not found"; exit 1; }

# ---- python venv ---------------------------------------------------------------------
VENV="$ROOT/.venv"
REQ="$ROOT/tests/e2e/requirements.txt"
STAMP="$VENV/.e2e-requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    log "creating $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || {
        log "python3 -m venv failed (Debian: apt-get install python3-venv)"; exit 1; }
fi
if [[ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]] || [[ ! -x "$VENV/bin/aws" ]] ||
    ! "$VENV/bin/python" -c 'import pytest, pytest_timeout, boto3, requests, prometheus_client, yaml, awscrt' 2>/dev/null; then
    log "installing $REQ"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ"
    echo "$want" >"$STAMP"
fi
PY="$VENV/bin/python"

# Extra tools some tests drive (each tests/e2e/install_*.sh is idempotent and cheap
# once done); a failed install is reported here and then by the tests that need it.
for installer in "$ROOT"/tests/e2e/install_*.sh; do
    [[ -f "$installer" ]] || continue
    log "running ${installer#"$ROOT"/}"
    bash "$installer" || log "WARNING: ${installer#"$ROOT"/} failed (exit $?)"
done

# ---- server --------------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/bleepstore-e2e.XXXXXX")"
DATA="$TMP/data"
CONFIG="$TMP/config.yaml"
SERVER_LOG="$TMP/server.log"
mkdir -p "$DATA"
PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
ENDPOINT="http://127.0.0.1:$PORT"

SERVER_PID=""
status=1
tail_log() {
    if [[ -f "$SERVER_LOG" ]]; then
        echo "----- server log (last 40 lines): $SERVER_LOG -----" >&2
        tail -n 40 "$SERVER_LOG" >&2 || true
        echo "----- end of server log -----" >&2
        if grep -q -i -E 'panicked|fatal|core failed' "$SERVER_LOG"; then
            echo "----- server panics / fatal errors -----" >&2
            grep -n -i -E -A4 'panicked|fatal|core failed' "$SERVER_LOG" | head -n 60 >&2 || true
        fi
    fi
}
cleanup() {
    local rc=$?
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n "${UPSTREAM_PID:-}" ]]; then
        pkill -9 -P "$UPSTREAM_PID" 2>/dev/null || true
        kill -9 "$UPSTREAM_PID" 2>/dev/null || true
    fi
    if ((rc != 0)); then
        tail_log
        if [[ -f "$SERVER_LOG" ]] && mkdir -p "$ROOT/target" 2>/dev/null; then
            cp "$SERVER_LOG" "$ROOT/target/e2e-server.log" 2>/dev/null &&
                log "full server log copied to target/e2e-server.log"
        fi
    fi
    if [[ "${BLEEPSTORE_KEEP:-0}" == "1" ]]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- upstream (gateway backends) ---------------------------------------------------------
UPSTREAM_PID=""
upstream_yaml=""
if [[ "$backend" != "local" ]]; then
    UP_DIR="$TMP/upstream"
    mkdir -p "$UP_DIR"
    log "starting the $backend upstream"
    upstream_yaml="$(BIN="$BIN" UP_DIR="$UP_DIR" PY="$PY" ROOT="$ROOT" \
        bash "$ROOT/tests/e2e/upstreams/start_$backend.sh")" || {
        log "could not start the $backend upstream"; exit 1; }
    UPSTREAM_PID="$(cat "$UP_DIR/upstream.pid")"
    export BLEEPSTORE_UPSTREAM_PID="$UPSTREAM_PID"
fi

cat >"$CONFIG" <<EOF
server:
  domain: "s3.local"
  region: "us-east-1"
auth:
  access_key: "bleepstore"
  secret_key: "bleepstore-secret"
  users:
    - access_key: "alice"
      secret_key: "alice-secret"
      display_name: "alice"
      id: "alice-id"
    - access_key: "bob"
      secret_key: "bob-secret"
      display_name: "bob"
      id: "bob-id"
storage:
  backend: "$backend"
$upstream_yaml
multipart:
  part_size_min: 5242880
lifecycle:
  day_s: 2
EOF


log "starting $BIN on $ENDPOINT (data $DATA)"
NO_COLOR=1 "$BIN" --bind "127.0.0.1:$PORT" --data-dir "$DATA" --config "$CONFIG" \
    --log-level info >"$SERVER_LOG" 2>&1 </dev/null &
SERVER_PID=$!

# Poll /readyz until it answers 200, the process dies, or the deadline passes.
if ! "$PY" - "$PORT" "$SERVER_PID" <<'PYEOF'; then
import os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.monotonic() + 60
def alive():
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
def probe():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.settimeout(2)
            s.sendall(f"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
            head = b""
            while b"\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
            parts = head.split(b" ", 2)
            return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    except OSError:
        return None
while True:
    if not alive():
        print("[run_e2e] server exited before becoming ready", file=sys.stderr)
        sys.exit(1)
    if probe() == 200:
        sys.exit(0)
    if time.monotonic() > deadline:
        print("[run_e2e] server not ready after 60 s", file=sys.stderr)
        sys.exit(1)
    time.sleep(0.02)  # poll interval
PYEOF
    exit 1
fi
log "server ready (pid $SERVER_PID)"

export BLEEPSTORE_ENDPOINT="$ENDPOINT"
export BLEEPSTORE_BACKEND="$backend"
export BLEEPSTORE_BIN="$BIN"
export BLEEPSTORE_CONFIG="$CONFIG"
export BLEEPSTORE_DATA_DIR="$DATA"
export BLEEPSTORE_SERVER_LOG="$SERVER_LOG"
export BLEEPSTORE_SERVER_PID="$SERVER_PID"
export PYTHONDONTWRITEBYTECODE=1

# Run the whole suite unless a test path / node id was given.
targets=("tests/e2e")
for a in "${pytest_args[@]+"${pytest_args[@]}"}"; do
    if [[ "$a" != -* && -e "${a%%::*}" ]]; then targets=(); break; fi
done

set +e
"$PY" -m pytest "${targets[@]+"${targets[@]}"}" -q -p no:cacheprovider --durations=12 \
    "${pytest_args[@]+"${pytest_args[@]}"}"
status=$?
set -e

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    log "the server died during the run"
    ((status != 0)) || status=1
fi
if grep -q 'panicked at' "$SERVER_LOG"; then
    log "the server panicked during the run:"
    grep -A1 'panicked at' "$SERVER_LOG" | head -n 10 >&2
    ((status != 0)) || status=1
fi
if ((status != 0)); then
    log "pytest exit status $status"
fi
exit "$status"
