#!/usr/bin/env bash
# The standard benchmark: build, start a fresh release server (temp data dir, free port,
# default configuration), run the matrix
#
#     object size 4 KiB, 1 MiB, 64 MiB  x  workload put, get, mixed  x  concurrency 1, 16, 64
#
# with the project's load tool (target/release/bleepstore-bench), kill -9 the server (it is
# crash-only) and print the machine and a Markdown table: ops/s, MiB/s, p50/p99 latency and
# errors per cell. With --compare URL the same matrix also runs against another S3 endpoint,
# cell by cell (ours, then theirs, so both see the same background load), and the table gets
# a second column set and the ratios ours / theirs.
#
#   scripts/bench.sh                                 # full matrix, 8 s per cell (~5-6 min;
#                                                    # about twice that with --compare)
#   scripts/bench.sh --quick                         # smoke run: 2 s per cell, fewer objects
#   scripts/bench.sh --duration 15s --json out.json  # longer cells, raw results kept
#   scripts/bench.sh --compare http://127.0.0.1:9100 \
#       --compare-access-key AK --compare-secret-key SK
#
# A second implementation to compare with, e.g. s3s-fs (plain HTTP, path-style):
#   cargo install s3s-fs --features binary --locked     # (0.14.1 builds with rustc 1.95)
#   mkdir -p /tmp/s3s-root && s3s-fs --host 127.0.0.1 --port 9100 \
#       --access-key bleepstore --secret-key bleepstore-secret /tmp/s3s-root
#
# Latency columns: put -> PUT, get -> GET, mixed -> the slowest operation type of the mix
# (each of p50 and p99 is the largest over GET / PUT / HEAD / DELETE; the per-operation
# numbers are in --json). Throughput of mixed counts every operation (ops/s) and the bytes
# of its GETs and PUTs (MiB/s). Objects prepared for get and mixed: 1000 x 4 KiB,
# 256 x 1 MiB, 16 x 64 MiB (1 GiB; the server's default cache is 512 MiB). A 64 MiB x 64
# cell keeps 4 GiB in flight; one round takes several seconds, so such a cell may measure
# one or two rounds. Every cell deletes what it wrote (the tool's cleanup).
#
# Exit status: 0 when every cell ran (cells with request errors still count, and show as
# **N** ⚠ in the errors column); 1 when the build, the server, the compare endpoint or any
# run of the load tool failed; 2 for a bad flag.
#
# Environment: BLEEPSTORE_SKIP_BUILD=1 is --no-build; CARGO_TARGET_DIR is honoured.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
    cat <<'EOF'
Options:
  --duration D               measured time per cell (default 8s; e.g. 500ms, 15s, 1m)
  --quick                    smoke run: 2s per cell and fewer prepared objects
  --compare URL              also run every cell against this S3 endpoint (http://HOST:PORT)
  --compare-access-key K     its access key (default: ours, bleepstore)
  --compare-secret-key S     its secret key (default: ours, bleepstore-secret)
  --compare-name NAME        its label in the table (default: theirs)
  --json FILE                write the raw results (machine, settings, every tool report)
  --sizes LIST               subset of sizes, e.g. "4KiB,1MiB" (default 4KiB,1MiB,64MiB)
  --workloads LIST           subset of put,get,mixed
  --concurrency LIST         subset/other levels, e.g. "1,16" (default 1,16,64)
  --no-build                 use the binaries already in target/release
  --keep                     keep the temp dir (data, server log, per-cell tool output)
  -h, --help                 this text
EOF
}

die() { printf 'bench.sh: error: %s\n' "$*" >&2; exit 1; }
bad_flag() { printf 'bench.sh: %s (see --help)\n' "$*" >&2; exit 2; }
log() { printf '[bench] %s\n' "$*" >&2; }

# ---- flags ---------------------------------------------------------------------------------
duration="8s"
duration_set=0
quick=0
compare_url=""
compare_ak=""
compare_sk=""
compare_name="theirs"
json_out=""
sizes="4KiB,1MiB,64MiB"
workloads="put,get,mixed"
concurrency="1,16,64"
build=1
keep=0
[[ "${BLEEPSTORE_SKIP_BUILD:-0}" == "1" ]] && build=0
OUR_AK="bleepstore"
OUR_SK="bleepstore-secret"

need_value() { [[ $# -ge 2 && -n "$2" ]] || bad_flag "$1 needs a value"; }
while (($#)); do
    case "$1" in
        --duration) need_value "$@"; duration="$2"; duration_set=1; shift 2 ;;
        --duration=*) duration="${1#*=}"; duration_set=1; shift ;;
        --quick) quick=1; shift ;;
        --compare) need_value "$@"; compare_url="$2"; shift 2 ;;
        --compare=*) compare_url="${1#*=}"; shift ;;
        --compare-access-key) need_value "$@"; compare_ak="$2"; shift 2 ;;
        --compare-access-key=*) compare_ak="${1#*=}"; shift ;;
        --compare-secret-key) need_value "$@"; compare_sk="$2"; shift 2 ;;
        --compare-secret-key=*) compare_sk="${1#*=}"; shift ;;
        --compare-name) need_value "$@"; compare_name="$2"; shift 2 ;;
        --compare-name=*) compare_name="${1#*=}"; shift ;;
        --json) need_value "$@"; json_out="$2"; shift 2 ;;
        --json=*) json_out="${1#*=}"; shift ;;
        --sizes) need_value "$@"; sizes="$2"; shift 2 ;;
        --sizes=*) sizes="${1#*=}"; shift ;;
        --workloads) need_value "$@"; workloads="$2"; shift 2 ;;
        --workloads=*) workloads="${1#*=}"; shift ;;
        --concurrency) need_value "$@"; concurrency="$2"; shift 2 ;;
        --concurrency=*) concurrency="${1#*=}"; shift ;;
        --no-build) build=0; shift ;;
        --keep) keep=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) bad_flag "unknown argument '$1'" ;;
    esac
done
if ((quick)) && ((!duration_set)); then duration="2s"; fi
[[ -z "$compare_ak" ]] && compare_ak="$OUR_AK"
[[ -z "$compare_sk" ]] && compare_sk="$OUR_SK"
[[ -n "$compare_url" && -z "$compare_name" ]] && bad_flag "--compare-name is empty"
if [[ -n "$compare_url" ]]; then
    [[ "$compare_url" == https://* ]] && bad_flag "--compare: https is not supported by bleepstore-bench"
    [[ "$compare_url" == http://* ]] || compare_url="http://$compare_url"
    compare_url="${compare_url%/}"
fi
if [[ -n "$json_out" ]]; then
    mkdir -p "$(dirname "$json_out")" 2>/dev/null || true
    : >"$json_out" 2>/dev/null || bad_flag "--json: cannot write $json_out"
    json_out="$(cd "$(dirname "$json_out")" && pwd)/$(basename "$json_out")"
fi

IFS=', ' read -r -a SIZES <<<"$sizes"
IFS=', ' read -r -a WORKLOADS <<<"$workloads"
IFS=', ' read -r -a CONCS <<<"$concurrency"
((${#SIZES[@]} && ${#WORKLOADS[@]} && ${#CONCS[@]})) || bad_flag "empty --sizes/--workloads/--concurrency"
for w in "${WORKLOADS[@]}"; do
    case "$w" in put | get | mixed) ;; *) bad_flag "--workloads: '$w' is not put, get or mixed" ;; esac
done
for c in "${CONCS[@]}"; do
    [[ "$c" =~ ^[1-9][0-9]*$ ]] || bad_flag "--concurrency: '$c' is not a positive integer"
done
for s in "${SIZES[@]}"; do
    [[ "$s" =~ ^[0-9]+(KiB|MiB|GiB)?$ ]] || bad_flag "--sizes: '$s' is not like 4KiB, 1MiB, 64MiB or bytes"
done

command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"

dur_s="$(python3 - "$duration" <<'EOF'
import re, sys
s = sys.argv[1].strip()
try:
    print(float(s)); sys.exit(0)
except ValueError:
    pass
total, units = 0.0, {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", s)
if not parts or "".join(a + b for a, b in parts) != s:
    sys.exit(1)
print(sum(float(a) * units[b] for a, b in parts))
EOF
)" || bad_flag "--duration '$duration' is not a duration (e.g. 8s, 500ms, 1m)"
# A cell that runs far past its duration is hung: kill it (prepare + 64 MiB rounds + cleanup).
cell_limit=$(python3 -c "import math; print(int(math.ceil($dur_s)) + 600)")

size_bytes() {
    local s="$1"
    case "$s" in
        *KiB) echo $((${s%KiB} * 1024)) ;;
        *MiB) echo $((${s%MiB} * 1024 * 1024)) ;;
        *GiB) echo $((${s%GiB} * 1024 * 1024 * 1024)) ;;
        *) echo "$s" ;;
    esac
}

# Objects prepared for get and mixed: enough distinct keys, at most ~1 GiB per cell.
objects_for() {
    local bytes n
    bytes="$(size_bytes "$1")"
    if ((quick)); then
        if ((bytes <= 65536)); then n=200; elif ((bytes <= 4 << 20)); then n=32; else n=4; fi
    else
        if ((bytes <= 65536)); then n=1000; elif ((bytes <= 4 << 20)); then n=256; else n=16; fi
    fi
    echo "$n"
}

# ---- build ---------------------------------------------------------------------------------
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
SERVER_BIN="$TARGET_DIR/release/bleepstore"
BENCH_BIN="$TARGET_DIR/release/bleepstore-bench"
if ((build)); then
    log "cargo build --release"
    cargo build --release || die "cargo build --release failed"
fi
[[ -x "$SERVER_BIN" ]] || die "server binary $SERVER_BIN not found (build first)"
[[ -x "$BENCH_BIN" ]] || die "load tool $BENCH_BIN not found (build first)"

# ---- temp dir, server ----------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/bleepstore-bench.XXXXXX")"
DATA="$TMP/data"
SERVER_LOG="$TMP/server.log"
RESULTS="$TMP/results.jsonl"
CELLS="$TMP/cells"
mkdir -p "$DATA" "$CELLS"
: >"$RESULTS"
SERVER_PID=""

server_alive() {
    [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null || return 1
    # A zombie counts as dead.
    local state
    state="$(awk '{sub(/.*\) /, ""); print $1}' "/proc/$SERVER_PID/stat" 2>/dev/null || echo Z)"
    [[ "$state" != "Z" ]]
}
tail_server_log() {
    if [[ -s "$SERVER_LOG" ]]; then
        echo "----- server log (last 30 lines): $SERVER_LOG -----" >&2
        tail -n 30 "$SERVER_LOG" >&2 || true
        echo "----- end of server log -----" >&2
    fi
}
on_exit() {
    local rc=$?
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if ((rc != 0)); then
        tail_server_log
        keep=1
    fi
    if ((keep)); then
        log "kept $TMP (server log, per-cell tool output)"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
OUR_URL="http://127.0.0.1:$PORT"
log "starting $SERVER_BIN on $OUR_URL (data $DATA, default configuration)"
NO_COLOR=1 "$SERVER_BIN" --bind "127.0.0.1:$PORT" --data-dir "$DATA" --log-level warn \
    >"$SERVER_LOG" 2>&1 </dev/null &
SERVER_PID=$!

# Poll /readyz until 200, the process dies, or 60 s pass.
ready_deadline=$((SECONDS + 60))
while :; do
    server_alive || die "the server exited before becoming ready"
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$OUR_URL/readyz" || true)"
    [[ "$code" == "200" ]] && break
    ((SECONDS < ready_deadline)) || die "the server is not ready after 60 s (last /readyz: $code)"
    sleep 0.05 # poll interval
done
log "server ready (pid $SERVER_PID)"

if [[ -n "$compare_url" ]]; then
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$compare_url/" || true)"
    [[ "$code" != "000" && -n "$code" ]] || die "--compare endpoint $compare_url does not answer HTTP"
    log "compare endpoint $compare_url answers (HTTP $code to an anonymous GET /)"
fi

# ---- machine -------------------------------------------------------------------------------
cpu_model="$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1)"
[[ -n "$cpu_model" ]] || cpu_model="$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1)"
mem_kib="$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
data_src="$(findmnt -n -o SOURCE -T "$DATA" 2>/dev/null | head -n1 || true)"
data_fs="$(findmnt -n -o FSTYPE -T "$DATA" 2>/dev/null | head -n1 || true)"
data_df="$(df -h --output=size,avail "$DATA" 2>/dev/null | tail -n1 | awk '{print $1" total, "$2" free"}')"
disk_desc=""
if [[ "$data_src" == /dev/* ]] && command -v lsblk >/dev/null; then
    disk_dev="$(lsblk -n -d -o PKNAME "$data_src" 2>/dev/null | head -n1 || true)"
    [[ -n "$disk_dev" ]] || disk_dev="${data_src#/dev/}"
    disk_model="$(lsblk -n -d -o MODEL "/dev/$disk_dev" 2>/dev/null | head -n1 | xargs || true)"
    disk_rota="$(lsblk -n -d -o ROTA "/dev/$disk_dev" 2>/dev/null | head -n1 | xargs || true)"
    case "$disk_rota" in
        0) disk_desc="non-rotational" ;;
        1) disk_desc="rotational as reported" ;;
    esac
    [[ "/dev/$disk_dev" == "$data_src" ]] || disk_desc="/dev/$disk_dev${disk_model:+ $disk_model}${disk_desc:+, $disk_desc}"
    [[ "/dev/$disk_dev" == "$data_src" && -n "$disk_model" ]] && disk_desc="$disk_model${disk_desc:+, $disk_desc}"
fi
export M_NPROC="$(nproc)"
export M_CPU="${cpu_model:-unknown}"
export M_RAM="$(awk -v k="$mem_kib" 'BEGIN {printf "%.1f GiB", k/1048576}')"
export M_KERNEL="$(uname -srm)"
export M_DISK="$DATA on ${data_src:-?} (${data_fs:-?}, ${data_df:-?}${disk_desc:+; $disk_desc})"
export M_LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
export M_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$( [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]] && echo ' (working tree modified)')"
export M_RUSTC="$(rustc --version 2>/dev/null || echo unknown)"
export M_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')"

avail_kib="$(df -k --output=avail "$DATA" | tail -n1 | tr -d ' ')"
if ((avail_kib < 12 * 1024 * 1024)); then
    log "WARNING: only $((avail_kib / 1024 / 1024)) GiB free under $DATA; the 64 MiB cells write up to ~10 GiB"
fi

# ---- the matrix ----------------------------------------------------------------------------
targets=("ours")
[[ -n "$compare_url" ]] && targets+=("theirs")
n_cells=$((${#SIZES[@]} * ${#WORKLOADS[@]} * ${#CONCS[@]} * ${#targets[@]}))

failed_cells=0
error_cells=0
i=0
started=$SECONDS
log "matrix: sizes ${SIZES[*]} x workloads ${WORKLOADS[*]} x concurrency ${CONCS[*]}, $duration per cell, targets ${targets[*]}"
for size in "${SIZES[@]}"; do
    objects="$(objects_for "$size")"
    for wl in "${WORKLOADS[@]}"; do
        for conc in "${CONCS[@]}"; do
            for target in "${targets[@]}"; do
                i=$((i + 1))
                if [[ "$target" == "ours" ]]; then
                    url="$OUR_URL" ak="$OUR_AK" sk="$OUR_SK"
                else
                    url="$compare_url" ak="$compare_ak" sk="$compare_sk"
                fi
                cell="$target-$size-$wl-c$conc"
                out="$CELLS/$cell.json"
                err="$CELLS/$cell.stderr"
                args=("$wl" --host "$url" --access-key "$ak" --secret-key "$sk"
                    --concurrent "$conc" --obj.size "$size" --duration "$duration"
                    --bucket "bleepstore-bench" --prefix "bench/$size-$wl-c$conc"
                    --timeout 120s --json)
                [[ "$wl" == "put" ]] || args+=(--objects "$objects")
                # Untimed: flush what earlier cells left dirty so its writeback does not land
                # in this cell (a server that does not fsync leaves it to the kernel).
                sync
                t0=$(date +%s.%N)
                set +e
                timeout --signal=KILL "$cell_limit" "$BENCH_BIN" "${args[@]}" >"$out" 2>"$err"
                rc=$?
                set -e
                t1=$(date +%s.%N)
                if [[ "$target" == "ours" ]] && ! server_alive; then
                    cat "$err" >&2
                    die "our server died during cell $cell"
                fi
                python3 - "$RESULTS" "$target" "$url" "$size" "$(size_bytes "$size")" "$wl" "$conc" \
                    "$objects" "$rc" "$t0" "$t1" "$out" "$err" "bleepstore-bench ${args[*]}" \
                    "$i" "$n_cells" <<'EOF'
import json, sys
(results, target, url, size, size_bytes, wl, conc, objects, rc, t0, t1, out, err, cmd,
 i, n) = sys.argv[1:]
report = None
try:
    with open(out) as f:
        text = f.read().strip()
    if text:
        report = json.loads(text.splitlines()[-1])
except (OSError, ValueError):
    report = None
with open(err, errors="replace") as f:
    stderr = f.read()
row = {
    "target": target, "endpoint": url, "size": size, "size_bytes": int(size_bytes),
    "workload": wl, "concurrency": int(conc),
    "objects": None if wl == "put" else int(objects),
    "exit_code": int(rc), "wall_s": round(float(t1) - float(t0), 3),
    "report": report, "stderr": stderr[-4000:],
}
# Keep the secret out of the saved command line.
parts = cmd.split(" ")
if "--secret-key" in parts:
    parts[parts.index("--secret-key") + 1] = "***"
row["command"] = " ".join(parts)
with open(results, "a") as f:
    f.write(json.dumps(row) + "\n")
tag = f"[{int(i):>2}/{n}] {target:<6} {wl:<5} {size:>6} c={conc:<3}"
if report is None or int(rc) != 0:
    first = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
    print(f"[bench] {tag} FAILED (exit {rc}): {first}", file=sys.stderr)
else:
    ops = report["operations"]
    mib = sum(o["mib_per_s"] for o in ops)
    p99 = max((o["latency_ms"]["p99"] for o in ops), default=0)
    errs = report["total"]["errors"]
    print(f"[bench] {tag} {report['total']['ops_per_s']:>10.1f} ops/s {mib:>8.1f} MiB/s "
          f"p99 {p99:.2f} ms  errors {errs}  ({float(t1)-float(t0):.1f}s)", file=sys.stderr)
EOF
                if ((rc != 0)); then
                    failed_cells=$((failed_cells + 1))
                    log "tool output of $cell (stderr):"
                    tail -n 5 "$err" >&2 || true
                elif python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); sys.exit(0 if r["total"]["errors"] > 0 else 1)' "$out" 2>/dev/null; then
                    error_cells=$((error_cells + 1))
                fi
            done
        done
    done
done
matrix_s=$((SECONDS - started))
export M_LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"

# Everything measured; the server is crash-only.
kill -9 "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""

# ---- report --------------------------------------------------------------------------------
export S_DURATION="$duration" S_QUICK="$quick" S_COMPARE_URL="$compare_url"
export S_COMPARE_NAME="$compare_name" S_OUR_URL="$OUR_URL" S_MATRIX_S="$matrix_s"
export S_SERVER_BIN="$SERVER_BIN" S_BENCH_BIN="$BENCH_BIN"
python3 - "$RESULTS" "$json_out" <<'EOF'
import json, os, sys

results_path, json_out = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(results_path) if l.strip()]
E = os.environ
compare = bool(E["S_COMPARE_URL"])
theirs_name = E["S_COMPARE_NAME"]

def summarize(row):
    """ops/s, MiB/s, p50, p99, errors, labels of one tool run (None when it failed)."""
    r = row["report"]
    if row["exit_code"] != 0 or r is None:
        return None
    ops = r["operations"]
    want = {"put": "PUT", "get": "GET"}.get(row["workload"])
    lat_ops = [o for o in ops if o["op"] == want] if want else ops
    labels = {}
    for o in ops:
        for k, v in o.get("error_breakdown", {}).items():
            labels[f'{o["op"]} {k}'] = labels.get(f'{o["op"]} {k}', 0) + v
    cleanup_err = (r.get("cleanup") or {}).get("error")
    return {
        "ops": r["total"]["ops_per_s"],
        "mib": sum(o["mib_per_s"] for o in ops),
        "p50": max((o["latency_ms"]["p50"] for o in lat_ops), default=0.0),
        "p99": max((o["latency_ms"]["p99"] for o in lat_ops), default=0.0),
        "errors": r["total"]["errors"],
        "labels": labels,
        "cleanup_error": cleanup_err,
    }

def f_ops(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"

def f_mib(v):
    return f"{v:,.0f}" if v >= 1000 else f"{v:.1f}" if v >= 1 else f"{v:.2f}"

def f_ms(v):
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:,.0f}"

def f_err(n):
    return "0" if n == 0 else f"**{n}** ⚠"

def cols(s, row):
    if s is None:
        return [f"**FAILED** (exit {row['exit_code']})", "–", "–", "–", "–"]
    return [f_ops(s["ops"]), f_mib(s["mib"]), f_ms(s["p50"]), f_ms(s["p99"]), f_err(s["errors"])]

def ratio(a, b):
    if not a or not b or b == 0:
        return "–"
    r = a / b
    return f"{r:.2f}×" if r >= 0.1 else f"{r:.3f}×" if r >= 0.001 else f"{r:.1e}×"

by_key = {}
order = []
for row in rows:
    key = (row["size"], row["workload"], row["concurrency"])
    if key not in by_key:
        by_key[key] = {}
        order.append(key)
    by_key[key][row["target"]] = row

out = []
p = out.append
p(f"### BleepStore benchmark ({E['M_DATE']}, commit {E['M_COMMIT']})")
p("")
p(f"- Machine: {E['M_NPROC']} cores ({E['M_CPU']}), {E['M_RAM']} RAM, {E['M_KERNEL']}")
p(f"- Disk: {E['M_DISK']}")
p(f"- Load average (1/5/15 min) at start {E['M_LOAD_START']}, at end {E['M_LOAD_END']}; "
  "server and load tool share the machine")
p(f"- Server: `{os.path.basename(E['S_SERVER_BIN'])}` (release, default configuration) on "
  f"{E['S_OUR_URL']}; load: `bleepstore-bench`, {E['S_DURATION']} per cell"
  + (" (--quick)" if E["S_QUICK"] == "1" else "") + f"; {E['M_RUSTC']}")
if compare:
    p(f"- Compared with: {theirs_name} at {E['S_COMPARE_URL']} (cells alternate: ours, then theirs)")
p(f"- Matrix wall time: {int(E['S_MATRIX_S']) // 60} min {int(E['S_MATRIX_S']) % 60} s")
p("")
head = ["size", "workload", "conc"]
sub = ["ops/s", "MiB/s", "p50 ms", "p99 ms", "errors"]
if compare:
    head += [f"ours {h}" for h in sub] + [f"{theirs_name} {h}" for h in sub]
    head += ["ops/s ratio", "p99 ratio"]
else:
    head += sub
p("| " + " | ".join(head) + " |")
p("|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|")
notes = []
for key in order:
    size, wl, conc = key
    cells = by_key[key]
    line = [size, wl, str(conc)]
    summ = {}
    for t in (["ours", "theirs"] if compare else ["ours"]):
        row = cells.get(t)
        s = summarize(row) if row else None
        summ[t] = s
        line += cols(s, row) if row else ["–"] * 5
        label = "ours" if t == "ours" else theirs_name
        if row and s is None:
            err = row["stderr"].strip().splitlines()
            notes.append(f"{size} {wl} c={conc} ({label}): tool failed, exit {row['exit_code']}: "
                         f"{err[-1] if err else 'no output'}")
        elif s:
            if s["errors"]:
                lab = ", ".join(f"{k} ×{v}" for k, v in sorted(s["labels"].items()))
                notes.append(f"{size} {wl} c={conc} ({label}): {s['errors']} errors: {lab}")
            if s["cleanup_error"]:
                notes.append(f"{size} {wl} c={conc} ({label}): cleanup failed: {s['cleanup_error']}")
    if compare:
        o, t = summ["ours"], summ["theirs"]
        line += [ratio(o and o["ops"], t and t["ops"]), ratio(o and o["p99"], t and t["p99"])]
    p("| " + " | ".join(line) + " |")
p("")
p("Latency: put → PUT, get → GET, mixed → slowest operation type of the mix "
  "(45% GET, 30% HEAD, 15% PUT, 10% DELETE); mixed MiB/s counts GET + PUT bytes."
  + (" Ratios are ours / theirs: ops/s above 1 and p99 below 1 favour ours." if compare else ""))
if notes:
    p("")
    p("Problems:")
    for n in notes:
        p(f"- {n}")
print("\n".join(out))

if json_out:
    doc = {
        "machine": {
            "nproc": int(E["M_NPROC"]), "cpu": E["M_CPU"], "ram": E["M_RAM"],
            "kernel": E["M_KERNEL"], "disk": E["M_DISK"], "commit": E["M_COMMIT"],
            "rustc": E["M_RUSTC"], "date": E["M_DATE"],
            "loadavg_start": E["M_LOAD_START"], "loadavg_end": E["M_LOAD_END"],
        },
        "settings": {
            "duration": E["S_DURATION"], "quick": E["S_QUICK"] == "1",
            "ours": E["S_OUR_URL"], "compare": E["S_COMPARE_URL"] or None,
            "compare_name": theirs_name if compare else None,
            "matrix_seconds": int(E["S_MATRIX_S"]),
        },
        "results": rows,
    }
    with open(json_out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"[bench] raw results written to {json_out}", file=sys.stderr)
EOF

if ((failed_cells)); then
    die "$failed_cells of $n_cells tool runs failed (see the table and the kept temp dir)"
fi
if ((error_cells)); then
    log "WARNING: $error_cells of $n_cells cells had request errors (marked ⚠ in the table)"
fi
log "done in $((SECONDS / 60)) min $((SECONDS % 60)) s"
