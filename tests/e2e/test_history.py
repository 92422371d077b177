"""Linearizable reads and writes on one server, through the per-core record cache: concurrent
PUTs and GETs on a few keys, every read checked against the writes completed before it began
(tests/e2e/history.py, the checker the cluster test also runs). The server runs on its own
so the cache's counters are this test's alone."""

import re
import urllib.request

from history import check_history, check_history_checker
from s3helpers import DEFAULT, make_client


def counter(srv, name):
    with urllib.request.urlopen(f"{srv.endpoint}/metrics", timeout=10) as r:
        text = r.read().decode()
    found = re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    assert found, f"{name} missing from /metrics"
    return sum(float(v) for v in found)


def test_history_checker_finds_each_violation():
    check_history_checker()


def test_no_stale_read_through_the_record_cache(server_factory):
    """Eight threads on three keys for 8 s: no read older than a write acknowledged before it
    began, no read of a value never written, the final value one no acknowledged write
    superseded; and the record cache answered some of those reads (else the test would not
    be testing it)."""
    srv = server_factory().start()

    def make():
        return make_client(srv.endpoint, DEFAULT, read_timeout=20, connect_timeout=5,
                           retries={"total_max_attempts": 1, "mode": "standard"})

    hits_before = counter(srv, "bleepstore_record_cache_hits_total")
    acked, reads = check_history([make], seconds=8.0, keys=3, threads=8, bucket="history")
    hits = counter(srv, "bleepstore_record_cache_hits_total") - hits_before
    assert acked >= 100 and reads >= 100, (acked, reads)
    assert hits > 0, f"no read came from the record cache in {reads} reads"
    print(f"{acked} writes, {reads} reads, {hits:.0f} record-cache hits")
    assert srv.running and not srv.panics()
