"""Crash-only behaviour: kill -9 at randomized instants (seeded RNG, driven by how
many requests were acknowledged, never by sleeps), restart = recovery, and every
acknowledged write must survive while nothing partial becomes visible."""

import hashlib
import os
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError

from s3helpers import DEFAULT, MiB, det_bytes, make_client, multipart_etag, s3_error

SEED = int(os.environ.get("BLEEPSTORE_CRASH_SEED", "20250117"))


def client(srv, **kw):
    cfg = dict(max_pool_connections=64, connect_timeout=5, read_timeout=60)
    cfg.update(kw)
    return make_client(srv.endpoint, DEFAULT, **cfg)


class KillSwitch:
    """Runs `n` request closures concurrently; kills the server once `kill_after`
    of them were acknowledged (or all finished). Errors answered by the server
    before the kill are failures; anything after the kill is expected."""

    def __init__(self, srv, kill_after):
        self.srv = srv
        self.kill_after = kill_after
        self.cond = threading.Condition()
        self.acked = 0
        self.done = 0
        self.killed = False
        self.early_errors = []

    def run(self, jobs):
        start = threading.Barrier(len(jobs) + 1)

        def wrap(job):
            start.wait()
            try:
                job()
                ok = True
            except Exception as e:  # noqa: BLE001
                ok = False
                with self.cond:
                    if not self.killed and isinstance(e, ClientError):
                        self.early_errors.append(repr(e))
            with self.cond:
                self.done += 1
                if ok:
                    self.acked += 1
                self.cond.notify_all()
            return ok

        results = [None] * len(jobs)

        def runner(i, job):
            results[i] = wrap(job)

        threads = [threading.Thread(target=runner, args=(i, j), daemon=True)
                   for i, j in enumerate(jobs)]
        for t in threads:
            t.start()
        start.wait()
        with self.cond:
            self.cond.wait_for(lambda: self.acked >= self.kill_after or self.done == len(jobs),
                               timeout=120)
            self.killed = True
        self.srv.kill9()
        with self.cond:
            at_kill = self.acked
        for t in threads:
            t.join(120)
            assert not t.is_alive(), "a request thread hung after the kill"
        print(f"[crash] kill after {self.kill_after}: {at_kill} acked at kill, "
              f"{sum(1 for r in results if r)}/{len(jobs)} acked in all")
        return results


def test_kill9_during_concurrent_create_bucket(server_factory):
    rng = random.Random(SEED)
    srv = server_factory().start()
    all_acked = set()
    for cycle in range(3):
        c = client(srv)
        names = [f"crash-{cycle}-{i:02d}-{uuid.uuid4().hex[:8]}" for i in range(64)]
        acked = set()
        lock = threading.Lock()

        def job(n, c=c, acked=acked, lock=lock):
            def f():
                c.create_bucket(Bucket=n)
                with lock:
                    acked.add(n)
            return f

        ks = KillSwitch(srv, rng.randint(0, 40))
        ks.run([job(n) for n in names])
        assert not ks.early_errors, (SEED, ks.early_errors[:3])
        all_acked |= acked
        srv.start()
        c = client(srv)
        listed = {b["Name"] for b in c.list_buckets()["Buckets"]}
        missing = all_acked - listed
        assert not missing, f"seed {SEED} cycle {cycle}: acknowledged buckets lost: {sorted(missing)[:5]}"
        for n in acked:
            assert c.head_bucket(Bucket=n)["ResponseMetadata"]["HTTPStatusCode"] == 200
        # unacknowledged creations either happened completely or not at all
        for n in set(names) - acked:
            if n in listed:
                c.head_bucket(Bucket=n)
                # us-east-1: re-creating an owned bucket is AWS's legacy 200
                assert c.create_bucket(Bucket=n)["ResponseMetadata"]["HTTPStatusCode"] == 200
            else:
                c.create_bucket(Bucket=n)
            all_acked.add(n)
        # and the recovered server still works normally
        c.put_object(Bucket=names[0], Key="after-crash", Body=b"ok")
        assert c.get_object(Bucket=names[0], Key="after-crash")["Body"].read() == b"ok"


SIZES = [1, 100, 4096, 65535, 65536, 65537, 300_000, 1 * MiB, 3 * MiB + 7, 5 * MiB, 8 * MiB]


def test_kill9_during_concurrent_puts(server_factory):
    rng = random.Random(SEED + 1)
    srv = server_factory().start()
    c = client(srv)
    bucket = "crash-puts"
    c.create_bucket(Bucket=bucket)
    keys = [f"obj/{i:02d}" for i in range(48)]
    # per key: the set of states it may legitimately be in (sha256 hex, or None = absent)
    possible = {k: {None} for k in keys}
    size_of = {}
    for cycle in range(5):
        plan = [(k, rng.choice(SIZES), f"{SEED}-{cycle}-{k}") for k in rng.sample(keys, 32)]
        acked, attempted = {}, {}
        lock = threading.Lock()

        def job(key, size, seed, c=c, acked=acked, attempted=attempted, lock=lock):
            def f():
                data = det_bytes(seed, size)
                sha = hashlib.sha256(data).hexdigest()
                with lock:
                    attempted[key] = sha
                    size_of[sha] = size
                c.put_object(Bucket=bucket, Key=key, Body=data)
                with lock:
                    acked[key] = sha
            return f

        ks = KillSwitch(srv, rng.randint(0, 24))
        ks.run([job(*p) for p in plan])
        assert not ks.early_errors, (SEED, cycle, ks.early_errors[:3])
        for key, _, _ in plan:
            if key in acked:
                possible[key] = {acked[key]}
            elif key in attempted:
                possible[key] = possible[key] | {attempted[key]}

        srv.start()
        c = client(srv)
        found = set()
        for key in keys:
            try:
                got = c.get_object(Bucket=bucket, Key=key)
            except ClientError as e:
                assert e.response["Error"]["Code"] == "NoSuchKey", e.response
                assert None in possible[key], \
                    f"seed {SEED} cycle {cycle}: acknowledged {key} lost"
                possible[key] = {None}
                continue
            body = got["Body"].read()
            sha = hashlib.sha256(body).hexdigest()
            assert got["ContentLength"] == len(body)
            assert sha in possible[key], (
                f"seed {SEED} cycle {cycle}: {key} has {len(body)} bytes matching no "
                f"acknowledged or attempted body (acked: {key in acked})")
            assert got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
            possible[key] = {sha}
            found.add(key)
        listed = set()
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                listed.add(o["Key"])
        assert listed == found, f"seed {SEED} cycle {cycle}: listing disagrees with GETs"


def test_shard_count_change_keeps_everything(server_factory):
    srv = server_factory(extra_args=["--shards", "2"]).start()
    c = client(srv)
    names = [f"shard-{i:03d}-{uuid.uuid4().hex[:6]}" for i in range(100)]

    def make(n):
        c.create_bucket(Bucket=n)
        c.put_object(Bucket=n, Key="k/" + n, Body=n.encode())

    with ThreadPoolExecutor(8) as ex:
        list(ex.map(make, names))
    for args in (["--shards", "1"], ["--shards", "2"]):
        srv.restart(extra_args=args)
        c = client(srv)
        listed = [b["Name"] for b in c.list_buckets()["Buckets"]]
        assert sorted(set(names) & set(listed)) == sorted(names), args
        assert listed == sorted(listed)
        for n in names:
            assert c.get_object(Bucket=n, Key="k/" + n)["Body"].read() == n.encode()
            assert [o["Key"] for o in c.list_objects_v2(Bucket=n)["Contents"]] == ["k/" + n]


def test_kill9_keeps_multipart_parts_and_deletes(server_factory):
    srv = server_factory().start()
    c = client(srv)
    c.create_bucket(Bucket="crash-mp")
    parts = [det_bytes("cmp1", 5 * MiB), det_bytes("cmp2", 5 * MiB), b"tail"]
    uid = c.create_multipart_upload(Bucket="crash-mp", Key="big")["UploadId"]
    etags = [c.upload_part(Bucket="crash-mp", Key="big", UploadId=uid, PartNumber=i,
                           Body=d)["ETag"] for i, d in enumerate(parts, 1)]
    for i in range(20):
        c.put_object(Bucket="crash-mp", Key=f"o{i:02d}", Body=f"object {i}".encode())
    for i in range(0, 10):
        c.delete_object(Bucket="crash-mp", Key=f"o{i:02d}")
    c.delete_objects(Bucket="crash-mp", Delete={"Objects": [{"Key": f"o{i:02d}"}
                                                            for i in range(10, 15)]})
    srv.restart()
    c = client(srv)
    listed = c.list_parts(Bucket="crash-mp", Key="big", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in listed] == list(zip([1, 2, 3], etags))
    r = c.complete_multipart_upload(
        Bucket="crash-mp", Key="big", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": i, "ETag": e}
                                   for i, e in enumerate(etags, 1)]})
    assert r["ETag"] == multipart_etag(parts)
    keys = [o["Key"] for o in c.list_objects_v2(Bucket="crash-mp")["Contents"]]
    assert keys == ["big"] + [f"o{i:02d}" for i in range(15, 20)]
    for i in range(15):
        with s3_error("NoSuchKey", 404):
            c.get_object(Bucket="crash-mp", Key=f"o{i:02d}")
    # the completion itself is durable too
    srv.restart()
    c = client(srv)
    got = c.get_object(Bucket="crash-mp", Key="big")
    assert got["ETag"] == multipart_etag(parts)
    assert hashlib.sha256(got["Body"].read()).digest() == hashlib.sha256(b"".join(parts)).digest()
    with s3_error("NoSuchUpload", 404):
        c.list_parts(Bucket="crash-mp", Key="big", UploadId=uid)


def test_kill9_right_after_start(server_factory):
    """Start-up is recovery: killing a freshly started server and starting again works."""
    srv = server_factory().start()
    c = client(srv)
    c.create_bucket(Bucket="early")
    c.put_object(Bucket="early", Key="k", Body=b"v")
    for _ in range(3):
        srv.restart()
    c = client(srv)
    assert c.get_object(Bucket="early", Key="k")["Body"].read() == b"v"
