#!/usr/bin/env python3
"""BleepStore crash harness: kill -9 under concurrent mixed load, restart, verify.

Each cycle:

1. concurrent workers drive PUT (0 B .. 4 MiB: inline and data-file objects), multipart
   uploads (completed and aborted), CopyObject (COPY / REPLACE), DeleteObject,
   DeleteObjects, live GETs, and bucket create/delete on scratch buckets, against a few
   data buckets whose keys they all share (so writes to one key race each other);
2. a model records every operation with a global sequence number when it is sent and
   when its 2xx answer arrives (= acknowledged); operations sent but not answered when
   the server dies are *indeterminate*;
3. at a random instant (uniform over --load-min..--load-max seconds; one cycle in ten
   only after the workers stopped, so nothing is in flight) the server gets SIGKILL;
4. the server is started again on the same data dir and port; the time from spawn to
   the first /readyz 200 is the recovery time;
5. verification: every key touched this cycle (plus a sample of the others, and every
   key every --verify-all-every cycles) is read in full and must equal exactly one of the
   versions the model allows (sha256 of the body, size, ETag, Content-Type, x-amz-meta-*),
   ListObjectsV2 must agree with the reads, multipart uploads and their parts must be
   what was acknowledged (ListMultipartUploads / ListParts), scratch buckets must exist
   or not as acknowledged, and the data files under {data_dir}/objects must come down
   (the orphan sweep runs in the background: polled, with a deadline) to exactly the
   files the metadata references: one per file-backed object (> inline limit, or a copy
   of a file-backed object), one per part of a multipart object, one per listed part of
   a pending upload. Leftover uploads are then completed or aborted, and the next cycle
   starts from the verified state. A versioning-enabled bucket takes 15 % of the load
   (versions, delete markers, permanent deletes of one version): crash_versions.py. With
   --lifecycle, a bucket with an Expiration rule takes 10 % more, and lifecycle passes run
   (and get killed) during the load: crash_lifecycle.py.

Which versions are allowed for a key: the pre-cycle state unless an operation on the key
was acknowledged, plus the outcome of every operation that was acknowledged or in flight
and not superseded by an acknowledged operation that *started after it was answered*
(real-time order; concurrent writes may land in either order). Violations:

* lost: an allowed state was required but the key holds an older version, is absent,
  or a deleted key came back; an acknowledged upload / part / bucket state is missing;
* torn: the bytes or metadata match no version ever written for the key in full, or
  mix two versions (content of one, metadata of another), or the listing disagrees;
* errors: any non-2xx or connection error before the kill, a server that died on its
  own, a panic in the log; orphans: data files left after the sweep deadline.

With --cluster N the same load runs against N nodes of one cluster (clients spread over
the nodes) and each cycle kills one node at random; the restart is that node's, recovery
the time until every node answers /readyz 200. The data-file count is not checked there
(copies live on every node, and a node killed when a file is freed keeps its copy).

Usage (from the repository root, with the e2e venv):
    .venv/bin/python tests/crash/harness.py                      # short: 10 cycles
    .venv/bin/python tests/crash/harness.py --long --json /tmp/crash-long.json
    .venv/bin/python tests/crash/harness.py --cycles 50 --seed 7 --keep
    .venv/bin/python tests/crash/harness.py --cluster 3 --cycles 100
Exit status 0 when no violation, 1 otherwise (2 on usage/setup errors).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

# Keep the developer's AWS setup out of boto3 (as tests/e2e/conftest.py does).
for _name in list(os.environ):
    if _name.startswith("AWS_"):
        del os.environ[_name]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

import yaml  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

import crash_lifecycle as L  # noqa: E402
import crash_versions as V  # noqa: E402
from s3helpers import (DEFAULT, MiB, base_config, deep_merge, free_port,  # noqa: E402
                       make_client, server_binary)

INLINE_MAX = 64 * 1024        # storage.inline_bytes_max (default, set explicitly below)
PART_MIN = 32 * 1024          # multipart.part_size_min for the harness server
DATA_BUCKETS = ["crash-data-0", "crash-data-1", "crash-data-2"]
KEYS_PER_BUCKET = 24
SCRATCH_BUCKETS = [f"crash-scratch-{i}" for i in range(6)]
KEY_SHAPES = ["k", "dir/k", "deep/a/b/k", "ünï-k", "sp ace-k", "plus+k"]
CTYPES = ["application/octet-stream", "text/plain; charset=utf-8", "image/png",
          "application/x-crash-harness"]
SWEEP_DEADLINE_S = 20.0
READY_DEADLINE_S = 60.0


class Stop(Exception):
    """Raised in a worker when the kill switch is set: stop issuing requests."""


# --------------------------------------------------------------------------------------
# Versions, bodies
# --------------------------------------------------------------------------------------

class Version:
    """One complete state of an object as written by one operation."""
    __slots__ = ("vid", "target", "sha", "md5", "size", "etag", "ctype", "meta", "nfiles",
                 "origin", "labels")

    def __init__(self, vid, target, sha, md5, size, etag, ctype, meta, nfiles, origin, labels):
        self.vid, self.target, self.sha, self.md5, self.size = vid, target, sha, md5, size
        self.etag, self.ctype, self.meta, self.nfiles = etag, ctype, dict(meta), nfiles
        self.origin, self.labels = origin, labels  # labels: [(label, size)] to rebuild bytes

    def attrs(self):
        return (self.sha, self.size, self.etag, self.ctype, tuple(sorted(self.meta.items())))

    def __repr__(self):
        return (f"v{self.vid}({self.origin} {self.size}B etag={self.etag} ctype={self.ctype} "
                f"meta={self.meta} files={self.nfiles} sha={self.sha[:12]})")


class Found:
    __slots__ = ("sha", "size", "etag", "ctype", "meta")

    def __init__(self, sha, size, etag, ctype, meta):
        self.sha, self.size, self.etag, self.ctype, self.meta = sha, size, etag, ctype, meta

    def attrs(self):
        return (self.sha, self.size, self.etag, self.ctype, tuple(sorted(self.meta.items())))

    def __repr__(self):
        return f"found({self.size}B etag={self.etag} ctype={self.ctype} meta={self.meta} sha={self.sha[:12]})"


class Bodies:
    """Distinct bytes per label: a unique header, then a slice of one random buffer at an
    offset derived from the label, so two bodies differ everywhere and a mix of two
    matches neither."""

    def __init__(self, seed):
        self.base = random.Random(f"bodies:{seed}").randbytes(5 * MiB)

    def make(self, label: str, size: int) -> bytes:
        head = f"<{label}>".encode()
        if size <= len(head):
            return hashlib.sha256(head).digest()[:size]
        off = int.from_bytes(hashlib.sha256(head).digest()[:4], "big") % MiB
        return head + self.base[off:off + size - len(head)]

    def build(self, labels) -> bytes:
        return b"".join(self.make(lbl, n) for lbl, n in labels)


def pick_size(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.06:
        return 0
    if r < 0.36:
        return rng.randint(1, 4096)
    if r < 0.50:
        return rng.choice([INLINE_MAX - 1, INLINE_MAX, INLINE_MAX + 1,
                           rng.randint(4097, INLINE_MAX)])
    if r < 0.88:
        return rng.randint(INLINE_MAX + 1, 512 * 1024)
    if r < 0.97:
        return rng.randint(512 * 1024, 2 * MiB)
    return rng.randint(2 * MiB, 4 * MiB)


# --------------------------------------------------------------------------------------
# The model of what was sent / acknowledged
# --------------------------------------------------------------------------------------

class Op:
    __slots__ = ("kind", "target", "outcomes", "start", "end", "status", "copy")

    def __init__(self, kind, target, outcomes, start, copy=None):
        self.kind, self.target, self.outcomes, self.start = kind, target, outcomes, start
        self.end = None
        self.status = "inflight"   # inflight | acked | noop
        self.copy = copy           # CopySpec for copies (outcomes known only when acked)


class CopySpec:
    __slots__ = ("src", "replace", "ctype", "meta", "vid")

    def __init__(self, src, replace, ctype, meta, vid):
        self.src, self.replace, self.ctype, self.meta, self.vid = src, replace, ctype, meta, vid


class PartRec:
    __slots__ = ("n", "label", "size", "md5", "status")

    def __init__(self, n, label, size, md5):
        self.n, self.label, self.size, self.md5 = n, label, size, md5
        self.status = "inflight"

    @property
    def etag(self):
        return f'"{self.md5}"'


class Upload:
    __slots__ = ("uid", "target", "ctype", "meta", "vid", "parts", "state")

    def __init__(self, uid, target, ctype, meta, vid):
        self.uid, self.target, self.ctype, self.meta, self.vid = uid, target, ctype, meta, vid
        self.parts: dict[int, PartRec] = {}
        self.state = "open"  # open | completing | completed | aborting | aborted


class Model:
    def __init__(self, targets, scratch):
        self.lock = threading.Lock()
        self.seq = 0
        self.vid = 0
        self.killed = False
        # pre-cycle state of each target: a Version or None (data keys), True/False (buckets)
        self.state: dict = {t: None for t in targets}
        self.state.update({("@bucket", b): False for b in scratch})
        self.ops: dict = {}
        self.history: dict = {t: [] for t in targets}   # every Version ever made per key
        self.all_shas: set = {hashlib.sha256(b"").hexdigest()}
        self.uploads: dict[str, Upload] = {}
        self.pending_creates: dict = {}
        self.derived: dict = {}

    # -- cycle
    def new_cycle(self):
        with self.lock:
            self.killed = False
            self.ops = {}
            self.uploads = {}
            self.pending_creates = {}

    def kill_switch(self):
        with self.lock:
            self.killed = True

    # -- ids
    def new_vid(self) -> int:
        with self.lock:
            self.vid += 1
            return self.vid

    def add_version(self, v: Version):
        with self.lock:
            self.history[v.target].append(v)
            self.all_shas.add(v.sha)

    # -- operations
    def begin(self, target, kind, outcomes, copy=None) -> Op:
        with self.lock:
            if self.killed:
                raise Stop()
            self.seq += 1
            op = Op(kind, target, outcomes, self.seq, copy)
            self.ops.setdefault(target, []).append(op)
            return op

    def ack(self, op: Op, outcomes=None):
        with self.lock:
            self.seq += 1
            op.end = self.seq
            op.status = "acked"
            if outcomes is not None:
                op.outcomes = outcomes

    def noop(self, op: Op):
        with self.lock:
            op.status = "noop"

    def belief(self, target):
        """Latest state as far as a single sequential owner knows (bucket worker)."""
        with self.lock:
            ops = [o for o in self.ops.get(target, []) if o.status == "acked"]
            if ops:
                return next(iter(ops[-1].outcomes))
            return self.state[target]

    # -- uploads
    def create_begin(self, target):
        with self.lock:
            if self.killed:
                raise Stop()
            self.pending_creates[target] = self.pending_creates.get(target, 0) + 1

    def create_ack(self, target, uid, ctype, meta, vid) -> Upload:
        with self.lock:
            self.pending_creates[target] -= 1
            up = Upload(uid, target, ctype, meta, vid)
            self.uploads[uid] = up
            return up

    def part_begin(self, up: Upload, part: PartRec):
        with self.lock:
            if self.killed:
                raise Stop()
            up.parts[part.n] = part

    def part_ack(self, part: PartRec):
        with self.lock:
            part.status = "acked"

    def upload_state(self, up: Upload, state: str, check_kill=False):
        with self.lock:
            if check_kill and self.killed:
                raise Stop()
            up.state = state

    # -- copies
    def derive(self, src: Version, spec: CopySpec, dst) -> Version:
        """The version a copy of `src` with `spec` writes to `dst` (memoized)."""
        # Several sources may share a vid (all derived from one copy) and differ in their
        # metadata: the key is the source's whole identity.
        key = (src.vid, src.attrs(), src.nfiles, spec.vid, dst)
        v = self.derived.get(key)
        if v is None:
            ctype, meta = (spec.ctype, spec.meta) if spec.replace else (src.ctype, src.meta)
            v = Version(spec.vid, dst, src.sha, src.md5, src.size, f'"{src.md5}"', ctype, meta,
                        1 if src.nfiles > 0 else 0, f"copy-of-v{src.vid}", src.labels)
            self.derived[key] = v
            self.history[dst].append(v)
        return v

    def outcomes(self, op: Op, visiting=frozenset()):
        if op.outcomes is not None:
            return op.outcomes
        # an in-flight copy: a copy of any version its source may have had meanwhile
        spec = op.copy
        if spec.src in visiting:
            return set()
        srcs = self.possible(spec.src, visiting | {op.target})
        return {self.derive(s, spec, op.target) for s in srcs if s is not None}

    def possible(self, target, visiting=frozenset()):
        out = {self.state[target]}
        for op in self.ops.get(target, []):
            if op.status in ("acked", "inflight"):
                out |= self.outcomes(op, visiting)
        return out

    def candidates(self, target):
        """States the target may be in after the crash (see the module docstring)."""
        ops = [o for o in self.ops.get(target, []) if o.status in ("acked", "inflight")]
        acked = [o for o in ops if o.status == "acked"]
        out = set()
        if not acked:
            out.add(self.state[target])
        last_start = max((a.start for a in acked), default=-1)
        for op in ops:
            if op.end is not None and last_start > op.end:
                continue  # an acknowledged op began after this one was answered
            out |= self.outcomes(op)
        return out


# --------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------

def probe_readyz(port: int, timeout: float = 1.0):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return None
    try:
        s.settimeout(timeout)
        s.sendall(f"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  "Connection: close\r\n\r\n".encode())
        head = b""
        while b"\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
        parts = head.split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    except OSError:
        return None
    finally:
        s.close()


class Server:
    def __init__(self, workdir: Path, binary: Path, overrides: dict, log_level: str):
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.config_path = workdir / "config.yaml"
        self.log_path = workdir / "server.log"
        self.binary = binary
        self.port = free_port()
        self.log_level = log_level
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.log_seen = 0
        cfg = deep_merge(base_config(), deep_merge({"storage": {"backend": "local"}}, overrides))
        self.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> float:
        """Spawns the server; returns milliseconds from spawn to the first /readyz 200."""
        assert not self.alive()
        self.starts += 1
        cmd = [str(self.binary), "--bind", f"127.0.0.1:{self.port}", "--data-dir",
               str(self.data_dir), "--config", str(self.config_path),
               "--log-level", self.log_level]
        env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
        env["NO_COLOR"] = "1"
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts}\n".encode())
            log.flush()
            t0 = time.monotonic()
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         stdin=subprocess.DEVNULL, cwd=self.workdir)
        deadline = t0 + READY_DEADLINE_S
        while True:
            # A short probe timeout: for a few ms after the kill, the dead process's
            # listener can still take a connection that then never answers.
            if probe_readyz(self.port, 0.25) == 200:
                return (time.monotonic() - t0) * 1000
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} before ready;"
                                   f" see {self.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {READY_DEADLINE_S}s; see {self.log_path}")
            time.sleep(0.005)  # poll interval

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=60)

    def stop_all(self):
        self.kill9()

    def new_log_lines(self) -> list[str]:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_seen)
                chunk = f.read()
        except OSError:
            return []
        self.log_seen += len(chunk)
        return chunk.decode(errors="replace").splitlines()


class ClusterServers:
    """--cluster N: N nodes of one cluster on loopback, in the shape of `Server`. Clients
    spread over the nodes (each `endpoint` read names the next one); a kill is SIGKILL of
    one node chosen at random (its in-flight requests on every node are indeterminate, as
    for one server); a start brings it back and returns the time until every node answers
    /readyz 200 (every group has a reachable leader)."""

    def __init__(self, workdir: Path, binary: Path, overrides: dict, log_level: str, n: int,
                 seed: int):
        self.rng = random.Random(f"{seed}:cluster")
        self.nodes = []
        ports = []
        while len(ports) < 2 * n:
            p = free_port()
            if p not in ports:
                ports.append(p)
        members = [{"id": i + 1, "s3": f"127.0.0.1:{ports[i]}", "peer": f"127.0.0.1:{ports[n + i]}"}
                   for i in range(n)]
        secret = "crash-harness-" + "".join(self.rng.choice("0123456789abcdef") for _ in range(32))
        for i in range(n):
            nd = workdir / f"node-{i + 1}"
            nd.mkdir(parents=True, exist_ok=True)
            cluster = {"cluster": {"enabled": True, "node_id": i + 1, "secret": secret,
                                   "shards": 2, "nodes": members}}
            srv = Server(nd, binary, deep_merge(overrides, cluster), log_level)
            srv.port = ports[i]
            self.nodes.append(srv)
        self.next = 0
        self.killed: Server | None = None
        self.data_dir = None  # no single data dir: the data-file count is skipped

    @property
    def endpoint(self):
        self.next += 1
        return self.nodes[self.next % len(self.nodes)].endpoint

    @property
    def proc(self):  # for the exit-code message of a node that died on its own
        return next((s.proc for s in self.nodes if not s.alive()), self.nodes[0].proc)

    def alive(self) -> bool:
        return all(s.alive() for s in self.nodes)

    def all_ready(self) -> bool:
        return all(probe_readyz(s.port, 0.25) == 200 for s in self.nodes)

    def start(self) -> float:
        t0 = time.monotonic()
        if self.killed is None:
            # First start: every node; the cluster forms once a majority is up.
            for s in self.nodes:
                s.proc = subprocess.Popen(
                    [str(s.binary), "--bind", f"127.0.0.1:{s.port}", "--data-dir", str(s.data_dir),
                     "--config", str(s.config_path), "--log-level", s.log_level],
                    stdout=open(s.log_path, "ab"), stderr=subprocess.STDOUT,
                    env={**{k: v for k, v in os.environ.items() if k != "RUST_LOG"}, "NO_COLOR": "1"},
                    stdin=subprocess.DEVNULL, cwd=s.workdir)
                s.starts += 1
        else:
            self.killed.start()
            self.killed = None
        deadline = t0 + READY_DEADLINE_S
        while not self.all_ready():
            if not self.alive():
                raise RuntimeError("a cluster node exited before ready; see its server.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not ready after {READY_DEADLINE_S}s")
            time.sleep(0.01)  # poll interval
        return (time.monotonic() - t0) * 1000

    def kill9(self):
        self.killed = self.rng.choice(self.nodes)
        self.killed.kill9()

    def stop_all(self):
        """Teardown: every node, not only a random one, so none outlives the run."""
        for s in self.nodes:
            s.kill9()

    def new_log_lines(self) -> list[str]:
        return [ln for s in self.nodes for ln in s.new_log_lines()]


def count_data_files(data_dir: Path) -> int:
    n = 0
    for d in (data_dir / "objects").iterdir():
        if d.is_dir():
            n += sum(1 for f in os.scandir(d) if f.is_file(follow_symlinks=False))
    return n


# --------------------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------------------

class Worker:
    def __init__(self, h: "Harness", wid: int):
        self.h = h
        self.wid = wid
        self.client = make_client(h.server.endpoint, DEFAULT, max_pool_connections=4,
                                  connect_timeout=5, read_timeout=60)
        self.counts: dict[str, int] = {}

    def run(self, rng: random.Random, stop: threading.Event):
        m = self.h.model
        try:
            while not stop.is_set():
                self.step(rng)
        except (Stop, V.Stopped):
            return
        except Exception as e:  # noqa: BLE001
            if m.killed:
                return  # the request the kill interrupted: indeterminate
            self.h.violate("errors", f"worker {self.wid} before the kill: "
                           f"{type(e).__name__}: {str(e)[:400]}")

    def bump(self, k):
        self.counts[k] = self.counts.get(k, 0) + 1

    def step(self, rng):
        if self.h.lload is not None and rng.random() < 0.10:
            return self.h.lload.step(self, rng)
        if rng.random() < 0.15:
            return self.h.vload.step(self, rng)
        r = rng.random()
        if self.wid == 0 and r < 0.10:
            return self.bucket_op(rng)
        if r < 0.45:
            return self.put(rng)
        if r < 0.55:
            return self.copy(rng)
        if r < 0.64:
            return self.delete(rng)
        if r < 0.71:
            return self.delete_objects(rng)
        if r < 0.90:
            return self.multipart(rng)
        return self.read(rng)

    def put(self, rng):
        m, h = self.h.model, self.h
        t = rng.choice(h.targets)
        size = pick_size(rng)
        vid = m.new_vid()
        label = f"v{vid}"
        body = h.bodies.make(label, size)
        md5 = hashlib.md5(body).hexdigest()
        ctype = rng.choice(CTYPES)
        meta = {"vid": str(vid), "w": str(self.wid)}
        v = Version(vid, t, hashlib.sha256(body).hexdigest(), md5, size, f'"{md5}"', ctype,
                    meta, 1 if size > INLINE_MAX else 0, "put", [(label, size)])
        m.add_version(v)
        op = m.begin(t, "put", {v})
        r = self.client.put_object(Bucket=t[0], Key=t[1], Body=body, ContentType=ctype,
                                   Metadata=meta)
        m.ack(op)
        self.bump("put")
        if r["ETag"] != v.etag:
            h.violate("errors", f"PUT {t} answered ETag {r['ETag']}, expected {v.etag}")

    def copy(self, rng):
        m, h = self.h.model, self.h
        src, dst = rng.choice(h.targets), rng.choice(h.targets)
        replace = src == dst or rng.random() < 0.5
        vid = m.new_vid()
        ctype = rng.choice(CTYPES)
        meta = {"vid": str(vid), "w": str(self.wid), "copied": "1"}
        kw = dict(Bucket=dst[0], Key=dst[1], CopySource={"Bucket": src[0], "Key": src[1]})
        if replace:
            kw.update(MetadataDirective="REPLACE", ContentType=ctype, Metadata=meta)
        spec = CopySpec(src, replace, ctype, meta, vid)
        op = m.begin(dst, "copy", None, copy=spec)
        try:
            r = self.client.copy_object(**kw)
        except ClientError as e:
            err = e.response.get("Error", {}).get("Code")
            if err == "NoSuchKey":
                m.noop(op)  # the source was absent: nothing written
                self.bump("copy-nosrc")
                return
            if err == "SlowDown" and e.response["ResponseMetadata"]["HTTPStatusCode"] == 503:
                # the source was replaced as the copy started: a retryable refusal that
                # must not have written anything (the checker holds the server to that)
                m.noop(op)
                self.bump("copy-slowdown")
                return
            if err == "InternalError" and not h.args.strict and not m.killed:
                # Known server bug (tests/crash/repro_truncated_get.py): the multipart
                # source was replaced while being copied. Cross-checked with the log.
                m.noop(op)
                h.known_bug("copy_500")
                return
            raise
        etag = r["CopyObjectResult"]["ETag"]
        with m.lock:
            # What the source may have held at any time this cycle (its verified pre-cycle
            # state and every outcome of an operation on it since; for a copy still in
            # flight, derived from what that copy's own source may have held).
            pool = {v for v in m.possible(src) if v is not None}
            srcs = [v for v in pool if f'"{v.md5}"' == etag]
            outs = {m.derive(s, spec, dst) for s in srcs}
        if not outs:
            h.violate("torn", f"COPY {src} -> {dst} answered ETag {etag}, the MD5 of no "
                      f"version ever written to the source")
            m.noop(op)
            return
        m.ack(op, outs)
        self.bump("copy")

    def delete(self, rng):
        m, h = self.h.model, self.h
        t = rng.choice(h.targets)
        op = m.begin(t, "delete", {None})
        self.client.delete_object(Bucket=t[0], Key=t[1])
        m.ack(op)
        self.bump("delete")

    def delete_objects(self, rng):
        m, h = self.h.model, self.h
        b = rng.choice(DATA_BUCKETS)
        keys = rng.sample(h.keys, rng.randint(2, 6))
        ops = {k: m.begin((b, k), "batch-delete", {None}) for k in keys}
        r = self.client.delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in keys]})
        deleted = {d["Key"] for d in r.get("Deleted", [])}
        for k, op in ops.items():
            if k in deleted:
                m.ack(op)
        if r.get("Errors") or deleted != set(keys):
            h.violate("errors", f"DeleteObjects on {b}: errors {r.get('Errors')}, "
                      f"not deleted {sorted(set(keys) - deleted)}")
        self.bump("batch-delete")

    def multipart(self, rng):
        m, h = self.h.model, self.h
        t = rng.choice(h.targets)
        vid = m.new_vid()
        ctype = rng.choice(CTYPES)
        meta = {"vid": str(vid), "w": str(self.wid), "mpu": "1"}
        m.create_begin(t)
        uid = self.client.create_multipart_upload(Bucket=t[0], Key=t[1], ContentType=ctype,
                                                  Metadata=meta)["UploadId"]
        up = m.create_ack(t, uid, ctype, meta, vid)
        nparts = rng.randint(1, 4)
        for n in range(1, nparts + 1):
            size = rng.randint(PART_MIN, 4 * PART_MIN) if n < nparts else rng.randint(1, 2 * PART_MIN)
            label = f"v{vid}p{n}"
            data = h.bodies.make(label, size)
            part = PartRec(n, label, size, hashlib.md5(data).hexdigest())
            m.part_begin(up, part)
            r = self.client.upload_part(Bucket=t[0], Key=t[1], UploadId=uid, PartNumber=n,
                                        Body=data)
            m.part_ack(part)
            if r["ETag"] != part.etag:
                h.violate("errors", f"UploadPart {t} #{n} answered {r['ETag']}, want {part.etag}")
        parts = [up.parts[n] for n in sorted(up.parts)]
        if rng.random() < 0.15:
            m.upload_state(up, "aborting", check_kill=True)
            self.client.abort_multipart_upload(Bucket=t[0], Key=t[1], UploadId=uid)
            m.upload_state(up, "aborted")
            self.bump("mpu-abort")
            return
        v = h.mpu_version(t, up, parts)
        m.add_version(v)
        op = m.begin(t, "complete", {v})
        m.upload_state(up, "completing")
        r = self.client.complete_multipart_upload(
            Bucket=t[0], Key=t[1], UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": p.n, "ETag": p.etag} for p in parts]})
        m.ack(op)
        m.upload_state(up, "completed")
        self.bump("mpu-complete")
        if r["ETag"] != v.etag:
            h.violate("errors", f"Complete {t} answered ETag {r['ETag']}, expected {v.etag}")

    def read(self, rng):
        m, h = self.h.model, self.h
        t = rng.choice(h.targets)
        with m.lock:
            if m.killed:
                raise Stop()
        try:
            r = self.client.get_object(Bucket=t[0], Key=t[1])
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "NoSuchKey":
                self.bump("get-404")
                return
            raise
        hsh, n = hashlib.sha256(), 0
        try:
            for chunk in r["Body"].iter_chunks(1 * MiB):
                hsh.update(chunk)
                n += len(chunk)
        except Exception:  # noqa: BLE001
            if m.killed:
                return
            if h.args.strict:
                raise
            # Known server bug (tests/crash/repro_truncated_get.py): a multipart object
            # replaced while it streams is cut mid-body. Cross-checked with the log.
            h.known_bug("get_cut")
            return
        self.bump("get")
        if n != r["ContentLength"] or hsh.hexdigest() not in m.all_shas:
            if m.killed:
                return  # cut short by the kill
            h.violate("torn", f"live GET {t}: {n} bytes (Content-Length {r['ContentLength']})"
                      f" matching no body ever sent")

    def bucket_op(self, rng):
        m = self.h.model
        name = rng.choice(SCRATCH_BUCKETS)
        t = ("@bucket", name)
        if m.belief(t):
            op = m.begin(t, "bucket-delete", {False})
            self.client.delete_bucket(Bucket=name)
            self.bump("bucket-delete")
        else:
            op = m.begin(t, "bucket-create", {True})
            self.client.create_bucket(Bucket=name)
            self.bump("bucket-create")
        m.ack(op)


# --------------------------------------------------------------------------------------
# The harness
# --------------------------------------------------------------------------------------

WRITE_KINDS = ("put", "copy", "complete")
DELETE_KINDS = ("delete", "batch-delete")


class Harness:
    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.keep = args.keep
        self.workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bleepstore-crash-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        src_bin = Path(args.bin) if args.bin else server_binary()
        if not src_bin.exists():
            raise SystemExit(f"server binary {src_bin} not found (cargo build --release)")
        # A private copy: a concurrent `cargo build` must not swap the binary mid-run.
        self.binary = self.workdir / "bleepstore"
        shutil.copy2(src_bin, self.binary)
        if (src_bin.parent / "bleepstore-bench").exists():  # the large-recovery fill uses it
            shutil.copy2(src_bin.parent / "bleepstore-bench", self.workdir / "bleepstore-bench")
        self.src_bin = src_bin
        overrides = {
            "multipart": {"part_size_min": PART_MIN},
            "storage": {"inline_bytes_max": INLINE_MAX},
        }
        if args.lifecycle:
            overrides.update(L.server_overrides())
        if args.cluster:
            self.server = ClusterServers(self.workdir, self.binary, overrides, args.log_level,
                                         args.cluster, self.seed)
        else:
            self.server = Server(self.workdir, self.binary, overrides, args.log_level)
        self.keys = [f"{KEY_SHAPES[i % len(KEY_SHAPES)]}{i:02d}" for i in range(KEYS_PER_BUCKET)]
        self.targets = [(b, k) for b in DATA_BUCKETS for k in self.keys]
        self.model = Model(self.targets, SCRATCH_BUCKETS)
        self.vmodel = V.VersionModel(lambda: self.model.killed)
        self.vload = V.VersionLoad(self, self.vmodel)
        self.lmodel = L.LifecycleModel(lambda: self.model.killed, V.Stopped)
        self.lload = L.LifecycleLoad(self, self.lmodel) if args.lifecycle else None
        self.bodies = Bodies(self.seed)
        self.vlock = threading.Lock()
        self.violations: list[dict] = []
        self.cycle = -1
        self.totals = {k: 0 for k in (
            "acked_ops", "acked_writes_verified", "acked_deletes_verified",
            "acked_bucket_ops_verified", "acked_parts_verified", "indeterminate",
            "indeterminate_applied", "indeterminate_not_applied", "keys_read_back",
            "lost", "torn", "errors", "orphans", "lifecycle_acked_verified",
            "lifecycle_expired_seen")}
        self.ops_by_kind: dict[str, int] = {}
        self.inflight_by_kind: dict[str, int] = {}
        self.recovery_ms: list[float] = []
        self.cycles: list[dict] = []
        self.recovery_100k: dict | None = None
        self.known: dict[str, int] = {"get_cut": 0, "copy_500": 0}
        self.cycle_known: dict[str, int] = {}
        self.started = time.time()

    # -- bookkeeping
    def violate(self, kind: str, msg: str):
        with self.vlock:
            self.totals[kind] += 1
            self.violations.append({"cycle": self.cycle, "kind": kind, "msg": msg})
        print(f"[crash] VIOLATION cycle {self.cycle} {kind}: {msg}", file=sys.stderr, flush=True)

    def known_bug(self, kind: str):
        with self.vlock:
            self.cycle_known[kind] = self.cycle_known.get(kind, 0) + 1
            self.known[kind] = self.known.get(kind, 0) + 1

    def mpu_version(self, t, up: Upload, parts: list[PartRec]) -> Version:
        labels = [(p.label, p.size) for p in parts]
        body = self.bodies.build(labels)
        md5s = b"".join(bytes.fromhex(p.md5) for p in parts)
        etag = f'"{hashlib.md5(md5s).hexdigest()}-{len(parts)}"'
        return Version(up.vid, t, hashlib.sha256(body).hexdigest(), hashlib.md5(body).hexdigest(),
                       len(body), etag, up.ctype, up.meta, len(parts), "mpu", labels)

    def client(self, **kw):
        cfg = dict(max_pool_connections=16, connect_timeout=5, read_timeout=60)
        cfg.update(kw)
        return make_client(self.server.endpoint, DEFAULT, **cfg)

    # -- setup
    def setup(self):
        self.server.start()
        c = self.client()
        for b in DATA_BUCKETS:
            c.create_bucket(Bucket=b)
        V.setup(c)
        if self.lload is not None:
            L.setup(c)
        self.verifier = c
        self.workers = [Worker(self, i) for i in range(self.args.workers)]

    # -- one cycle
    def run_cycle(self, cycle: int) -> dict:
        self.cycle = cycle
        m = self.model
        crng = random.Random(f"{self.seed}:cycle:{cycle}")
        load_s = crng.uniform(self.args.load_min, self.args.load_max)
        quiesce = crng.random() < 0.10
        m.new_cycle()
        self.cycle_known = {}
        for w in self.workers:
            w.counts = {}
        stop = threading.Event()
        threads = [threading.Thread(target=w.run, args=(random.Random(f"{self.seed}:{cycle}:{w.wid}"), stop),
                                    daemon=True) for w in self.workers]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        # The random kill instant (a deliberate timed wait: it *is* the experiment).
        stop.wait(load_s)
        if quiesce:
            stop.set()
            for t in threads:
                t.join(120)
        if not self.server.alive():
            self.violate("errors", f"the server died on its own during the load "
                         f"(exit {self.server.proc.returncode})")
        m.kill_switch()
        self.server.kill9()
        killed_at = time.monotonic() - t0
        stop.set()
        for t in threads:
            t.join(120)
            if t.is_alive():
                self.violate("errors", "a worker hung after the kill")
        lines = self.server.new_log_lines()
        for i, ln in enumerate(lines):
            if "panicked at" in ln:
                self.violate("errors", f"server panic: {' / '.join(lines[i:i + 2])}")
        # The tolerated failures must be exactly the known bug, as the server logs it.
        logged = {
            "get_cut": sum("body stream failed mid-response" in ln and "data file vanished" in ln
                           for ln in lines),
            "copy_500": sum("reading copy source: data file vanished" in ln for ln in lines),
        }
        for k, n in self.cycle_known.items():
            if n > logged[k]:
                self.violate("errors", f"{n} tolerated {k} failures, but the server logged only "
                             f"{logged[k]} 'data file vanished' for them: another cause")

        rec_ms = self.server.start()
        self.recovery_ms.append(rec_ms)
        if self.args.inject and cycle == min(1, self.args.cycles - 1):
            self.inject(self.args.inject)
        tv = time.monotonic()
        info = self.verify(crng, cycle)
        verify_s = time.monotonic() - tv
        counts: dict[str, int] = {}
        for w in self.workers:
            for k, v in w.counts.items():
                counts[k] = counts.get(k, 0) + v
        rec = {"cycle": cycle, "kill_at_s": round(killed_at, 3), "quiesced": quiesce,
               "recovery_ms": round(rec_ms, 1), "verify_s": round(verify_s, 2), **info,
               "ops": counts}
        self.cycles.append(rec)
        return rec

    def inject(self, what: str):
        """Tamper behind the model's back (checks that the checker catches it)."""
        m, c = self.model, self.verifier
        present = [t for t in self.targets
                   if None not in m.candidates(t) and len(m.candidates(t)) == 1]
        print(f"[crash] injecting a fault: {what}", flush=True)
        if what == "lost":
            c.delete_object(Bucket=present[0][0], Key=present[0][1])
        elif what == "torn":
            t = present[0]
            v = next(iter(m.candidates(t)))
            c.put_object(Bucket=t[0], Key=t[1], Body=b"not what was written" * 7,
                         ContentType=v.ctype, Metadata=v.meta)
        elif what == "version-lost":
            vid, e = next((v, e) for v, e in self.vmodel.known.items())
            c.delete_object(Bucket=V.VERSION_BUCKET, Key=e.key, VersionId=vid)
        elif what == "version-torn":
            c.put_object(Bucket=V.VERSION_BUCKET, Key=V.VERSION_KEYS[0], Body=b"unannounced")
        elif what == "lifecycle-lost":
            L.inject_lost(self, self.lmodel, c)
        elif what == "orphan":
            (self.server.data_dir / "objects" / "00" / ("ab" * 15 + "00")).write_bytes(b"x" * 4096)

    # -- verification
    def read_object(self, t):
        try:
            r = self.verifier.get_object(Bucket=t[0], Key=t[1])
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "NoSuchKey":
                return t, None
            return t, e
        hsh, n = hashlib.sha256(), 0
        for chunk in r["Body"].iter_chunks(1 * MiB):
            hsh.update(chunk)
            n += len(chunk)
        if n != r["ContentLength"]:
            return t, ValueError(f"{n} bytes read, Content-Length {r['ContentLength']}")
        return t, Found(hsh.hexdigest(), n, r["ETag"], r.get("ContentType"),
                        dict(r.get("Metadata", {})))

    def listing(self, b):
        out = {}
        for page in self.verifier.get_paginator("list_objects_v2").paginate(Bucket=b):
            for o in page.get("Contents", []):
                out[o["Key"]] = (o["Size"], o["ETag"])
        return out

    def verify(self, crng: random.Random, cycle: int) -> dict:
        m = self.model
        c = self.verifier
        acked = [o for ops in m.ops.values() for o in ops if o.status == "acked"]
        inflight = [o for ops in m.ops.values() for o in ops if o.status == "inflight"]
        inflight_upload_ops = sum(1 for u in m.uploads.values()
                                  if u.state in ("completing", "aborting"))
        inflight_upload_ops += sum(1 for u in m.uploads.values()
                                   for p in u.parts.values() if p.status == "inflight")
        inflight_upload_ops += sum(m.pending_creates.values())
        for o in acked:
            self.ops_by_kind[o.kind] = self.ops_by_kind.get(o.kind, 0) + 1
        for o in inflight:
            self.inflight_by_kind[o.kind] = self.inflight_by_kind.get(o.kind, 0) + 1
        self.totals["acked_ops"] += len(acked)
        self.totals["indeterminate"] += len(inflight) + inflight_upload_ops

        # 1. objects
        touched = [t for t in self.targets if m.ops.get(t)]
        full = self.args.verify_all_every and cycle % self.args.verify_all_every == 0
        untouched = [t for t in self.targets if not m.ops.get(t)]
        to_read = set(touched) | set(crng.sample(untouched, min(6, len(untouched))))
        if full:
            to_read = set(self.targets)
        with ThreadPoolExecutor(4) as ex:
            got = dict(ex.map(self.read_object, sorted(to_read)))
        listed = {b: self.listing(b) for b in DATA_BUCKETS}
        lost0, torn0 = self.totals["lost"], self.totals["torn"]
        new_state = {}
        for t in self.targets:
            lst = listed[t[0]].get(t[1])
            if t in got:
                f = got[t]
                if isinstance(f, Exception):
                    self.violate("errors", f"GET {t} after restart: {f!r}"[:500])
                    continue
                cands = m.candidates(t)
                match = self.match(t, f, cands)
                # the listing must agree with the read
                want_l = None if f is None else (f.size, f.etag)
                if lst != want_l:
                    self.violate("torn", f"{t}: listing says {lst}, GET says {f}")
                if match is False:
                    continue
                new_state[t] = match
                for o in m.ops.get(t, []):
                    if o.status == "acked":
                        if o.kind in WRITE_KINDS:
                            self.totals["acked_writes_verified"] += 1
                        else:
                            self.totals["acked_deletes_verified"] += 1
                    elif o.status == "inflight":
                        if match in m.outcomes(o):
                            self.totals["indeterminate_applied"] += 1
                        else:
                            self.totals["indeterminate_not_applied"] += 1
                self.totals["keys_read_back"] += 1
            else:
                cur = m.state[t]
                want_l = None if cur is None else (cur.size, cur.etag)
                if lst != want_l:
                    kind = "lost" if lst is None else "torn"
                    self.violate(kind, f"{t} untouched this cycle: listing says {lst}, "
                                 f"expected {cur}")

        for t, v in new_state.items():
            m.state[t] = v

        # 2. multipart uploads, and the data files they and the objects need
        uploads_found, parts_listed = self.verify_uploads()

        # 3. scratch buckets
        names = {b["Name"] for b in c.list_buckets()["Buckets"]}
        for b in DATA_BUCKETS:
            if b not in names:
                self.violate("lost", f"data bucket {b} vanished")
        for b in SCRATCH_BUCKETS:
            t = ("@bucket", b)
            cands = m.candidates(t)
            exists = b in names
            if exists not in cands:
                self.violate("lost", f"bucket {b}: exists={exists}, acknowledged state "
                             f"allows {sorted(cands)}")
                continue
            m.state[t] = exists
            self.totals["acked_bucket_ops_verified"] += sum(
                1 for o in m.ops.get(t, []) if o.status == "acked")

        # 4. the versioned bucket (crash_versions.py)
        version_files = V.verify(self, self.vmodel, c, INLINE_MAX)
        # 4b. the lifecycle bucket (crash_lifecycle.py)
        if self.lload is not None:
            version_files += L.verify(self, self.lmodel, c, INLINE_MAX)

        # 5. data files: after the sweep, exactly what the metadata references
        need = sum(v.nfiles for t, v in m.state.items()
                   if t[0] != "@bucket" and v is not None) + parts_listed + version_files
        if self.server.data_dir is None:
            # Cluster mode: copies live on every node and a killed node misses removals
            # (orphans there are a known issue), so the count is not checked.
            files, waited = need, 0.0
        elif self.totals["lost"] + self.totals["torn"] > lost0 + torn0:
            # a key failed its check: what it references is unknown, do not pile on
            files, waited = count_data_files(self.server.data_dir), 0.0
        else:
            files, waited = self.wait_files(need)
        if files != need and self.totals["lost"] + self.totals["torn"] == lost0 + torn0:
            kind = "orphans" if files > need else "lost"
            self.violate(kind, f"{files} data files under {self.server.data_dir}/objects after "
                         f"{waited:.1f}s, the metadata references {need} ({files - need:+d})")

        # 6. resolve leftover uploads: complete some, abort the rest
        self.resolve_uploads(uploads_found, crng)
        # bound the model's memory: old versions only serve diagnostics (lost vs torn)
        for t in self.targets:
            h = m.history[t]
            if len(h) > 64:
                keep = h[-64:]
                if isinstance(m.state[t], Version) and m.state[t] not in keep:
                    keep.append(m.state[t])
                m.history[t] = keep
        m.derived.clear()
        if c.list_multipart_uploads(Bucket=DATA_BUCKETS[0]).get("Uploads") or any(
                c.list_multipart_uploads(Bucket=b).get("Uploads") for b in DATA_BUCKETS[1:]):
            self.violate("errors", "uploads left after resolving them")
        return {"acked": len(acked), "inflight": len(inflight) + inflight_upload_ops,
                "read_back": len(got), "full_read": bool(full),
                "uploads_left": len(uploads_found), "files": files, "files_wait_s": round(waited, 2),
                "lost": self.totals["lost"] - lost0, "torn": self.totals["torn"] - torn0}

    def match(self, t, f, cands):
        """The candidate the found state is (a Version or None), or False after reporting."""
        fa = None if f is None else f.attrs()
        for v in cands:
            if (v is None and f is None) or (v is not None and f is not None and v.attrs() == fa):
                return v
        m = self.model
        desc = sorted(repr(v) for v in cands)
        if len(desc) > 12:
            desc = desc[:12] + [f"... {len(desc) - 12} more"]
        if f is None:
            self.violate("lost", f"{t} is absent; allowed: {desc}")
            return False
        same = [v for v in m.history[t] if v.attrs() == fa]
        if same:
            self.violate("lost", f"{t} holds {same[0]!r}, a superseded version "
                         f"(acknowledged state lost); allowed: {desc}")
            return False
        content = [v for v in m.history[t] if v.sha == f.sha and v.size == f.size]
        if content:
            self.violate("torn", f"{t}: content of {content[0]!r} with mixed metadata {f}; "
                         f"allowed: {desc}")
        else:
            self.violate("torn", f"{t}: {f} matches no version ever written in full; "
                         f"allowed: {desc}")
        return False

    def verify_uploads(self):
        m, c = self.model, self.verifier
        found = []  # (bucket, key, uid, [parts])
        for b in DATA_BUCKETS:
            for page in c.get_paginator("list_multipart_uploads").paginate(Bucket=b):
                for u in page.get("Uploads", []):
                    parts = []
                    for pp in c.get_paginator("list_parts").paginate(
                            Bucket=b, Key=u["Key"], UploadId=u["UploadId"]):
                        parts += pp.get("Parts", [])
                    found.append(((b, u["Key"]), u["UploadId"], parts))
        listed_ids = {uid for _, uid, _ in found}
        parts_listed = 0
        unknown: dict = {}
        for t, uid, parts in found:
            parts_listed += len(parts)
            up = m.uploads.get(uid)
            if up is None:
                unknown[t] = unknown.get(t, 0) + 1
                if parts:
                    self.violate("torn", f"upload {uid} of {t} that was never acknowledged "
                                 f"has {len(parts)} parts")
                continue
            if up.target != t:
                self.violate("torn", f"upload {uid} listed under {t}, created for {up.target}")
            if up.state in ("completed", "aborted"):
                self.violate("lost", f"upload {uid} of {t} is back after an acknowledged "
                             f"{up.state[:-1] + 'ion' if up.state == 'completed' else 'abort'}")
                continue
            cur = m.state.get(t)
            if up.state == "completing" and isinstance(cur, Version) and \
                    cur.origin == "mpu" and cur.vid == up.vid:
                self.violate("torn", f"upload {uid} of {t} is still listed, yet the object "
                             f"is its completion {cur!r}: a half-applied completion")
            have = {p["PartNumber"]: p for p in parts}
            for n, p in have.items():
                rec = up.parts.get(n)
                if rec is None or (p["Size"], p["ETag"]) != (rec.size, rec.etag):
                    self.violate("torn", f"upload {uid} of {t} part {n}: listed "
                                 f"{(p['Size'], p['ETag'])}, sent {rec and (rec.size, rec.etag)}")
            for n, rec in up.parts.items():
                if rec.status == "acked":
                    if n in have:
                        self.totals["acked_parts_verified"] += 1
                    else:
                        self.violate("lost", f"upload {uid} of {t}: acknowledged part {n} missing")
        for t, n in unknown.items():
            if n > m.pending_creates.get(t, 0):
                self.violate("torn", f"{n} unknown uploads of {t}, only "
                             f"{m.pending_creates.get(t, 0)} creations were in flight")
        for uid, up in m.uploads.items():
            if uid not in listed_ids and up.state == "open":
                self.violate("lost", f"acknowledged upload {uid} of {up.target} vanished")
        return found, parts_listed

    def resolve_uploads(self, found, crng):
        m, c = self.model, self.verifier
        for t, uid, parts in found:
            up = m.uploads.get(uid)
            parts = sorted(parts, key=lambda p: p["PartNumber"])
            recs = [up.parts.get(p["PartNumber"]) for p in parts] if up else []
            ok = (up is not None and parts and all(recs)
                  and [r.n for r in recs] == list(range(1, len(recs) + 1))
                  and all(r.size >= PART_MIN for r in recs[:-1]))
            if ok and crng.random() < 0.4:
                v = self.mpu_version(t, up, recs)
                v.vid = m.new_vid()
                v.meta = dict(up.meta)
                v.origin = "mpu-leftover"
                m.add_version(v)
                r = c.complete_multipart_upload(
                    Bucket=t[0], Key=t[1], UploadId=uid,
                    MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]}
                                               for p in parts]})
                if r["ETag"] != v.etag:
                    self.violate("errors", f"completing leftover {uid} of {t}: ETag "
                                 f"{r['ETag']}, expected {v.etag}")
                m.state[t] = v
            else:
                c.abort_multipart_upload(Bucket=t[0], Key=t[1], UploadId=uid)

    def wait_files(self, need: int):
        t0 = time.monotonic()
        while True:
            n = count_data_files(self.server.data_dir)
            waited = time.monotonic() - t0
            if n == need or waited > SWEEP_DEADLINE_S:
                return n, waited
            time.sleep(0.05)  # poll interval (the sweep runs in the background)

    # -- 100k-object recovery (the approach of tests/e2e/test_recovery.py)
    def recovery_large(self, n_objects: int):
        import test_recovery as tr
        from s3helpers import ServerInstance
        tr.N_OBJECTS = n_objects
        wd = self.workdir / "recovery-large"
        srv = ServerInstance(wd, binary=self.binary, log_args=("--log-level", "warn"))
        try:
            srv.start()
            bucket = "recovery-large"
            t = time.monotonic()
            tr.fill(srv, bucket)
            fill_s = time.monotonic() - t
            out = {"objects": n_objects, "fill_s": round(fill_s, 1)}
            for i in (1, 2):
                ready_s, probes = tr.restart_and_time(srv)
                tr.check_probes(probes)
                out[f"restart{i}_ready_ms"] = round(ready_s * 1000, 1)
            s3 = make_client(srv.endpoint, DEFAULT, read_timeout=60)
            head = s3.list_objects_v2(Bucket=bucket, Prefix=tr.PREFIX + "/", MaxKeys=1000)
            keys, pages = tr.list_all_keys(s3, bucket, tr.PREFIX + "/")
            out["listed"] = len(keys)
            if len(keys) != n_objects or head["KeyCount"] != min(1000, n_objects):
                self.violate("lost", f"recovery of {n_objects} objects: {len(keys)} listed")
            worst = max(out["restart1_ready_ms"], out["restart2_ready_ms"])
            if worst > 1000:
                self.violate("errors", f"recovery of {n_objects} objects took {worst:.0f} ms (> 1 s)")
            self.recovery_100k = out
            print(f"[crash] recovery with {n_objects} objects: {out}", flush=True)
        except Exception as e:  # noqa: BLE001
            self.violate("errors", f"large recovery check failed: {e!r}"[:600])
        finally:
            srv.stop()
            shutil.rmtree(wd, ignore_errors=True)

    # -- output
    def summary(self) -> dict:
        rec = sorted(self.recovery_ms)
        pct = (lambda q: round(rec[min(len(rec) - 1, int(q * len(rec)))], 1)) if rec else (lambda q: None)
        s = {
            "cycles": len(self.cycles),
            "seed": self.seed,
            "binary": str(self.src_bin),
            "acknowledged_ops": self.totals["acked_ops"],
            "acknowledged_writes_verified": self.totals["acked_writes_verified"],
            "acknowledged_deletes_verified": self.totals["acked_deletes_verified"],
            "acknowledged_bucket_ops_verified": self.totals["acked_bucket_ops_verified"],
            "acknowledged_parts_verified": self.totals["acked_parts_verified"],
            "keys_read_back": self.totals["keys_read_back"],
            "indeterminate": self.totals["indeterminate"],
            "indeterminate_key_ops_applied": self.totals["indeterminate_applied"],
            "indeterminate_key_ops_not_applied": self.totals["indeterminate_not_applied"],
            "lost": self.totals["lost"],
            "torn": self.totals["torn"],
            "errors": self.totals["errors"],
            "orphans": self.totals["orphans"],
            "violations": len(self.violations),
            "known_bug_get_cut_tolerated": self.known["get_cut"],
            "known_bug_copy_500_tolerated": self.known["copy_500"],
            "copy_503_slowdown_not_applied": sum(c["ops"].get("copy-slowdown", 0)
                                                 for c in self.cycles),
            "recovery_ms_max": round(max(rec), 1) if rec else None,
            "recovery_ms_p50": round(statistics.median(rec), 1) if rec else None,
            "recovery_ms_p99": pct(0.99),
            "acked_by_kind": dict(sorted(self.ops_by_kind.items())),
            "inflight_by_kind": dict(sorted(self.inflight_by_kind.items())),
            "elapsed_s": round(time.time() - self.started, 1),
        }
        if self.args.lifecycle:
            s["lifecycle_acked_writes_verified"] = self.totals["lifecycle_acked_verified"]
            s["lifecycle_expired_seen"] = self.totals["lifecycle_expired_seen"]
        if self.recovery_100k:
            s["recovery_large"] = self.recovery_100k
        return s

    def write_json(self, path):
        if not path:
            return
        doc = {"summary": self.summary(), "violations": self.violations[:200],
               "cycles": self.cycles}
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, help="kill/restart cycles (default 10; --long: 1000)")
    ap.add_argument("--long", action="store_true",
                    help="long mode: 1000 cycles and the 100,000-object recovery check")
    ap.add_argument("--seed", type=int, default=None, help="RNG seed (default: random, printed)")
    ap.add_argument("--json", help="write the summary, per-cycle records and violations here")
    ap.add_argument("--bin", help="server binary (default $BLEEPSTORE_BIN or target/release/bleepstore)")
    ap.add_argument("--workdir", help="work directory (default a fresh temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--workers", type=int, default=6, help="concurrent load workers (6)")
    ap.add_argument("--load-min", type=float, default=0.2, help="shortest load before the kill, s")
    ap.add_argument("--load-max", type=float, default=2.2, help="longest load before the kill, s")
    ap.add_argument("--verify-all-every", type=int, default=20,
                    help="read back every key every N cycles (others: touched keys + a sample)")
    ap.add_argument("--recovery-objects", type=int, default=None,
                    help="also time recovery of a data dir with N objects (--long: 100000)")
    ap.add_argument("--tolerate-vanished", dest="strict", action="store_false",
                    help="for binaries before the segment pinning: tolerate the old 'data file "
                         "vanished' bug (live GET cut mid-body, CopyObject 500 on a multipart "
                         "source replaced meanwhile), each checked against its log line; by "
                         "default both are errors")
    ap.add_argument("--keep-going", action="store_true", help="do not stop at the first violation")
    ap.add_argument("--log-level", default="warn", help="server log level (warn)")
    ap.add_argument("--lifecycle", action="store_true",
                    help="add the lifecycle bucket (an Expiration rule on exp/, passes every "
                         "second with a 2 s lifecycle day) to the load: crash_lifecycle.py")
    ap.add_argument("--inject", choices=["lost", "torn", "orphan", "version-lost", "version-torn",
                                         "lifecycle-lost"],
                    help="self-test: tamper with the store after the 2nd restart; the run must fail")
    ap.add_argument("--quiet", action="store_true", help="one progress line per 10 cycles")
    ap.add_argument("--cluster", type=int, default=0, metavar="N",
                    help="run N cluster nodes (3: a quorum survives one kill) instead of one "
                         "server; each cycle kills one node at random")
    args = ap.parse_args(argv)
    if args.inject == "lifecycle-lost" and not args.lifecycle:
        ap.error("--inject lifecycle-lost needs --lifecycle")
    if args.cycles is None:
        args.cycles = 1000 if args.long else 10
    if args.recovery_objects is None:
        args.recovery_objects = 100_000 if args.long else 0
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 31)
    if args.cluster and (args.inject or args.recovery_objects):
        ap.error("--cluster runs without --inject and --recovery-objects")

    h = Harness(args)
    print(f"[crash] seed {args.seed}, {args.cycles} cycles, {args.workers} workers, "
          f"workdir {h.workdir}, binary {h.src_bin}", flush=True)
    rc = 0
    try:
        h.setup()
        for cycle in range(args.cycles):
            rec = h.run_cycle(cycle)
            if not args.quiet or cycle % 10 == 9 or h.violations:
                print(f"[crash] cycle {cycle + 1}/{args.cycles}: kill at {rec['kill_at_s']:.2f}s"
                      f"{' (quiesced)' if rec['quiesced'] else ''}, {rec['acked']} acked, "
                      f"{rec['inflight']} in flight, recovery {rec['recovery_ms']:.0f} ms, "
                      f"{rec['read_back']} keys read back, {rec['files']} data files, "
                      f"verify {rec['verify_s']:.2f}s", flush=True)
            if cycle % 10 == 9:
                h.write_json(args.json)
            if h.violations and not args.keep_going:
                print("[crash] stopping at the first violating cycle", file=sys.stderr)
                break
        if args.recovery_objects and (not h.violations or args.keep_going):
            h.server.kill9()
            h.recovery_large(args.recovery_objects)
    except KeyboardInterrupt:
        h.violate("errors", "interrupted")
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        h.violate("errors", f"harness failure: {type(e).__name__}: {e}"[:600])
    finally:
        h.server.stop_all()
    s = h.summary()
    h.write_json(args.json)
    print("[crash] summary: " + json.dumps(s), flush=True)
    print(f"[crash] {s['cycles']} cycles: {s['acknowledged_writes_verified']} acknowledged writes "
          f"and {s['acknowledged_deletes_verified']} deletes verified, "
          f"{s['indeterminate']} indeterminate, lost {s['lost']}, torn {s['torn']}, "
          f"errors {s['errors']}, orphans {s['orphans']}; recovery p50 {s['recovery_ms_p50']} ms,"
          f" max {s['recovery_ms_max']} ms; known bug tolerated: {s['known_bug_get_cut_tolerated']}"
          f" GETs cut, {s['known_bug_copy_500_tolerated']} copies 500", flush=True)
    if h.violations:
        rc = 1
        print(f"[crash] FAILED: {len(h.violations)} violations (seed {args.seed}); "
              f"work dir kept: {h.workdir}", file=sys.stderr)
    elif not args.keep and not args.workdir:
        shutil.rmtree(h.workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
