#!/usr/bin/env python3
"""10,000 concurrent idle keep-alive connections.

1. Baseline: p50/p99 of small (4 KiB) presigned GETs on one keep-alive connection, and of
   new-connection GETs; server RSS and open fds.
2. Open 10,000 connections; each does one GET (must be 200) and then stays idle, open.
3. While they are held: the server's open-connection gauge, RSS (/proc/PID/status) and fd
   count; a normal client's GET latency (keep-alive and new connections). Pass if the
   keep-alive p99 <= max(2 x baseline p99, 5 ms) and every request answered.
4. After they idled longer than server.header_timeout_ms (set to 5 s here; the idle
   timeout is 120 s): every one of the 10,000 sends a second request on its connection
   (must be 200: still held, keep-alive intact). A sample of 200 sends that request head
   in two TCP segments 20 ms apart (as a large head does on a real network). Both must
   get 200.

The client raises its own RLIMIT_NOFILE (the server raises its own at start);
server.connections_per_core_max is 10,000 per core by default, set to 20,000 here so the
kernel's uneven SO_REUSEPORT spread cannot push one core over the limit.

    scripts/faults/idle_conns.py [--conns 10000] [--header-timeout-ms 5000]

Standard library only; starts its own server from target/release/bleepstore
(BLEEPSTORE_BIN overrides). Exit 0 on pass, 1 on failure.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (Conn, Server, latency_run, log, pct, presign, raise_nofile,  # noqa: E402
                     request)


def new_conn_latency(port: int, target: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        c = Conn(port, 30)
        try:
            st, _, _ = c.raw(target)
        finally:
            c.close()
        out.append((time.perf_counter() - t) * 1000)
        if st != 200:
            raise RuntimeError(f"GET answered {st}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conns", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--header-timeout-ms", type=int, default=5000)
    ap.add_argument("--split-sample", type=int, default=200)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    lim = raise_nofile(args.conns + 2000)
    if lim < args.conns + 100:
        log(f"RLIMIT_NOFILE is {lim}: cannot hold {args.conns} connections")
        return 2
    srv = Server({"server": {"connections_per_core_max": 20_000, "idle_timeout_ms": 120_000,
                             "header_timeout_ms": args.header_timeout_ms}})
    srv.start()
    fails = []
    held: list[Conn] = []
    try:
        assert request(srv.port, "PUT", "/idle")[0] == 200
        assert request(srv.port, "PUT", "/idle/obj", os.urandom(4096))[0] == 200
        target = presign("GET", "/idle/obj", f"127.0.0.1:{srv.port}")
        latency_run(srv.port, target, 300)  # warm-up
        base = latency_run(srv.port, target, args.requests)
        base_new = new_conn_latency(srv.port, target, 300)
        rss0, fd0 = srv.rss_kib(), srv.fd_count()
        log(f"baseline: keep-alive GET p50 {pct(base, .5):.3f} ms p99 {pct(base, .99):.3f} ms; "
            f"new-connection GET p50 {pct(base_new, .5):.3f} ms p99 {pct(base_new, .99):.3f} ms; "
            f"server RSS {rss0 / 1024:.1f} MiB, {fd0} fds")

        t0 = time.monotonic()
        errors = {}
        for i in range(args.conns):
            try:
                c = Conn(srv.port, 30)
                st, _, _ = c.raw(target)
                if st != 200:
                    errors[st] = errors.get(st, 0) + 1
                held.append(c)
            except OSError as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
        open_s = time.monotonic() - t0
        log(f"opened {len(held)}/{args.conns} connections, one GET each, in {open_s:.1f}s "
            f"({len(held) / open_s:.0f}/s); errors {errors or 'none'}")
        if len(held) < args.conns or errors:
            fails.append(f"only {len(held)} connections opened and answered; errors {errors}")
        t_idle = time.monotonic()

        gauge = srv.metric("bleepstore_open_connections")
        rss1, fd1 = srv.rss_kib(), srv.fd_count()
        log(f"held: server gauge {gauge:.0f} open connections, {fd1} fds (+{fd1 - fd0}), "
            f"RSS {rss1 / 1024:.1f} MiB (+{(rss1 - rss0) / 1024:.1f} MiB, "
            f"{(rss1 - rss0) * 1024 / max(1, len(held)):.0f} B per connection)")
        if gauge is None or gauge < len(held):
            fails.append(f"the server reports {gauge} open connections, {len(held)} held")

        loaded = latency_run(srv.port, target, args.requests)
        loaded_new = new_conn_latency(srv.port, target, 300)
        limit = max(2 * pct(base, .99), 5.0)
        log(f"while held: keep-alive GET p50 {pct(loaded, .5):.3f} ms p99 {pct(loaded, .99):.3f} ms"
            f" (limit {limit:.2f}); new-connection GET p50 {pct(loaded_new, .5):.3f} ms "
            f"p99 {pct(loaded_new, .99):.3f} ms")
        if pct(loaded, .99) > limit:
            fails.append(f"keep-alive p99 {pct(loaded, .99):.3f} ms with the connections held "
                         f"> {limit:.2f} ms")

        # Let them idle past the header timeout (the idle timeout is 120 s), then reuse.
        wait_until = t_idle + args.header_timeout_ms / 1000 + 2
        while time.monotonic() < wait_until:
            time.sleep(0.2)  # idling is the point of this phase
        idle_s = time.monotonic() - t_idle
        sample = set(range(0, len(held), max(1, len(held) // max(1, args.split_sample))))
        ok = split_ok = 0
        bad = {}
        t0 = time.monotonic()
        for i, c in enumerate(held):
            try:
                if i in sample:
                    head = f"GET {target} HTTP/1.1\r\nHost: {c.host}\r\n\r\n".encode()
                    c.sock.sendall(head[:16])
                    time.sleep(0.02)
                    c.sock.sendall(head[16:])
                    st = c.read_response()[0]
                    if st == 200:
                        split_ok += 1
                else:
                    st = c.raw(target)[0]
                if st == 200:
                    ok += 1
                else:
                    bad[("split " if i in sample else "") + str(st)] = \
                        bad.get(("split " if i in sample else "") + str(st), 0) + 1
            except (OSError, ConnectionError) as e:
                k = ("split " if i in sample else "") + type(e).__name__
                bad[k] = bad.get(k, 0) + 1
        log(f"after {idle_s:.1f}s idle (header_timeout {args.header_timeout_ms / 1000:.0f}s): "
            f"{ok}/{len(held)} connections answered a second request in "
            f"{time.monotonic() - t0:.1f}s; split-head sample {split_ok}/{len(sample)}; "
            f"failures {bad or 'none'}")
        if ok < len(held):
            fails.append(f"{len(held) - ok} held connections failed a second request: {bad}")
        rss2 = srv.rss_kib()
        log(f"server RSS at the end {rss2 / 1024:.1f} MiB")
        if not srv.alive():
            fails.append("the server died")
    finally:
        for c in held:
            c.close()
        srv.cleanup(keep=args.keep or bool(fails))
    for f in fails:
        log(f"FAIL: {f}")
    log("PASS" if not fails else f"FAIL (server log {srv.log_path})")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
