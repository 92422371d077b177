# shellcheck shell=bash disable=SC2154,SC2034
# Shared by scripts/bench.sh and scripts/bench_wrk.sh (sourced, not run). The caller defines
# ROOT, log and die, and sets `build` (1: cargo build --release first).

# Sets SERVER_BIN and BENCH_BIN (release builds; CARGO_TARGET_DIR honoured), building first
# when asked.
locate_binaries() {
    local target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"
    case "$target_dir" in /*) ;; *) target_dir="$ROOT/$target_dir" ;; esac
    SERVER_BIN="$target_dir/release/bleepstore"
    BENCH_BIN="$target_dir/release/bleepstore-bench"
    if ((build)); then
        log "cargo build --release"
        cargo build --release || die "cargo build --release failed"
    fi
    [[ -x "$SERVER_BIN" ]] || die "server binary $SERVER_BIN not found (build first)"
    [[ -x "$BENCH_BIN" ]] || die "load tool $BENCH_BIN not found (build first)"
}

# apt_install_if_missing TOOL LOGFILE: installs the Debian package named TOOL when the
# command is missing and we are root with apt-get; returns whether TOOL is now there.
apt_install_if_missing() {
    local tool="$1" apt_log="$2"
    command -v "$tool" >/dev/null && return 0
    if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
        log "$tool not found: apt-get install -y $tool (log $apt_log)"
        export DEBIAN_FRONTEND=noninteractive
        if ! timeout 300 apt-get install -y -q "$tool" >"$apt_log" 2>&1; then
            timeout 300 apt-get update -q >>"$apt_log" 2>&1 || true
            timeout 300 apt-get install -y -q "$tool" >>"$apt_log" 2>&1 || true
        fi
    fi
    command -v "$tool" >/dev/null
}

# run_bounded LIMIT_S OUT ERR CMD...: runs CMD (killed after LIMIT_S seconds) with stdout to
# OUT and stderr to ERR; sets RUN_RC to its exit status without tripping `set -e`.
run_bounded() {
    local limit="$1" out="$2" err="$3"
    shift 3
    set +e
    timeout --signal=KILL "$limit" "$@" >"$out" 2>"$err"
    RUN_RC=$?
    set -e
}

# usage_header SCRIPT: the script's leading comment block, as help text.
usage_header() { sed -n '2,/^set -euo/p' "$1" | sed '$d' | sed 's/^# \{0,1\}//'; }

# tail_log FILE: the end of a server log, on stderr, when there is one.
tail_log() {
    if [[ -s "$1" ]]; then
        echo "----- server log (last 30 lines): $1 -----" >&2
        tail -n 30 "$1" >&2 || true
        echo "----- end of server log -----" >&2
    fi
}

# kill_pid PID: kill -9 (the server is crash-only) and reap, if it is running.
kill_pid() {
    if [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; then
        kill -9 "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}

# json_out_path FILE: creates (truncates) FILE for --json and prints its absolute path;
# fails when it cannot be written.
json_out_path() {
    mkdir -p "$(dirname "$1")" 2>/dev/null || true
    : >"$1" 2>/dev/null || return 1
    echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
}

# pid_alive PID: whether the process runs (a zombie counts as dead).
pid_alive() {
    [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null || return 1
    # A zombie counts as dead.
    local state
    state="$(awk '{sub(/.*\) /, ""); print $1}' "/proc/$1/stat" 2>/dev/null || echo Z)"
    [[ "$state" != "Z" ]]
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_ready PID URL T_SPAWN: poll URL/readyz every 10 ms until 200 (prints the milliseconds
# from T_SPAWN, an $EPOCHREALTIME taken right before the spawn), the process dies (exit 3)
# or 60 s pass (exit 4). Polling from one python3 process keeps the resolution near 10 ms
# (a curl per poll costs more than that on a busy box).
wait_ready() {
    python3 - "$1" "$2" "${3/,/.}" <<'EOF'
import http.client, sys, time, urllib.parse
pid, url, t0 = int(sys.argv[1]), urllib.parse.urlsplit(sys.argv[2]), float(sys.argv[3])

def alive():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False

last = "no answer"
while True:
    if not alive():
        print(f"the server exited before becoming ready (last /readyz: {last})", file=sys.stderr)
        sys.exit(3)
    try:
        c = http.client.HTTPConnection(url.hostname, url.port, timeout=2)
        c.request("GET", "/readyz")
        r = c.getresponse()
        r.read()
        c.close()
        last = f"HTTP {r.status}"
        if r.status == 200:
            print(f"{(time.time() - t0) * 1000:.1f}")
            sys.exit(0)
    except OSError as e:
        last = type(e).__name__
    if time.time() - t0 > 60:
        print(f"the server is not ready after 60 s (last /readyz: {last})", file=sys.stderr)
        sys.exit(4)
    time.sleep(0.01)
EOF
}

# start_server DATA_DIR LOG_FILE [SERVER_ARGS...]: starts the release server (SERVER_BIN) on
# a free loopback port with DATA_DIR, and waits until /readyz answers 200. Sets STARTED_PID,
# STARTED_URL and STARTED_MS (spawn to ready); returns non-zero if it never got ready (the
# process is then left to the caller's exit trap via STARTED_PID).
start_server() {
    local data="$1" server_log="$2" port t_spawn
    shift 2
    port="$(free_port)"
    STARTED_URL="http://127.0.0.1:$port"
    t_spawn=$EPOCHREALTIME
    NO_COLOR=1 "$SERVER_BIN" "$@" --bind "127.0.0.1:$port" --data-dir "$data" --log-level warn \
        >"$server_log" 2>&1 </dev/null &
    STARTED_PID=$!
    STARTED_MS="$(wait_ready "$STARTED_PID" "$STARTED_URL" "$t_spawn")"
}
