#!/usr/bin/env bash
# Starts an Azurite blob emulator as the gateway's Azure upstream.
#
#   UP_DIR=/tmp/scratch tests/e2e/upstreams/start_azure.sh
#
# Installs Azurite from the npm registry into $AZURITE_DIR (default: <repo>/.azurite) when
# it is missing, starts azurite-blob on a free 127.0.0.1 port with its data under
# $UP_DIR/azurite, waits until it answers, creates the container "gateway-upstream" (Shared
# Key, the well-known devstoreaccount1 key), writes the emulator's PID to
# $UP_DIR/upstream.pid and prints the `storage.azure` YAML fragment on stdout (nothing
# else goes to stdout; progress and errors go to stderr, Azurite's log to
# $UP_DIR/azurite.log).
set -euo pipefail

log() { printf '[start_azure] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ -n "${UP_DIR:-}" ]] || die "UP_DIR (scratch directory) is not set"
mkdir -p "$UP_DIR"
UP_DIR="$(cd "$UP_DIR" && pwd)"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
AZURITE_DIR="${AZURITE_DIR:-$ROOT/.azurite}"
AZURITE_BIN="$AZURITE_DIR/node_modules/.bin/azurite-blob"
ACCOUNT="devstoreaccount1"
KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONTAINER="gateway-upstream"

command -v node >/dev/null || die "node is not installed (Azurite needs Node.js >= 18)"
command -v python3 >/dev/null || die "python3 is not installed"

# ---- install (idempotent; one installer at a time) ---------------------------------------
if [[ ! -x "$AZURITE_BIN" ]]; then
    command -v npm >/dev/null || die "npm is not installed"
    mkdir -p "$AZURITE_DIR"
    (
        if command -v flock >/dev/null; then flock 9; fi
        if [[ ! -x "$AZURITE_BIN" ]]; then
            log "installing azurite into $AZURITE_DIR"
            npm install --prefix "$AZURITE_DIR" --no-audit --no-fund --no-save \
                --registry=https://registry.npmjs.org/ azurite >&2
        fi
    ) 9>"$AZURITE_DIR/.install.lock"
    [[ -x "$AZURITE_BIN" ]] || die "azurite install failed ($AZURITE_BIN missing)"
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Polls until the emulator answers, then creates the container (201, or 409 when it already
# exists). Exit 0: ready; 1: gave up; 2: the emulator process died.
wait_and_create() {
    python3 - "$1" "$2" "$ACCOUNT" "$KEY" "$CONTAINER" <<'PY'
import base64, hashlib, hmac, http.client, os, sys, time
from email.utils import formatdate

port, pid, account, key, container = int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:]
version = "2021-08-06"
deadline = time.monotonic() + 60.0
delay = 0.02
last = "no answer"
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        print("azurite exited during startup", file=sys.stderr)
        sys.exit(2)
    try:
        date = formatdate(usegmt=True)
        path = f"/{account}/{container}"
        sts = ("PUT\n" + "\n" * 11 + f"x-ms-date:{date}\nx-ms-version:{version}\n"
               + f"/{account}{path}\nrestype:container")
        sig = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(),
                                        hashlib.sha256).digest()).decode()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("PUT", path + "?restype=container", body=b"", headers={
            "x-ms-date": date, "x-ms-version": version, "Content-Length": "0",
            "Authorization": f"SharedKey {account}:{sig}"})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status in (201, 409):
            sys.exit(0)
        last = f"HTTP {resp.status}: {body[:300]!r}"
    except OSError as e:
        last = str(e)
    time.sleep(delay)
    delay = min(delay * 2, 0.25)
print(f"azurite not ready after 60 s: {last}", file=sys.stderr)
sys.exit(1)
PY
}

mkdir -p "$UP_DIR/azurite"
for attempt in 1 2 3; do
    PORT="$(free_port)"
    log "starting azurite-blob on 127.0.0.1:$PORT (attempt $attempt)"
    "$AZURITE_BIN" --blobHost 127.0.0.1 --blobPort "$PORT" --location "$UP_DIR/azurite" \
        --loose --skipApiVersionCheck --silent \
        >>"$UP_DIR/azurite.log" 2>&1 </dev/null &
    PID=$!
    rc=0
    wait_and_create "$PORT" "$PID" || rc=$?
    if [[ $rc -eq 0 ]]; then
        echo "$PID" >"$UP_DIR/upstream.pid"
        log "azurite ready (pid $PID, container $CONTAINER)"
        cat <<EOF
  azure:
    container: "$CONTAINER"
    account: "$ACCOUNT"
    endpoint_url: "http://127.0.0.1:$PORT/$ACCOUNT"
    account_key: "$KEY"
    prefix: "gw/"
EOF
        exit 0
    fi
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    [[ $rc -eq 2 ]] || break # a live emulator that never answered: retrying will not help
done
tail -n 20 "$UP_DIR/azurite.log" >&2 || true
die "could not start azurite"
