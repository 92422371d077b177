"""Shared helpers for the BleepStore end-to-end suite.

Everything here is independent of the server under test: a hand-written SigV4
signer (header auth, presign, aws-chunked streaming), a raw HTTP/1.1 client on
plain sockets, checksum implementations (CRC32, CRC32C, CRC64/NVME, SHA), a
deterministic data generator, and ``ServerInstance`` which launches a private
server process.
"""

from __future__ import annotations

import base64
from contextlib import contextmanager
import datetime as _dt
import hashlib
import hmac
import os
import random
import signal
import socket
import subprocess
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import yaml
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
ALL_USERS_URI = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH_USERS_URI = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MiB = 1024 * 1024


@dataclass(frozen=True)
class Creds:
    access_key: str
    secret_key: str
    user_id: str | None = None
    display_name: str | None = None


DEFAULT = Creds("bleepstore", "bleepstore-secret")
ALICE = Creds("alice", "alice-secret", "alice-id", "alice")
BOB = Creds("bob", "bob-secret", "bob-id", "bob")


BACKEND = os.environ.get("BLEEPSTORE_BACKEND", "local")


def gateway_storage() -> dict | None:
    """The `storage` section of the suite's gateway config (None on the local backend).

    run_e2e.sh --backend X writes it into BLEEPSTORE_CONFIG; servers a test starts
    itself use the same upstream, each under its own prefix."""
    if BACKEND == "local":
        return None
    with open(os.environ["BLEEPSTORE_CONFIG"]) as f:
        return yaml.safe_load(f)["storage"]


def base_config() -> dict:
    """The configuration the suite runs against (run_e2e.sh writes the same)."""
    cfg = _base_config()
    storage = gateway_storage()
    if storage is not None:
        cfg["storage"] = storage
    return cfg


def _base_config() -> dict:
    return {
        "server": {"domain": "s3.local", "region": REGION},
        "auth": {
            "access_key": DEFAULT.access_key,
            "secret_key": DEFAULT.secret_key,
            "users": [
                {"access_key": c.access_key, "secret_key": c.secret_key,
                 "display_name": c.display_name, "id": c.user_id}
                for c in (ALICE, BOB)
            ],
        },
        "multipart": {"part_size_min": 5 * MiB},
    }


def deep_merge(base: dict, over: dict | None) -> dict:
    out = dict(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------
# Checksums (independent implementations, used to verify what the server returns)
# --------------------------------------------------------------------------------------

def _crc_table(poly: int, width: int) -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c & ((1 << width) - 1))
    return table


_CRC32C_TABLE = _crc_table(0x82F63B78, 32)
_CRC64NVME_TABLE = _crc_table(0x9A6C9329AC4BC9B5, 64)


def crc32c(data: bytes, crc: int = 0) -> int:
    c = crc ^ 0xFFFFFFFF
    t = _CRC32C_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def crc64nvme(data: bytes, crc: int = 0) -> int:
    m = 0xFFFFFFFFFFFFFFFF
    c = crc ^ m
    t = _CRC64NVME_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ m


assert crc32c(b"123456789") == 0xE3069283
assert crc64nvme(b"123456789") == 0xAE8B14860A799888


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def checksum_b64(algorithm: str, data: bytes) -> str:
    """Base64 of the big-endian checksum, as in x-amz-checksum-* headers."""
    a = algorithm.upper()
    if a == "CRC32":
        return b64((zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big"))
    if a == "CRC32C":
        return b64(crc32c(data).to_bytes(4, "big"))
    if a == "CRC64NVME":
        return b64(crc64nvme(data).to_bytes(8, "big"))
    if a == "SHA1":
        return b64(hashlib.sha1(data).digest())
    if a == "SHA256":
        return b64(hashlib.sha256(data).digest())
    raise ValueError(algorithm)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5_b64(data: bytes) -> str:
    return b64(hashlib.md5(data).digest())


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def multipart_etag(parts: list[bytes]) -> str:
    """S3's multipart ETag: md5 of the concatenated binary part md5s, '-N'."""
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


# --------------------------------------------------------------------------------------
# Deterministic data
# --------------------------------------------------------------------------------------

def det_bytes(seed: str | int, size: int) -> bytes:
    return random.Random(f"bleepstore-{seed}").randbytes(size)


def write_det_file(path: Path, seed: str, size: int, chunk: int = 4 * MiB) -> str:
    """Write `size` deterministic bytes to `path` in chunks; returns the sha256 hex."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        i = 0
        left = size
        while left:
            n = min(chunk, left)
            block = det_bytes(f"{seed}/{i}", n)
            f.write(block)
            h.update(block)
            left -= n
            i += 1
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                return h.hexdigest()
            h.update(b)


def stream_sha256(body) -> tuple[str, int]:
    """sha256 and length of a botocore StreamingBody, read in chunks."""
    h = hashlib.sha256()
    n = 0
    for chunk in body.iter_chunks(chunk_size=1 * MiB):
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), n


# --------------------------------------------------------------------------------------
# SigV4 (hand-written, independent of botocore)
# --------------------------------------------------------------------------------------

def uri_encode(s: str, safe: str = "") -> str:
    """AWS UriEncode: everything but A-Za-z0-9-._~ (and `safe`) is %XX-encoded."""
    return urllib.parse.quote(s, safe="~" + safe)


def key_path(bucket: str, key: str | None = None) -> str:
    """Path-style wire path for bucket/key, encoded the way S3 canonicalizes it."""
    p = "/" + uri_encode(bucket)
    if key is not None:
        p += "/" + uri_encode(key, safe="/")
    return p


def amz_now(offset_s: float = 0.0) -> str:
    t = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=offset_s)
    return t.strftime("%Y%m%dT%H%M%SZ")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str = REGION, service: str = "s3") -> bytes:
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def canonical_query(query: list[tuple[str, str | None]]) -> str:
    pairs = sorted((uri_encode(k), uri_encode(v or "")) for k, v in query)
    return "&".join(f"{k}={v}" for k, v in pairs)


def wire_query(query: list[tuple[str, str | None]]) -> str:
    parts = []
    for k, v in query:
        parts.append(uri_encode(k) if v is None else f"{uri_encode(k)}={uri_encode(v)}")
    return "&".join(parts)


@dataclass
class Signed:
    headers: dict
    signature: str
    amz_date: str
    scope: str
    key: bytes


def sign_headers(method: str, path: str, query: list, headers: dict, payload_hash: str,
                 creds: Creds, amz_date: str | None = None, region: str = REGION,
                 signed: list[str] | None = None) -> Signed:
    """Return `headers` plus x-amz-date, x-amz-content-sha256 and Authorization.

    `path` is the exact wire path (already URI-encoded); `headers` must include Host.
    `signed` restricts which headers are signed (default: all given + x-amz-*).
    """
    amz_date = amz_date or amz_now()
    date = amz_date[:8]
    h = dict(headers)
    h["x-amz-date"] = amz_date
    h["x-amz-content-sha256"] = payload_hash
    lower = {}
    for k, v in h.items():
        lower[k.lower()] = " ".join(str(v).strip().split())
    names = sorted(lower) if signed is None else sorted(
        set(n.lower() for n in signed) | {"host", "x-amz-date", "x-amz-content-sha256"})
    canon_headers = "".join(f"{n}:{lower[n]}\n" for n in names)
    signed_names = ";".join(names)
    creq = "\n".join([method, path, canonical_query(query), canon_headers, signed_names,
                      payload_hash])
    scope = f"{date}/{region}/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    key = signing_key(creds.secret_key, date, region)
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    h["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
                          f"SignedHeaders={signed_names}, Signature={sig}")
    return Signed(h, sig, amz_date, scope, key)


def chunk_signature(s: Signed, prev_sig: str, chunk: bytes) -> str:
    sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", s.amz_date, s.scope, prev_sig,
                     EMPTY_SHA256, hashlib.sha256(chunk).hexdigest()])
    return hmac.new(s.key, sts.encode(), hashlib.sha256).hexdigest()


def trailer_signature(s: Signed, prev_sig: str, trailer_lines: list[tuple[str, str]]) -> str:
    canon = "".join(f"{k}:{v}\n" for k, v in trailer_lines)
    sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", s.amz_date, s.scope, prev_sig,
                     hashlib.sha256(canon.encode()).hexdigest()])
    return hmac.new(s.key, sts.encode(), hashlib.sha256).hexdigest()


def aws_chunked_signed(s: Signed, data: bytes, chunk_size: int,
                       trailer: list[tuple[str, str]] | None = None,
                       corrupt_chunk: int | None = None) -> bytes:
    """Encode `data` as STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]."""
    out = []
    prev = s.signature
    chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for idx, c in enumerate(chunks):
        sig = chunk_signature(s, prev, c)
        prev = sig
        if corrupt_chunk == idx:
            sig = ("0" if sig[0] != "0" else "1") + sig[1:]
        out.append(f"{len(c):x};chunk-signature={sig}\r\n".encode() + c)
        if c or trailer is None:
            out.append(b"\r\n")
    if trailer is not None:
        for k, v in trailer:
            out.append(f"{k}:{v}\r\n".encode())
        tsig = trailer_signature(s, prev, trailer)
        out.append(f"x-amz-trailer-signature:{tsig}\r\n\r\n".encode())
    return b"".join(out)


def aws_chunked_unsigned(data: bytes, chunk_size: int,
                         trailer: list[tuple[str, str]]) -> bytes:
    """Encode `data` as STREAMING-UNSIGNED-PAYLOAD-TRAILER."""
    out = []
    for i in range(0, len(data), chunk_size):
        c = data[i:i + chunk_size]
        out.append(f"{len(c):x}\r\n".encode() + c + b"\r\n")
    out.append(b"0\r\n")
    for k, v in trailer:
        out.append(f"{k}:{v}\r\n".encode())
    out.append(b"\r\n")
    return b"".join(out)


def presign_url(endpoint: str, method: str, path: str, creds: Creds, expires: int,
                amz_date: str | None = None, extra_query: list | None = None) -> str:
    """A hand-built SigV4 query-string presigned URL (UNSIGNED-PAYLOAD)."""
    u = urllib.parse.urlsplit(endpoint)
    amz_date = amz_date or amz_now()
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    q = [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
         ("X-Amz-Credential", f"{creds.access_key}/{scope}"),
         ("X-Amz-Date", amz_date), ("X-Amz-Expires", str(expires)),
         ("X-Amz-SignedHeaders", "host")] + list(extra_query or [])
    creq = "\n".join([method, path, canonical_query(q), f"host:{u.netloc}\n", "host",
                      "UNSIGNED-PAYLOAD"])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(signing_key(creds.secret_key, amz_date[:8]), sts.encode(),
                   hashlib.sha256).hexdigest()
    q.append(("X-Amz-Signature", sig))
    return f"{u.scheme}://{u.netloc}{path}?{wire_query(q)}"


# --------------------------------------------------------------------------------------
# Raw HTTP/1.1 over sockets
# --------------------------------------------------------------------------------------

class ConnectionClosed(Exception):
    pass


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: list = field(default_factory=list)
    body: bytes = b""
    version: str = "HTTP/1.1"

    def header(self, name: str, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)

    @property
    def error_code(self) -> str | None:
        if not self.body:
            return None
        try:
            root = self.xml()
        except ET.ParseError:
            return None
        return xml_text(root, "Code")

    @property
    def wants_close(self) -> bool:
        c = (self.header("Connection") or "").lower()
        if "close" in c:
            return True
        return self.version == "HTTP/1.0" and "keep-alive" not in c

    def __repr__(self):
        return (f"RawResponse({self.status} {self.reason}, headers={self.headers}, "
                f"body={self.body[:600]!r})")


def strip_ns(tag: str) -> str:
    return tag.split("}", 1)[1] if tag.startswith("{") else tag


def xml_find(root: ET.Element, name: str):
    for el in root.iter():
        if strip_ns(el.tag) == name:
            return el
    return None


def xml_findall(root: ET.Element, name: str) -> list:
    return [el for el in root.iter() if strip_ns(el.tag) == name]


def xml_text(root: ET.Element, name: str):
    el = xml_find(root, name)
    return None if el is None else (el.text or "")


def xml_children(el: ET.Element, name: str) -> list:
    return [c for c in el if strip_ns(c.tag) == name]


class RawConn:
    """One TCP connection with a buffered response reader."""

    def __init__(self, host: str, port: int, timeout: float = 30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def _readline(self) -> bytes:
        while b"\r\n" not in self.buf:
            if len(self.buf) > 1 << 20:
                raise ValueError("response line too long")
            if not self._fill():
                raise ConnectionClosed("connection closed while reading a line")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _readn(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionClosed(f"connection closed with {n - len(self.buf)} bytes missing")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self) -> bytes:
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out

    def at_eof(self, timeout: float = 5.0) -> bool:
        """True if the peer closes the connection (EOF or reset) within `timeout`
        without sending anything more."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1)
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        return data == b""

    def read_response(self, method: str = "GET") -> RawResponse:
        line = self._readline()
        parts = line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ValueError(f"bad status line {line!r}")
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        while True:
            hl = self._readline()
            if hl == b"":
                break
            k, _, v = hl.decode("latin-1").partition(":")
            headers.append((k.strip(), v.strip()))
        resp = RawResponse(status, reason, headers, b"", version)
        if 100 <= status < 200 or status in (204, 304) or method == "HEAD":
            return resp
        te = (resp.header("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            body = []
            while True:
                size = int(self._readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self._readline() != b"":
                        pass
                    break
                body.append(self._readn(size))
                self._readn(2)
            resp.body = b"".join(body)
        elif resp.header("Content-Length") is not None:
            resp.body = self._readn(int(resp.header("Content-Length")))
        else:
            resp.body = self.read_to_eof()
        return resp


class Raw:
    """Hand-crafted S3 requests. Paths are wire paths (use key_path())."""

    def __init__(self, endpoint: str, creds: Creds = DEFAULT):
        u = urllib.parse.urlsplit(endpoint)
        self.endpoint = endpoint
        self.host = u.hostname
        self.port = u.port
        self.netloc = u.netloc
        self.creds = creds

    def conn(self, timeout: float = 30.0) -> RawConn:
        return RawConn(self.host, self.port, timeout)

    def build(self, method: str, path: str, query: list | None = None,
              headers: dict | None = None, body: bytes = b"", sign: bool = True,
              creds: Creds | None = None, payload_hash: str | None = None,
              host: str | None = None, amz_date: str | None = None,
              content_length: bool = True, region: str = REGION) -> bytes:
        query = list(query or [])
        h = {"Host": host or self.netloc}
        h.update(headers or {})
        if content_length and body and not any(k.lower() == "content-length" for k in h):
            h["Content-Length"] = str(len(body))
        if sign:
            ph = payload_hash if payload_hash is not None else sha256_hex(body)
            h = sign_headers(method, path, query, h, ph, creds or self.creds,
                             amz_date=amz_date, region=region).headers
        target = path + ("?" + wire_query(query) if query else "")
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
        return head.encode("utf-8") + b"\r\n" + body

    def request(self, method: str, path: str, query: list | None = None,
                headers: dict | None = None, body: bytes = b"", timeout: float = 60.0,
                **kw) -> RawResponse:
        data = self.build(method, path, query, headers, body, **kw)
        with self.conn(timeout) as c:
            c.send(data)
            return c.read_response(method)


# --------------------------------------------------------------------------------------
# A private server process
# --------------------------------------------------------------------------------------

def server_binary() -> Path:
    if os.environ.get("BLEEPSTORE_BIN"):
        return Path(os.environ["BLEEPSTORE_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO_ROOT / "target")
    if not target.is_absolute():
        target = REPO_ROOT / target
    return target / "release" / "bleepstore"


def http_probe(host: str, port: int, path: str, timeout: float = 1.0) -> int | None:
    """Status of an unsigned GET, or None if nothing answered."""
    try:
        with RawConn(host, port, timeout) as c:
            c.send(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            return c.read_response("GET").status
    except (OSError, ValueError, ConnectionClosed):
        return None


class ServerStartError(RuntimeError):
    pass


class ServerInstance:
    """A bleepstore process with its own port, data dir and log.

    restart() kills -9 and starts again on the same port and data dir, as a
    supervisor would; BLEEPSTORE_E2E_RESTART_NEW_PORT=1 picks a new port instead
    (to look past a rebind problem while debugging)."""

    def __init__(self, workdir: Path, extra_args=(), config_overrides: dict | None = None,
                 binary: Path | None = None, port: int | None = None,
                 ready_timeout: float = 60.0, use_config: bool = True,
                 log_args=("--log-level", "info")):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.config_path = self.workdir / "config.yaml"
        self.log_path = self.workdir / "server.log"
        self.extra_args = list(extra_args)
        self.binary = Path(binary or server_binary())
        self.port = port or free_port()
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.use_config = use_config
        self.log_args = list(log_args)
        self.config = deep_merge(base_config(), config_overrides)
        section = self.config.get("storage", {}).get(BACKEND)
        if isinstance(section, dict):
            # One upstream bucket serves every test server: keep their names apart.
            section["prefix"] = f"{section.get('prefix', '')}{self.workdir.name}-{uuid.uuid4().hex[:8]}/"
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def panics(self) -> list[str]:
        """'thread ... panicked at ...' lines (with the message line) from the log."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [" / ".join(lines[i:i + 2]) for i, ln in enumerate(lines) if "panicked at" in ln]

    def start(self, extra_args=None) -> "ServerInstance":
        if self.running:
            raise RuntimeError("already running")
        if extra_args is not None:
            self.extra_args = list(extra_args)
        return self.start_custom()

    def wait_ready(self):
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"server exited with {self.proc.returncode} before ready\n{self.log_tail()}")
            if http_probe("127.0.0.1", self.port, "/readyz", 1.0) == 200:
                return
            if time.monotonic() > deadline:
                self.kill9()
                raise ServerStartError(
                    f"server not ready within {self.ready_timeout}s\n{self.log_tail()}")
            time.sleep(0.02)  # poll interval, not a readiness guess

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def restart(self, extra_args=None) -> "ServerInstance":
        self.kill9()
        return self.start(extra_args)

    def stop(self):
        self.kill9()

    def start_custom(self, host: str = "127.0.0.1", env: dict | None = None,
                     stdout=None, stderr=None) -> "ServerInstance":
        """Starts the server and waits for /readyz. By default it binds 127.0.0.1, logs to
        the log file and runs with NO_COLOR=1; the tests of logging and start-up behaviour
        pass another bind host, environment or stdio."""
        if self.running:
            raise RuntimeError("already running")
        if not self.binary.exists():
            raise ServerStartError(f"server binary {self.binary} not found (cargo build --release)")
        if self.starts and os.environ.get("BLEEPSTORE_E2E_RESTART_NEW_PORT") == "1":
            # diagnostic knob only: a restarted server must be able to rebind its port
            self.port = free_port()
        self.starts += 1
        cmd = [str(self.binary), "--bind", f"{host}:{self.port}", "--data-dir",
               str(self.data_dir)]
        if self.use_config:
            cmd += ["--config", str(self.config_path)]
        cmd += [*self.log_args, *self.extra_args]
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts}: {' '.join(cmd)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            cmd, stdout=log if stdout is None else stdout,
            stderr=subprocess.STDOUT if stderr is None else stderr,
            env=dict(os.environ, NO_COLOR="1") if env is None else env,
            stdin=subprocess.DEVNULL, cwd=self.workdir)
        log.close()
        self.wait_ready()
        return self

# --------------------------------------------------------------------------------------
# boto3 helpers
# --------------------------------------------------------------------------------------

def client_config(**kw) -> Config:
    base = dict(
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": 1},  # no silent retries: every failure shows
        connect_timeout=10,
        read_timeout=120,
        max_pool_connections=32,
    )
    base.update(kw)
    return Config(**base)


def make_client(endpoint: str, creds: Creds | None, session=None, **cfg):
    session = session or boto3.session.Session()
    if creds is None:
        return session.client(
            "s3", endpoint_url=endpoint, region_name=REGION,
            config=client_config(signature_version=UNSIGNED, **cfg))
    return session.client(
        "s3", endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key,
        config=client_config(**cfg))


class SpreadClient:
    """A boto3 client whose every call goes to the next of several endpoints in turn (the
    nodes of a cluster): consecutive requests of a test land on different nodes. The
    clients share one session, so `exceptions` are the same classes whichever raised."""

    def __init__(self, endpoints: list[str], creds: Creds | None, **cfg):
        session = boto3.session.Session()
        self._clients = [make_client(e, creds, session=session, **cfg) for e in endpoints]
        self._next = 0

    def __getattr__(self, name):
        self._next = (self._next + 1) % len(self._clients)
        return getattr(self._clients[self._next], name)


def cluster_endpoints() -> list[str]:
    """BLEEPSTORE_ENDPOINTS (comma-separated): the suite spreads its requests over them."""
    raw = os.environ.get("BLEEPSTORE_ENDPOINTS", "")
    return [e.strip().rstrip("/") for e in raw.split(",") if e.strip()]


def make_suite_client(endpoint: str, creds: Creds | None, **cfg):
    """The suite's clients: spread over BLEEPSTORE_ENDPOINTS when set, else `endpoint`."""
    spread = cluster_endpoints()
    if len(spread) > 1:
        return SpreadClient(spread, creds, **cfg)
    return make_client(endpoint, creds, **cfg)


def unique_name(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def empty_and_delete(client, name: str):
    """Best-effort teardown: abort uploads, delete every object, delete the bucket."""
    try:
        pages = client.get_paginator("list_multipart_uploads").paginate(Bucket=name)
        for page in pages:
            for u in page.get("Uploads", []):
                try:
                    client.abort_multipart_upload(Bucket=name, Key=u["Key"],
                                                  UploadId=u["UploadId"])
                except Exception:
                    pass
    except Exception:
        pass
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                try:
                    client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
                except Exception:
                    for k in keys:
                        try:
                            client.delete_object(Bucket=name, Key=k["Key"])
                        except Exception:
                            pass
    except Exception:
        pass
    try:  # a versioning bucket keeps versions and delete markers
        for page in client.get_paginator("list_object_versions").paginate(Bucket=name):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                try:
                    client.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
                except Exception:
                    pass
    except Exception:
        pass
    try:
        client.delete_bucket(Bucket=name)
    except Exception:
        pass


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code")


def http_status(exc: ClientError) -> int:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def put_many(client, bucket: str, keys, body=b"x", workers: int = 16):
    def one(k):
        client.put_object(Bucket=bucket, Key=k, Body=body)
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(one, keys))




class S3ErrorExpectation:
    def __init__(self):
        self.exc: ClientError | None = None

    @property
    def code(self):
        return error_code(self.exc)

    @property
    def status(self):
        return http_status(self.exc)

    @property
    def response(self):
        return self.exc.response


@contextmanager
def s3_error(code=None, status: int | None = None):
    """Assert the block raises a botocore ClientError with this code (a string or a
    tuple of accepted codes) and/or HTTP status."""
    exp = S3ErrorExpectation()
    try:
        yield exp
    except ClientError as e:
        exp.exc = e
    else:
        raise AssertionError(f"expected an S3 error {code or ''} {status or ''}, got success")
    got_code, got_status = error_code(exp.exc), http_status(exp.exc)
    codes = (code,) if isinstance(code, str) else code
    if codes is not None:
        assert got_code in codes, f"expected {codes}, got {got_code} ({got_status}): {exp.exc.response}"
    if status is not None:
        assert got_status == status, f"expected HTTP {status}, got {got_status} ({got_code})"


# --------------------------------------------------------------------------------------
# Signature Version 2 (hand-built, for requests botocore would not make)
# --------------------------------------------------------------------------------------

def sigv2_string_to_sign(method: str, resource: str, headers: dict, date: str) -> str:
    """StringToSign of SigV2: `resource` is the CanonicalizedResource (/bucket/key plus
    sub-resources); every x-amz-* header of `headers` is included."""
    lower = {k.lower(): str(v).strip() for k, v in headers.items()}
    amz = "".join(f"{k}:{lower[k]}\n" for k in sorted(lower) if k.startswith("x-amz-"))
    return "\n".join([method, lower.get("content-md5", ""), lower.get("content-type", ""),
                      date, amz + resource])


def sigv2_signature(secret: str, string_to_sign: str) -> str:
    mac = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def sigv2_headers(method: str, resource: str, headers: dict, creds: Creds,
                  date: str | None = None) -> dict:
    """`headers` plus Date and `Authorization: AWS key:signature`."""
    import email.utils
    date = date or email.utils.formatdate(usegmt=True)
    h = dict(headers)
    h["Date"] = date
    sts = sigv2_string_to_sign(method, resource, h, date)
    h["Authorization"] = f"AWS {creds.access_key}:{sigv2_signature(creds.secret_key, sts)}"
    return h


def sigv2_presign_url(endpoint: str, method: str, path: str, creds: Creds,
                      expires_at: int, headers: dict | None = None) -> str:
    """A SigV2 presigned URL (path style, no sub-resources) valid until `expires_at`."""
    sts = sigv2_string_to_sign(method, path, headers or {}, str(expires_at))
    sig = sigv2_signature(creds.secret_key, sts)
    q = wire_query([("AWSAccessKeyId", creds.access_key), ("Signature", sig),
                    ("Expires", str(expires_at))])
    return f"{endpoint}{path}?{q}"
