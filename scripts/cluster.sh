#!/usr/bin/env bash
# A local BleepStore cluster on loopback (issue #19): metadata replicated through Raft.
#
#   scripts/cluster.sh up 3      # 3 nodes: S3 on 127.0.0.1:9001.., peers on :9101..
#   scripts/cluster.sh status    # each node's /readyz
#   scripts/cluster.sh start 2   # starts node 2 again (after a kill), same config and data
#   scripts/cluster.sh down      # stops every node and removes the cluster's state
#
# `up` writes one config per node (the same membership and a fresh random secret), starts
# each node in the background (`--shards 1`: one core each) with its data under the state
# directory, and returns once every node answers 200 on /readyz (polled; 60 s at most).
#
# Environment: BLEEPSTORE_BIN (default target/release/bleepstore, or
# $CARGO_TARGET_DIR/release/bleepstore); BLEEPSTORE_CLUSTER_DIR (state directory, default
# ${TMPDIR:-/tmp}/bleepstore-cluster); BLEEPSTORE_CLUSTER_S3_PORT / _PEER_PORT (first ports,
# default 9001 / 9101); BLEEPSTORE_CLUSTER_READY_S (readiness deadline, default 60);
# BLEEPSTORE_CLUSTER_EXTRA_CONFIG (a YAML file appended to every node's config, e.g. users).
# The state directory holds node-N/ (data), node-N.yaml, node-N.log, node-N.pid and
# nodes.txt (one line per node: id s3-address peer-address pid).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
BIN="${BLEEPSTORE_BIN:-$TARGET/release/bleepstore}"
DIR="${BLEEPSTORE_CLUSTER_DIR:-${TMPDIR:-/tmp}/bleepstore-cluster}"
S3_PORT="${BLEEPSTORE_CLUSTER_S3_PORT:-9001}"
PEER_PORT="${BLEEPSTORE_CLUSTER_PEER_PORT:-9101}"
READY_S="${BLEEPSTORE_CLUSTER_READY_S:-60}"

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# Whether pid $1 runs (a zombie does not: killed nodes may stay unreaped in a container).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local state
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z ]]
}

# HTTP status of GET http://$1/readyz, or 000 when nothing answers.
readyz() {
    python3 - "$1" <<'PYEOF'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(f"http://{sys.argv[1]}/readyz", timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
PYEOF
}

up() {
    local n="${1:-3}"
    [[ "$n" =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 9)) || die "up: N must be 1 to 9"
    [[ -x "$BIN" ]] || die "no server binary at $BIN (cargo build --release)"
    [[ -e "$DIR/nodes.txt" ]] && die "a cluster is already up in $DIR (scripts/cluster.sh down)"
    mkdir -p "$DIR"
    local secret
    secret="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    local members=""
    for ((i = 1; i <= n; i++)); do
        members+="    - {id: $i, s3: \"127.0.0.1:$((S3_PORT + i - 1))\", peer: \"127.0.0.1:$((PEER_PORT + i - 1))\"}"$'\n'
    done
    : >"$DIR/nodes.txt.tmp"
    for ((i = 1; i <= n; i++)); do
        local s3="127.0.0.1:$((S3_PORT + i - 1))" peer="127.0.0.1:$((PEER_PORT + i - 1))"
        cat >"$DIR/node-$i.yaml" <<EOF
cluster:
  enabled: true
  node_id: $i
  secret: "$secret"
  nodes:
$members
EOF
        if [[ -n "${BLEEPSTORE_CLUSTER_EXTRA_CONFIG:-}" ]]; then
            cat "$BLEEPSTORE_CLUSTER_EXTRA_CONFIG" >>"$DIR/node-$i.yaml"
        fi
        mkdir -p "$DIR/node-$i"
        launch "$i" "$s3"
        echo "$i $s3 $peer $(cat "$DIR/node-$i.pid")" >>"$DIR/nodes.txt.tmp"
    done
    mv "$DIR/nodes.txt.tmp" "$DIR/nodes.txt"
    local deadline=$((SECONDS + READY_S))
    while read -r id s3 _ pid; do
        wait_ready "$id" "$s3" "$pid" "$deadline"
    done <"$DIR/nodes.txt"
    log "$n nodes up; state in $DIR; stop with: scripts/cluster.sh down"
}

# Starts node $1 on S3 address $2 in the background (its log appended); its pid goes to
# node-$1.pid.
launch() {
    NO_COLOR=1 "$BIN" --bind "$2" --data-dir "$DIR/node-$1" --config "$DIR/node-$1.yaml" \
        --shards 1 --log-level "${BLEEPSTORE_CLUSTER_LOG_LEVEL:-info}" \
        >>"$DIR/node-$1.log" 2>&1 </dev/null &
    echo $! >"$DIR/node-$1.pid"
}

# Polls node $1's /readyz on $2 until 200, while its pid $3 runs, until SECONDS reaches $4.
wait_ready() {
    until [[ "$(readyz "$2")" == 200 ]]; do
        alive "$3" || { tail -n 20 "$DIR/node-$1.log" >&2; die "node $1 exited"; }
        ((SECONDS < $4)) || die "node $1 not ready on $2 within ${READY_S}s (log: $DIR/node-$1.log)"
        sleep 0.1
    done
    log "node $1 ready: http://$2"
}

# Starts a stopped node again with its config and data; waits for its /readyz.
start() {
    local want="${1:-}"
    [[ -e "$DIR/nodes.txt" ]] || die "no cluster in $DIR"
    local line
    line="$(awk -v id="$want" '$1 == id' "$DIR/nodes.txt")"
    [[ -n "$line" ]] || die "start: no node $want"
    local id s3 peer pid
    read -r id s3 peer pid <<<"$line"
    ! alive "$pid" || die "node $id is running (pid $pid)"
    launch "$id" "$s3"
    local new
    new="$(cat "$DIR/node-$id.pid")"
    awk -v id="$id" -v pid="$new" '$1 == id { $4 = pid } { print }' "$DIR/nodes.txt" >"$DIR/nodes.txt.tmp"
    mv "$DIR/nodes.txt.tmp" "$DIR/nodes.txt"
    wait_ready "$id" "$s3" "$new" $((SECONDS + READY_S))
}

status() {
    [[ -e "$DIR/nodes.txt" ]] || die "no cluster in $DIR"
    while read -r id s3 _ pid; do
        echo "node $id http://$s3 pid $pid readyz $(readyz "$s3")"
    done <"$DIR/nodes.txt"
}

down() {
    if [[ -e "$DIR/nodes.txt" ]]; then
        while read -r id _ _ pid; do
            # Only our own nodes: the pid must still run the binary this script started.
            if alive "$pid" && [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$(readlink -f "$BIN")"* ]]; then
                kill -9 "$pid" 2>/dev/null || true
                log "stopped node $id (pid $pid)"
            fi
        done <"$DIR/nodes.txt"
    fi
    rm -rf "$DIR"
}

case "${1:-}" in
    up) shift; up "$@" ;;
    down) down ;;
    status) status ;;
    start) shift; start "$@" ;;
    *) echo "usage: scripts/cluster.sh up N | status | start ID | down" >&2; exit 2 ;;
esac
