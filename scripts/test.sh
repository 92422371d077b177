#!/usr/bin/env bash
# The one command that runs every test: Rust unit + integration tests, then the
# end-to-end suite against a freshly built release server. Both always run; the
# exit status is non-zero if either failed. Extra arguments go to run_e2e.sh (and
# from there to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test --release"
cargo_status=0
cargo test --release || cargo_status=$?

echo "== end-to-end suite"
e2e_status=0
bash ./run_e2e.sh "$@" || e2e_status=$?

echo "== summary: cargo test exit ${cargo_status}, end-to-end exit ${e2e_status}"
if ((cargo_status != 0 || e2e_status != 0)); then
    exit 1
fi
