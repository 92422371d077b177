#!/usr/bin/env bash
# Starts a second bleepstore (local backend) as the gateway's S3 ("aws") upstream.
#
#   BIN=target/release/bleepstore UP_DIR=/tmp/scratch PY=.venv/bin/python \
#       tests/e2e/upstreams/start_aws.sh
#
# Starts $BIN on a free 127.0.0.1 port with its own credentials (upstream /
# upstream-secret) and data under $UP_DIR/data, waits until /readyz answers 200, creates
# the bucket "gateway-upstream" (boto3 via $PY), writes the server's PID to
# $UP_DIR/upstream.pid and prints the `storage.aws` YAML fragment (indented for
# `storage:`) on stdout. Nothing else goes to stdout: progress and errors go to stderr, the
# upstream server's log to $UP_DIR/upstream.log.
#
# Idempotent: when $UP_DIR/upstream.pid names a live upstream started by this script for
# the same $UP_DIR that still answers, it is reused; a stale or unhealthy one is stopped
# and replaced.
#
# Environment: BIN (server binary, default <repo>/target/release/bleepstore), UP_DIR
# (required), PY (python with boto3, default <repo>/.venv/bin/python), UP_SHARDS (server
# shards, default 0 = the cores), UP_READY_TIMEOUT_S (default 60).
set -euo pipefail

# Everything goes to stderr except the final fragment (fd 3).
exec 3>&1 1>&2

log() { printf '[start_aws] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}"
[[ -n "${UP_DIR:-}" ]] || die "UP_DIR (scratch directory) is not set"
mkdir -p "$UP_DIR"
UP_DIR="$(cd "$UP_DIR" && pwd)"
BIN="${BIN:-$ROOT/target/release/bleepstore}"
if [[ -z "${PY:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PY="$ROOT/.venv/bin/python"; else PY="python3"; fi
fi
[[ -x "$BIN" ]] || die "server binary $BIN is missing (cargo build --release)"
command -v "$PY" >/dev/null || die "python $PY is not available"
"$PY" -c 'import boto3' 2>/dev/null || die "$PY has no boto3"

BUCKET="gateway-upstream"
ACCESS_KEY="upstream"
SECRET_KEY="upstream-secret"
REGION="us-east-1"
PREFIX="gw/"
SHARDS="${UP_SHARDS:-0}"
READY_TIMEOUT_S="${UP_READY_TIMEOUT_S:-60}"
CONFIG="$UP_DIR/upstream.yaml"
DATA="$UP_DIR/data"
LOG="$UP_DIR/upstream.log"
PID_FILE="$UP_DIR/upstream.pid"
PORT_FILE="$UP_DIR/upstream.port"

fragment() {
    cat >&3 <<EOF
  aws:
    bucket: "$BUCKET"
    region: "$REGION"
    endpoint_url: "http://127.0.0.1:$1"
    use_path_style: true
    access_key_id: "$ACCESS_KEY"
    secret_access_key: "$SECRET_KEY"
    prefix: "$PREFIX"
EOF
}

# Whether $1 is a live (non-zombie) upstream started by this script for this UP_DIR.
ours_alive() {
    local pid="$1"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    local state
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
    [[ "$state" != "Z" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--config $CONFIG"
}

stop_ours() {
    local pid="$1"
    if ours_alive "$pid"; then
        log "stopping previous upstream (pid $pid)"
        kill -9 "$pid" 2>/dev/null || true
        for _ in $(seq 1 200); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.01
        done
    fi
}

# Waits until the upstream on port $1 (pid $2) is ready, then creates the bucket (an
# existing one is fine). Exit 0: ready; 1: gave up or failed; 2: the process died.
wait_and_create() {
    "$PY" - "$1" "$2" "$READY_TIMEOUT_S" "$BUCKET" "$ACCESS_KEY" "$SECRET_KEY" "$REGION" <<'PYEOF'
import os, socket, sys, time

port, pid, timeout_s = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
bucket, access_key, secret_key, region = sys.argv[4:8]
deadline = time.monotonic() + timeout_s

def alive():
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False

def ready():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.settimeout(2)
            s.sendall(f"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      "Connection: close\r\n\r\n".encode())
            head = b""
            while b"\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
            parts = head.split(b" ", 2)
            return len(parts) > 1 and parts[1] == b"200"
    except OSError:
        return False

while not ready():
    if not alive():
        print("[start_aws] upstream exited before becoming ready", file=sys.stderr)
        sys.exit(2)
    if time.monotonic() > deadline:
        print(f"[start_aws] upstream not ready after {timeout_s:g} s", file=sys.stderr)
        sys.exit(1)
    time.sleep(0.02)  # poll interval

import boto3
from botocore.config import Config

s3 = boto3.client(
    "s3",
    endpoint_url=f"http://127.0.0.1:{port}",
    aws_access_key_id=access_key,
    aws_secret_access_key=secret_key,
    region_name=region,
    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5}),
)
try:
    s3.create_bucket(Bucket=bucket)
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
except Exception as e:  # noqa: BLE001 - report anything that keeps the bucket away
    print(f"[start_aws] create bucket {bucket}: {e}", file=sys.stderr)
    sys.exit(1)
s3.head_bucket(Bucket=bucket)
PYEOF
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ---- reuse a running upstream ------------------------------------------------------------
if [[ -f "$PID_FILE" ]]; then
    old_pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    old_port="$(cat "$PORT_FILE" 2>/dev/null || true)"
    if ours_alive "$old_pid" && [[ "$old_port" =~ ^[0-9]+$ ]]; then
        if READY_TIMEOUT_S=5 wait_and_create "$old_port" "$old_pid"; then
            log "reusing upstream on 127.0.0.1:$old_port (pid $old_pid)"
            fragment "$old_port"
            exit 0
        fi
    fi
    stop_ours "$old_pid"
    rm -f "$PID_FILE" "$PORT_FILE"
fi

# ---- start -------------------------------------------------------------------------------
mkdir -p "$DATA"
cat >"$CONFIG" <<EOF
server:
  region: "$REGION"
  log_level: "warn"
storage:
  backend: "local"
auth:
  access_key: "$ACCESS_KEY"
  secret_key: "$SECRET_KEY"
EOF

# A port picked free can be taken before the server binds it: retry with another. The
# server gets no fd 3 (our stdout), or a caller's $(...) would wait for it to exit.
for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    log "starting upstream bleepstore on 127.0.0.1:$port (data $DATA, attempt $attempt)"
    NO_COLOR=1 nohup "$BIN" --config "$CONFIG" --bind "127.0.0.1:$port" --data-dir "$DATA" \
        --shards "$SHARDS" --log-level warn >>"$LOG" 2>&1 </dev/null 3>&- &
    pid=$!
    echo "$pid" >"$PID_FILE"
    echo "$port" >"$PORT_FILE"
    rc=0
    wait_and_create "$port" "$pid" || rc=$?
    if ((rc == 0)); then
        log "upstream ready on 127.0.0.1:$port (pid $pid), bucket $BUCKET"
        fragment "$port"
        exit 0
    fi
    stop_ours "$pid"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$PID_FILE" "$PORT_FILE"
    if ((rc != 2)); then
        break
    fi
    if ! grep -qi "address.*in use\|AddrInUse\|os error 98" "$LOG" 2>/dev/null; then
        break
    fi
done
log "could not start the upstream; last lines of $LOG:"
tail -n 30 "$LOG" >&2 || true
exit 1
