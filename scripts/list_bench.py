#!/usr/bin/env python3
"""Listing benchmark on a 1,000,000-key bucket (or a 1,000,000-version one).

    python3 scripts/list_bench.py [target/release/bleepstore] [--reuse DIR] [--dirs N]
    python3 scripts/list_bench.py --versions 4      # 250,000 keys x 4 versions

--versions V (V > 1): the bucket has versioning enabled and the fill writes each key V
times (dirs x 1,000 versions in all, dirs x 1,000 / V keys), and the measured requests are
ListObjectVersions: (a) the first page of 1,000 versions, (b) a page from the middle
(key-marker = key #keys/2), (c) a page resumed inside a key (key-marker + version-id-marker
= that key's second-newest version), (d) a delimiter listing at the root. Target: 5 ms p50.

1. Starts a fresh server (its own port, data dir and config) from the given binary.
2. Fills one bucket with 1,000,000 zero-byte keys laid out as
   dir0000/obj0000 .. dir0999/obj0999 (1,000 "directories" of 1,000 keys), as fast as the
   client can: several processes, each driving many keep-alive connections with a
   small pipeline, requests signed by a minimal SigV4 signer (zero-byte PUTs are inline
   objects, so the server's limit is its metadata group commit).
3. Restarts the server (kill -9: start-up is recovery) with JSON access logging, waits
   for the start-up work to settle, and times, 20 times each after a warm-up:
     (a) the first ListObjectsV2 page (1,000 keys);
     (b) a page from the middle (start-after = key #500,000, 0-based);
     (c) a delimiter listing at the root (1,000 common prefixes, each rolling up 1,000 keys);
     (d) a delimiter listing inside one directory (prefix dir0500/, 1,000 keys).
   Each request is a presigned GET sent over one raw keep-alive connection, so the
   client-observed latency has little client overhead; the server's own duration_us
   from the access log is reported next to it.
4. Prints a table (median and p95, milliseconds) and checks every page's content.

--reuse DIR keeps/uses DIR as the data dir: if it already holds the filled bucket the
fill is skipped (handy for re-measuring); without it a temp dir is removed at the end.
--dirs N (default 1000) shrinks the bucket to N x 1,000 keys for a quick trial.
Exit status: 0 if every page was correct (timings are reported, not asserted), 1 if not.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import multiprocessing as mp
import os
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

ACCESS, SECRET, REGION = "bleepstore", "bleepstore-secret", "us-east-1"
BUCKET = "listbench"
EMPTY_SHA = hashlib.sha256(b"").hexdigest()
DIRS, PER_DIR = 1000, 1000


def key_of(i: int) -> str:
    return f"dir{i // PER_DIR:04d}/obj{i % PER_DIR:04d}"


# --------------------------------------------------------------------------------------
# SigV4, minimal
# --------------------------------------------------------------------------------------

def _h(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(date: str) -> bytes:
    return _h(_h(_h(_h(("AWS4" + SECRET).encode(), date), REGION), "s3"), "aws4_request")


def quote(s: str, safe: str = "") -> str:
    return urllib.parse.quote(s, safe="~" + safe)


class Signer:
    def __init__(self, host: str):
        self.host = host
        self._date = None
        self._key = None
        self._stamp = 0.0
        self._amz = ""

    def amz_date(self) -> str:
        now = time.time()
        if now - self._stamp > 1.0:
            self._stamp = now
            self._amz = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            if self._amz[:8] != self._date:
                self._date = self._amz[:8]
                self._key = signing_key(self._date)
        return self._amz

    def request(self, method: str, path: str, query: str = "", body: bytes = b"") -> bytes:
        """`path` already encoded; `query` already canonical (sorted, encoded)."""
        d = self.amz_date()
        ph = EMPTY_SHA if not body else hashlib.sha256(body).hexdigest()
        creq = (f"{method}\n{path}\n{query}\nhost:{self.host}\nx-amz-content-sha256:{ph}\n"
                f"x-amz-date:{d}\n\nhost;x-amz-content-sha256;x-amz-date\n{ph}")
        scope = f"{d[:8]}/{REGION}/s3/aws4_request"
        sts = f"AWS4-HMAC-SHA256\n{d}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
        sig = hmac.new(self._key, sts.encode(), hashlib.sha256).hexdigest()
        target = path + ("?" + query if query else "")
        return (f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"x-amz-date: {d}\r\nx-amz-content-sha256: {ph}\r\n"
                f"Authorization: AWS4-HMAC-SHA256 Credential={ACCESS}/{scope}, "
                f"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={sig}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    def presign(self, method: str, path: str, params: list[tuple[str, str]],
                expires: int = 3600) -> str:
        d = self.amz_date()
        scope = f"{d[:8]}/{REGION}/s3/aws4_request"
        q = params + [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                      ("X-Amz-Credential", f"{ACCESS}/{scope}"), ("X-Amz-Date", d),
                      ("X-Amz-Expires", str(expires)), ("X-Amz-SignedHeaders", "host")]
        cq = "&".join(f"{quote(k)}={quote(v)}" for k, v in sorted(q))
        creq = f"{method}\n{path}\n{cq}\nhost:{self.host}\n\nhost\nUNSIGNED-PAYLOAD"
        sts = f"AWS4-HMAC-SHA256\n{d}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
        sig = hmac.new(self._key, sts.encode(), hashlib.sha256).hexdigest()
        return f"{path}?{cq}&X-Amz-Signature={sig}"


# --------------------------------------------------------------------------------------
# HTTP on raw sockets
# --------------------------------------------------------------------------------------

def parse_responses(buf: bytearray) -> tuple[list[int], int]:
    """Complete responses at the start of `buf`: (statuses, bytes consumed). Handles
    Content-Length bodies only (what PUT and error responses use)."""
    statuses, pos = [], 0
    while True:
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head = bytes(buf[pos:end]).decode("latin-1")
        clen = 0
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                clen = int(v.strip())
        if len(buf) < end + 4 + clen:
            break
        statuses.append(int(head.split(" ", 2)[1]))
        pos = end + 4 + clen
    return statuses, pos


def read_response(sock: socket.socket, buf: bytearray) -> tuple[int, dict, bytes]:
    while b"\r\n\r\n" not in buf:
        d = sock.recv(1 << 16)
        if not d:
            raise ConnectionError("closed")
        buf += d
    end = buf.find(b"\r\n\r\n")
    head = bytes(buf[:end]).decode("latin-1").split("\r\n")
    del buf[:end + 4]
    status = int(head[0].split(" ", 2)[1])
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            while b"\r\n" not in buf:
                buf += sock.recv(1 << 16)
            i = buf.find(b"\r\n")
            size = int(bytes(buf[:i]).split(b";")[0], 16)
            del buf[:i + 2]
            while len(buf) < size + 2:
                buf += sock.recv(1 << 16)
            body += buf[:size]
            del buf[:size + 2]
            if size == 0:
                break
        return status, headers, bytes(body)
    n = int(headers.get("content-length", "0"))
    while len(buf) < n:
        d = sock.recv(1 << 20)
        if not d:
            raise ConnectionError("closed mid-body")
        buf += d
    body = bytes(buf[:n])
    del buf[:n]
    return status, headers, body


# --------------------------------------------------------------------------------------
# Fill
# --------------------------------------------------------------------------------------

def fill_worker(port: int, lo: int, hi: int, conns: int, depth: int, progress, errors,
                versions: int = 1):
    host = f"127.0.0.1:{port}"
    signer = Signer(host)
    sel = selectors.DefaultSelector()
    nxt = lo
    state = {}
    for _ in range(conns):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        state[s] = {"out": bytearray(), "in": bytearray(), "pending": 0}
        sel.register(s, selectors.EVENT_READ)
    done_local = 0
    last_report = time.monotonic()

    def refill(s):
        nonlocal nxt
        st = state[s]
        while st["pending"] < depth and nxt < hi:
            key = key_of(nxt // versions)
            st["out"] += signer.request("PUT", f"/{BUCKET}/{quote(key, '/')}")
            st["pending"] += 1
            nxt += 1
        if st["out"]:
            try:
                n = s.send(st["out"])
                del st["out"][:n]
            except BlockingIOError:
                pass
        sel.modify(s, selectors.EVENT_READ | (selectors.EVENT_WRITE if st["out"] else 0))

    for s in list(state):
        refill(s)
    while any(st["pending"] for st in state.values()):
        for sk, ev in sel.select(timeout=30):
            s = sk.fileobj
            st = state[s]
            if ev & selectors.EVENT_WRITE and st["out"]:
                try:
                    n = s.send(st["out"])
                    del st["out"][:n]
                except BlockingIOError:
                    pass
            if ev & selectors.EVENT_READ:
                d = s.recv(1 << 16)
                if not d:
                    raise ConnectionError("server closed a fill connection")
                st["in"] += d
                statuses, used = parse_responses(st["in"])
                del st["in"][:used]
                for code in statuses:
                    if code != 200:
                        with errors.get_lock():
                            errors.value += 1
                st["pending"] -= len(statuses)
                done_local += len(statuses)
            refill(s)
        now = time.monotonic()
        if now - last_report > 0.5:
            with progress.get_lock():
                progress.value += done_local
            done_local = 0
            last_report = now
    with progress.get_lock():
        progress.value += done_local
    for s in state:
        s.close()


def fill(port: int, n: int, procs: int, conns: int, depth: int, versions: int = 1) -> float:
    progress = mp.Value("q", 0)
    errors = mp.Value("q", 0)
    bounds = [n * i // procs for i in range(procs + 1)]
    # Whole keys per process: a key's versions come from one connection, in order.
    bounds = [b - b % versions for b in bounds]
    ps = [mp.Process(target=fill_worker, args=(port, bounds[i], bounds[i + 1], conns, depth,
                                               progress, errors, versions), daemon=True)
          for i in range(procs)]
    t0 = time.monotonic()
    for p in ps:
        p.start()
    last = 0.0
    while any(p.is_alive() for p in ps):
        time.sleep(0.5)
        el = time.monotonic() - t0
        if el - last >= 10:
            last = el
            v = progress.value
            print(f"  fill: {v:>9,} keys in {el:6.1f}s ({v / el:,.0f}/s)", flush=True)
    for p in ps:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"fill worker exited {p.exitcode}")
    el = time.monotonic() - t0
    if errors.value:
        raise SystemExit(f"{errors.value} PUTs failed during the fill")
    if progress.value != n:
        raise SystemExit(f"fill acknowledged {progress.value} of {n} PUTs")
    return el


# --------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary: Path, data_dir: Path, workdir: Path):
        self.binary, self.data_dir, self.workdir = binary, data_dir, workdir
        self.port = free_port()
        self.config = workdir / "config.yaml"
        self.config.write_text(
            f'auth:\n  access_key: "{ACCESS}"\n  secret_key: "{SECRET}"\n'
            f'server:\n  region: "{REGION}"\n')
        self.proc = None
        self.log_path = None

    def start(self, log_level: str, log_name: str):
        self.log_path = self.workdir / log_name
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(self.binary), "--bind", f"127.0.0.1:{self.port}", "--data-dir",
             str(self.data_dir), "--config", str(self.config), "--log-level", log_level,
             "--log-format", "json"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(os.environ, NO_COLOR="1"))
        log.close()
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited {self.proc.returncode}: "
                                 f"{self.log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(64).split(b" ")[1] == b"200":
                        return
            except (OSError, IndexError):
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server not ready in 120 s")
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def settle(self, limit: float = 120.0):
        """Wait until the server uses < 5% of a core over 1 s (start-up sweep done)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            a = self.cpu_seconds()
            time.sleep(1.0)
            if self.cpu_seconds() - a < 0.05:
                return time.monotonic() - t0
        return time.monotonic() - t0

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# --------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def check_page(name: str, body: bytes, n: int) -> str | None:
    root = ET.fromstring(body)
    keys = [e.text for e in root.iter(NS + "Key")]
    prefixes = [e.text for e in root.iter(NS + "Prefix") if e.text is not None]
    cps = [cp.find(NS + "Prefix").text for cp in root.iter(NS + "CommonPrefixes")]
    trunc = root.findtext(NS + "IsTruncated")
    kc = root.findtext(NS + "KeyCount")
    if name == "a":
        want = [key_of(i) for i in range(1000)]
        ok = keys == want and trunc == "true" and kc == "1000"
    elif name == "b":
        want = [key_of(i) for i in range(n // 2 + 1, min(n, n // 2 + 1001))]
        ok = keys == want and trunc == "true" and kc == "1000"
    elif name == "c":
        dirs = n // PER_DIR
        want = [f"dir{d:04d}/" for d in range(min(dirs, 1000))]
        ok = keys == [] and cps == want and trunc == ("true" if dirs > 1000 else "false") \
            and kc == str(len(want))
    else:
        want = [f"{key_of(n // 2)[:7]}/obj{o:04d}" for o in range(PER_DIR)]
        ok = keys == want and cps == [] and trunc == "false" and kc == "1000"
    if ok:
        return None
    return (f"page {name}: {len(keys)} keys ({keys[:2]}..{keys[-1:]}), {len(cps)} prefixes "
            f"({cps[:2]}..), IsTruncated={trunc}, KeyCount={kc}; prefixes={prefixes[:2]}")


def time_queries(sock, buf, signer, path, queries, reps, warmup, check):
    """Times each presigned query `warmup + reps` times on one keep-alive connection; the
    first answer of each is checked (`check(name, body)`: None or a problem)."""
    host = signer.host
    results, problems = {}, []
    for name, (label, params) in queries.items():
        target = signer.presign("GET", path, params)
        req = f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        lat, size = [], 0
        for i in range(warmup + reps):
            t0 = time.perf_counter()
            sock.sendall(req)
            status, _, body = read_response(sock, buf)
            dt = time.perf_counter() - t0
            if status != 200:
                problems.append(f"page {name}: HTTP {status} {body[:300]!r}")
                break
            if i == 0:
                err = check(name, body)
                if err:
                    problems.append(err)
                size = len(body)
            if i >= warmup:
                lat.append(dt * 1000)
        results[name] = (label, lat, size)
    return results, problems


def measure(port: int, reps: int, warmup: int, n: int):
    host = f"127.0.0.1:{port}"
    signer = Signer(host)
    signer.amz_date()
    path = f"/{BUCKET}"
    queries = {
        "a": ("first page (1,000 keys)", [("list-type", "2"), ("max-keys", "1000")]),
        "b": (f"middle page, start-after key #{n // 2:,}",
              [("list-type", "2"), ("max-keys", "1000"), ("start-after", key_of(n // 2))]),
        "c": (f"delimiter '/' at root ({n // PER_DIR:,} prefixes x 1,000 keys)",
              [("list-type", "2"), ("max-keys", "1000"), ("delimiter", "/")]),
        "d": (f"delimiter '/', prefix {key_of(n // 2)[:8]} (1,000 keys)",
              [("list-type", "2"), ("max-keys", "1000"), ("delimiter", "/"),
               ("prefix", key_of(n // 2)[:8])]),
    }
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    results, problems = time_queries(sock, bytearray(), signer, path, queries, reps, warmup,
                                     lambda name, body: check_page(name, body, n))
    sock.close()
    return results, problems


def check_versions_page(name: str, body: bytes, n: int, v: int, resume_vid: str) -> str | None:
    root = ET.fromstring(body)
    rows = [(e.findtext(NS + "Key"), e.findtext(NS + "VersionId"), e.findtext(NS + "IsLatest"))
            for e in root if e.tag in (NS + "Version", NS + "DeleteMarker")]
    cps = [cp.findtext(NS + "Prefix") for cp in root.iter(NS + "CommonPrefixes")]
    trunc = root.findtext(NS + "IsTruncated")
    keys = n // v

    def want_rows(first_key, skip):
        out, k, i = [], first_key, skip
        while len(out) < 1000 and k < keys:
            out.append((key_of(k), "true" if i == 0 else "false"))
            i += 1
            if i == v:
                k, i = k + 1, 0
        return out
    got = [(k, latest) for k, _, latest in rows]
    if name == "a":
        ok = got == want_rows(0, 0) and trunc == "true"
    elif name == "b":
        ok = got == want_rows(keys // 2 + 1, 0) and trunc == "true"
    elif name == "c":
        ok = got == want_rows(keys // 2 + 1, 2) and trunc == "true" and \
            all(vid != resume_vid for _, vid, _ in rows)
    else:
        dirs = -(-keys // PER_DIR)
        ok = rows == [] and cps == [f"dir{d:04d}/" for d in range(min(dirs, 1000))]
    if ok:
        return None
    return (f"page {name}: {len(rows)} versions ({rows[:2]}..{rows[-1:]}), {len(cps)} prefixes,"
            f" IsTruncated={trunc}")


def measure_versions(port: int, reps: int, warmup: int, n: int, v: int):
    host = f"127.0.0.1:{port}"
    signer = Signer(host)
    signer.amz_date()
    path = f"/{BUCKET}"
    keys = n // v
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    # the second-newest version of key #keys/2+1, to resume a listing inside that key
    probe = [("versions", ""), ("prefix", key_of(keys // 2 + 1)), ("max-keys", "2")]
    sock.sendall(f"GET {signer.presign('GET', path, probe)} HTTP/1.1\r\nHost: {host}\r\n\r\n"
                 .encode())
    status, _, body = read_response(sock, buf)
    vids = [e.findtext(NS + "VersionId") for e in ET.fromstring(body) if e.tag == NS + "Version"]
    if status != 200 or len(vids) != 2:
        return {}, [f"probe of {key_of(keys // 2 + 1)}: HTTP {status}, {len(vids)} versions"]
    resume = vids[1]
    queries = {
        "a": ("first page (1,000 versions)", [("versions", ""), ("max-keys", "1000")]),
        "b": (f"middle page, key-marker key #{keys // 2:,}",
              [("versions", ""), ("max-keys", "1000"), ("key-marker", key_of(keys // 2))]),
        "c": ("resumed inside a key (version-id-marker)",
              [("versions", ""), ("max-keys", "1000"), ("key-marker", key_of(keys // 2 + 1)),
               ("version-id-marker", resume)]),
        "d": ("delimiter '/' at root",
              [("versions", ""), ("max-keys", "1000"), ("delimiter", "/")]),
    }
    check = lambda name, body: check_versions_page(name, body, n, v, resume)  # noqa: E731
    results, problems = time_queries(sock, buf, signer, path, queries, reps, warmup, check)
    sock.close()
    return results, problems


def server_durations(log_path: Path, reps: int, warmup: int,
                     operation: str = "ListObjectsV2", skip: int = 0) -> list[list[float]]:
    """duration_us of the listing requests, in order, grouped per query (after `skip`)."""
    durs = []
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        f = rec.get("fields", {})
        if rec.get("target") == "access" and f.get("operation") == operation:
            durs.append(f.get("duration_us", 0) / 1000)
    durs = durs[skip:]
    per = warmup + reps
    return [durs[i * per + warmup:(i + 1) * per] for i in range(len(durs) // per)]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))  # nearest rank
    return s[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", nargs="?", default="target/release/bleepstore")
    ap.add_argument("--dirs", type=int, default=DIRS, help="directories of 1,000 keys")
    ap.add_argument("--procs", type=int, default=2, help="fill client processes")
    ap.add_argument("--conns", type=int, default=128, help="connections per fill process")
    ap.add_argument("--depth", type=int, default=2, help="pipelined requests per connection")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reuse", type=Path, help="data dir to keep / reuse")
    ap.add_argument("--versions", type=int, default=1,
                    help="versions per key (> 1: a versioning bucket, ListObjectVersions)")
    args = ap.parse_args()
    args.keys = args.dirs * PER_DIR
    if args.versions < 1 or args.keys % args.versions:
        raise SystemExit("--versions must divide the version count (dirs x 1,000)")
    binary = Path(args.binary).resolve()
    workdir = Path(tempfile.mkdtemp(prefix="bleepstore-listbench-"))
    data_dir = args.reuse.resolve() if args.reuse else workdir / "data"
    srv = Server(binary, data_dir, workdir)
    print(f"server {binary} on 127.0.0.1:{srv.port}, data {data_dir}")
    try:
        marker = data_dir / ".listbench-filled"
        filled_as = f"{args.keys}x{args.versions}" if args.versions > 1 else str(args.keys)
        srv.start("warn", "fill.log")
        if not marker.exists():
            host = f"127.0.0.1:{srv.port}"
            sg = Signer(host)
            with socket.create_connection(("127.0.0.1", srv.port)) as s:
                s.sendall(sg.request("PUT", f"/{BUCKET}"))
                st, _, body = read_response(s, bytearray())
                if st != 200:
                    raise SystemExit(f"CreateBucket: {st} {body[:300]!r}")
                if args.versions > 1:
                    doc = (b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/'
                           b'2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>')
                    s.sendall(sg.request("PUT", f"/{BUCKET}", "versioning=", doc))
                    st, _, body = read_response(s, bytearray())
                    if st != 200:
                        raise SystemExit(f"PutBucketVersioning: {st} {body[:300]!r}")
            print(f"filling {args.keys:,} zero-byte versions ({args.versions} per key): "
                  f"{args.procs} processes x {args.conns} connections x pipeline {args.depth}",
                  flush=True)
            el = fill(srv.port, args.keys, args.procs, args.conns, args.depth, args.versions)
            print(f"filled {args.keys:,} versions in {el:.1f}s ({args.keys / el:,.0f} PUT/s)")
            marker.write_text(f"{filled_as}\n")
        elif marker.read_text().strip() != filled_as:
            raise SystemExit(f"{data_dir} holds {marker.read_text().strip()} keys, not {args.keys}")
        else:
            print(f"reusing the bucket already filled in {data_dir}")
        # restart: crash-only start-up, then JSON access logging for the measured phase
        srv.kill9()
        t0 = time.monotonic()
        srv.start("info", "measure.log")
        ready = time.monotonic() - t0
        settle = srv.settle()
        print(f"restart: ready in {ready:.2f}s, idle after {settle:.1f}s more")
        if args.versions > 1:
            results, problems = measure_versions(srv.port, args.reps, args.warmup, args.keys,
                                                 args.versions)
            operation, skip, target = "ListObjectVersions", 1, 5.0
        else:
            results, problems = measure(srv.port, args.reps, args.warmup, args.keys)
            operation, skip, target = "ListObjectsV2", 0, 20.0
        deadline = time.monotonic() + 5  # the access log is written asynchronously
        while True:
            server_side = server_durations(srv.log_path, args.reps, args.warmup, operation, skip)
            if sum(len(x) for x in server_side) >= len(results) * args.reps \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        print()
        print(f"{operation} on {args.keys:,} {'versions' if args.versions > 1 else 'keys'}, "
              f"{args.reps} runs each after "
              f"{args.warmup} warm-up (ms; client = send to last byte on a keep-alive "
              f"connection, server = access-log duration)")
        hdr = (f"{'':3}{'query':<52}{'bytes':>8}{'client p50':>12}{'client p95':>12}"
               f"{'server p50':>12}{'server p95':>12}")
        print(hdr)
        print("-" * len(hdr))
        for i, (name, (label, lat, size)) in enumerate(results.items()):
            ss = server_side[i] if i < len(server_side) else []
            sp50 = f"{statistics.median(ss):.2f}" if ss else "-"
            sp95 = f"{pct(ss, 95):.2f}" if ss else "-"
            if lat:
                print(f"({name}) {label:<52}{size:>8}{statistics.median(lat):>12.2f}"
                      f"{pct(lat, 95):>12.2f}{sp50:>12}{sp95:>12}")
            else:
                print(f"({name}) {label:<52}{'failed':>8}")
        slow = [n for n, (_, lat, _) in results.items() if lat and statistics.median(lat) >= target]
        print(f"\ntarget < {target:.0f} ms per page: "
              + ("met by every query (median)" if not slow else f"missed by {', '.join(slow)}"))
        if problems:
            print("\nWRONG PAGES:\n  " + "\n  ".join(problems))
            return 1
        return 0
    finally:
        srv.kill9()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
