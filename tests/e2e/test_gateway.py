"""Gateway backends (storage.backend aws | gcp | azure): behaviour only a gateway has.

These run when the suite runs through a gateway (`./run_e2e.sh --backend X`, which
starts the upstream); on the local backend there is no upstream to observe, so they are
skipped there. The rest of the suite runs unchanged through every backend.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from s3helpers import BACKEND, DEFAULT, MiB, make_client, unique_name

pytestmark = pytest.mark.skipif(
    BACKEND == "local", reason="needs a gateway backend (./run_e2e.sh --backend aws|gcp|azure)")

GiB = 1024 * MiB


def get_json(endpoint: str, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(endpoint + path, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def status_of(endpoint: str, path: str) -> int:
    try:
        with urllib.request.urlopen(endpoint + path, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def wait_for(pred, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)  # poll interval


def upstream_pids() -> list[int]:
    """The upstream's process and its children (emulators run behind wrappers)."""
    root = int(os.environ["BLEEPSTORE_UPSTREAM_PID"])
    pids, todo = [], [root]
    while todo:
        p = todo.pop()
        pids.append(p)
        out = subprocess.run(["pgrep", "-P", str(p)], capture_output=True, text=True).stdout
        todo += [int(x) for x in out.split()]
    return pids


def rss_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_health_reports_the_upstream(endpoint):
    status, h = get_json(endpoint, "/health")
    assert status == 200, h
    assert h["gateway"]["status"] == "ok", h
    assert h["gateway"]["upstream"] == BACKEND
    assert h["storage"]["backend"] == BACKEND
    assert status_of(endpoint, "/readyz") == 200


def test_upstream_outage_gives_s3_errors_and_recovers(server_factory):
    """The upstream stops answering: requests fail with S3 errors (not hangs, not crashes),
    /readyz turns 503, and everything works again once the upstream is back."""
    srv = server_factory(config_overrides={
        "gateway": {"connect_timeout_ms": 1000, "read_timeout_ms": 1500}}).start()
    s3 = make_client(srv.endpoint, DEFAULT, retries={"max_attempts": 1}, read_timeout=120)
    bucket = unique_name("gw-outage")
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(300_000)
    s3.put_object(Bucket=bucket, Key="kept", Body=body)

    pids = upstream_pids()
    for p in pids:
        os.kill(p, signal.SIGSTOP)
    try:
        t = time.monotonic()
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=bucket, Key="kept")["Body"].read()
        err = exc.value.response
        assert err["ResponseMetadata"]["HTTPStatusCode"] in (500, 503), err
        assert err["Error"]["Code"] in ("ServiceUnavailable", "SlowDown", "InternalError"), err
        assert time.monotonic() - t < 60
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=bucket, Key="new", Body=b"x" * 1000)
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] >= 500
        wait_for(lambda: status_of(srv.endpoint, "/readyz") == 503, 30, "/readyz 503")
        assert srv.running, "the server died while its upstream was down"
        # Metadata-only requests keep working.
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert keys == ["kept"]
    finally:
        for p in pids:
            os.kill(p, signal.SIGCONT)
    wait_for(lambda: status_of(srv.endpoint, "/readyz") == 200, 30, "/readyz 200 again")
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == body
    s3.put_object(Bucket=bucket, Key="new", Body=b"y" * 1000)
    assert s3.get_object(Bucket=bucket, Key="new")["Body"].read() == b"y" * 1000
    # The failed put left nothing visible.
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == ["kept", "new"]


class PatternReader:
    """A 1 GiB deterministic body produced on the fly (never held whole)."""

    def __init__(self, size: int):
        self.size, self.pos = size, 0
        self.block = hashlib.sha256(b"gateway").digest() * (MiB // 32)
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.pos
        n = min(n, self.size - self.pos)
        off = self.pos % len(self.block)
        out = (self.block[off:] + self.block)[:n] if n <= len(self.block) else None
        if out is None:
            parts, left, o = [], n, off
            while left:
                take = min(left, len(self.block) - o)
                parts.append(self.block[o:o + take])
                left -= take
                o = 0
            out = b"".join(parts)
        self.pos += len(out)
        self.sha.update(out)
        return out


def test_1gib_multipart_round_trips_with_flat_memory(endpoint, s3, bucket):
    pid = int(os.environ["BLEEPSTORE_SERVER_PID"])
    before = rss_hwm_kib(pid)
    src = PatternReader(GiB)
    cfg = TransferConfig(multipart_threshold=64 * MiB, multipart_chunksize=64 * MiB,
                         max_concurrency=4)
    s3.upload_fileobj(src, bucket, "one-gib", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="one-gib")
    assert head["ContentLength"] == GiB
    assert head["ETag"].strip('"').endswith("-16")
    body = s3.get_object(Bucket=bucket, Key="one-gib")["Body"]
    got = hashlib.sha256()
    n = 0
    for chunk in iter(lambda: body.read(8 * MiB), b""):
        got.update(chunk)
        n += len(chunk)
    assert n == GiB
    assert got.hexdigest() == src.sha.hexdigest()
    grown_mib = (rss_hwm_kib(pid) - before) / 1024
    print(f"\nserver peak RSS grew {grown_mib:.0f} MiB over a 1 GiB upload + download")
    assert grown_mib < 256, f"peak RSS grew {grown_mib:.0f} MiB"


def test_concurrent_uploads_and_deletes_leave_consistent_state(s3, bucket):
    """Overwrites, deletes and multipart parts through the gateway stay consistent."""
    def worker(i: int):
        for j in range(5):
            key = f"k{i % 4}"
            s3.put_object(Bucket=bucket, Key=key, Body=f"{i}-{j}".encode() * 1000)
            if j % 2:
                s3.delete_object(Bucket=bucket, Key=key)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        data = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        assert len(data) == o["Size"]
        assert hashlib.md5(data).hexdigest() == o["ETag"].strip('"')
