#!/usr/bin/env bash
# A local BleepStore cluster on loopback (issue #19): metadata replicated through Raft.
#
#   scripts/cluster.sh up 3      # 3 nodes: S3 on 127.0.0.1:9001.., peers on :9101..
#   scripts/cluster.sh status    # each node's /readyz
#   scripts/cluster.sh start 2   # starts node 2 again (after a kill), same config and data
#   scripts/cluster.sh add 4     # starts node 4 (cluster.join) and adds it to the running cluster
#   scripts/cluster.sh remove 2  # removes node 2 from the membership, waits for the others'
#                                # repair passes (its copies restored among them), stops it
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

# nodes.txt's line of node $2 ("id s3 peer pid"), or dies naming command $1.
node_line() {
    [[ -e "$DIR/nodes.txt" ]] || die "no cluster in $DIR"
    local line
    line="$(awk -v id="$2" '$1 == id' "$DIR/nodes.txt")"
    [[ -n "$line" ]] || die "$1: no node $2"
    echo "$line"
}

# Starts a stopped node again with its config and data; waits for its /readyz.
start() {
    local line
    line="$(node_line start "${1:-}")" || exit 1
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

# The config of node $1 (S3 $2, peer $3) joining the cluster whose first node's config is
# node-<first>.yaml: the same secret and members, itself added, `join: true`.
join_config() {
    local first
    first="$(awk 'NR == 1 { print $1 }' "$DIR/nodes.txt")"
    python3 - "$DIR/node-$first.yaml" "$1" "$2" "$3" <<'PYEOF'
import sys
src, node_id, s3, peer = sys.argv[1:]
out, in_nodes = [], False
for line in open(src).read().splitlines():
    if line.startswith("  node_id:"):
        line = f"  node_id: {node_id}"
    out.append(line)
    if line.strip() == "nodes:":
        out.append(f'    - {{id: {node_id}, s3: "{s3}", peer: "{peer}"}}')
        out.insert(out.index("cluster:") + 1, "  join: true")
print("\n".join(out))
PYEOF
}

# Starts node $1 with a join config and adds it to the running cluster; waits for /readyz.
add() {
    local id="${1:-}"
    [[ "$id" =~ ^[0-9]+$ ]] && ((id >= 1 && id <= 9)) || die "add: ID must be 1 to 9"
    [[ -e "$DIR/nodes.txt" ]] || die "no cluster in $DIR"
    [[ -z "$(awk -v id="$id" '$1 == id' "$DIR/nodes.txt")" ]] || die "add: node $id exists"
    local s3="127.0.0.1:$((S3_PORT + id - 1))" peer="127.0.0.1:$((PEER_PORT + id - 1))"
    join_config "$id" "$s3" "$peer" >"$DIR/node-$id.yaml"
    mkdir -p "$DIR/node-$id"
    launch "$id" "$s3"
    local pid
    pid="$(cat "$DIR/node-$id.pid")"
    echo "$id $s3 $peer $pid" >>"$DIR/nodes.txt"
    # Its peer listener must answer before a member can ship it the log.
    local deadline=$((SECONDS + READY_S))
    until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $((PEER_PORT + id - 1))), 1)" 2>/dev/null; do
        alive "$pid" || { tail -n 20 "$DIR/node-$id.log" >&2; die "node $id exited"; }
        ((SECONDS < deadline)) || die "node $id: no peer listener within ${READY_S}s"
        sleep 0.1
    done
    "$BIN" --config "$DIR/node-$id.yaml" cluster add-node --id "$id" --s3 "$s3" --peer "$peer" >&2 ||
        die "add: node $id not added (log: $DIR/node-$id.log)"
    wait_ready "$id" "$s3" "$pid" $((SECONDS + READY_S))
}

# The voters node $1's (S3 address) last repair pass placed files over, as "1,2,3"; empty
# while a membership change is under way there or before its first pass.
repaired_over() {
    python3 - "$1" <<'PYEOF'
import json, sys, urllib.request
try:
    c = json.load(urllib.request.urlopen(f"http://{sys.argv[1]}/health", timeout=5))["cluster"]
    if not c["membership_changing"] and c["last_repair"]:
        print(",".join(str(v) for v in c["last_repair"]["voters"]))
except Exception:
    pass
PYEOF
}

# Removes node $1 from the membership, waits until every other node's last repair pass ran
# over the new voters (the removed node's copies restored among them), then stops it.
remove() {
    local line
    line="$(node_line remove "${1:-}")" || exit 1
    local id s3 peer pid
    read -r id s3 peer pid <<<"$line"
    local rest oid os3 opeer opid asked="$peer"
    rest="$(awk -v id="$id" '$1 != id { print $1 }' "$DIR/nodes.txt" | sort -n | paste -sd,)"
    while read -r oid os3 opeer opid; do
        [[ "$oid" != "$id" ]] && alive "$opid" && { asked="$opeer"; break; }
    done <"$DIR/nodes.txt"
    "$BIN" --config "$DIR/node-$id.yaml" cluster remove-node --id "$id" --via "$asked" >&2 ||
        die "remove: node $id not removed"
    local deadline=$((SECONDS + READY_S * 5))
    while read -r oid os3 opeer opid; do
        [[ "$oid" == "$id" ]] && continue
        until [[ "$(repaired_over "$os3")" == "$rest" ]]; do
            ((SECONDS < deadline)) || die "remove: node $oid ran no repair pass over $rest in time"
            sleep 0.2
        done
    done <"$DIR/nodes.txt"
    if alive "$pid"; then
        kill -9 "$pid" 2>/dev/null || true
    fi
    awk -v id="$id" '$1 != id' "$DIR/nodes.txt" >"$DIR/nodes.txt.tmp"
    mv "$DIR/nodes.txt.tmp" "$DIR/nodes.txt"
    log "node $id removed and stopped (its data stays in $DIR/node-$id)"
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
    add) shift; add "$@" ;;
    remove) shift; remove "$@" ;;
    *) echo "usage: scripts/cluster.sh up N | status | start ID | add ID | remove ID | down" >&2; exit 2 ;;
esac
