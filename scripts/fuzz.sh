#!/usr/bin/env bash
# Fuzzes BleepStore's hostile-input parsers with cargo-fuzz (the crate in fuzz/).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   default 600 s, every target
#   scripts/fuzz.sh --ci [TARGET...]                   10 s per target (the CI run)
#
# Installs cargo-fuzz when missing, builds every target once, replays the committed
# regression inputs (fuzz/regressions/<target>/), then fuzzes each target for the given time,
# starting from its seed corpus (fuzz/corpus/<target>/, never written to) and a working corpus
# (fuzz/work/<target>/, not committed). Prints each target's executions and libFuzzer's final
# `#N DONE cov: X ft: Y` line, and exits non-zero when any target crashed, with the path of
# the crashing input in the output.
#
# Environment:
#   FUZZ_JOBS        targets fuzzed at once (default: the number of cores)
#   FUZZ_SANITIZER   address (default) or none
#   FUZZ_ARGS        extra libFuzzer flags, e.g. "-max_len=8192"
#
# Only a stable toolchain is needed: cargo-fuzz passes nightly-only flags (-Zsanitizer), which
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
FUZZ="$ROOT/fuzz"

SECS=600
if [[ "${1:-}" == "--ci" ]]; then
    SECS=10
    shift
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
    SECS=$1
    shift
elif [[ "${1:-}" == -* ]]; then
    sed -n '2,22p' "$0"
    exit 2
fi

export RUSTC_BOOTSTRAP=1
SANITIZER=${FUZZ_SANITIZER:-address}
JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
BIN="$FUZZ/target/$TRIPLE/release"

start=$(date +%s)
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz (from crates.io; about 1-2 min)"
    cargo install cargo-fuzz --version "^0.13" --locked || exit 1
fi

if (($# > 0)); then
    TARGETS=("$@")
else
    mapfile -t TARGETS < <(cd "$FUZZ" && cargo fuzz list)
fi

bstart=$(date +%s)
echo "== building ${#TARGETS[@]} targets (sanitizer: $SANITIZER)"
LOGS="$FUZZ/logs"
mkdir -p "$LOGS"
build() { (cd "$FUZZ" && cargo fuzz build --sanitizer "$SANITIZER" "$@") >>"$LOGS/build.log" 2>&1; }
: >"$LOGS/build.log"
built=1
if (($# > 0)); then
    for t in "${TARGETS[@]}"; do build "$t" || { built=0; break; }; done
else
    build || built=0
fi
if ((!built)); then
    tail -40 "$LOGS/build.log"
    echo "== build FAILED (log: $LOGS/build.log)"
    exit 1
fi
echo "== built in $(($(date +%s) - bstart)) s"

failed=0

# Regressions: inputs that once crashed a target must keep passing.
for t in "${TARGETS[@]}"; do
    dir="$FUZZ/regressions/$t"
    compgen -G "$dir/*" >/dev/null || continue
    if env -u FUZZ_SKIP_KNOWN_BUGS "$BIN/$t" "$dir"/* >"$LOGS/$t.regressions.log" 2>&1; then
        echo "regressions $t: $(find "$dir" -type f | wc -l) inputs pass"
    else
        echo "regressions $t: FAILED (see $LOGS/$t.regressions.log)"
        grep -a -m3 -E "panicked at|ERROR: AddressSanitizer|Running: " "$LOGS/$t.regressions.log" | sed 's/^/    /'
        grep -a -A1 -m1 -E "panicked at" "$LOGS/$t.regressions.log" | tail -1 | sed 's/^/    /'
        failed=1
    fi
done

run_one() {
    local t=$1
    mkdir -p "$FUZZ/work/$t" "$FUZZ/artifacts/$t" "$FUZZ/corpus/$t"
    local dict=()
    [[ -f "$FUZZ/dict/$t.dict" ]] && dict=("-dict=$FUZZ/dict/$t.dict")
    # The first corpus directory receives new inputs: the work one, so seeds stay as committed.
    # shellcheck disable=SC2086
    "$BIN/$t" "$FUZZ/work/$t" "$FUZZ/corpus/$t" \
        -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$FUZZ/artifacts/$t/" "${dict[@]}" ${FUZZ_ARGS:-} \
        >"$LOGS/$t.log" 2>&1
    echo $? >"$LOGS/$t.rc"
}

echo "== fuzzing ${#TARGETS[@]} targets, ${SECS} s each, $JOBS at a time"
running=0
for t in "${TARGETS[@]}"; do
    rm -f "$LOGS/$t.rc"
    run_one "$t" &
    running=$((running + 1))
    if ((running >= JOBS)); then
        wait -n
        running=$((running - 1))
    fi
done
wait

printf '%-24s %6s %12s  %s\n' target result execs "final libFuzzer line"
for t in "${TARGETS[@]}"; do
    log="$LOGS/$t.log"
    rc=$(cat "$LOGS/$t.rc" 2>/dev/null || echo 99)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -a -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
    [[ -z "$last" ]] && last=$(grep -a -E '^#[0-9]+[[:space:]]' "$log" | tail -1)
    if [[ "$rc" == 0 ]]; then
        printf '%-24s %6s %12s  %s\n' "$t" ok "${execs:-?}" "$last"
    else
        failed=1
        printf '%-24s %6s %12s  %s\n' "$t" CRASH "${execs:-?}" "$last"
        grep -a -m1 -E "panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer" "$log" | sed 's/^/    /'
        grep -a -A1 -m1 -E "panicked at" "$log" | tail -1 | sed 's/^/    /'
        grep -a -m1 "Test unit written to" "$log" | sed 's/^/    /'
        # The input itself, so a crash in CI (whose artifacts are not kept) can be reproduced.
        grep -a -m1 "^Base64: " "$log" | sed 's/^/    /'
        echo "    log: $log"
    fi
done
echo "== total $(($(date +%s) - start)) s"
exit $failed
