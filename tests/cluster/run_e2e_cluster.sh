#!/usr/bin/env bash
# The e2e suite against a local 3-node cluster (scripts/cluster.sh), every request of every
# client spread over the three nodes in turn (BLEEPSTORE_ENDPOINTS, tests/e2e/s3helpers.py
# SpreadClient): consecutive requests of one test land on different nodes.
#
#   tests/cluster/run_e2e_cluster.sh                       # the default files below
#   tests/cluster/run_e2e_cluster.sh tests/e2e/test_objects.py -k range
#
# Needs the e2e venv (.venv, scripts/test.sh makes it) and a release build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
work="$(mktemp -d "${TMPDIR:-/tmp}/bleepstore-e2e-cluster.XXXXXX")"
# The suite's users and settings (tests/e2e/s3helpers.py), after each node's cluster block.
"$PY" - >"$work/extra.yaml" <<'PYEOF'
import sys
sys.path.insert(0, "tests/e2e")
import yaml
import s3helpers
print(yaml.safe_dump(s3helpers._base_config(), sort_keys=False))
PYEOF
s3_port=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
export BLEEPSTORE_CLUSTER_EXTRA_CONFIG="$work/extra.yaml"
export BLEEPSTORE_CLUSTER_DIR="$work/cluster"
# Below the ephemeral range (32768+), so no outgoing connection holds one of them.
export BLEEPSTORE_CLUSTER_S3_PORT=$((20000 + s3_port % 10000))
export BLEEPSTORE_CLUSTER_PEER_PORT=$((BLEEPSTORE_CLUSTER_S3_PORT + 1000))
cleanup() {
    bash scripts/cluster.sh down >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
bash scripts/cluster.sh up 3
eps=()
for i in 0 1 2; do eps+=("http://127.0.0.1:$((BLEEPSTORE_CLUSTER_S3_PORT + i))"); done
export BLEEPSTORE_ENDPOINT="${eps[0]}"
# Tests that look at data files look at node 1's: with replication_factor 3 of 3 nodes it
# holds a copy of every file.
export BLEEPSTORE_DATA_DIR="$BLEEPSTORE_CLUSTER_DIR/node-1"
BLEEPSTORE_ENDPOINTS="$(IFS=,; echo "${eps[*]}")"
export BLEEPSTORE_ENDPOINTS
if (($# == 0)); then
    set -- tests/e2e/test_objects.py tests/e2e/test_multipart.py tests/e2e/test_versioning.py \
        tests/e2e/test_buckets.py tests/e2e/test_tagging.py tests/e2e/test_compat_objects.py \
        tests/e2e/test_object_lock.py tests/e2e/test_lifecycle.py
fi
"$PY" -m pytest -q -p no:cacheprovider "$@"
