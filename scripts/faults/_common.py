"""Shared helpers for the fault scripts (standard library only, any python3 >= 3.8).

A private bleepstore process (fresh data dir, free port, the run_e2e.sh test config plus
per-script overrides), a SigV4 signer (header auth with UNSIGNED-PAYLOAD, and presigned
URLs), a tiny HTTP/1.1 client on raw sockets, RSS sampling and percentiles.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ACCESS_KEY = "bleepstore"
SECRET_KEY = "bleepstore-secret"
REGION = "us-east-1"
MiB = 1024 * 1024


def log(*a):
    print(*a, flush=True)


def server_binary() -> Path:
    if os.environ.get("BLEEPSTORE_BIN"):
        return Path(os.environ["BLEEPSTORE_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    if not target.is_absolute():
        target = REPO / target
    return target / "release" / "bleepstore"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = hard if hard != resource.RLIM_INFINITY else max(want, soft)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _yaml(d: dict, indent: int = 0) -> str:
    out = []
    for k, v in d.items():
        pad = "  " * indent
        if isinstance(v, dict):
            out.append(f"{pad}{k}:\n{_yaml(v, indent + 1)}")
        else:
            out.append(f"{pad}{k}: {json.dumps(v)}")
    return "\n".join(out)


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class Server:
    """bleepstore on 127.0.0.1:<free port> with its own data dir (under `workdir`)."""

    def __init__(self, overrides: dict | None = None, workdir: Path | None = None,
                 data_dir: Path | None = None, log_level: str = "warn"):
        self.binary = server_binary()
        if not self.binary.exists():
            sys.exit(f"server binary {self.binary} not found: cargo build --release")
        self.own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="bleepstore-fault-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = Path(data_dir or self.workdir / "data")
        self.port = free_port()
        self.log_path = self.workdir / "server.log"
        self.config_path = self.workdir / "config.yaml"
        cfg = {
            "server": {"domain": "s3.local", "region": REGION},
            "auth": {"access_key": ACCESS_KEY, "secret_key": SECRET_KEY},
            "storage": {"backend": "local"},
            "multipart": {"part_size_min": 5 * MiB},
        }
        self.config = _merge(cfg, overrides or {})
        self.config_path.write_text(_yaml(self.config) + "\n")
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> float:
        cmd = [str(self.binary), "--bind", f"127.0.0.1:{self.port}", "--data-dir",
               str(self.data_dir), "--config", str(self.config_path)]
        env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
        env["NO_COLOR"] = "1"
        with open(self.log_path, "ab") as f:
            t0 = time.monotonic()
            self.proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                                         stdin=subprocess.DEVNULL, cwd=self.workdir)
        while True:
            if probe(self.port, "/readyz") == 200:
                return time.monotonic() - t0
            if self.proc.poll() is not None:
                sys.exit(f"server exited {self.proc.returncode} before ready:\n{self.log_tail()}")
            if time.monotonic() - t0 > timeout:
                self.stop()
                sys.exit(f"server not ready after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.01)  # poll interval

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(30)

    def cleanup(self, keep: bool = False):
        self.stop()
        if self.own_workdir and not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def metric(self, name: str) -> float | None:
        st, _, body = request(self.port, "GET", "/metrics", sign=False)
        if st != 200:
            return None
        total, seen = 0.0, False
        for line in body.decode().splitlines():
            if line.startswith(name) and (len(line) == len(name) or line[len(name)] in " {"):
                total += float(line.rsplit(" ", 1)[1])
                seen = True
        return total if seen else None


# --------------------------------------------------------------------------------------
# SigV4
# --------------------------------------------------------------------------------------

def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _signing_key(date: str) -> bytes:
    k = _hmac(("AWS4" + SECRET_KEY).encode(), date)
    k = _hmac(k, REGION)
    k = _hmac(k, "s3")
    return _hmac(k, "aws4_request")


def quote_path(path: str) -> str:
    return urllib.parse.quote(path, safe="/-_.~")


def _canon_query(q: list) -> str:
    enc = [(urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~")) for k, v in q]
    return "&".join(f"{k}={v}" for k, v in sorted(enc))


def sign(method: str, path: str, host: str, query: list | None = None,
         headers: dict | None = None) -> dict:
    """Header-auth SigV4 with UNSIGNED-PAYLOAD; returns the headers to send."""
    now = _dt.datetime.now(_dt.timezone.utc)
    amz, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    h = {"host": host, "x-amz-date": amz, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    for k, v in (headers or {}).items():
        h[k.lower()] = str(v)
    names = sorted(h)
    creq = "\n".join([method, quote_path(path), _canon_query(query or []),
                      "".join(f"{k}:{h[k].strip()}\n" for k in names), ";".join(names),
                      "UNSIGNED-PAYLOAD"])
    scope = f"{date}/{REGION}/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(_signing_key(date), sts.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = (f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, "
                          f"SignedHeaders={';'.join(names)}, Signature={sig}")
    return h


def presign(method: str, path: str, host: str, expires: int = 3600) -> str:
    """A presigned request target (path?query) valid for `expires` seconds."""
    now = _dt.datetime.now(_dt.timezone.utc)
    amz, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = f"{date}/{REGION}/s3/aws4_request"
    q = [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", f"{ACCESS_KEY}/{scope}"),
         ("X-Amz-Date", amz), ("X-Amz-Expires", str(expires)), ("X-Amz-SignedHeaders", "host")]
    creq = "\n".join([method, quote_path(path), _canon_query(q), f"host:{host}\n", "host",
                      "UNSIGNED-PAYLOAD"])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(_signing_key(date), sts.encode(), hashlib.sha256).hexdigest()
    return f"{quote_path(path)}?{_canon_query(q)}&X-Amz-Signature={sig}"


# --------------------------------------------------------------------------------------
# HTTP on raw sockets
# --------------------------------------------------------------------------------------

class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int, timeout: float = 30.0):
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        d = self.sock.recv(256 * 1024)
        if not d:
            raise ConnectionError("connection closed by the server")
        self.buf += d

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        return status, hdrs

    def read_response(self, method: str = "GET"):
        status, hdrs = self.read_head()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return status, hdrs, b""
        if "chunked" in hdrs.get("transfer-encoding", "").lower():
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                line, self.buf = self.buf.split(b"\r\n", 1)
                n = int(line.split(b";")[0], 16)
                while len(self.buf) < n + 2:
                    self._fill()
                body += self.buf[:n]
                self.buf = self.buf[n + 2:]
                if n == 0:
                    return status, hdrs, body
        n = int(hdrs.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, hdrs, body

    def request(self, method: str, path: str, body: bytes = b"", query: list | None = None,
                headers: dict | None = None, sign_it: bool = True):
        h = dict(headers or {})
        if body or method in ("PUT", "POST"):
            h["content-length"] = str(len(body))
        if sign_it:
            h = sign(method, path, self.host, query, h)
        else:
            h.setdefault("host", self.host)
        target = quote_path(path) + (("?" + _canon_query(query)) if query else "")
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
        self.sock.sendall(head.encode() + b"\r\n" + body)
        return self.read_response(method)

    def raw(self, target: str, method: str = "GET"):
        """An unsigned (e.g. presigned) request for `target` on this connection."""
        self.sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        return self.read_response(method)


def request(port: int, method: str, path: str, body: bytes = b"", query=None, headers=None,
            sign: bool = True, timeout: float = 60.0):
    c = Conn(port, timeout)
    try:
        return c.request(method, path, body, query, headers, sign)
    finally:
        c.close()


def probe(port: int, path: str) -> int | None:
    try:
        c = Conn(port, 1.0)
    except OSError:
        return None
    try:
        c.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        return c.read_head()[0]
    except (OSError, ValueError, IndexError):
        return None
    finally:
        c.close()


def pct(values, q: float) -> float:
    v = sorted(values)
    if not v:
        return float("nan")
    return v[min(len(v) - 1, int(q * len(v)))]


def latency_run(port: int, target: str, n: int) -> list[float]:
    """n sequential GETs of a presigned `target` on one keep-alive connection; ms each."""
    c = Conn(port, 30)
    out = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            st, _, _ = c.raw(target)
            out.append((time.perf_counter() - t) * 1000)
            if st != 200:
                raise RuntimeError(f"GET answered {st}")
    finally:
        c.close()
    return out
