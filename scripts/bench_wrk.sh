#!/usr/bin/env bash
# Does the load tool measure what an independent one measures? Starts a fresh release server
# (temp data dir, free port, default configuration), prepares 100 x 4 KiB objects once with
# bleepstore-bench, asks it for a presigned GET URL of one of them, then alternates, round by
# round, on the same server:
#
#     wrk -t THREADS -c CONNECTIONS -d DURATION --latency URL          (the presigned GET)
#     bleepstore-bench get --presigned --concurrent CONNECTIONS --cores THREADS
#         --objects 100 --no-prepare --no-cleanup --duration DURATION --json
#
# and prints each round, the medians and a verdict on throughput: "AGREE (within 10 %)" when
# the median of the per-round ratios tool / wrk (each round's pair ran back to back, under
# the same background load) is within 10 % of 1, else "DIFFER (x %)".
# p99 latencies are shown too, for information (wrk's latency histogram and the tool's are
# not the same measurement, so they are not part of the verdict). wrk replays one URL (one
# object); the tool picks among the 100 at random: all are 4 KiB and hot in the cache.
# wrk is apt-get installed when missing and we are root. The server is killed with -9 at
# exit (it is crash-only).
#
#   scripts/bench_wrk.sh                         # 7 rounds of 6 s each (~1.5 min)
#   scripts/bench_wrk.sh --no-build --rounds 3 --duration 10s
#
# Exit status: 0 when every run worked, whatever the verdict; 1 when the build, the server,
# wrk or a run failed (or any request failed: then the numbers are not of 4 KiB GETs);
# 2 for a bad flag.
#
# Environment: BLEEPSTORE_SKIP_BUILD=1 is --no-build; CARGO_TARGET_DIR is honoured.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/bench_common.sh
source "$ROOT/scripts/lib/bench_common.sh"

usage() {
    usage_header "${BASH_SOURCE[0]}"
    cat <<'EOF'
Options:
  --rounds N                 rounds, each one wrk run then one tool run (default 7)
  --duration D               length of every run, whole seconds or minutes (default 6s; 10s, 1m)
  --connections C            connections of both (default 64)
  --threads T                wrk threads and the tool's --cores (default 2)
  --json FILE                write the rounds, medians and verdict as JSON
  --access-log               the server writes its access log (one line per request, to its
                             log file in the temp dir), as #21's GET target asks; off otherwise
                             (the bench scripts start servers with --log-level warn)
  --no-build                 use the binaries already in target/release
  --keep                     keep the temp dir (server log, every run's output)
  -h, --help                 this text
EOF
}

die() { printf 'bench_wrk.sh: error: %s\n' "$*" >&2; exit 1; }
bad_flag() { printf 'bench_wrk.sh: %s (see --help)\n' "$*" >&2; exit 2; }
log() { printf '[bench_wrk] %s\n' "$*" >&2; }

# ---- flags ---------------------------------------------------------------------------------
rounds=7
duration="6s"
connections=64
threads=2
json_out=""
build=1
keep=0
access_log=0
[[ "${BLEEPSTORE_SKIP_BUILD:-0}" == "1" ]] && build=0
OBJECTS=100

need_value() { [[ $# -ge 2 && -n "$2" ]] || bad_flag "$1 needs a value"; }
while (($#)); do
    case "$1" in
        --rounds) need_value "$@"; rounds="$2"; shift 2 ;;
        --rounds=*) rounds="${1#*=}"; shift ;;
        --duration) need_value "$@"; duration="$2"; shift 2 ;;
        --duration=*) duration="${1#*=}"; shift ;;
        --connections) need_value "$@"; connections="$2"; shift 2 ;;
        --connections=*) connections="${1#*=}"; shift ;;
        --threads) need_value "$@"; threads="$2"; shift 2 ;;
        --threads=*) threads="${1#*=}"; shift ;;
        --json) need_value "$@"; json_out="$2"; shift 2 ;;
        --json=*) json_out="${1#*=}"; shift ;;
        --no-build) build=0; shift ;;
        --access-log) access_log=1; shift ;;
        --keep) keep=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) bad_flag "unknown argument '$1'" ;;
    esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || bad_flag "--rounds: '$rounds' is not a positive integer"
[[ "$connections" =~ ^[1-9][0-9]*$ ]] || bad_flag "--connections: '$connections' is not a positive integer"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || bad_flag "--threads: '$threads' is not a positive integer"
((threads <= connections)) || bad_flag "--threads ($threads) must not exceed --connections ($connections)"
# Both tools understand whole seconds and minutes.
[[ "$duration" =~ ^[1-9][0-9]*$ ]] && duration="${duration}s"
[[ "$duration" =~ ^[1-9][0-9]*(s|m)$ ]] || bad_flag "--duration: '$duration' is not like 6s or 1m"
dur_s="${duration%?}"
[[ "$duration" == *m ]] && dur_s=$((dur_s * 60))
if [[ -n "$json_out" ]]; then
    json_out="$(json_out_path "$json_out")" || bad_flag "--json: cannot write $json_out"
fi

command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"

# ---- build ---------------------------------------------------------------------------------
locate_binaries

# ---- temp dir, cleanup ---------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/bleepstore-bench-wrk.XXXXXX")"
DATA="$TMP/data"
SERVER_LOG="$TMP/server.log"
RUNS="$TMP/runs"
mkdir -p "$DATA" "$RUNS"
SERVER_PID=""

server_alive() { pid_alive "$SERVER_PID"; }
on_exit() {
    local rc=$?
    kill_pid "$SERVER_PID"
    if ((rc != 0)); then
        tail_log "$SERVER_LOG"
        keep=1
    fi
    if ((keep)); then
        log "kept $TMP (server log, every run's output)"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---- wrk -----------------------------------------------------------------------------------
apt_install_if_missing wrk "$TMP/apt.log" ||
    die "wrk is not installed (and could not be installed: as root, apt-get install wrk)"

# ---- server --------------------------------------------------------------------------------
if ((access_log)); then
    # The log level stays warn; only the access target is lifted to info (RUST_LOG is the
    # server's filter when set).
    export RUST_LOG="warn,glommio::reactor=off,openraft=warn,access=info"
    W_ACCESS="on"
else
    W_ACCESS="off"
fi
log "starting $SERVER_BIN (data $DATA, default configuration, access log $W_ACCESS)"
start_server "$DATA" "$SERVER_LOG" || { SERVER_PID=$STARTED_PID; die "the server did not become ready"; }
((access_log)) && unset RUST_LOG
SERVER_PID=$STARTED_PID
URL=$STARTED_URL
log "server ready (pid $SERVER_PID)"

# ---- objects and the presigned URL ---------------------------------------------------------
common=(--host "$URL" --bucket bleepstore-bench --prefix bench --obj.size 4KiB --objects "$OBJECTS")
log "preparing $OBJECTS x 4 KiB objects"
timeout --signal=KILL 120 "$BENCH_BIN" get "${common[@]}" --no-cleanup --duration 1s \
    >"$RUNS/prepare.out" 2>"$RUNS/prepare.err" || {
    cat "$RUNS/prepare.err" >&2
    die "preparing the objects failed"
}
GET_URL="$(timeout --signal=KILL 60 "$BENCH_BIN" get "${common[@]}" --print-url --no-prepare 2>"$RUNS/print-url.err" | tail -n1)" || {
    cat "$RUNS/print-url.err" >&2
    die "bleepstore-bench --print-url failed"
}
[[ "$GET_URL" == http://* ]] || die "bleepstore-bench --print-url printed no URL: '$GET_URL'"
check="$(curl -s -o /dev/null -w '%{http_code} %{size_download}' --max-time 5 "$GET_URL" || true)"
[[ "$check" == "200 4096" ]] || die "the presigned URL does not answer 200 with 4096 bytes (got: $check): $GET_URL"
log "presigned URL: ${GET_URL%%\?*}?... (200, 4096 bytes)"

# ---- rounds --------------------------------------------------------------------------------
W_LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
run_failures=0
limit=$((dur_s + 120))
log "$rounds rounds: wrk -t$threads -c$connections -d$duration, then bleepstore-bench --presigned --concurrent $connections --cores $threads, $duration each"
# round_run WHO ROUND OUT ERR CMD...: one bounded run; a failure is counted and shown.
round_run() {
    local who="$1" round="$2" out="$3" err="$4"
    shift 4
    run_bounded "$limit" "$out" "$err" "$@"
    server_alive || die "the server died during $who round $round"
    if ((RUN_RC != 0)); then
        run_failures=$((run_failures + 1))
        log "round $round: $who failed (exit $RUN_RC):"
        tail -n 5 "$out" "$err" >&2 || true
    fi
    echo "$RUN_RC" >"$RUNS/$who-$round.rc"
}
for r in $(seq "$rounds"); do
    round_run wrk "$r" "$RUNS/wrk-$r.txt" "$RUNS/wrk-$r.err" \
        wrk -t"$threads" -c"$connections" -d"$duration" --latency "$GET_URL"
    round_run tool "$r" "$RUNS/tool-$r.json" "$RUNS/tool-$r.err" \
        "$BENCH_BIN" get "${common[@]}" --presigned --concurrent "$connections" \
        --cores "$threads" --no-prepare --no-cleanup --duration "$duration" --json
    python3 - "$RUNS" "$r" <<'EOF' || true
import json, re, sys
runs, r = sys.argv[1], sys.argv[2]
try:
    w = float(re.search(r"Requests/sec:\s*([\d.]+)", open(f"{runs}/wrk-{r}.txt").read()).group(1))
except (OSError, AttributeError, ValueError):
    w = None
try:
    t = json.loads(open(f"{runs}/tool-{r}.json").read().strip().splitlines()[-1])["total"]["ops_per_s"]
except (OSError, IndexError, KeyError, ValueError):
    t = None
f = lambda v: f"{v:,.0f}" if v is not None else "?"
ratio = f"{t / w:.3f}" if t and w else "?"
print(f"[bench_wrk] round {r}: wrk {f(w)} req/s, tool {f(t)} ops/s, tool/wrk {ratio}", file=sys.stderr)
EOF
done

W_LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
# Everything measured; the server is crash-only.
kill -9 "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
if ((access_log)); then
    # The log's writer hands lines over in batches (and drops, counting, what a full queue
    # cannot take): proof that it ran is lines of the GETs measured, not one per request.
    access_lines="$(grep -c 'operation="GetObject"' "$SERVER_LOG" || true)"
    ((access_lines > 0)) || die "--access-log: the server wrote no access line for the GETs"
    W_ACCESS="on, $access_lines GetObject lines written"
fi

# ---- report --------------------------------------------------------------------------------
W_NPROC="$(nproc)"
W_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')"
W_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]] && W_COMMIT+=" (working tree modified)"
W_WRK_VERSION="$({ wrk --version 2>&1 || true; } | head -n1 | sed 's/ Copyright.*//')"
export W_ROUNDS="$rounds" W_DURATION="$duration" W_CONNS="$connections" W_THREADS="$threads"
export W_ACCESS W_NPROC W_SERVER_BIN="$SERVER_BIN" W_OBJECTS="$OBJECTS" W_DATE W_COMMIT W_WRK_VERSION
export W_LOAD_START W_LOAD_END
set +e
python3 - "$RUNS" "$json_out" <<'EOF'
import json, os, re, statistics, sys

runs, json_out = sys.argv[1], sys.argv[2]
E = os.environ
n = int(E["W_ROUNDS"])
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}

def parse_wrk(r):
    res = {"exit_code": int(open(f"{runs}/wrk-{r}.rc").read()), "ok": False}
    try:
        text = open(f"{runs}/wrk-{r}.txt").read()
    except OSError:
        return res
    m = re.search(r"Requests/sec:\s*([\d.]+)", text)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    reqs = re.search(r"(\d+) requests in", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    res.update({
        "ops_per_s": float(m.group(1)) if m else None,
        "p99_ms": float(p99.group(1)) * UNIT[p99.group(2)] if p99 else None,
        "requests": int(reqs.group(1)) if reqs else None,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
    })
    res["errors"] = res["non_2xx"] + res["socket_errors"]
    res["ok"] = res["exit_code"] == 0 and m is not None and p99 is not None
    return res

def parse_tool(r):
    res = {"exit_code": int(open(f"{runs}/tool-{r}.rc").read()), "ok": False}
    try:
        rep = json.loads(open(f"{runs}/tool-{r}.json").read().strip().splitlines()[-1])
        get = next(o for o in rep["operations"] if o["op"] == "GET")
        res.update({"ops_per_s": rep["total"]["ops_per_s"], "p99_ms": get["latency_ms"]["p99"],
                    "requests": rep["total"]["ops"], "errors": rep["total"]["errors"],
                    "auth": rep.get("auth"), "cores": rep.get("cores")})
        res["ok"] = res["exit_code"] == 0
    except (OSError, IndexError, KeyError, ValueError, StopIteration):
        pass
    return res

rounds = [{"round": r, "wrk": parse_wrk(r), "tool": parse_tool(r)} for r in range(1, n + 1)]

def f_ops(v):
    return "–" if v is None else f"{v:,.0f}"

def f_ms(v):
    return "–" if v is None else f"{v:.2f}"

def f_ratio(a, b):
    return "–" if a is None or not b else f"{a / b:.3f}"

out = []
p = out.append
p(f"### Load tool vs wrk ({E['W_DATE']}, commit {E['W_COMMIT']})")
p("")
p(f"- {E['W_NPROC']} cores; server `{os.path.basename(E['W_SERVER_BIN'])}` (release, default "
  f"configuration, access log {E['W_ACCESS']}) and both load generators on the same machine")
p(f"- wrk ({E['W_WRK_VERSION']}): `wrk -t{E['W_THREADS']} -c{E['W_CONNS']} -d{E['W_DURATION']} "
  "--latency URL`, one presigned GET URL of a 4 KiB object")
p(f"- bleepstore-bench: `get --presigned --concurrent {E['W_CONNS']} --cores {E['W_THREADS']} "
  f"--objects {E['W_OBJECTS']} --no-prepare --duration {E['W_DURATION']}`, presigned GETs of "
  f"{E['W_OBJECTS']} × 4 KiB objects at random")
p(f"- {n} rounds, each wrk then the tool; load average (1/5/15 min) at start "
  f"{E['W_LOAD_START']}, at end {E['W_LOAD_END']}")
p("")
p("| round | wrk req/s | wrk p99 ms | wrk errors | tool ops/s | tool p99 ms | tool errors | ops/s tool/wrk | p99 tool/wrk |")
p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
problems = []
for rd in rounds:
    w, t = rd["wrk"], rd["tool"]
    wo, to = (w.get("ops_per_s") if w["ok"] else None), (t.get("ops_per_s") if t["ok"] else None)
    wp, tp = (w.get("p99_ms") if w["ok"] else None), (t.get("p99_ms") if t["ok"] else None)
    we = "–" if not w["ok"] else str(w["errors"]) if not w["errors"] else f"**{w['errors']}** ⚠"
    te = "–" if not t["ok"] else str(t["errors"]) if not t["errors"] else f"**{t['errors']}** ⚠"
    if not w["ok"]:
        wo_s = f"**FAILED** (exit {w['exit_code']})"
        problems.append(f"round {rd['round']}: wrk failed or printed no Requests/sec / 99% line")
    else:
        wo_s = f_ops(wo)
        if w["errors"]:
            problems.append(f"round {rd['round']}: wrk had {w['non_2xx']} non-2xx responses and "
                            f"{w['socket_errors']} socket errors")
    if not t["ok"]:
        to_s = f"**FAILED** (exit {t['exit_code']})"
        problems.append(f"round {rd['round']}: bleepstore-bench failed or printed no report")
    else:
        to_s = f_ops(to)
        if t["errors"]:
            problems.append(f"round {rd['round']}: bleepstore-bench had {t['errors']} failed requests")
    p(f"| {rd['round']} | {wo_s} | {f_ms(wp)} | {we} | {to_s} | {f_ms(tp)} | {te} | "
      f"{f_ratio(to, wo)} | {f_ratio(tp, wp)} |")

def med(side, key):
    vals = [rd[side][key] for rd in rounds if rd[side]["ok"] and rd[side].get(key) is not None]
    return statistics.median(vals) if vals else None

mw, mt = med("wrk", "ops_per_s"), med("tool", "ops_per_s")
pw, pt = med("wrk", "p99_ms"), med("tool", "p99_ms")
p(f"| **median** | **{f_ops(mw)}** | **{f_ms(pw)}** | | **{f_ops(mt)}** | **{f_ms(pt)}** | | "
  f"**{f_ratio(mt, mw)}** | **{f_ratio(pt, pw)}** |")
p("")
# The verdict rests on the paired rounds: each round runs wrk and then the tool back to back,
# so the two share the background load of that moment, and the median of the per-round
# ratios cancels the drift of a shared machine that the two sides' own medians keep.
per_round = sorted(rd["tool"]["ops_per_s"] / rd["wrk"]["ops_per_s"] for rd in rounds
                   if rd["wrk"]["ok"] and rd["tool"]["ok"] and rd["wrk"]["ops_per_s"])
ratio = statistics.median(per_round) if per_round else None
if ratio is None:
    verdict = "NO VERDICT (no successful round of both)"
else:
    diff = (ratio - 1) * 100
    verdict = "AGREE (within 10 %)" if abs(diff) <= 10 else f"DIFFER ({diff:+.1f} %)"
p(f"Median throughput: tool {f_ops(mt)} ops/s, wrk {f_ops(mw)} req/s (ratio of the medians "
  f"{f_ratio(mt, mw)}).")
p(f"Median p99 (for information): tool {f_ms(pt)} ms, wrk {f_ms(pw)} ms.")
if per_round:
    p(f"Per-round ratio tool/wrk: {per_round[0]:.3f} to {per_round[-1]:.3f}, median "
      f"{ratio:.3f} ({(ratio - 1) * 100:+.1f} %): the verdict's figure.")
    if per_round[0] < 0.9 or per_round[-1] > 1.1:
        p("Note: single rounds differ by more than 10 % (back-to-back runs on a shared machine "
          "are noisy). More or longer rounds on a quiet machine (--rounds, --duration) make "
          "the median firmer.")
p("")
p(f"Verdict: {verdict}")
if problems:
    p("")
    p("Problems:")
    for x in problems:
        p(f"- {x}")
print("\n".join(out))

if json_out:
    doc = {
        "date": E["W_DATE"], "commit": E["W_COMMIT"], "nproc": int(E["W_NPROC"]),
        "settings": {"rounds": n, "duration": E["W_DURATION"], "connections": int(E["W_CONNS"]),
                     "threads": int(E["W_THREADS"]), "objects": int(E["W_OBJECTS"]),
                     "object_size": 4096, "wrk": E["W_WRK_VERSION"]},
        "rounds": rounds,
        "median": {"wrk_ops_per_s": mw, "tool_ops_per_s": mt, "wrk_p99_ms": pw, "tool_p99_ms": pt},
        "ratio_tool_over_wrk": ratio, "per_round_ratios": per_round, "verdict": verdict,
        "problems": problems,
        "loadavg_start": E["W_LOAD_START"], "loadavg_end": E["W_LOAD_END"],
    }
    with open(json_out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"[bench_wrk] results written to {json_out}", file=sys.stderr)
sys.exit(1 if problems or ratio is None else 0)
EOF
report_rc=$?
set -e
((run_failures == 0)) || die "$run_failures runs failed (see the table and the kept temp dir)"
((report_rc == 0)) || die "some rounds failed or had request errors (see Problems above)"
log "done in $((SECONDS / 60)) min $((SECONDS % 60)) s"
