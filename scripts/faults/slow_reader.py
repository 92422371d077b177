#!/usr/bin/env python3
"""Slow reader: a client GETs a large object (256 MiB) and stops reading.

1. PUT a 256 MiB object (streamed, single PUT); sample the server's RSS (baseline).
2. N clients (default 1; a small receive buffer) send the GET, read the headers and the
   first MiB, then stop reading with the connection open.
3. Sample the server's RSS (/proc/PID/status VmRSS) every 250 ms for --seconds (15 s).
   Pass if it never grows more than --bound-mib (64 MiB) over the baseline: the server
   must apply backpressure instead of buffering the object for the stalled socket.
4. Resume reading (the pause is shorter than server.body_timeout_ms) and check the whole
   body arrives and is byte-identical (sha256).

    scripts/faults/slow_reader.py [--size-mib 256] [--readers 1] [--seconds 15] [--bound-mib 64]

Standard library only; starts its own server from target/release/bleepstore
(BLEEPSTORE_BIN overrides). Exit 0 on pass, 1 on failure.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import MiB, Server, log, presign, request, sign  # noqa: E402


def block(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest() * (MiB // 32)


def upload(port: int, path: str, size_mib: int) -> str:
    """Single streamed PUT of size_mib MiB; returns the sha256 of the body."""
    host = f"127.0.0.1:{port}"
    h = sign("PUT", path, host, headers={"content-length": str(size_mib * MiB)})
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    sha = hashlib.sha256()
    try:
        s.sendall(f"PUT {path} HTTP/1.1\r\n".encode() +
                  "".join(f"{k}: {v}\r\n" for k, v in h.items()).encode() + b"\r\n")
        for i in range(size_mib):
            b = block(i)
            sha.update(b)
            s.sendall(b)
        resp = b""
        while b"\r\n\r\n" not in resp:
            d = s.recv(65536)
            if not d:
                break
            resp += d
        status = resp.split(b" ", 2)[1]
        if status != b"200":
            raise RuntimeError(f"PUT answered {resp[:300]!r}")
    finally:
        s.close()
    return sha.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--readers", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--bound-mib", type=float, default=64.0)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    srv = Server()
    srv.start()
    fails = []
    readers = []
    try:
        assert request(srv.port, "PUT", "/slowread")[0] == 200
        t0 = time.monotonic()
        want = upload(srv.port, "/slowread/big", args.size_mib)
        log(f"PUT {args.size_mib} MiB in {time.monotonic() - t0:.1f}s")
        base_samples = []
        for _ in range(8):
            base_samples.append(srv.rss_kib())
            time.sleep(0.125)  # RSS sampling interval
        base = max(base_samples)
        log(f"baseline server RSS {base / 1024:.1f} MiB")

        target = presign("GET", "/slowread/big", f"127.0.0.1:{srv.port}")
        for r in range(args.readers):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            s.settimeout(60)
            s.connect(("127.0.0.1", srv.port))
            s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n".encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(65536)
            head, body = buf.split(b"\r\n\r\n", 1)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"GET answered {head[:200]!r}")
            while len(body) < MiB:
                body += s.recv(min(65536, MiB - len(body)))
            readers.append([s, body])
        log(f"{args.readers} reader(s): headers + first MiB read, now not reading")

        samples = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.seconds:
            samples.append((time.monotonic() - t0, srv.rss_kib()))
            time.sleep(0.25)  # RSS sampling interval
        peak = max(v for _, v in samples)
        grow = (peak - base) / 1024
        log(f"server RSS over {args.seconds:.0f}s of stalled reading ({len(samples)} samples): "
            f"min {min(v for _, v in samples) / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, "
            f"last {samples[-1][1] / 1024:.1f} MiB; growth over baseline {grow:+.1f} MiB "
            f"(bound {args.bound_mib:.0f} MiB)")
        if grow > args.bound_mib:
            fails.append(f"RSS grew {grow:.1f} MiB with a stalled reader (> {args.bound_mib} MiB)")

        # resume: the rest must arrive intact
        t0 = time.monotonic()
        for s, first in readers:
            h = hashlib.sha256(first)
            n = len(first)
            while n < args.size_mib * MiB:
                d = s.recv(1 << 20)
                if not d:
                    break
                h.update(d)
                n += len(d)
            if n != args.size_mib * MiB or h.hexdigest() != want:
                fails.append(f"after resuming: {n} bytes, sha256 match {h.hexdigest() == want}")
        log(f"resumed: {len(readers)} body(ies) of {args.size_mib} MiB complete and byte-identical"
            f" in {time.monotonic() - t0:.1f}s" if not fails else "resumed: body NOT intact")
        log(f"server RSS after {srv.rss_kib() / 1024:.1f} MiB")
        if not srv.alive():
            fails.append("the server died")
    finally:
        for s, _ in readers:
            s.close()
        srv.cleanup(keep=args.keep or bool(fails))
    for f in fails:
        log(f"FAIL: {f}")
    log("PASS" if not fails else f"FAIL (server log {srv.log_path})")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
