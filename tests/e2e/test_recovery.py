"""Recovery of a populated data directory: start-up is recovery, and it must be quick.

A private server is filled with 100,000 zero-byte objects (by the bleepstore-bench
binary's prepare phase: group-committed PUTs over 64 keep-alive connections), then
killed with SIGKILL and started again on the same port and data dir. From the instant
the process is spawned, /readyz is polled every 10 ms on a fresh connection:

* every probe gets a refused connection (listener not bound yet), 503 (recovering)
  or 200 (serving), nothing else (no timeout, no other status). One exception: a
  connection reset before the new process's first HTTP answer. The killed process's
  listeners are owned by its io_uring rings, whose teardown the kernel finishes
  asynchronously after the process is reaped; for a few ms such a listener can still
  take a SYN (seen with `ss -ltn` right after the reap) and then reset it;
* the first 200 comes less than 1 s after spawn, and /readyz stays 200 from then on;
* once 200, a known object reads back and a paginated ListObjectsV2 (1000 keys a
  page, so 100 pages) returns exactly the 100,000 keys that were written.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from s3helpers import BACKEND, DEFAULT, make_client

N_OBJECTS = 100_000
PREFIX = "fill"
READY_LIMIT_S = 1.0
POLL_S = 0.010


def bench_binary(server_bin: Path) -> Path | None:
    p = server_bin.parent / "bleepstore-bench"
    if p.exists():
        return p
    found = shutil.which("bleepstore-bench")
    return Path(found) if found else None


def fill(srv, bucket: str) -> None:
    """Writes N_OBJECTS empty objects named {PREFIX}/obj/00000000.. into bucket."""
    bench = bench_binary(srv.binary)
    if bench is not None:
        # The `list` workload prepares --objects keys; --no-cleanup keeps them and the
        # measured phase (a few listings) is kept as short as the tool allows.
        cmd = [str(bench), "list", "--host", f"127.0.0.1:{srv.port}",
               "--access-key", DEFAULT.access_key, "--secret-key", DEFAULT.secret_key,
               "--concurrent", "64", "--obj.size", "0", "--objects", str(N_OBJECTS),
               "--bucket", bucket, "--prefix", PREFIX, "--duration", "100ms",
               "--no-cleanup"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
        return
    # Fallback without the load generator: many threads sharing one pooled client.
    s3 = make_client(srv.endpoint, DEFAULT, max_pool_connections=64)
    s3.create_bucket(Bucket=bucket)

    def put(i):
        s3.put_object(Bucket=bucket, Key=f"{PREFIX}/obj/{i:08}", Body=b"")

    with ThreadPoolExecutor(64) as ex:
        list(ex.map(put, range(N_OBJECTS)))


def probe_readyz(port: int) -> object:
    """'refused', an HTTP status (int), or a description of anything else."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
    except ConnectionRefusedError:
        return "refused"
    except OSError as e:
        return f"connect error: {e!r}"
    try:
        s.settimeout(2)
        s.sendall(f"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  "Connection: close\r\n\r\n".encode())
        head = b""
        while b"\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
        parts = head.split(b" ", 2)
        if len(parts) > 1 and parts[0].startswith(b"HTTP/1.") and parts[1].isdigit():
            return int(parts[1])
        if not head:
            return "reset"  # closed without a byte: same cause as a reset
        return f"bad response: {head[:80]!r}"
    except ConnectionResetError:
        return "reset"
    except OSError as e:
        return f"io error: {e!r}"
    finally:
        s.close()


def restart_and_time(srv) -> tuple[float, list]:
    """kill -9, then start again; returns (seconds from spawn to first 200, probes)."""
    srv.kill9()
    probes: list[tuple[float, object]] = []
    t0 = time.monotonic()

    def poll_until_ready():
        deadline = t0 + 30
        while True:
            answer = probe_readyz(srv.port)
            probes.append((time.monotonic() - t0, answer))
            if answer == 200:
                return
            assert srv.proc.poll() is None, (
                f"server exited with {srv.proc.returncode} during recovery\n{srv.log_tail()}")
            assert time.monotonic() < deadline, f"not ready after 30 s: {probes[-5:]}"
            time.sleep(POLL_S)

    # ServerInstance.start() spawns the process and then calls wait_ready(): swap in
    # the 10 ms recorder for this start only (t0 is taken before the spawn).
    srv.wait_ready = poll_until_ready
    try:
        srv.start()
    finally:
        del srv.wait_ready
    ready_s = probes[-1][0]
    # Readiness is sticky: a few more probes right after the first 200.
    for _ in range(5):
        probes.append((time.monotonic() - t0, probe_readyz(srv.port)))
        time.sleep(POLL_S)
    return ready_s, probes


def summarize(probes) -> str:
    out, last = [], object()
    for t, a in probes:
        if a != last:
            out.append(f"{t * 1000:.0f}ms:{a}")
            last = a
    return " -> ".join(out)


def check_probes(probes):
    first_http = next(i for i, (_, a) in enumerate(probes) if isinstance(a, int))
    allowed_before = ("refused", "reset", 503, 200)  # reset: the killed process's listener
    bad = [(round(t, 3), a) for i, (t, a) in enumerate(probes)
           if a not in (allowed_before if i < first_http else ("refused", 503, 200))]
    assert not bad, f"unexpected /readyz answers: {bad[:10]} ({summarize(probes)})"
    first_ok = next(i for i, (_, a) in enumerate(probes) if a == 200)
    after = [a for _, a in probes[first_ok:]]
    assert all(a == 200 for a in after), f"/readyz fell back after 200: {summarize(probes)}"


def list_all_keys(s3, bucket: str, prefix: str) -> tuple[list[str], int]:
    keys, pages, token = [], 0, None
    while True:
        kw = dict(Bucket=bucket, Prefix=prefix, MaxKeys=1000)
        if token:
            kw["ContinuationToken"] = token
        page = s3.list_objects_v2(**kw)
        pages += 1
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return keys, pages
        token = page["NextContinuationToken"]
        assert pages < 200, "listing does not terminate"


@pytest.mark.skipif(BACKEND != "local", reason=(
    "recovery reads only the local metadata shards, identical for every backend; filling "
    "100,000 objects through an emulated upstream takes longer than the test's budget"))
def test_recovery_of_100k_objects_is_fast_and_complete(server_factory):
    srv = server_factory().start()
    bucket = f"recovery-{uuid.uuid4().hex[:12]}"
    t = time.monotonic()
    fill(srv, bucket)
    fill_s = time.monotonic() - t
    s3 = make_client(srv.endpoint, DEFAULT, read_timeout=60)
    known_body = b"written before the crash " + uuid.uuid4().hex.encode()
    s3.put_object(Bucket=bucket, Key="known/object", Body=known_body)

    # kill -9 with 100,001 objects on disk, restart, time readiness.
    ready_s, probes = restart_and_time(srv)
    print(f"\nfill {N_OBJECTS} objects: {fill_s:.2f}s; restart #1 ready in {ready_s * 1000:.0f} ms "
          f"({len(probes)} probes: {summarize(probes)})")
    check_probes(probes)
    assert ready_s < READY_LIMIT_S, f"ready after {ready_s:.3f}s: {summarize(probes)}"

    # Serving, and nothing lost.
    s3 = make_client(srv.endpoint, DEFAULT, read_timeout=60)
    assert s3.get_object(Bucket=bucket, Key="known/object")["Body"].read() == known_body
    assert s3.get_object(Bucket=bucket, Key=f"{PREFIX}/obj/{N_OBJECTS - 1:08}")["Body"].read() == b""
    t = time.monotonic()
    keys, pages = list_all_keys(s3, bucket, PREFIX + "/")
    print(f"listed {len(keys)} keys in {pages} pages in {time.monotonic() - t:.2f}s")
    assert pages == N_OBJECTS // 1000
    assert len(keys) == N_OBJECTS
    assert keys == sorted(keys)
    assert keys == [f"{PREFIX}/obj/{i:08}" for i in range(N_OBJECTS)]

    # A second crash right after readiness: recovery again, just as fast.
    ready2_s, probes2 = restart_and_time(srv)
    print(f"restart #2 ready in {ready2_s * 1000:.0f} ms ({summarize(probes2)})")
    check_probes(probes2)
    assert ready2_s < READY_LIMIT_S, f"ready after {ready2_s:.3f}s: {summarize(probes2)}"
    s3 = make_client(srv.endpoint, DEFAULT, read_timeout=60)
    assert s3.get_object(Bucket=bucket, Key="known/object")["Body"].read() == known_body
    head = s3.list_objects_v2(Bucket=bucket, Prefix=PREFIX + "/", MaxKeys=1000)
    assert head["KeyCount"] == 1000 and head["IsTruncated"]
