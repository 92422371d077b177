"""Concurrent operations on the same names. Each test runs against its own private
server so that a crash shows up here, named, instead of taking the shared server down."""

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError, HTTPClientError

from s3helpers import ALICE, BOB, DEFAULT, MiB, det_bytes, make_client, multipart_etag


def client(srv, creds=DEFAULT):
    return make_client(srv.endpoint, creds, read_timeout=20, connect_timeout=5,
                       max_pool_connections=32)


def assert_alive(srv):
    assert srv.running, f"server crashed:\n{srv.log_tail(40)}"
    assert not srv.panics(), f"server panicked: {srv.panics()[:3]}"


def etag_of(data):
    return f'"{hashlib.md5(data).hexdigest()}"'


def test_concurrent_overwrites_are_atomic(server_factory):
    """Writers overwrite one key while readers read it: every read returns one complete
    body whose ETag matches it, never a mix; the final state is one of the bodies."""
    srv = server_factory().start()
    s3 = client(srv)
    s3.create_bucket(Bucket="hot")
    bodies = [det_bytes(f"atomic{i}", n) for i, n in
              enumerate([10, 65_000, 70_000, 300_000, 1 * MiB + 3, 2 * MiB])]
    known = {hashlib.sha256(b).hexdigest() for b in bodies}
    s3.put_object(Bucket="hot", Key="k", Body=bodies[0])
    stop = threading.Event()
    problems = []

    def writer(w):
        for r in range(40):
            s3.put_object(Bucket="hot", Key="k", Body=bodies[(w + r) % len(bodies)])

    def reader():
        n = 0
        while not stop.is_set() or n == 0:
            n += 1
            got = s3.get_object(Bucket="hot", Key="k")
            data = got["Body"].read()
            if hashlib.sha256(data).hexdigest() not in known:
                problems.append(f"torn read of {len(data)} bytes")
            elif got["ETag"] != etag_of(data) or got["ContentLength"] != len(data):
                problems.append("ETag/length do not match the body returned")
        return n

    try:
        with ThreadPoolExecutor(10) as ex:
            readers = [ex.submit(reader) for _ in range(4)]
            writers = [ex.submit(writer, w) for w in range(6)]
            try:
                for f in writers:
                    f.result()
            finally:
                stop.set()
            reads = sum(f.result() for f in readers)
    except HTTPClientError as e:  # timeouts, resets, closed connections
        raise AssertionError(f"transport failure under concurrent overwrites: {e!r}; "
                             f"server panics: {srv.panics()[:3]}")
    finally:
        stop.set()
        assert_alive(srv)
    assert not problems, problems[:5]
    assert reads > 10
    final = s3.get_object(Bucket="hot", Key="k")["Body"].read()
    assert hashlib.sha256(final).hexdigest() in known


def test_concurrent_put_and_delete_same_key(server_factory):
    srv = server_factory().start()
    s3 = client(srv)
    s3.create_bucket(Bucket="churn")
    bodies = [det_bytes(f"churn{i}", n) for i, n in enumerate([5, 100_000, 700_000])]
    known = {hashlib.sha256(b).hexdigest() for b in bodies}
    problems = []

    def putter(i):
        for r in range(25):
            s3.put_object(Bucket="churn", Key="k", Body=bodies[(i + r) % 3])

    def deleter():
        for _ in range(25):
            s3.delete_object(Bucket="churn", Key="k")

    def getter():
        for _ in range(40):
            try:
                data = s3.get_object(Bucket="churn", Key="k")["Body"].read()
            except ClientError as e:
                if e.response["Error"]["Code"] != "NoSuchKey":
                    problems.append(repr(e))
                continue
            if hashlib.sha256(data).hexdigest() not in known:
                problems.append(f"partial body of {len(data)} bytes")

    try:
        with ThreadPoolExecutor(8) as ex:
            futs = [ex.submit(putter, i) for i in range(3)] + \
                   [ex.submit(deleter) for _ in range(2)] + [ex.submit(getter) for _ in range(3)]
            for f in futs:
                f.result()
    except HTTPClientError as e:
        raise AssertionError(f"transport failure under put/delete churn: {e!r}; "
                             f"server panics: {srv.panics()[:3]}")
    finally:
        assert_alive(srv)
    assert not problems, problems[:5]
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="churn").get("Contents", [])]
    try:
        data = s3.get_object(Bucket="churn", Key="k")["Body"].read()
        assert listed == ["k"]
        assert hashlib.sha256(data).hexdigest() in known
    except ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchKey"
        assert listed == []


def test_concurrent_multipart_completions_same_key(server_factory):
    srv = server_factory().start()
    s3 = client(srv)
    s3.create_bucket(Bucket="mpu-race")
    uploads = []
    for u in range(4):
        parts = [det_bytes(f"race{u}-1", 5 * MiB), det_bytes(f"race{u}-2", 1000 + u)]
        uid = s3.create_multipart_upload(Bucket="mpu-race", Key="k")["UploadId"]
        etags = [s3.upload_part(Bucket="mpu-race", Key="k", UploadId=uid, PartNumber=i,
                                Body=d)["ETag"] for i, d in enumerate(parts, 1)]
        uploads.append((uid, etags, parts))
    barrier = threading.Barrier(len(uploads))

    def finish(u):
        uid, etags, _ = u
        barrier.wait()
        return s3.complete_multipart_upload(
            Bucket="mpu-race", Key="k", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": i, "ETag": e}
                                       for i, e in enumerate(etags, 1)]})["ETag"]

    try:
        with ThreadPoolExecutor(len(uploads)) as ex:
            done = list(ex.map(finish, uploads))
    finally:
        assert_alive(srv)
    assert done == [multipart_etag(p) for _, _, p in uploads]
    got = s3.get_object(Bucket="mpu-race", Key="k")
    data = got["Body"].read()
    winners = [p for _, _, p in uploads if b"".join(p) == data]
    assert len(winners) == 1, "final object is not exactly one of the uploads"
    assert got["ETag"] == multipart_etag(winners[0])
    assert s3.list_multipart_uploads(Bucket="mpu-race").get("Uploads", []) == []


def test_concurrent_create_same_bucket(server_factory):
    srv = server_factory().start()
    clients = [client(srv, c) for c in (DEFAULT, ALICE, BOB)]
    barrier = threading.Barrier(24)

    def create(i):
        c = clients[i % 3]
        barrier.wait()
        try:
            c.create_bucket(Bucket="contested")
            return ("ok", i % 3)
        except ClientError as e:
            return (e.response["Error"]["Code"], i % 3)

    try:
        with ThreadPoolExecutor(24) as ex:
            results = list(ex.map(create, range(24)))
    finally:
        assert_alive(srv)
    # One user wins. In us-east-1 (the suite's region) the winner's other attempts answer
    # 200 as AWS's legacy re-create does; everyone else's BucketAlreadyExists.
    winners = {who for code, who in results if code == "ok"}
    assert len(winners) == 1, results
    owner = winners.pop()
    for code, who in results:
        want = "ok" if who == owner else "BucketAlreadyExists"
        assert code == want, results
    names = [b["Name"] for b in clients[owner].list_buckets()["Buckets"]]
    assert names.count("contested") == 1


def test_parallel_ranged_reads(server_factory):
    srv = server_factory().start()
    s3 = client(srv)
    s3.create_bucket(Bucket="ranges")
    data = det_bytes("ranges", 20 * MiB + 17)
    s3.put_object(Bucket="ranges", Key="big", Body=data)
    import random
    rng = random.Random(7)
    spans = []
    for _ in range(64):
        a = rng.randrange(len(data))
        spans.append((a, min(len(data) - 1, a + rng.randrange(1, 3 * MiB))))

    def fetch(span):
        a, b = span
        got = s3.get_object(Bucket="ranges", Key="big", Range=f"bytes={a}-{b}")["Body"].read()
        return got == data[a:b + 1]

    try:
        with ThreadPoolExecutor(16) as ex:
            ok = list(ex.map(fetch, spans))
    finally:
        assert_alive(srv)
    assert all(ok), [s for s, good in zip(spans, ok) if not good][:5]


def md5_batch_counters(srv):
    """(batches, jobs) of the per-core MD5 batcher, summed over cores."""
    import re
    import urllib.request
    with urllib.request.urlopen(f"{srv.endpoint}/metrics", timeout=10) as r:
        text = r.read().decode()

    def total(name):
        return sum(float(v) for v in re.findall(rf"^{name}{{[^}}]*}} (\S+)$", text, re.M))
    return total("bleepstore_md5_batches_total"), total("bleepstore_md5_batched_jobs_total")


def cpu_has_avx512vl():
    try:
        flags = open("/proc/cpuinfo").read().split()
    except OSError:
        return False
    return "avx512f" in flags and "avx512vl" in flags


def test_concurrent_large_puts_each_get_their_own_md5(server_factory):
    """Many large uploads at once share their cores' MD5 work (on AVX-512VL, up to 8 bodies
    hashed per register): each still gets the ETag of its own body, a wrong Content-MD5
    among them is still BadDigest and stores nothing, and every body reads back whole."""
    import base64
    srv = server_factory().start()
    s3 = client(srv)
    s3.create_bucket(Bucket="md5s")
    bodies = [det_bytes(f"md5s{i}", 256 * 1024 + i * 123_457) for i in range(32)]
    wrong = {i for i in range(32) if i % 8 == 5}
    barrier = threading.Barrier(16)

    def put(i):
        body = bodies[i]
        digest = hashlib.md5(body + b"!" if i in wrong else body).digest()
        extra = {"ContentMD5": base64.b64encode(digest).decode()} if i % 2 else {}
        if i < 16:
            barrier.wait(timeout=60)
        try:
            return s3.put_object(Bucket="md5s", Key=f"k{i}", Body=body, **extra)["ETag"]
        except ClientError as e:
            return e.response["Error"]["Code"]

    try:
        with ThreadPoolExecutor(16) as ex:
            got = list(ex.map(put, range(32)))
        for i, body in enumerate(bodies):
            if i in wrong:
                assert got[i] == "BadDigest", (i, got[i])
                try:
                    s3.head_object(Bucket="md5s", Key=f"k{i}")
                    raise AssertionError(f"k{i} was stored despite BadDigest")
                except ClientError as e:
                    assert e.response["Error"]["Code"] in ("404", "NoSuchKey"), e.response
            else:
                assert got[i] == etag_of(body), (i, got[i])
                data = s3.get_object(Bucket="md5s", Key=f"k{i}")["Body"].read()
                assert hashlib.md5(data).digest() == hashlib.md5(body).digest(), i
        batches, jobs = md5_batch_counters(srv)
    finally:
        assert_alive(srv)
    if cpu_has_avx512vl():
        assert batches > 0 and jobs > batches, (batches, jobs)
    else:
        assert batches == 0, (batches, jobs)
