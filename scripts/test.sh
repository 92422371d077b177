#!/usr/bin/env bash
# The one command that runs every test: Rust unit + integration tests, the
# end-to-end suite against a freshly built release server, then a short fuzz run
# (scripts/fuzz.sh --ci: replays the committed regressions and seed corpora and
# fuzzes each target for 20 s; about 7-9 min from a clean clone on 2 cores, the
# cargo-fuzz install included). The end-to-end suite runs once per storage
# backend: local, then through each gateway (aws, gcp, azure) against a local
# upstream that run_e2e.sh starts. All steps always run; the exit status is
# non-zero if any failed. Extra arguments go to run_e2e.sh (and from there to pytest).
#
# Environment: BLEEPSTORE_SKIP_FUZZ=1 skips the fuzz step (for a quick local run;
# CI never sets it).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test --release"
cargo_status=0
cargo test --release || cargo_status=$?

echo "== end-to-end suite (local backend)"
e2e_status=0
bash ./run_e2e.sh "$@" || e2e_status=$?

gateway_status=""
for backend in ${BLEEPSTORE_GATEWAYS:-aws gcp azure}; do
    echo "== end-to-end suite through the $backend gateway"
    status=0
    BLEEPSTORE_SKIP_BUILD=1 bash ./run_e2e.sh --backend "$backend" "$@" || status=$?
    gateway_status+=" $backend=$status"
    if ((status != 0)); then
        e2e_status=1
    fi
done

fuzz_status=0
if [[ "${BLEEPSTORE_SKIP_FUZZ:-}" == 1 ]]; then
    echo "== fuzz: skipped (BLEEPSTORE_SKIP_FUZZ=1)"
    fuzz_status=skipped
else
    echo "== fuzz (scripts/fuzz.sh --ci)"
    bash scripts/fuzz.sh --ci || fuzz_status=$?
fi

echo "== summary: cargo test exit ${cargo_status}, end-to-end exit ${e2e_status} (gateways:${gateway_status}), fuzz exit ${fuzz_status}"
if ((cargo_status != 0 || e2e_status != 0)) || [[ "$fuzz_status" != 0 && "$fuzz_status" != skipped ]]; then
    exit 1
fi
