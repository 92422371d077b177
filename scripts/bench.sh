#!/usr/bin/env bash
# The standard benchmark: build, measure the machine's baselines, start a fresh release server
# (temp data dir, free port, default configuration), run the matrix
#
#     object size 4 KiB, 1 MiB, 64 MiB  x  workload put, get, mixed  x  concurrency 1, 16, 64
#
# with the project's load tool (target/release/bleepstore-bench), kill -9 the server (it is
# crash-only), run the cold 1 MiB GET cell on a second server, and print the machine, the
# baselines, a Markdown table (ops/s, MiB/s, p50/p99 latency and errors per cell) and a
# "Targets" table: every speed target of issue #6 with its measured value, MET or MISSED.
# With --compare URL the same matrix also runs against another S3 endpoint, cell by cell
# (ours, then theirs, so both see the same background load), and the table gets a second
# column set and the ratios ours / theirs.
#
#   scripts/bench.sh                                 # full run, 8 s per cell (~5-7 min; the
#                                                    # matrix about twice that with --compare)
#   scripts/bench.sh --quick                         # smoke run: 2 s per cell, fewer objects
#   scripts/bench.sh --duration 15s --json out.json  # longer cells, raw results kept
#   scripts/bench.sh --compare http://127.0.0.1:9100 \
#       --compare-access-key AK --compare-secret-key SK
#
# A second implementation to compare with, e.g. s3s-fs (plain HTTP, path-style):
#   cargo install s3s-fs --features binary --locked     # (0.14.1 builds with rustc 1.95)
#   mkdir -p /tmp/s3s-root && s3s-fs --host 127.0.0.1 --port 9100 \
#       --access-key bleepstore --secret-key bleepstore-secret /tmp/s3s-root
# An earlier BleepStore build (an A/B): let the script start it, exactly as it starts ours
# (same flags, log level and stdin, an empty data dir beside ours; both servers are started
# with --log-level warn, which turns the access log off in every build):
#   git worktree add /tmp/base REV && (cd /tmp/base && cargo build --release)
#   scripts/bench.sh --no-build --rounds 7 --duration 4s \
#       --compare-bin /tmp/base/target/release/bleepstore --compare-name base
# (A server started by hand, even from the same binary, ran the 4 KiB PUT cell at 16
# connections 5-6 % apart from the one the script started: 0.94 / 0.95 of itself.)
#
# Phases, in order:
#   1. Baselines, before any server runs: the disk's sequential O_DIRECT write then read
#      bandwidth with fio on the data dir's filesystem (bs 1 MiB, 2 GiB, io_uring, falling
#      back to libaio / psync, iodepth 8, end_fsync for the write; fio is apt-get installed
#      when missing and we are root; --no-fio skips it), and the MD5 rate of one core
#      (python3 hashlib over 1 GiB in 1 MiB chunks), times nproc.
#   2. The server starts on an empty data dir: start-up to ready is the time from spawn to
#      the first 200 from /readyz (polled every 10 ms); idle memory is its VmRSS right after,
#      before any load (read again every 200 ms until two reads agree within 256 KiB, 3 s
#      at most).
#   3. The matrix (the 1 MiB get cells, 256 objects in the default cache, are "hot"), then
#      the overwrite cell (1 MiB PUT, 16 clients over 32 live keys; --no-overwrite skips it).
#   4. The cold cell (ours only; --no-cold skips it): a second fresh server with a 64 MiB
#      cache (--config, cache.size), 2048 x 1 MiB objects (2 GiB), get at 16 connections for
#      the cell duration.
#   5. The wrk cross-check (--no-wrk skips it): scripts/bench_wrk.sh, 3 rounds on its own
#      server, for the "load tool vs wrk" target.
#   6. The report: the table, then the targets of issues #6 and #21.
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
# **N** ⚠ in the errors column; a missing or failing fio only makes its targets n/a);
# 1 when the build, the server, the cold server, the compare endpoint or any run of the
# load tool failed; 2 for a bad flag.
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
  --duration D               measured time per cell (default 8s; e.g. 500ms, 15s, 1m)
  --quick                    smoke run: 2s per cell and fewer prepared objects
  --compare URL              also run every cell against this S3 endpoint (http://HOST:PORT)
  --compare-access-key K     its access key (default: ours, bleepstore)
  --compare-secret-key S     its secret key (default: ours, bleepstore-secret)
  --compare-name NAME        its label in the table (default: theirs)
  --compare-bin PATH         start this server binary (an earlier BleepStore build) exactly as
                             ours starts: same flags, its own empty data dir beside ours, and
                             compare against it (--compare-name defaults to its file name)
  --no-overwrite             skip the overwrite cell (1 MiB PUT, 16 clients over 32 live keys)
  --no-wrk                   skip the wrk cross-check (scripts/bench_wrk.sh --access-log, 3 rounds,
                             own server)
  --rounds N                 run the matrix N times (default 1); with --compare each round
                             alternates which side of a cell goes first, and a cell's ratio
                             is the median of its per-round ratios (paired rounds)
  --json FILE                write the raw results (machine, settings, every tool report)
  --sizes LIST               subset of sizes, e.g. "4KiB,1MiB" (default 4KiB,1MiB,64MiB)
  --workloads LIST           subset of put,get,mixed
  --concurrency LIST         subset/other levels, e.g. "1,16" (default 1,16,64)
  --no-build                 use the binaries already in target/release
  --no-fio                   skip the fio disk baseline (its targets become n/a)
  --no-cold                  skip the cold 1 MiB GET cell (its target becomes n/a)
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
compare_bin=""
rounds=1
overwrite_cell=1
wrk_cell=1
json_out=""
sizes="4KiB,1MiB,64MiB"
workloads="put,get,mixed"
concurrency="1,16,64"
build=1
keep=0
fio_enabled=1
cold_enabled=1
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
        --rounds) need_value "$@"; rounds="$2"; shift 2 ;;
        --no-overwrite) overwrite_cell=0; shift ;;
        --no-wrk) wrk_cell=0; shift ;;
        --rounds=*) rounds="${1#*=}"; shift ;;
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
        --compare-bin) need_value "$@"; compare_bin="$2"; shift 2 ;;
        --compare-bin=*) compare_bin="${1#*=}"; shift ;;
        --no-fio) fio_enabled=0; shift ;;
        --no-cold) cold_enabled=0; shift ;;
        -h | --help) usage; exit 0 ;;
        *) bad_flag "unknown argument '$1'" ;;
    esac
done
if ((quick)) && ((!duration_set)); then duration="2s"; fi
[[ "$rounds" =~ ^[1-9][0-9]?$ ]] || bad_flag "--rounds '$rounds' is not a number from 1 to 99"
[[ -z "$compare_ak" ]] && compare_ak="$OUR_AK"
[[ -z "$compare_sk" ]] && compare_sk="$OUR_SK"
[[ -n "$compare_url" && -z "$compare_name" ]] && bad_flag "--compare-name is empty"
if [[ -n "$compare_bin" ]]; then
    [[ -z "$compare_url" ]] || bad_flag "--compare and --compare-bin exclude each other"
    [[ -x "$compare_bin" ]] || bad_flag "--compare-bin: $compare_bin is not an executable"
    [[ "$compare_name" != "theirs" ]] || compare_name="$(basename "$compare_bin")"
fi
if [[ -n "$compare_url" ]]; then
    [[ "$compare_url" == https://* ]] && bad_flag "--compare: https is not supported by bleepstore-bench"
    [[ "$compare_url" == http://* ]] || compare_url="http://$compare_url"
    compare_url="${compare_url%/}"
fi
if [[ -n "$json_out" ]]; then
    json_out="$(json_out_path "$json_out")" || bad_flag "--json: cannot write $json_out"
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
locate_binaries
run_started=$SECONDS # the run's wall time (the wall-time target) leaves the build out

# ---- temp dir, helpers ---------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/bleepstore-bench.XXXXXX")"
DATA="$TMP/data"
SERVER_LOG="$TMP/server.log"
RESULTS="$TMP/results.jsonl"
COLD_RESULTS="$TMP/cold.jsonl"
BASELINES="$TMP/baselines.json"
CELLS="$TMP/cells"
FIO_FILE="$TMP/fio.dat"
mkdir -p "$DATA" "$CELLS"
: >"$RESULTS"
: >"$COLD_RESULTS"
echo '{}' >"$BASELINES"
SERVER_PID=""
COLD_PID=""
COMPARE_PID=""

server_alive() { pid_alive "$SERVER_PID"; }
on_exit() {
    local rc=$?
    kill_pid "$SERVER_PID"
    kill_pid "$COLD_PID"
    kill_pid "$COMPARE_PID"
    rm -f "$FIO_FILE"
    if ((rc != 0)); then
        tail_log "$SERVER_LOG"
        tail_log "$TMP/cold-server.log"
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


rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# reset_peak PID: restarts the process's peak RSS (VmHWM) from its current RSS.
reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }

# cell_memory PID URL: JSON of the process's peak RSS since reset_peak and the memory parts
# its /metrics reports (bytes); {} when either cannot be read.
cell_memory() {
    local hwm
    hwm="$(awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)"
    curl -s --max-time 5 "$2/metrics" 2>/dev/null | python3 -c '
import json, re, sys
hwm = sys.argv[1]
parts = {m.group(1): float(m.group(2)) for m in
         re.finditer(r"^bleepstore_memory_bytes\{part=\"(\w+)\"\} (\S+)$", sys.stdin.read(), re.M)}
print(json.dumps({"peak_rss_bytes": int(hwm) * 1024, "parts": parts} if hwm and parts else {}))
' "$hwm" 2>/dev/null || echo '{}'
}

# baseline KEY JSON-VALUE: merge into $BASELINES.
baseline() {
    python3 - "$BASELINES" "$1" "$2" <<'EOF'
import json, sys
path, key, value = sys.argv[1:]
doc = json.load(open(path))
doc[key] = json.loads(value)
json.dump(doc, open(path, "w"))
EOF
}

# record_row FILE TARGET URL SIZE WORKLOAD CONC OBJECTS RC T0 T1 OUT ERR CMD I N ROUND: append one
# tool run to FILE (JSON lines) and log its one-line summary.
record_row() {
    python3 - "$@" <<'EOF'
import json, sys
(results, target, url, size, size_bytes, wl, conc, objects, rc, t0, t1, out, err, cmd,
 i, n, rnd, memory) = sys.argv[1:]
report = None
try:
    with open(out) as f:
        text = f.read().strip()
    if text:
        report = json.loads(text.splitlines()[-1])
except (OSError, ValueError):
    report = None
try:
    with open(err, errors="replace") as f:
        stderr = f.read()
except OSError:
    stderr = ""
row = {
    "target": target, "endpoint": url, "size": size, "size_bytes": int(size_bytes),
    "workload": wl, "concurrency": int(conc), "round": int(rnd),
    "objects": None if wl == "put" else int(objects),
    "exit_code": int(rc), "wall_s": round(float(t1) - float(t0), 3),
    "report": report, "stderr": stderr[-4000:],
    "memory": json.loads(memory or "{}") or None,
}
# Keep the secret out of the saved command line.
parts = cmd.split(" ")
if "--secret-key" in parts:
    parts[parts.index("--secret-key") + 1] = "***"
row["command"] = " ".join(parts)
with open(results, "a") as f:
    f.write(json.dumps(row) + "\n")
tag = f"[{int(i):>2}/{n}] {target:<6} {wl:<5} {size:>6} c={conc:<3} r{rnd}"
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
}

# ---- baselines: disk (fio) and MD5 ---------------------------------------------------------
# Before any server runs, on the data dir's filesystem.
ensure_fio() { apt_install_if_missing fio "$TMP/apt.log"; }

# fio_bw RW ENGINE: one sequential O_DIRECT pass over $FIO_FILE; prints MiB/s.
fio_bw() {
    local rw="$1" engine="$2" extra=()
    [[ "$rw" == "write" ]] && extra=(--end_fsync=1)
    timeout 300 fio --name="bleepstore-bench-$rw" --filename="$FIO_FILE" --rw="$rw" --bs=1M \
        --size=2G --direct=1 --ioengine="$engine" --iodepth=8 --runtime=60 "${extra[@]}" \
        --output-format=json --output="$TMP/fio-$rw.json" >"$TMP/fio-$rw.err" 2>&1 || return 1
    python3 - "$TMP/fio-$rw.json" "$rw" <<'EOF'
import json, sys
text = open(sys.argv[1]).read()
doc = json.loads(text[text.index("{"):])
job = doc["jobs"][0]
if job.get("error"):
    sys.exit(1)
bw = job[sys.argv[2]]["bw_bytes"]
if bw <= 0:
    sys.exit(1)
print(f"{bw / 2**20:.1f}")
EOF
}

fio_status="skipped (--no-fio)"
fio_engine=""
fio_write=""
fio_read=""
if ((fio_enabled)); then
    avail_kib="$(df -k --output=avail "$TMP" | tail -n1 | tr -d ' ')"
    if ((avail_kib < 3 * 1024 * 1024)); then
        fio_status="skipped: less than 3 GiB free under $TMP"
        log "WARNING: fio $fio_status; the fio-based targets are n/a"
    elif ! ensure_fio; then
        fio_status="skipped: fio is not installed (and could not be installed)"
        log "WARNING: $fio_status; the fio-based targets are n/a"
    else
        log "fio: sequential O_DIRECT write then read, bs 1 MiB, 2 GiB, iodepth 8, on $TMP"
        for engine in io_uring libaio psync; do
            rm -f "$FIO_FILE"
            if fio_write="$(fio_bw write "$engine")"; then
                fio_engine="$engine"
                break
            fi
            fio_write=""
            log "fio: ioengine $engine failed ($(tail -n1 "$TMP/fio-write.err" 2>/dev/null || true)); next"
        done
        if [[ -n "$fio_engine" ]] && fio_read="$(fio_bw read "$fio_engine")"; then
            fio_status="ok"
            log "fio ($fio_engine): write $fio_write MiB/s, read $fio_read MiB/s"
        else
            fio_status="failed (every ioengine, or the read)"
            fio_read=""
            log "WARNING: fio $fio_status; the fio-based targets are n/a. Its output:"
            cat "$TMP"/fio-*.err >&2 2>/dev/null || true
        fi
        rm -f "$FIO_FILE"
    fi
fi
baseline fio "$(python3 -c 'import json,sys; a=sys.argv[1:]; f=lambda v: float(v) if v else None; print(json.dumps({"status": a[0], "ioengine": a[1] or None, "write_mib_s": f(a[2]), "read_mib_s": f(a[3]), "bs": "1M", "size": "2G", "iodepth": 8, "direct": True, "file_dir": a[4]}))' "$fio_status" "$fio_engine" "$fio_write" "$fio_read" "$TMP")"

log "md5: python3 hashlib over 1 GiB in 1 MiB chunks, one thread"
md5_mib="$(python3 - <<'EOF'
import hashlib, os, time
buf = os.urandom(1 << 20)
h = hashlib.md5()
t = time.perf_counter()
for _ in range(1024):
    h.update(buf)
h.hexdigest()
print(f"{1024 / (time.perf_counter() - t):.1f}")
EOF
)"
log "md5: $md5_mib MiB/s per core x $(nproc) cores"
baseline md5 "{\"mib_s_per_core\": $md5_mib, \"cores\": $(nproc), \"bytes\": 1073741824, \"chunk\": 1048576}"

# ---- server: start-up and idle memory ------------------------------------------------------
log "starting $SERVER_BIN (data $DATA, empty, default configuration)"
start_server "$DATA" "$SERVER_LOG" || { SERVER_PID=$STARTED_PID; die "our server did not become ready"; }
SERVER_PID=$STARTED_PID
OUR_URL=$STARTED_URL
startup_ms=$STARTED_MS
log "server on $OUR_URL"
# Idle memory, before any load: until two reads 200 ms apart agree within 256 KiB (3 s at most).
rss_stable=0
idle_rss_kib="$(rss_kib "$SERVER_PID")"
for _ in $(seq 15); do
    sleep 0.2
    rss_next="$(rss_kib "$SERVER_PID")"
    if ((rss_next - idle_rss_kib <= 256 && idle_rss_kib - rss_next <= 256)); then
        idle_rss_kib="$rss_next"
        rss_stable=1
        break
    fi
    idle_rss_kib="$rss_next"
done
log "server ready (pid $SERVER_PID) $startup_ms ms after spawn; idle VmRSS $((idle_rss_kib / 1024)) MiB$( ((rss_stable)) || echo ' (not stable after 3 s)')"
baseline server "{\"startup_ms\": $startup_ms, \"idle_rss_kib\": $idle_rss_kib, \"idle_rss_stable\": $( ((rss_stable)) && echo true || echo false)}"

if [[ -n "$compare_bin" ]]; then
    # Started by the same function as ours (same flags, log level, stdin, data dir beside
    # ours): a server started by hand differs in ways that move the latency-bound cells.
    log "starting the compared server $compare_bin (data $TMP/compare-data, empty)"
    mkdir -p "$TMP/compare-data"
    ours_bin="$SERVER_BIN"
    SERVER_BIN="$compare_bin"
    start_server "$TMP/compare-data" "$TMP/compare-server.log" ||
        { COMPARE_PID=$STARTED_PID; die "the compared server did not become ready"; }
    SERVER_BIN="$ours_bin"
    COMPARE_PID=$STARTED_PID
    compare_url="$STARTED_URL"
fi
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
M_NPROC="$(nproc)"
export M_NPROC
M_CPU="${cpu_model:-unknown}"
export M_CPU
M_RAM="$(awk -v k="$mem_kib" 'BEGIN {printf "%.1f GiB", k/1048576}')"
export M_RAM
M_KERNEL="$(uname -srm)"
export M_KERNEL
M_DISK="$DATA on ${data_src:-?} (${data_fs:-?}, ${data_df:-?}${disk_desc:+; $disk_desc})"
export M_DISK
M_LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
export M_LOAD_START
M_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]] && M_COMMIT+=" (working tree modified)"
export M_COMMIT
M_RUSTC="$(rustc --version 2>/dev/null || echo unknown)"
export M_RUSTC
M_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')"
export M_DATE

avail_kib="$(df -k --output=avail "$DATA" | tail -n1 | tr -d ' ')"
if ((avail_kib < 12 * 1024 * 1024)); then
    log "WARNING: only $((avail_kib / 1024 / 1024)) GiB free under $DATA; the 64 MiB cells write up to ~10 GiB"
fi

# ---- the matrix ----------------------------------------------------------------------------
targets=("ours")
[[ -n "$compare_url" ]] && targets+=("theirs")
OVERWRITE_SIZE=1MiB OVERWRITE_CONC=16 OVERWRITE_KEYS=32
n_cells=$(((${#SIZES[@]} * ${#WORKLOADS[@]} * ${#CONCS[@]} + overwrite_cell) * ${#targets[@]} * rounds))

failed_cells=0
error_cells=0
i=0
started=$SECONDS
log "matrix: sizes ${SIZES[*]} x workloads ${WORKLOADS[*]} x concurrency ${CONCS[*]}, $duration per cell, targets ${targets[*]}, $rounds round(s)"
# run_cell TARGET SIZE WORKLOAD CONC OBJECTS ROUND: one tool run, recorded in $RESULTS.
run_cell() {
    local target="$1" size="$2" wl="$3" conc="$4" objects="$5" round="$6"
    local url ak sk cell out err args rc t0 t1
    i=$((i + 1))
    if [[ "$target" == "ours" ]]; then
        url="$OUR_URL" ak="$OUR_AK" sk="$OUR_SK"
    else
        url="$compare_url" ak="$compare_ak" sk="$compare_sk"
    fi
    cell="$target-$size-$wl-c$conc-r$round"
    out="$CELLS/$cell.json"
    err="$CELLS/$cell.stderr"
    args=("$wl" --host "$url" --access-key "$ak" --secret-key "$sk"
        --concurrent "$conc" --obj.size "$size" --duration "$duration"
        --bucket "bleepstore-bench" --prefix "bench/$size-$wl-c$conc-r$round"
        --timeout 120s --json)
    [[ "$wl" == "put" ]] || args+=(--objects "$objects")
    # Untimed: flush what earlier cells left dirty so its writeback does not land
    # in this cell (a server that does not fsync leaves it to the kernel).
    sync
    # #21's memory target: our server's peak RSS over this cell alone.
    [[ "$target" == "ours" ]] && reset_peak "$SERVER_PID"
    t0=$(date +%s.%N)
    run_bounded "$cell_limit" "$out" "$err" "$BENCH_BIN" "${args[@]}"
    rc=$RUN_RC
    t1=$(date +%s.%N)
    if [[ "$target" == "ours" ]] && ! server_alive; then
        cat "$err" >&2
        die "our server died during cell $cell"
    fi
    memory='{}'
    [[ "$target" == "ours" ]] && memory="$(cell_memory "$SERVER_PID" "$OUR_URL")"
    record_row "$RESULTS" "$target" "$url" "$size" "$(size_bytes "$size")" "$wl" "$conc" \
        "$objects" "$rc" "$t0" "$t1" "$out" "$err" "bleepstore-bench ${args[*]}" \
        "$i" "$n_cells" "$round" "$memory"
    if ((rc != 0)); then
        failed_cells=$((failed_cells + 1))
        log "tool output of $cell (stderr):"
        tail -n 5 "$err" >&2 || true
    elif python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); sys.exit(0 if r["total"]["errors"] > 0 else 1)' "$out" 2>/dev/null; then
        error_cells=$((error_cells + 1))
    fi
}

# run_rounds SIZE WORKLOAD CONC OBJECTS: the cell on every target, --rounds times. Paired
# rounds: who goes first alternates, so neither side always runs on a box the other has
# just warmed (or left writing back).
run_rounds() {
    local round target side_order
    for round in $(seq 1 "$rounds"); do
        side_order=("${targets[@]}")
        if ((round % 2 == 0 && ${#targets[@]} == 2)); then side_order=("${targets[1]}" "${targets[0]}"); fi
        for target in "${side_order[@]}"; do
            run_cell "$target" "$1" "$2" "$3" "$4" "$round"
        done
    done
}

for size in "${SIZES[@]}"; do
    objects="$(objects_for "$size")"
    for wl in "${WORKLOADS[@]}"; do
        for conc in "${CONCS[@]}"; do
            run_rounds "$size" "$wl" "$conc" "$objects"
        done
    done
done
# Issue #21's overwrite cell: 16 clients replacing 32 live 1 MiB objects (each PUT frees the
# data it replaces, and clients queue for the same keys).
if ((overwrite_cell)); then
    run_rounds "$OVERWRITE_SIZE" overwrite "$OVERWRITE_CONC" "$OVERWRITE_KEYS"
fi
matrix_s=$((SECONDS - started))
M_LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
export M_LOAD_END

# Everything measured; the server is crash-only.
kill_pid "$SERVER_PID"
SERVER_PID=""

# ---- the cold cell -------------------------------------------------------------------------
# A second fresh server whose cache (64 MiB) is far smaller than the working set (2048 x 1 MiB),
# so nearly every GET reads the disk (O_DIRECT: the page cache does not help either).
COLD_CACHE=67108864
COLD_OBJECTS=2048
COLD_CONC=16
cold_status="skipped (--no-cold)"
cold_failed=0
if ((cold_enabled)); then
    COLD_DATA="$TMP/cold-data"
    COLD_LOG="$TMP/cold-server.log"
    COLD_CONF="$TMP/cold.yaml"
    printf 'cache:\n  size: %d\n' "$COLD_CACHE" >"$COLD_CONF"
    mkdir -p "$COLD_DATA"
    avail_kib="$(df -k --output=avail "$COLD_DATA" | tail -n1 | tr -d ' ')"
    if ((avail_kib < (COLD_OBJECTS + 1024) * 1024)); then
        cold_status="skipped: less than $(((COLD_OBJECTS + 1024) / 1024)) GiB free under $TMP"
        log "WARNING: cold cell $cold_status"
    else
        log "cold cell: second server (cache.size $COLD_CACHE, data $COLD_DATA)"
        cold_ready=0
        start_server "$COLD_DATA" "$COLD_LOG" --config "$COLD_CONF" || cold_ready=$?
        COLD_PID=$STARTED_PID
        cold_url=$STARTED_URL
        cold_startup_ms=$STARTED_MS
        if ((cold_ready != 0)); then
            cold_status="failed: the cold server did not become ready"
            cold_failed=1
            log "ERROR: cold cell $cold_status"
        else
            out="$CELLS/ours-cold-1MiB-get-c$COLD_CONC.json"
            err="$CELLS/ours-cold-1MiB-get-c$COLD_CONC.stderr"
            args=(get --host "$cold_url" --access-key "$OUR_AK" --secret-key "$OUR_SK"
                --concurrent "$COLD_CONC" --obj.size 1MiB --objects "$COLD_OBJECTS"
                --duration "$duration" --bucket "bleepstore-bench" --prefix "bench/cold-1MiB-get"
                --timeout 120s --no-cleanup --json)
            reset_peak "$COLD_PID"
            t0=$(date +%s.%N)
            run_bounded "$cell_limit" "$out" "$err" "$BENCH_BIN" "${args[@]}"
            rc=$RUN_RC
            t1=$(date +%s.%N)
            record_row "$COLD_RESULTS" "ours-cold" "$cold_url" "1MiB" "$((1 << 20))" get \
                "$COLD_CONC" "$COLD_OBJECTS" "$rc" "$t0" "$t1" "$out" "$err" \
                "bleepstore-bench ${args[*]}" 1 1 1 "$(cell_memory "$COLD_PID" "$cold_url")"
            if ((rc != 0)) || ! pid_alive "$COLD_PID"; then
                cold_status="failed (tool exit $rc$(pid_alive "$COLD_PID" || echo ', the cold server died'))"
                cold_failed=1
                log "tool output of the cold cell (stderr):"
                tail -n 5 "$err" >&2 || true
            else
                cold_status="ok"
                if python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); sys.exit(0 if r["total"]["errors"] > 0 else 1)' "$out" 2>/dev/null; then
                    error_cells=$((error_cells + 1))
                fi
            fi
        fi
        # Crash-only: kill -9, then drop its 2 GiB.
        kill_pid "$COLD_PID"
        COLD_PID=""
    fi
    rm -rf "$COLD_DATA"
fi

# ---- the wrk cross-check ------------------------------------------------------------------
# Does the load tool agree with an independent one? scripts/bench_wrk.sh on its own fresh
# server: 3 paired rounds of wrk and the tool on presigned 4 KiB GETs at 64 connections.
WRK_JSON="$TMP/wrk.json"
wrk_status="skipped (--no-wrk)"
if ((wrk_cell)); then
    wrk_s=$(python3 -c "print(max(2, round($dur_s)))")
    # With the access log on: #21's GET target is stated with it.
    log "wrk cross-check: scripts/bench_wrk.sh --access-log --rounds 3 --duration ${wrk_s}s"
    if bash "$ROOT/scripts/bench_wrk.sh" --no-build --access-log --rounds 3 --duration "${wrk_s}s" \
        --json "$WRK_JSON" >"$TMP/wrk.out" 2>"$TMP/wrk.err"; then
        wrk_status="ok"
    else
        wrk_status="failed (scripts/bench_wrk.sh exit $?: $(tail -n1 "$TMP/wrk.err"))"
        log "wrk cross-check $wrk_status"
    fi
fi

# ---- report --------------------------------------------------------------------------------
# The wall-time target covers a default run (all cells, 8 s, baselines and the cold cell).
default_run=0
if [[ -z "$compare_url" && "$quick" == 0 && "$dur_s" == "8.0" && "$fio_enabled" == 1 &&
    "$cold_enabled" == 1 && "${SIZES[*]}" == "4KiB 1MiB 64MiB" &&
    "${WORKLOADS[*]}" == "put get mixed" && "${CONCS[*]}" == "1 16 64" ]]; then
    default_run=1
fi
export S_DURATION="$duration" S_QUICK="$quick" S_COMPARE_URL="$compare_url" S_ROUNDS="$rounds"
export S_COMPARE_NAME="$compare_name" S_OUR_URL="$OUR_URL" S_MATRIX_S="$matrix_s"
export S_SERVER_BIN="$SERVER_BIN" S_BENCH_BIN="$BENCH_BIN" S_TOTAL_S="$((SECONDS - run_started))"
export S_DEFAULT_RUN="$default_run" S_COLD_STATUS="$cold_status" S_COLD_CACHE="$COLD_CACHE"
export S_COLD_OBJECTS="$COLD_OBJECTS" S_COLD_CONC="$COLD_CONC" S_COLD_STARTUP_MS="${cold_startup_ms:-}"
export S_WRK_STATUS="$wrk_status" S_WRK_JSON="$WRK_JSON"
python3 - "$RESULTS" "$json_out" "$COLD_RESULTS" "$BASELINES" <<'EOF'
import json, os, sys

results_path, json_out, cold_path, baselines_path = sys.argv[1:5]
rows = [json.loads(l) for l in open(results_path) if l.strip()]
cold_rows = [json.loads(l) for l in open(cold_path) if l.strip()]
base = json.load(open(baselines_path))
E = os.environ
compare = bool(E["S_COMPARE_URL"])
theirs_name = E["S_COMPARE_NAME"]
MB = 1e6 / 2**20  # MiB per MB

def summarize(row):
    """ops/s, MiB/s, p50, p99, errors, labels of one tool run (None when it failed)."""
    r = row["report"]
    if row["exit_code"] != 0 or r is None:
        return None
    ops = r["operations"]
    want = {"put": "PUT", "overwrite": "PUT", "get": "GET"}.get(row["workload"])
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

def f_min_s(s):
    s = int(s)
    return f"{s // 60} min {s % 60} s"

import statistics
rounds = int(E["S_ROUNDS"])

def summarize_rounds(runs):
    """One cell's figures over its rounds: the median of each (None when any run failed);
    `runs` are (row, summary) pairs."""
    if not runs or any(s is None for _, s in runs):
        return None
    ss = [s for _, s in runs]
    med = lambda k: statistics.median(s[k] for s in ss)  # noqa: E731
    labels = {}
    for s in ss:
        for k, v in s["labels"].items():
            labels[k] = labels.get(k, 0) + v
    return {"ops": med("ops"), "mib": med("mib"), "p50": med("p50"), "p99": med("p99"),
            "errors": sum(s["errors"] for s in ss), "labels": labels,
            "cleanup_error": next((s["cleanup_error"] for s in ss if s["cleanup_error"]), None)}

by_key = {}
order = []
for row in rows:
    key = (row["size"], row["workload"], row["concurrency"])
    if key not in by_key:
        by_key[key] = {}
        order.append(key)
    by_key[key].setdefault(row["target"], []).append(row)

def paired_ratios(cells, field):
    """ours / theirs of one figure, per round (both sides of a round succeeded)."""
    mine = {r.get("round", 1): summarize(r) for r in cells.get("ours", [])}
    other = {r.get("round", 1): summarize(r) for r in cells.get("theirs", [])}
    out = []
    for rnd, o in sorted(mine.items()):
        t = other.get(rnd)
        if o and t and t[field]:
            out.append(o[field] / t[field])
    return out

# ---- baselines
fio = base.get("fio", {})
fio_w, fio_r = fio.get("write_mib_s"), fio.get("read_mib_s")
md5 = base.get("md5", {})
md5_core, cores = md5.get("mib_s_per_core"), md5.get("cores") or int(E["M_NPROC"])
md5_all = md5_core * cores if md5_core else None
srv = base.get("server", {})
startup_ms, rss_kib = srv.get("startup_ms"), srv.get("idle_rss_kib")
put_ceiling = min(fio_w, md5_all) if fio_w and md5_all else None
cold_row = cold_rows[0] if cold_rows else None
cold = summarize(cold_row) if cold_row else None

out = []
p = out.append
p(f"### BleepStore benchmark ({E['M_DATE']}, commit {E['M_COMMIT']})")
p("")
p(f"- Machine: {E['M_NPROC']} cores ({E['M_CPU']}), {E['M_RAM']} RAM, {E['M_KERNEL']}")
p(f"- Disk: {E['M_DISK']}")
if fio_w and fio_r:
    p(f"- Disk baseline (fio, same filesystem, sequential O_DIRECT, bs 1 MiB, 2 GiB, "
      f"{fio['ioengine']} iodepth 8): write {f_mib(fio_w)} MiB/s "
      f"({f_mib(fio_w / MB)} MB/s, with end_fsync), read {f_mib(fio_r)} MiB/s ({f_mib(fio_r / MB)} MB/s)")
else:
    p(f"- Disk baseline (fio): {fio.get('status', 'not run')}")
if md5_core:
    p(f"- MD5 (python3 hashlib, one thread, 1 GiB in 1 MiB chunks): {f_mib(md5_core)} MiB/s per core "
      f"× {cores} cores = {f_mib(md5_all)} MiB/s")
if put_ceiling:
    p(f"- PUT ceiling min(disk write, MD5 × cores) = {f_mib(put_ceiling)} MiB/s")
p(f"- Server start-up on an empty data dir: {startup_ms:.0f} ms from spawn to the first 200 from "
  f"/readyz (polled every 10 ms); idle VmRSS right after: {rss_kib / 1024:.1f} MiB "
  f"({rss_kib * 1024 / 1e6:.1f} MB)" + ("" if srv.get("idle_rss_stable") else " (still moving after 3 s)"))
p(f"- Load average (1/5/15 min) at start {E['M_LOAD_START']}, at end {E['M_LOAD_END']}; "
  "server and load tool share the machine")
p(f"- Server: `{os.path.basename(E['S_SERVER_BIN'])}` (release, default configuration) on "
  f"{E['S_OUR_URL']}; load: `bleepstore-bench`, {E['S_DURATION']} per cell"
  + (" (--quick)" if E["S_QUICK"] == "1" else "") + f"; {E['M_RUSTC']}")
if compare:
    p(f"- Compared with: {theirs_name} at {E['S_COMPARE_URL']} ("
      + ("cells alternate: ours, then theirs)" if rounds == 1 else
         f"{rounds} paired rounds per cell, the side that goes first alternating; figures are "
         "medians over the rounds, a ratio is the median of the per-round ratios)"))
p(f"- Matrix wall time: {f_min_s(E['S_MATRIX_S'])}; whole run (after the build) up to this "
  f"report: {f_min_s(E['S_TOTAL_S'])}")
p("")
head = ["size", "workload", "conc"]
sub = ["ops/s", "MiB/s", "p50 ms", "p99 ms", "errors"]
if compare:
    head += [f"ours {h}" for h in sub] + [f"{theirs_name} {h}" for h in sub]
    head += ["ops/s ratio", "p99 ratio"]
    if rounds > 1:
        head += ["ops/s ratio range"]
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
        runs = [(r, summarize(r)) for r in cells.get(t, [])]
        row = next((r for r, s in runs if s is None), runs[0][0] if runs else None)
        s = summarize_rounds(runs)
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
        if rounds > 1:
            ops_r, p99_r = paired_ratios(cells, "ops"), paired_ratios(cells, "p99")
            med = lambda v: statistics.median(v) if v else None  # noqa: E731
            line += [ratio(med(ops_r), 1.0), ratio(med(p99_r), 1.0),
                     f"{min(ops_r):.2f}–{max(ops_r):.2f}" if ops_r else "–"]
        else:
            line += [ratio(o and o["ops"], t and t["ops"]), ratio(o and o["p99"], t and t["p99"])]
    p("| " + " | ".join(line) + " |")
p("")
p("Latency: put → PUT, get → GET, mixed → slowest operation type of the mix "
  "(45% GET, 30% HEAD, 15% PUT, 10% DELETE); mixed MiB/s counts GET + PUT bytes."
  + (" Ratios are ours / theirs: ops/s above 1 and p99 below 1 favour ours." if compare else ""))
p("")
cold_desc = (f"second fresh server with cache.size {int(E['S_COLD_CACHE']) >> 20} MiB, "
             f"{E['S_COLD_OBJECTS']} × 1 MiB objects ({int(E['S_COLD_OBJECTS']) >> 10} GiB), "
             f"get at {E['S_COLD_CONC']} connections, {E['S_DURATION']}")
if cold:
    p(f"Cold 1 MiB GET ({cold_desc}): {f_ops(cold['ops'])} ops/s, {f_mib(cold['mib'])} MiB/s "
      f"({f_mib(cold['mib'] / MB)} MB/s), p50 {f_ms(cold['p50'])} ms, p99 {f_ms(cold['p99'])} ms, "
      f"errors {f_err(cold['errors'])}")
    if cold["errors"]:
        lab = ", ".join(f"{k} ×{v}" for k, v in sorted(cold["labels"].items()))
        notes.append(f"cold 1MiB get c={E['S_COLD_CONC']}: {cold['errors']} errors: {lab}")
else:
    p(f"Cold 1 MiB GET ({cold_desc}): {E['S_COLD_STATUS']}")
    if cold_row:
        err = cold_row["stderr"].strip().splitlines()
        notes.append(f"cold 1MiB get: tool failed, exit {cold_row['exit_code']}: "
                     f"{err[-1] if err else 'no output'}")
if notes:
    p("")
    p("Problems:")
    for n in notes:
        p(f"- {n}")

# ---- targets (issue #6), ours only
def ours(size_bytes, wl, conc=None):
    """Summaries of our successful cells of that size and workload (and concurrency)."""
    per_conc = {}
    for row in rows:
        if (row["target"] == "ours" and row["size_bytes"] == size_bytes and row["workload"] == wl
                and (conc is None or row["concurrency"] == conc)):
            per_conc.setdefault(row["concurrency"], []).append((row, summarize(row)))
    found = []
    for runs in per_conc.values():
        s = summarize_rounds(runs)  # the median over rounds; None if a round failed
        if s:
            found.append((runs[0][0], s))
    return found

targets = []
def target(name, value, shown, limit, limit_shown, kind, na_reason=None, source=None, issue="#6"):
    """kind: 'ge' (value >= limit), 'le' (value <= limit), 'lt' (value < limit)."""
    if value is None or limit is None:
        status, r = "n/a", None
    else:
        r = value / limit if limit else None
        ok = {"ge": value >= limit, "le": value <= limit, "lt": value < limit}[kind]
        status = "MET" if ok else "MISSED"
    targets.append({"target": name, "measured": value, "measured_text": shown if value is not None
                    else (na_reason or "not run"), "limit": limit, "limit_text": limit_shown,
                    "kind": kind, "ratio": r, "status": status, "source": source,
                    "issue": issue})

c = ours(4096, "get", 64)
s = c[0][1] if c else None
target("4 KiB GET throughput, 64 conn", s and s["ops"], s and f"{f_ops(s['ops'])} ops/s", 40000,
       "≥ 40,000 ops/s", "ge", "no 4KiB get c=64 cell", "matrix 4KiB get c=64")
target("4 KiB GET p99, 64 conn", s and s["p99"], s and f"{f_ms(s['p99'])} ms", 5.0, "≤ 5 ms", "le",
       "no 4KiB get c=64 cell", "matrix 4KiB get c=64")
c = ours(4096, "put", 64)
s = c[0][1] if c else None
target("4 KiB PUT (durable) throughput, 64 conn", s and s["ops"], s and f"{f_ops(s['ops'])} ops/s",
       15000, "≥ 15,000 ops/s", "ge", "no 4KiB put c=64 cell", "matrix 4KiB put c=64")
c = ours(1 << 20, "get")
best = max(c, key=lambda x: x[1]["mib"]) if c else None
target("1 MiB GET, hot working set", best and best[1]["mib"] / MB,
       best and f"{f_mib(best[1]['mib'] / MB)} MB/s (c={best[0]['concurrency']})", 2000,
       "≥ 2,000 MB/s", "ge", "no 1MiB get cell", "best 1MiB get cell of the matrix")
fio_na = f"fio {fio.get('status', 'not run')}"
lim = 0.9 * fio_r if fio_r else None
target("1 MiB GET, cold working set (≫ cache)", cold and cold["mib"],
       cold and f"{f_mib(cold['mib'])} MiB/s ({f_mib(cold['mib'] / MB)} MB/s)", lim,
       f"≥ 0.9 × fio read = {f_mib(lim)} MiB/s" if lim else f"≥ 0.9 × fio read ({fio_na})", "ge",
       E["S_COLD_STATUS"], "cold cell")
for sz, label in ((1 << 20, "1 MiB"), (64 << 20, "64 MiB")):
    c = ours(sz, "put")
    best = max(c, key=lambda x: x[1]["mib"]) if c else None
    lim = 0.9 * put_ceiling if put_ceiling else None
    target(f"{label} PUT throughput", best and best[1]["mib"],
           best and f"{f_mib(best[1]['mib'])} MiB/s (c={best[0]['concurrency']})", lim,
           f"≥ 0.9 × min(fio write, MD5 × cores) = {f_mib(lim)} MiB/s" if lim
           else f"≥ 0.9 × min(fio write, MD5 × cores) ({fio_na})", "ge",
           f"no {label.replace(' ', '')} put cell", f"best {label.replace(' ', '')} put cell of the matrix")
target("Idle resident memory (VmRSS)", rss_kib and rss_kib * 1024 / 1e6,
       rss_kib and f"{rss_kib * 1024 / 1e6:.1f} MB ({rss_kib / 1024:.1f} MiB)", 50.0, "< 50 MB", "lt",
       None, "VmRSS right after ready")
target("Start-up to ready, empty data dir", startup_ms and startup_ms / 1000,
       startup_ms and f"{startup_ms:.0f} ms", 1.0, "< 1 s", "lt", None, "spawn → first 200 /readyz")
total_s = int(E["S_TOTAL_S"])
target("scripts/bench.sh run time (default run)", total_s if E["S_DEFAULT_RUN"] == "1" else None,
       f_min_s(total_s), 600, "< 10 min", "lt",
       f"n/a: not a default run ({f_min_s(total_s)})", "start → report")
wrk = None
if E["S_WRK_STATUS"] == "ok":
    try:
        wrk = json.load(open(E["S_WRK_JSON"]))
    except (OSError, ValueError):
        wrk = None
wrk_ratio = wrk and wrk.get("ratio_tool_over_wrk")
target("Load tool vs wrk (presigned 4 KiB GET)", wrk_ratio and abs(wrk_ratio - 1),
       wrk_ratio and (f"tool / wrk {wrk_ratio:.3f} (median of {len(wrk['per_round_ratios'])} rounds; "
                      f"wrk {f_ops(wrk['median']['wrk_ops_per_s'])}, tool "
                      f"{f_ops(wrk['median']['tool_ops_per_s'])} ops/s)"),
       0.10, "within 10 %", "le", f"wrk cross-check {E['S_WRK_STATUS']}", "scripts/bench_wrk.sh, 3 rounds")

# ---- targets (issue #21), ours only
# The 4 KiB GET targets are wrk's, replaying one presigned GET as the issue measured: the
# matrix cell's tool signs every request (SigV4 header), which on a shared box takes CPU
# from the server.
wm = wrk and wrk.get("median") or {}
wrk_na = f"wrk cross-check {E['S_WRK_STATUS']}"
target("4 KiB GET throughput, 64 conn (wrk, presigned)", wm.get("wrk_ops_per_s"),
       wm.get("wrk_ops_per_s") and f"{f_ops(wm['wrk_ops_per_s'])} ops/s", 50000, "≥ 50,000 ops/s",
       "ge", wrk_na, "wrk cross-check, median of 3 rounds", "#21")
target("4 KiB GET p99, 64 conn (wrk, presigned)", wm.get("wrk_p99_ms"),
       wm.get("wrk_p99_ms") and f"{f_ms(wm['wrk_p99_ms'])} ms", 3.0, "≤ 3 ms", "le", wrk_na,
       "wrk cross-check, median of 3 rounds", "#21")
c = ours(4096, "put", 64)
s = c[0][1] if c else None
target("4 KiB PUT (durable) throughput, 64 conn", s and s["ops"], s and f"{f_ops(s['ops'])} ops/s",
       22000, "≥ 22,000 ops/s", "ge", "no 4KiB put c=64 cell", "matrix 4KiB put c=64", "#21")
lim = 0.6 * fio_w if fio_w else None
for wl, conc, label in (("put", 16, "1 MiB PUT, new keys, 16 conn"),
                        ("overwrite", 16, "1 MiB PUT, 16 clients overwriting 32 keys")):
    c = ours(1 << 20, wl, conc)
    s = c[0][1] if c else None
    target(label, s and s["mib"], s and f"{f_mib(s['mib'])} MiB/s", lim,
           f"≥ 0.6 × fio write = {f_mib(lim)} MiB/s" if lim else f"≥ 0.6 × fio write ({fio_na})",
           "ge", f"no 1MiB {wl} c={conc} cell", f"1MiB {wl} c={conc}", "#21")
c = ours(1 << 20, "get")
best = max(c, key=lambda x: x[1]["mib"]) if c else None
target("1 MiB GET, hot working set", best and best[1]["mib"] / MB,
       best and f"{f_mib(best[1]['mib'] / MB)} MB/s (c={best[0]['concurrency']})", 3200,
       "≥ 3,200 MB/s", "ge", "no 1MiB get cell", "best 1MiB get cell of the matrix", "#21")

# #21's memory target: every cell's peak RSS (VmHWM, reset before the cell) below the
# configured caches plus the documented per-connection amounts (tuning/README.md §11: 192 KiB
# of connection buffers, and 4 MiB of I/O buffers per transfer of an object in a data file)
# at the largest concurrency seen so far (malloc keeps what the busiest moment used), plus
# the server's idle RSS.
CONN_BYTES, STREAM_BYTES, STREAMED_MIN = 192 << 10, 4 << 20, 1 << 20
idle_b = (rss_kib or 0) * 1024
mem_cells, worst, bufs_max = [], None, 0
for row in rows + cold_rows:
    m = row.get("memory") or {}
    if not m or not row["target"].startswith("ours"):
        continue
    parts = m["parts"]
    per_conn = CONN_BYTES + (STREAM_BYTES if row["size_bytes"] >= STREAMED_MIN else 0)
    bufs_max = max(bufs_max, row["concurrency"] * per_conn)
    caches = (parts.get("object_cache_capacity", 0) + parts.get("record_cache_capacity", 0)
              + parts.get("meta_cache_capacity", 0))
    budget = caches + bufs_max + idle_b
    r = m["peak_rss_bytes"] / budget
    cell = (f"{row['size']} {row['workload']} c={row['concurrency']}"
            + ("" if row["target"] == "ours" else " (cold server)"))
    mem_cells.append((cell, m["peak_rss_bytes"], budget, r))
    if worst is None or r > worst[3]:
        worst = mem_cells[-1]
if mem_cells:
    p("")
    p("Peak RSS per cell (ours; the highest round, MiB) against its budget = caches' capacity "
      "(object + record + metadata) + connection and I/O buffers at the largest concurrency so "
      "far + idle RSS: " + "; ".join(
          f"{c} {b / 2**20:,.0f} / {g / 2**20:,.0f}" for c, b, g, _ in
          sorted({c: (c, b, g, r) for c, b, g, r in sorted(mem_cells, key=lambda x: x[1])}.values(),
                 key=lambda x: -x[3])[:6]) + (" (the six closest to their budget)" if len(mem_cells) > 6 else ""))
target("Peak RSS within its memory budget, every cell", worst and worst[3],
       worst and f"highest {worst[1] / 2**20:,.0f} of {worst[2] / 2**20:,.0f} MiB ({worst[0]})", 1.0,
       "≤ 1.00 of the budget", "le", "no memory reading (run as the server's user, /metrics)",
       "VmHWM per cell, /metrics", "#21")

def f_ratio(t):
    return "–" if t["ratio"] is None else f"{t['ratio']:.2f}"

for issue in ("#6", "#21"):
    p("")
    p(f"#### Targets (issue {issue})" + (" — ours only" if compare else ""))
    p("")
    p("| target | measured | target value | ratio | status |")
    p("|---|---:|---:|---:|---|")
    for t in targets:
        if t["issue"] != issue:
            continue
        st = {"MET": "**MET**", "MISSED": "**MISSED**"}.get(t["status"], t["status"])
        p(f"| {t['target']} | {t['measured_text']} | {t['limit_text']} | {f_ratio(t)} | {st} |")
p("")
p("Ratio = measured / target value: a ≥ target needs 1.00 or more, a ≤ / < limit 1.00 or less "
  "(< strictly). MB = 10^6 bytes, MiB = 2^20. Hot 1 MiB GET: the 1 MiB get cells, whose "
  "objects fit the default cache (1/32 of the machine's memory).")
n_met = sum(t["status"] == "MET" for t in targets)
n_missed = sum(t["status"] == "MISSED" for t in targets)
n_na = sum(t["status"] == "n/a" for t in targets)
p(f"Targets: {n_met} met, {n_missed} missed, {n_na} n/a.")
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
            "total_seconds_to_report": total_s,
            "default_run": E["S_DEFAULT_RUN"] == "1",
        },
        "baselines": {
            "fio": fio,
            "md5": dict(md5, mib_s_all_cores=md5_all),
            "put_ceiling_mib_s": put_ceiling,
            "server": srv,
        },
        "cold": {
            "status": E["S_COLD_STATUS"],
            "cache_bytes": int(E["S_COLD_CACHE"]), "objects": int(E["S_COLD_OBJECTS"]),
            "object_size": 1 << 20, "concurrency": int(E["S_COLD_CONC"]),
            "startup_ms": float(E["S_COLD_STARTUP_MS"]) if E["S_COLD_STARTUP_MS"] else None,
            "result": cold_row,
        },
        "targets": targets,
        "wrk": wrk,
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
if ((cold_failed)); then
    die "cold cell $cold_status (its server log follows)"
fi
if ((error_cells)); then
    log "WARNING: $error_cells cells had request errors (marked ⚠ in the table)"
fi
log "done in $((SECONDS / 60)) min $((SECONDS % 60)) s ($(((SECONDS - run_started) / 60)) min $(((SECONDS - run_started) % 60)) s after the build)"
