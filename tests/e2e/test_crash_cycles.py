"""Crash cycles: kill -9 at random instants (seeded RNG) while many writes are in flight,
restart, and check what S3 promises:

- every acknowledged write reads back byte-identical (sha256) after the restart;
- nothing else is readable except a body that was sent in full for that key (a write
  that was not acknowledged may have happened or not, but never partially or mixed);
- after every upload is completed or aborted and the server restarted, no data file is
  left behind that no object needs (the start-up sweep removes orphans in the
  background, so the count is polled, bounded, never slept for).

BLEEPSTORE_CRASH_SEED overrides the seed; every failure message names it.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from botocore.exceptions import ClientError

from s3helpers import BACKEND, DEFAULT, MiB, make_client, s3_error

SEED = int(os.environ.get("BLEEPSTORE_CRASH_SEED", "20250117")) + 7919
INLINE_MAX = 65536  # storage.inline_bytes_max default: larger objects live in data files
SWEEP_WAIT_S = 10.0


def client(srv, **kw):
    cfg = dict(max_pool_connections=64, connect_timeout=5, read_timeout=60)
    cfg.update(kw)
    return make_client(srv.endpoint, DEFAULT, **cfg)


class Crasher:
    """Runs request closures concurrently and kills the server `kill_at` seconds after
    they were released together (or as soon as all finished, if sooner). An exception
    raised before the kill is a failure: the server was alive and well then."""

    def __init__(self, srv):
        self.srv = srv
        self.cond = threading.Condition()
        self.done = 0
        self.killed = False
        self.early_errors: list[str] = []
        self.all_done_after: float | None = None  # seconds, if every job finished

    def run(self, jobs, kill_at: float) -> float:
        start = threading.Barrier(len(jobs) + 1)

        def runner(job):
            start.wait()
            try:
                job()
            except Exception as e:  # noqa: BLE001
                with self.cond:
                    if not self.killed:
                        self.early_errors.append(repr(e)[:600])
            finally:
                with self.cond:
                    self.done += 1
                    self.cond.notify_all()

        threads = [threading.Thread(target=runner, args=(j,), daemon=True) for j in jobs]
        for t in threads:
            t.start()
        start.wait()
        t0 = time.monotonic()
        with self.cond:
            if self.cond.wait_for(lambda: self.done == len(jobs), timeout=kill_at):
                self.all_done_after = time.monotonic() - t0
            self.killed = True
        self.srv.kill9()
        at = time.monotonic() - t0
        for t in threads:
            t.join(120)
            assert not t.is_alive(), "a request thread hung after the kill"
        return at


class KillClock:
    """Random kill instants from the seeded RNG, spread over how long a cycle's writes
    take on this machine (learned from the cycles that finished before their kill), so
    most kills land while requests are in flight whatever the machine's speed; one in
    ten comes only after everything was acknowledged."""

    def __init__(self, rng: random.Random, first_guess: float):
        self.rng = rng
        self.est = first_guess

    def next(self) -> float:
        if self.rng.random() < 0.1:
            return 60.0
        return self.rng.uniform(0.02, 1.0) * self.est

    def learn(self, crasher: "Crasher"):
        if crasher.all_done_after is not None:
            self.est = 0.5 * self.est + 0.5 * max(crasher.all_done_after, 0.05)


def count_data_files(data_dir: Path) -> int:
    n = 0
    for d in (data_dir / "objects").iterdir():
        if d.is_dir():
            n += sum(1 for f in d.iterdir() if f.is_file())
    return n


def expected_data_files(c, buckets) -> int:
    """Files the live objects need: one per part of a multipart object, one for a
    single-PUT object above the inline limit, none for inline objects."""
    n = 0
    for b in buckets:
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=b):
            for o in page.get("Contents", []):
                etag = o["ETag"].strip('"')
                if "-" in etag:
                    n += int(etag.rsplit("-", 1)[1])
                elif o["Size"] > INLINE_MAX:
                    n += 1
    return n


def assert_no_orphan_files(srv, c, buckets, what: str):
    if BACKEND != "local":
        return  # object bytes are upstream: there are no local data files to count
    want = expected_data_files(c, buckets)
    deadline = time.monotonic() + SWEEP_WAIT_S
    while True:
        got = count_data_files(srv.data_dir)
        if got == want:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"seed {SEED} {what}: {got} data files under {srv.data_dir}/objects, the "
                f"live objects need {want} ({got - want:+d}) after {SWEEP_WAIT_S:.0f}s")
        time.sleep(0.05)  # poll interval


# --------------------------------------------------------------------------------------
# (a) single PUTs
# --------------------------------------------------------------------------------------

PUT_KEYS = [f"put/{i:02d}" for i in range(64)]


def pick_size(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.40:
        return rng.randint(1, 4096)
    if r < 0.55:
        return rng.choice([65535, 65536, 65537, rng.randint(4097, 65536)])
    if r < 0.85:
        return rng.randint(65537, 1 * MiB)
    if r < 0.97:
        return rng.randint(1 * MiB, 8 * MiB)
    return rng.choice([16 * MiB, 32 * MiB + 1, 64 * MiB])


class Bodies:
    """Distinct bodies for (key, generation): a unique header, then a slice of one
    random buffer at an offset derived from the header, so two bodies for the same key
    differ everywhere and a mix of two would match neither."""

    def __init__(self, seed: int):
        self.base = random.Random(seed).randbytes(64 * MiB + 2 * MiB)

    def make(self, key: str, gen: str, size: int) -> bytes:
        head = f"<{key}|{gen}>".encode()
        if size <= len(head):
            return hashlib.sha256(head).digest()[:size] if size <= 32 else head[:size]
        off = int.from_bytes(hashlib.sha256(head).digest()[:4], "big") % (2 * MiB)
        return head + self.base[off:off + size - len(head)]


def read_all(c, bucket, keys, workers=8):
    """key -> (sha256 hex, body length, ETag) or None if NoSuchKey."""
    def one(k):
        try:
            r = c.get_object(Bucket=bucket, Key=k)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "NoSuchKey", (k, e.response)
            return k, None
        h = hashlib.sha256()
        n = 0
        for chunk in r["Body"].iter_chunks(1 * MiB):
            h.update(chunk)
            n += len(chunk)
        assert n == r["ContentLength"], (k, n, r["ContentLength"])
        return k, (h.hexdigest(), n, r["ETag"])
    with ThreadPoolExecutor(workers) as ex:
        return dict(ex.map(one, keys))


def listing(c, bucket) -> dict:
    out = {}
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            out[o["Key"]] = (o["Size"], o["ETag"])
    return out


def test_kill9_cycles_during_concurrent_puts(server_factory):
    rng = random.Random(SEED)
    clock = KillClock(random.Random(SEED ^ 0x5EED), 1.0)
    bodies = Bodies(SEED)
    srv = server_factory().start()
    c = client(srv)
    bucket = "crash-cycles-put"
    c.create_bucket(Bucket=bucket)
    # per key: the states it may legitimately be in (sha256 hex; None = absent)
    possible: dict[str, set] = {k: {None} for k in PUT_KEYS}
    md5_of: dict[str, str] = {}
    totals = {"acked": 0, "sent": 0, "bytes": 0}

    for cycle in range(20):
        plan = [(k, pick_size(rng)) for k in rng.sample(PUT_KEYS, 32)]
        kill_at = clock.next()
        acked: dict[str, str] = {}
        attempted: dict[str, str] = {}
        lock = threading.Lock()

        def job(key, size, c=c, acked=acked, attempted=attempted, lock=lock, cycle=cycle):
            def f():
                data = bodies.make(key, f"{SEED}-{cycle}", size)
                sha = hashlib.sha256(data).hexdigest()
                with lock:
                    attempted[key] = sha
                    md5_of[sha] = hashlib.md5(data).hexdigest()
                c.put_object(Bucket=bucket, Key=key, Body=data)
                with lock:
                    acked[key] = sha
            return f

        crasher = Crasher(srv)
        at = crasher.run([job(k, s) for k, s in plan], kill_at)
        clock.learn(crasher)
        assert not crasher.early_errors, \
            f"seed {SEED} cycle {cycle}: errors before the kill: {crasher.early_errors[:3]}"
        for key, _ in plan:
            if key in acked:
                possible[key] = {acked[key]}
            elif key in attempted:
                possible[key] = possible[key] | {attempted[key]}
        totals["acked"] += len(acked)
        totals["sent"] += len(plan)
        totals["bytes"] += sum(s for _, s in plan)
        kill_note = f"kill at {at:.2f}s" + (" (after all)" if crasher.all_done_after else "")

        srv.start()
        c = client(srv)
        got = read_all(c, bucket, PUT_KEYS)
        for key in PUT_KEYS:
            state = got[key]
            if state is None:
                assert None in possible[key], \
                    f"seed {SEED} cycle {cycle}: acknowledged {key} lost after kill -9"
                possible[key] = {None}
                continue
            sha, n, etag = state
            assert sha in possible[key], (
                f"seed {SEED} cycle {cycle}: {key} reads {n} bytes that match no body "
                f"sent in full for it (acknowledged this cycle: {key in acked})")
            assert etag == f'"{md5_of[sha]}"', (SEED, cycle, key, etag)
            possible[key] = {sha}
        unacked_visible = sum(1 for k, _ in plan if k not in acked and got[k] is not None
                              and got[k][0] == attempted.get(k))
        print(f"[crash-put] cycle {cycle:2d}: {kill_note}, {len(acked)}/{len(plan)} "
              f"acknowledged, {unacked_visible} unacknowledged yet durable")
        listed = listing(c, bucket)
        readable = {k: v for k, v in got.items() if v is not None}
        assert sorted(listed) == sorted(readable), \
            f"seed {SEED} cycle {cycle}: listing disagrees with GETs"
        for k, (size, etag) in listed.items():
            assert (size, etag) == (readable[k][1], readable[k][2]), (SEED, cycle, k)

    print(f"[crash-put] {totals['acked']}/{totals['sent']} puts acknowledged, "
          f"{totals['bytes'] / MiB:.0f} MiB sent")
    # every killed write's file is an orphan now: a restart sweeps them
    srv.restart()
    c = client(srv)
    assert_no_orphan_files(srv, c, [bucket], "after 20 put cycles")
    # and a final read of everything still matches
    got = read_all(c, bucket, PUT_KEYS)
    for key in PUT_KEYS:
        want = next(iter(possible[key]))
        assert (got[key][0] if got[key] else None) == want, (SEED, key)


# --------------------------------------------------------------------------------------
# (b) multipart uploads
# --------------------------------------------------------------------------------------

MP_KEYS = [f"mp/{i:02d}" for i in range(12)]
MP_PART = 64 * 1024  # multipart.part_size_min for this server


def mp_etag(parts: list[bytes]) -> str:
    return f'"{hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()}-{len(parts)}"'


def test_kill9_cycles_during_multipart_uploads(server_factory):
    rng = random.Random(SEED + 1)
    clock = KillClock(random.Random((SEED + 1) ^ 0x5EED), 0.5)
    bodies = Bodies(SEED + 1)
    srv = server_factory(config_overrides={"multipart": {"part_size_min": MP_PART}}).start()
    c = client(srv)
    bucket = "crash-cycles-mp"
    c.create_bucket(Bucket=bucket)
    possible: dict[str, set] = {k: {None} for k in MP_KEYS}
    etag_of: dict[str, tuple[str, int]] = {}  # sha256 of a full body -> (ETag, parts)
    # upload id -> (key, {part number: bytes}) for every upload we know the id of
    uploads: dict[str, tuple[str, dict]] = {}
    acked_parts: dict[str, set] = {}  # upload id -> part numbers acknowledged
    complete_sent: set = set()  # upload ids whose CompleteMultipartUpload went out
    stats = {"completed": 0, "planned": 0, "leftover_completed": 0, "leftover_aborted": 0}

    for cycle in range(10):
        plan = []
        for key in rng.sample(MP_KEYS, 8):
            nparts = rng.randint(2, 10)
            sizes = [MP_PART * rng.choice([1, 1, 1, 2, 4, 8]) for _ in range(nparts - 1)]
            sizes.append(rng.randint(1, MP_PART * 2))
            gen = f"{SEED}-{cycle}-{key}"
            parts = {n: bodies.make(key, f"{gen}-p{n}", s) for n, s in enumerate(sizes, 1)}
            plan.append((key, parts))
        kill_at = clock.next()
        acked_complete: dict[str, str] = {}
        sent_complete: dict[str, str] = {}
        lock = threading.Lock()

        def job(key, parts, c=c, lock=lock, acked_complete=acked_complete,
                sent_complete=sent_complete):
            def f():
                whole = [parts[n] for n in sorted(parts)]
                sha = hashlib.sha256(b"".join(whole)).hexdigest()
                with lock:
                    etag_of[sha] = (mp_etag(whole), len(whole))
                uid = c.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
                with lock:
                    uploads[uid] = (key, parts)
                    acked_parts[uid] = set()
                etags = []
                for n in sorted(parts):
                    r = c.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n,
                                      Body=parts[n])
                    assert r["ETag"] == f'"{hashlib.md5(parts[n]).hexdigest()}"'
                    etags.append({"PartNumber": n, "ETag": r["ETag"]})
                    with lock:
                        acked_parts[uid].add(n)
                with lock:
                    sent_complete[key] = sha
                    complete_sent.add(uid)
                r = c.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                                MultipartUpload={"Parts": etags})
                assert r["ETag"] == etag_of[sha][0], (r["ETag"], etag_of[sha])
                with lock:
                    acked_complete[key] = sha
                    uploads.pop(uid, None)
            return f

        crasher = Crasher(srv)
        at = crasher.run([job(k, p) for k, p in plan], kill_at)
        clock.learn(crasher)
        assert not crasher.early_errors, \
            f"seed {SEED} cycle {cycle}: errors before the kill: {crasher.early_errors[:3]}"
        for key, _ in plan:
            if key in acked_complete:
                possible[key] = {acked_complete[key]}
            elif key in sent_complete:
                possible[key] = possible[key] | {sent_complete[key]}
        stats["completed"] += len(acked_complete)
        stats["planned"] += len(plan)
        print(f"[crash-mp] cycle {cycle}: kill at {at:.2f}s"
              f"{' (after all)' if crasher.all_done_after else ''}, "
              f"{len(acked_complete)}/{len(plan)} completions acknowledged")

        srv.start()
        c = client(srv)

        def check_objects(where: str):
            got = read_all(c, bucket, MP_KEYS)
            for key in MP_KEYS:
                if got[key] is None:
                    assert None in possible[key], \
                        f"seed {SEED} cycle {cycle} {where}: completed {key} lost"
                    possible[key] = {None}
                    continue
                sha, n, etag = got[key]
                assert sha in possible[key], (
                    f"seed {SEED} cycle {cycle} {where}: {key} reads {n} bytes that are "
                    f"no upload sent in full (half-assembled?)")
                assert etag == etag_of[sha][0], (SEED, cycle, key, etag, etag_of[sha])
                h = c.head_object(Bucket=bucket, Key=key, PartNumber=1)
                assert h["PartsCount"] == etag_of[sha][1], (SEED, cycle, key)
                possible[key] = {sha}
            listed = listing(c, bucket)
            assert sorted(listed) == sorted(k for k, v in got.items() if v is not None), \
                f"seed {SEED} cycle {cycle} {where}: listing disagrees with GETs"

        check_objects("after restart")

        # leftovers: each in-progress upload keeps exactly the parts that were sent in full
        leftovers = []
        for page in c.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            leftovers += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        for key, uid in leftovers:
            listed_parts = []
            for page in c.get_paginator("list_parts").paginate(Bucket=bucket, Key=key,
                                                               UploadId=uid):
                listed_parts += page.get("Parts", [])
            if uid not in uploads:
                # created, but the kill ate the answer: we never had its id to add parts
                assert listed_parts == [], (SEED, cycle, key, uid, listed_parts)
                c.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=uid)
                stats["leftover_aborted"] += 1
                continue
            ukey, parts = uploads.pop(uid)
            assert ukey == key
            lost = acked_parts[uid] - {p["PartNumber"] for p in listed_parts}
            assert not lost, \
                f"seed {SEED} cycle {cycle}: acknowledged parts {sorted(lost)} of {key} lost"
            for p in listed_parts:
                data = parts[p["PartNumber"]]
                assert (p["Size"], p["ETag"]) == \
                    (len(data), f'"{hashlib.md5(data).hexdigest()}"'), \
                    f"seed {SEED} cycle {cycle}: part {p['PartNumber']} of {key} is partial"
            chosen = [parts[p["PartNumber"]] for p in listed_parts]
            if listed_parts and sum(map(len, chosen)) > INLINE_MAX and rng.random() < 0.5:
                r = c.complete_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=uid,
                    MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"],
                                                "ETag": p["ETag"]} for p in listed_parts]})
                sha = hashlib.sha256(b"".join(chosen)).hexdigest()
                etag_of[sha] = (mp_etag(chosen), len(chosen))
                assert r["ETag"] == etag_of[sha][0]
                possible[key] = {sha}
                stats["leftover_completed"] += 1
            else:
                c.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=uid)
                stats["leftover_aborted"] += 1
            with s3_error("NoSuchUpload", 404):
                c.list_parts(Bucket=bucket, Key=key, UploadId=uid)
        # uploads whose id we know but which are gone: only a Complete may have done that
        for uid in list(uploads):
            key, _ = uploads.pop(uid)
            assert uid in complete_sent, \
                f"seed {SEED} cycle {cycle}: acknowledged upload {uid} of {key} vanished"
            with s3_error("NoSuchUpload", 404):
                c.list_parts(Bucket=bucket, Key=key, UploadId=uid)
        assert c.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
        check_objects("after resolving leftovers")

        # everything completed or aborted: after a restart no part file is left behind
        srv.restart()
        c = client(srv)
        assert_no_orphan_files(srv, c, [bucket], f"cycle {cycle}")

    print(f"[crash-mp] {stats}")
    check_objects("at the end")
