#!/usr/bin/env python3
"""Cluster mode end to end (issue #19, milestone 2): three real node processes on loopback,
started by scripts/cluster.sh, metadata replicated through Raft.

    python3 tests/cluster/test_cluster.py      # needs boto3; the release binary is used
                                               # (BLEEPSTORE_BIN overrides it)

Checks: a bucket created on node 1 is seen on nodes 2 and 3; a small (inline) object PUT on
node 2 is read byte-identical from nodes 1 and 3; a DELETE on node 3 is a 404 on nodes 1 and
2; a listing on any node has every key written on any node; a large (non-inline) object's
data file gets a copy on every node (replication_factor 3 of 3 nodes) and is read whole, by
ranges and as a copy source on every node; GETs on every node while node 1 overwrites a
large object each read one version whole, never an error; then the leader of a group is killed with SIGKILL
during a write load of small and large objects on every node: writes on the survivors resume
within 5 s and every acknowledged write, large ones received by the killed node included, is
read back byte-identical from both survivors; the killed node started again catches up and
serves them too; a node whose data files were wiped is refilled from its peers at restart;
a follower, then the leader, is frozen with SIGSTOP under writes on the other two nodes:
writes go on, and after SIGCONT every node serves every acknowledged write.
A history checker runs concurrent PUTs and GETs on a few keys over every node and checks
every read saw the latest write completed before it or a concurrent one, and that every node
ends on a value no acknowledged write superseded. Every wait polls a condition with a
deadline.
"""

import json
import os
import signal
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, BotoCoreError

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from history import check_history_checker, check_history as check_register_history  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER_SH = os.path.join(ROOT, "scripts", "cluster.sh")
NODES = 3
SHARDS = 2  # cluster.shards default: the Raft groups
RESUME_S = 5.0
# A second user, for another owner's CreateBucket.
EXTRA_CONFIG = """auth:
  users:
    - access_key: "alice"
      secret_key: "alice-secret"
      display_name: "alice"
      id: "alice-id"
"""


def free_base(count, avoid=()):
    """A first port p such that p..p+count-1 are all free on 127.0.0.1."""
    # Below the ephemeral range (32768+): a port left free now is not taken later by an
    # outgoing connection (a node is added minutes after the check).
    for _ in range(200):
        base = random.randrange(20000, 32000 - count)
        if any(base <= a < base + count for a in avoid):
            continue
        ok = True
        for p in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


def fnv1a(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def group_of(bucket):
    """The metadata shard (Raft group) of a bucket: runtime::shard_of."""
    return fnv1a(bucket) % SHARDS


def client(addr):
    return boto3.client(
        "s3",
        endpoint_url=f"http://{addr}",
        aws_access_key_id="bleepstore",
        aws_secret_access_key="bleepstore-secret",
        region_name="us-east-1",
        # One attempt: a 503 must reach the test, not be retried away.
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            s3={"addressing_style": "path"},
            connect_timeout=2,
            read_timeout=15,
        ),
    )


def get_json(addr, path):
    try:
        with urllib.request.urlopen(f"http://{addr}{path}", timeout=3) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_until(what, cond, deadline_s):
    until = time.monotonic() + deadline_s
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > until:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def code_of(e):
    return e.response.get("Error", {}).get("Code"), e.response["ResponseMetadata"]["HTTPStatusCode"]


class Cluster:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="bleepstore-cluster-test.")
        # One port more than the nodes: a node is added at run time.
        s3 = free_base(NODES + 1)
        peer = free_base(NODES + 1, avoid=range(s3, s3 + NODES + 1))
        extra = os.path.join(self.tmp, "extra.yaml")
        with open(extra, "w") as f:
            f.write(EXTRA_CONFIG)
        self.env = dict(
            os.environ,
            BLEEPSTORE_CLUSTER_EXTRA_CONFIG=extra,
            BLEEPSTORE_CLUSTER_DIR=os.path.join(self.tmp, "cluster"),
            BLEEPSTORE_CLUSTER_S3_PORT=str(s3),
            BLEEPSTORE_CLUSTER_PEER_PORT=str(peer),
        )
        subprocess.run([CLUSTER_SH, "up", str(NODES)], check=True, env=self.env)
        self.nodes = {}
        self.read_nodes()

    def read_nodes(self):
        """The running nodes, from scripts/cluster.sh's nodes.txt."""
        nodes = {}
        with open(os.path.join(self.env["BLEEPSTORE_CLUSTER_DIR"], "nodes.txt")) as f:
            for line in f:
                nid, s3addr, _peer, pid = line.split()
                nodes[int(nid)] = {"s3": s3addr, "pid": int(pid), "client": client(s3addr)}
        self.nodes = nodes

    def add(self, nid):
        subprocess.run([CLUSTER_SH, "add", str(nid)], check=True, env=self.env)
        self.read_nodes()

    def remove(self, nid):
        subprocess.run([CLUSTER_SH, "remove", str(nid)], check=True, env=self.env)
        self.read_nodes()

    def c(self, nid):
        return self.nodes[nid]["client"]

    def leader_of(self, group, asking=1):
        status, body = get_json(self.nodes[asking]["s3"], "/health")
        g = next(g for g in body["cluster"]["groups"] if g["group"] == group)
        return g["leader"]

    def kill(self, nid):
        os.kill(self.nodes[nid]["pid"], signal.SIGKILL)
        self.nodes[nid]["dead"] = True

    def start(self, nid):
        subprocess.run([CLUSTER_SH, "start", str(nid)], check=True, env=self.env)
        with open(os.path.join(self.env["BLEEPSTORE_CLUSTER_DIR"], f"node-{nid}.pid")) as f:
            self.nodes[nid]["pid"] = int(f.read())
        self.nodes[nid]["dead"] = False
        self.nodes[nid]["client"] = client(self.nodes[nid]["s3"])

    def down(self):
        subprocess.run([CLUSTER_SH, "down"], env=self.env, check=False)
        subprocess.run(["rm", "-rf", self.tmp], check=False)


def check_replicated_reads(cl):
    # A bucket created on node 1 is there on nodes 2 and 3, at once (linearisable reads).
    cl.c(1).create_bucket(Bucket="replicated")
    for n in (2, 3):
        cl.c(n).head_bucket(Bucket="replicated")
    names = [b["Name"] for b in cl.c(3).list_buckets()["Buckets"]]
    assert "replicated" in names, names

    # Another owner's CreateBucket of it on another node: the replica's own error, typed.
    alice = boto3.client(
        "s3",
        endpoint_url=f"http://{cl.nodes[2]['s3']}",
        aws_access_key_id="alice",
        aws_secret_access_key="alice-secret",
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                      s3={"addressing_style": "path"}),
    )
    try:
        alice.create_bucket(Bucket="replicated")
        raise AssertionError("CreateBucket of another owner's bucket succeeded")
    except ClientError as e:
        assert code_of(e) == ("BucketAlreadyExists", 409), e.response

    # PUT a small object on node 2, read it byte-identical on nodes 1 and 3.
    body = bytes(range(256)) * 16  # 4 KiB: inline
    put = cl.c(2).put_object(Bucket="replicated", Key="small", Body=body)
    for n in (1, 3):
        got = cl.c(n).get_object(Bucket="replicated", Key="small")
        assert got["Body"].read() == body, f"node {n}"
        assert got["ETag"] == put["ETag"], f"node {n}"

    # Keys written on every node are listed on every node.
    for n in (1, 2, 3):
        cl.c(n).put_object(Bucket="replicated", Key=f"from-{n}", Body=f"node {n}".encode())
    for n in (1, 2, 3):
        keys = [o["Key"] for o in cl.c(n).list_objects_v2(Bucket="replicated")["Contents"]]
        assert keys == ["from-1", "from-2", "from-3", "small"], (n, keys)

    # DELETE on node 3: 404 on nodes 1 and 2.
    cl.c(3).delete_object(Bucket="replicated", Key="small")
    for n in (1, 2):
        try:
            cl.c(n).get_object(Bucket="replicated", Key="small")
            raise AssertionError(f"node {n} still serves a deleted object")
        except ClientError as e:
            assert code_of(e) == ("NoSuchKey", 404), e.response
    print("ok: replicated bucket, inline object, listing, delete")


def data_files_of_size(cl, nid, size):
    """Data files of exactly `size` bytes in node `nid`'s objects directory."""
    objects = os.path.join(cl.env["BLEEPSTORE_CLUSTER_DIR"], f"node-{nid}", "objects")
    found = 0
    for d, _dirs, files in os.walk(objects):
        for f in files:
            if not f.endswith(".incoming") and os.path.getsize(os.path.join(d, f)) == size:
                found += 1
    return found


def check_large_object_copies(cl):
    # Bytes over the inline limit: the receiving node keeps its data file and copies it to
    # the other nodes (replication_factor 3 of 3 nodes: every node), answering once a
    # majority holds it. Every node then serves it, checked against the record's CRC32Cs.
    big = os.urandom(3 * 1024 * 1024 + 12345)  # several 1 MiB pieces, a partial last one
    cl.c(1).put_object(Bucket="replicated", Key="big", Body=big)
    held = sum(1 for n in cl.nodes if data_files_of_size(cl, n, len(big)) == 1)
    assert held >= 2, f"PUT answered with the bytes on {held} node(s), a quorum is 2"
    wait_until("a copy of the data file on every node",
               lambda: all(data_files_of_size(cl, n, len(big)) == 1 for n in cl.nodes), 20)
    assert cl.c(1).get_object(Bucket="replicated", Key="big")["Body"].read() == big
    head = cl.c(2).head_object(Bucket="replicated", Key="big")
    assert head["ContentLength"] == len(big)
    assert cl.c(2).get_object(Bucket="replicated", Key="big")["Body"].read() == big
    for rng, (a, b) in (("bytes=100-199", (100, 200)), ("bytes=1048000-2097999", (1048000, 2098000)),
                        (f"bytes=-5000", (len(big) - 5000, len(big)))):
        got = cl.c(3).get_object(Bucket="replicated", Key="big", Range=rng)["Body"].read()
        assert got == big[a:b], rng
    # A copy made on another node is a new data file, copied the same way.
    src = {"Bucket": "replicated", "Key": "big"}
    cl.c(2).copy_object(Bucket="replicated", Key="big-copy", CopySource=src)
    wait_until("copies of both data files on every node",
               lambda: all(data_files_of_size(cl, n, len(big)) == 2 for n in cl.nodes), 20)
    for n in (1, 2, 3):
        assert cl.c(n).get_object(Bucket="replicated", Key="big-copy")["Body"].read() == big, n
    # Deleted on a node that did not receive it: its data file goes from every node.
    cl.c(3).delete_object(Bucket="replicated", Key="big-copy")
    wait_until("the deleted copy's data file gone from every node",
               lambda: all(data_files_of_size(cl, n, len(big)) == 1 for n in cl.nodes), 20)
    # A multipart upload's parts are data files too.
    part = os.urandom(5 * 1024 * 1024)
    c3 = cl.c(3)
    up = c3.create_multipart_upload(Bucket="replicated", Key="mp")["UploadId"]
    etags = [c3.upload_part(Bucket="replicated", Key="mp", UploadId=up, PartNumber=i,
                            Body=part)["ETag"] for i in (1, 2)]
    c3.complete_multipart_upload(
        Bucket="replicated", Key="mp", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    wait_until("copies of both parts on every node",
               lambda: all(data_files_of_size(cl, n, len(part)) == 2 for n in cl.nodes), 20)
    for n in (1, 2):
        assert cl.c(n).get_object(Bucket="replicated", Key="mp")["Body"].read() == part * 2, n
    # The copies show in /metrics, with each group's Raft state.
    with urllib.request.urlopen(f"http://{cl.nodes[1]['s3']}/metrics", timeout=5) as r:
        metrics = r.read().decode()
    made = [l for l in metrics.splitlines() if l.startswith('bleepstore_cluster_data_copies_total{outcome="made"}')]
    assert made and int(made[0].split()[-1]) >= 2, made
    for g in range(SHARDS):
        assert f'bleepstore_raft_term{{group="{g}"}}' in metrics, g
    print("ok: large objects, a copy and a multipart upload have a copy of their bytes on "
          "every node and are read, ranged and copied on every node")
    return [big, part]


def check_gets_racing_overwrites(cl, seconds=6.0):
    """GETs of a large object on every node while node 1 overwrites it: each answers 200
    with the bytes of one version written, never an error. A reader's record may name a file
    an overwrite frees everywhere before its bytes are read (a node whose copy has not
    arrived reads it from a peer): it reads the record again."""
    size = 200 * 1024  # over the inline limit: data files
    started = set()
    lock = threading.Lock()
    failures, reads = [], [0]
    stop = threading.Event()

    def body(i):
        return i.to_bytes(4, "big") * (size // 4)

    def write():
        i = 1
        while not stop.is_set():
            with lock:
                started.add(i)
            cl.c(1).put_object(Bucket="replicated", Key="raced", Body=body(i))
            i += 1

    def read(nid):
        c = client(cl.nodes[nid]["s3"])
        while not stop.is_set():
            try:
                got = c.get_object(Bucket="replicated", Key="raced")["Body"].read()
            except (ClientError, BotoCoreError) as e:
                failures.append(f"node {nid}: {e}")
                return
            i = int.from_bytes(got[:4], "big")
            with lock:
                ok = len(got) == size and got == body(i) and i in started
            if not ok:
                off = next((k for k in range(0, len(got), 4) if got[k:k + 4] != got[:4]), None)
                failures.append(f"node {nid}: {len(got)} bytes, not a version written: version "
                                f"{i} {'started' if i in started else 'never written'} at 0, "
                                f"{got[off:off + 4].hex() if off is not None else '-'} at {off}")
                return
            reads[0] += 1

    started.add(0)
    cl.c(1).put_object(Bucket="replicated", Key="raced", Body=body(0))
    threads = [threading.Thread(target=read, args=(n,)) for n in (1, 2, 2, 3, 3)]
    writer = threading.Thread(target=write)
    for t in threads + [writer]:
        t.start()
    time.sleep(seconds)  # the load's length, not a wait for a condition
    stop.set()
    for t in threads + [writer]:
        t.join()
    assert not failures, failures[:3]
    assert reads[0] > 0
    print(f"ok: {reads[0]} GETs on every node during {len(started)} overwrites each read one "
          "version whole, none failed")


def data_file_bodies(cl, nid, size):
    objects = os.path.join(cl.env["BLEEPSTORE_CLUSTER_DIR"], f"node-{nid}", "objects")
    out = []
    for d, _dirs, files in os.walk(objects):
        for f in files:
            p = os.path.join(d, f)
            if f.endswith(".incoming"):
                continue
            try:  # the node may remove a copy while this walks (a trim, a freed file)
                if os.path.getsize(p) == size:
                    with open(p, "rb") as fh:
                        out.append(fh.read())
            except FileNotFoundError:
                continue
    return out


def check_wiped_node_is_refilled(cl, nid, bodies):
    # A node whose data files are lost (a replaced disk) starts again: its repair pass
    # fetches every file it should hold from the others, checked against the records' CRCs.
    cl.kill(nid)
    objects = os.path.join(cl.env["BLEEPSTORE_CLUSTER_DIR"], f"node-{nid}", "objects")
    for d in os.listdir(objects):
        sub = os.path.join(objects, d)
        for f in os.listdir(sub) if os.path.isdir(sub) else []:
            os.remove(os.path.join(sub, f))
    assert all(data_files_of_size(cl, nid, len(b)) == 0 for b in bodies)
    cl.start(nid)
    for b in bodies:
        wait_until(f"node {nid} refilled with its {len(b)}-byte data files",
                   lambda: b in data_file_bodies(cl, nid, len(b)), 30)
    print(f"ok: node {nid}'s wiped data files were restored from its peers")


def check_corrupt_local_copy_is_read_elsewhere(cl):
    # A node's own copy of a data file is damaged on disk: a GET on that node reads the
    # damaged chunk from another node's intact copy (every chunk is checked against the
    # record's CRC32C), from the first chunk or from the middle of the stream.
    cases = {"rot-first": 100, "rot-middle": 1024 * 1024 + 4321}
    c = cl.c(1)
    for key, at in cases.items():
        body = os.urandom(2 * 1024 * 1024 + 777)
        c.put_object(Bucket="replicated", Key=key, Body=body)
        objects = os.path.join(cl.env["BLEEPSTORE_CLUSTER_DIR"], "node-1", "objects")
        found = []
        for d, _dirs, files in os.walk(objects):
            for f in files:
                p = os.path.join(d, f)
                if os.path.getsize(p) == len(body):
                    with open(p, "rb") as fh:
                        if fh.read() == body:
                            found.append(p)
        assert len(found) == 1, found
        with open(found[0], "r+b") as fh:
            fh.seek(at)
            b = fh.read(1)
            fh.seek(at)
            fh.write(bytes([b[0] ^ 0xFF]))
            fh.flush()
            os.fsync(fh.fileno())
        log = os.path.join(cl.env["BLEEPSTORE_CLUSTER_DIR"], "node-1.log")
        seen = open(log, errors="replace").read().count("fails its CRC32C")
        got = c.get_object(Bucket="replicated", Key=key)["Body"].read()
        assert got == body, f"{key}: {len(got)} bytes, differ at " \
            f"{next((i for i, (x, y) in enumerate(zip(got, body)) if x != y), None)}"
        # The damaged chunk was read from disk and found bad (not served from a cache).
        assert open(log, errors="replace").read().count("fails its CRC32C") > seen, key
    print("ok: a node whose copy is damaged (first chunk, a later chunk) serves the object "
          "from another node's copy, byte-identical")


def check_copy_survives(cl, holder, survivor, key, body):
    # The node that received an object's bytes is down: another node serves its copy.
    got = cl.c(survivor).get_object(Bucket="replicated", Key=key)["Body"].read()
    assert got == body, f"node {survivor} served {len(got)} bytes"
    print(f"ok: with node {holder} down, node {survivor} serves the copy of its object bytes")


class Writer(threading.Thread):
    """Writes objects to one node in a loop, every fourth one over the inline limit (a data
    file copied to other nodes); records every acknowledged one."""

    def __init__(self, cl, nid, bucket, stop, tag=""):
        super().__init__(daemon=True)
        self.cl, self.nid, self.bucket, self.stop, self.tag = cl, nid, bucket, stop, tag
        self.acked = {}
        self.failed = 0

    def run(self):
        i = 0
        c = client(self.cl.nodes[self.nid]["s3"])
        while not self.stop.is_set():
            key = f"{self.tag}w{self.nid}-{i:06d}"
            body = f"{key} ".encode() * (37 if i % 4 else 9000)
            i += 1
            try:
                c.put_object(Bucket=self.bucket, Key=key, Body=body)
                self.acked[key] = body
            except (ClientError, BotoCoreError):
                self.failed += 1
                if self.cl.nodes.get(self.nid, {"dead": True}).get("dead"):
                    return
                time.sleep(0.02)


def check_leader_failover(cl):
    bucket = "failover"
    cl.c(1).create_bucket(Bucket=bucket)
    group = group_of(bucket)
    leader = cl.leader_of(group)
    assert leader in cl.nodes, leader
    survivors = [n for n in cl.nodes if n != leader]
    # Every node agrees on the leader before the kill.
    for n in cl.nodes:
        assert cl.leader_of(group, asking=n) == leader

    # Bytes the leader received, for a survivor to serve while it is down.
    held = os.urandom(100 * 1024)
    cl.c(leader).put_object(Bucket="replicated", Key="held-by-leader", Body=held)

    stop = threading.Event()
    writers = [Writer(cl, n, bucket, stop) for n in cl.nodes]
    for w in writers:
        w.start()
    wait_until("writes acknowledged on every node", lambda: all(len(w.acked) >= 5 for w in writers), 30)

    cl.kill(leader)
    killed_at = time.monotonic()
    # Writes resume on a survivor: the first acknowledged PUT after the kill.
    probe = client(cl.nodes[survivors[0]]["s3"])
    resumed_after = None
    i = 0
    while resumed_after is None:
        i += 1
        try:
            probe.put_object(Bucket=bucket, Key=f"probe-{i}", Body=b"probe")
            resumed_after = time.monotonic() - killed_at
        except (ClientError, BotoCoreError):
            if time.monotonic() - killed_at > RESUME_S:
                break
            time.sleep(0.05)
    assert resumed_after is not None and resumed_after <= RESUME_S, (
        f"writes did not resume within {RESUME_S}s of killing the leader (node {leader})"
    )
    print(f"ok: killed leader node {leader} of group {group}; writes resumed after {resumed_after:.2f}s")
    check_copy_survives(cl, leader, survivors[0], "held-by-leader", held)

    # Both survivors keep writing for a moment under the new leader.
    before = {w.nid: len(w.acked) for w in writers}
    wait_until(
        "writes acknowledged on every survivor after the kill",
        lambda: all(len(w.acked) >= before[w.nid] + 5 for w in writers if w.nid in survivors),
        30,
    )
    stop.set()
    for w in writers:
        w.join(30)
    # Readiness comes back on the survivors: every group has a reachable leader.
    for n in survivors:
        wait_until(f"/readyz on node {n}", lambda: get_json(cl.nodes[n]["s3"], "/readyz")[0] == 200, 10)

    # Nothing acknowledged is lost: every acked write reads back byte-identical on both
    # survivors, and the listing on each survivor holds every acked key.
    acked = {}
    for w in writers:
        acked.update(w.acked)
    assert len(acked) >= 20, len(acked)
    for n in survivors:
        c = cl.c(n)
        for key, body in acked.items():
            got = c.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert got == body, f"node {n}: {key}"
        listed = set()
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            listed.update(o["Key"] for o in page.get("Contents", []))
        missing = set(acked) - listed
        assert not missing, f"node {n} lost {len(missing)} acknowledged keys: {sorted(missing)[:5]}"
    print(f"ok: {len(acked)} acknowledged writes all read back on nodes {survivors}")
    return leader, acked


def check_stalled_nodes(cl):
    # SIGSTOP freezes a node without closing its sockets: peers see a stalled node, not a
    # dead one (connections accept, answers never come). Writes on the others go on; after
    # SIGCONT the node catches up and serves every acknowledged write.
    bucket = "stall"
    cl.c(1).create_bucket(Bucket=bucket)
    group = group_of(bucket)
    acked = {}
    for role in ("follower", "leader"):
        leader = cl.leader_of(group)
        stalled = leader if role == "leader" else next(n for n in cl.nodes if n != leader)
        others = [n for n in cl.nodes if n != stalled]
        stop = threading.Event()
        writers = [Writer(cl, n, bucket, stop, tag=f"{role}-") for n in others]
        for w in writers:
            w.start()
        wait_until("writes before the stall", lambda: all(len(w.acked) >= 5 for w in writers), 30)
        os.kill(cl.nodes[stalled]["pid"], signal.SIGSTOP)
        stalled_at = time.monotonic()
        try:
            before = {w.nid: len(w.acked) for w in writers}
            resumed = wait_until(
                f"writes on the others with the {role} (node {stalled}) stalled",
                lambda: all(len(w.acked) >= before[w.nid] + 3 for w in writers)
                and time.monotonic() - stalled_at,
                RESUME_S + 10,
            )
            # Requests in flight to a stalled leader stop waiting once a new one is seen.
            assert resumed <= RESUME_S, f"{resumed:.2f}s to three more writes on each other node"

        finally:
            os.kill(cl.nodes[stalled]["pid"], signal.SIGCONT)
        stop.set()
        for w in writers:
            w.join(30)
            acked.update(w.acked)
        print(f"ok: with the {role} of group {group} (node {stalled}) stalled, writes on nodes "
              f"{others} went on ({resumed:.2f}s to three more each)")
        for n in cl.nodes:
            wait_until(f"/readyz on node {n}", lambda: get_json(cl.nodes[n]["s3"], "/readyz")[0] == 200, 20)
    for n in cl.nodes:
        c = cl.c(n)
        for key, body in acked.items():
            assert c.get_object(Bucket=bucket, Key=key)["Body"].read() == body, f"node {n}: {key}"
    print(f"ok: after SIGCONT every node serves all {len(acked)} writes acknowledged around the stalls")


def check_history(cl, **kw):
    """The shared history checker (tests/e2e/history.py) with its threads spread over every
    node."""
    makers = [lambda addr=cl.nodes[n]["s3"]: client(addr) for n in sorted(cl.nodes)]
    check_register_history(makers, **kw)


def stall_leader_for(cl, seconds):
    """A history fault: the bucket's group leader stopped with SIGSTOP for `seconds`."""
    def fault(bucket):
        leader = cl.leader_of(group_of(bucket))
        os.kill(cl.nodes[leader]["pid"], signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(cl.nodes[leader]["pid"], signal.SIGCONT)
        return f", the leader (node {leader}) stalled {seconds:.0f}s of it"
    return fault


def check_restarted_node_catches_up(cl, nid, bucket, acked):
    # The killed node starts again (same data dir): it replays its log, catches up from the
    # new leader, and serves every acknowledged write, byte-identical, and a write made on
    # it is seen on the others.
    cl.start(nid)
    c = cl.c(nid)
    for key, body in acked.items():
        assert c.get_object(Bucket=bucket, Key=key)["Body"].read() == body, f"node {nid}: {key}"
    c.put_object(Bucket=bucket, Key="after-restart", Body=b"back")
    for n in cl.nodes:
        assert cl.c(n).get_object(Bucket=bucket, Key="after-restart")["Body"].read() == b"back"
    # Its data files are reachable again from the others.
    for n in cl.nodes:
        got = cl.c(n).get_object(Bucket="replicated", Key="held-by-leader")["Body"].read()
        assert len(got) == 100 * 1024, n
    print(f"ok: node {nid} restarted, caught up, serves all {len(acked)} acknowledged writes")


def copies_of(cl, body, nids):
    """How many of nodes `nids` hold a data file with exactly these bytes."""
    return sum(body in data_file_bodies(cl, n, len(body)) for n in nids)


def wait_for_repair_over(cl, voters, deadline_s=60):
    """Waits until every node in `voters` has finished a repair pass that placed files over
    exactly `voters` (a pass runs on each node after every membership change)."""
    def done(n):
        _, h = get_json(cl.nodes[n]["s3"], "/health")
        last = (h or {}).get("cluster", {}).get("last_repair") or {}
        return last.get("voters") == voters
    for n in voters:
        wait_until(f"node {n}: a repair pass over voters {voters}", lambda: done(n), deadline_s)


def check_membership_changes(cl):
    # A node is added at run time, under a write load on the others: it joins every group
    # (learner, then voter through joint consensus), files move so that each has exactly
    # replication_factor (3) copies over the 4 voters, and the copies the others no longer
    # place are removed only once the new place holds them. Then the leader of group 0 is
    # removed, still under load: its copies are restored among the rest, and every
    # acknowledged object reads back byte-identical from every remaining node.
    bucket = "members"
    cl.c(1).create_bucket(Bucket=bucket)
    before = {}
    for i in range(12):
        key = f"pre-{i:03d}"
        body = f"{key} ".encode() * 12000
        cl.c(1 + i % NODES).put_object(Bucket=bucket, Key=key, Body=body)
        before[key] = body
    stop = threading.Event()
    writers = [Writer(cl, n, bucket, stop, tag="m") for n in sorted(cl.nodes)]
    for w in writers:
        w.start()
    time.sleep(0.5)
    new = max(cl.nodes) + 1
    t0 = time.monotonic()
    cl.add(new)
    added_s = time.monotonic() - t0
    status, h = get_json(cl.nodes[new]["s3"], "/health")
    voters = [m["id"] for m in h["cluster"]["members"]]
    assert voters == sorted(cl.nodes), voters
    every = sorted(cl.nodes)
    # Before the data moves, each old object already has 3 copies (on the old nodes), so
    # counting copies says nothing until every node has run a repair pass over the new voters.
    wait_for_repair_over(cl, every)
    for key, body in before.items():
        wait_until(f"{key}: 3 copies over nodes {every}",
                   lambda: copies_of(cl, body, every) == 3, 30)
    # Each object's place is 3 of the 4 nodes, so the new node is in a given place with
    # probability 3/4: it must now hold some of the old objects (none: p = 0.25^12), and may
    # hold them all (p = 0.75^12, about 3 %: not a failure). That none has a fourth copy is
    # the check just above.
    held_by_new = sum(body in data_file_bodies(cl, new, len(body)) for body in before.values())
    assert 0 < held_by_new <= len(before), held_by_new
    leader = cl.leader_of(0, asking=new)
    t0 = time.monotonic()
    cl.remove(leader)
    removed_s = time.monotonic() - t0
    time.sleep(0.5)
    stop.set()
    for w in writers:
        w.join(30)
    acked = dict(before)
    for w in writers:
        acked.update(w.acked)
    rest = sorted(cl.nodes)
    assert leader not in rest and new in rest, rest
    wait_for_repair_over(cl, rest)
    for key, body in before.items():
        wait_until(f"{key}: a copy on each of nodes {rest}",
                   lambda: copies_of(cl, body, rest) == 3, 30)
    for n in rest:
        c = cl.c(n)
        for key, body in acked.items():
            got = c.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert got == body, f"node {n}: {key}: {len(got)} bytes"
    for n in rest:
        _, h = get_json(cl.nodes[n]["s3"], "/health")
        assert [m["id"] for m in h["cluster"]["members"]] == rest, (n, h["cluster"]["members"])
        # Its last pass ran over the new voters; what it could not restore is what /health
        # calls under-replicated. (Under this write load a pass may meet a new file whose
        # copies are still on their way, so that count need not be 0; that every object has
        # its copies and reads back everywhere is checked above.)
        last = h["cluster"]["last_repair"]
        assert last["voters"] == rest, (n, last)
        assert h["cluster"]["under_replicated"] == last["failed"], (n, h["cluster"])
    # The leader of each group shows each other member's replication lag.
    for g in range(SHARDS):
        lead = cl.leader_of(g, asking=rest[0])
        _, h = get_json(cl.nodes[lead]["s3"], "/health")
        grp = next(x for x in h["cluster"]["groups"] if x["group"] == g)
        lag = {int(k): v for k, v in grp["replication_lag"].items()}
        assert sorted(lag) == [n for n in rest if n != lead], (g, lag)
        assert all(v is not None and v >= 0 for v in lag.values()), (g, lag)
    writes = sum(len(w.acked) for w in writers)
    failed = sum(w.failed for w in writers)
    print(f"ok: node {new} added in {added_s:.1f}s and node {leader} (a leader) removed in "
          f"{removed_s:.1f}s under load ({writes} writes acknowledged, {failed} refused); "
          f"files moved to 3 copies each; all {len(acked)} objects read back from nodes {rest}")


def main():
    cl = Cluster()
    try:
        check_replicated_reads(cl)
        check_history_checker()
        check_history(cl)
        bodies = check_large_object_copies(cl)
        check_corrupt_local_copy_is_read_elsewhere(cl)
        check_gets_racing_overwrites(cl)
        killed, acked = check_leader_failover(cl)
        check_restarted_node_catches_up(cl, killed, "failover", acked)
        check_wiped_node_is_refilled(cl, killed % NODES + 1, bodies)
        check_stalled_nodes(cl)
        check_history(cl, seconds=8.0, bucket="history-stall", fault=stall_leader_for(cl, 3.0))
        check_membership_changes(cl)
    except BaseException:
        d = cl.env["BLEEPSTORE_CLUSTER_DIR"]
        for n in cl.nodes:
            p = os.path.join(d, f"node-{n}.log")
            if os.path.exists(p):
                print(f"----- {p} (last 30 lines) -----", file=sys.stderr)
                with open(p, errors="replace") as f:
                    print("".join(f.readlines()[-30:]), file=sys.stderr)
        raise
    finally:
        cl.down()
    print("cluster e2e: all passed")


if __name__ == "__main__":
    main()
