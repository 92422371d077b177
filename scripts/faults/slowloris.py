#!/usr/bin/env python3
"""Slowloris: 1,000 connections trickling one request-head byte per second each.

1. Unloaded: p50/p99 of small (4 KiB) presigned GETs, sequential on one keep-alive
   connection, in 5 blocks; the p99 used is the median of the blocks' p99s (one burst of
   noise from other work on the machine does not decide the result).
2. A child process opens 1,000 connections and sends each one byte of a never-ending
   request head per second (`GET /... HTTP/1.1\\r\\nHost: ...\\r\\nX-Slow-0: aaaa...`). When
   the server closes one it is replaced at once, so 1,000 are held all the time.
3. Loaded: the same GET measurement while they trickle, and the server's CPU use with
   only the trickle. Then the unloaded measurement again once the server's connection
   gauge is back to 1. Pass if loaded p99 <= 2x unloaded p99 (the larger of before and
   after: the two bracket the loaded one, so drift in the machine's load is not blamed
   on the slowloris).
4. The server must close every trickling connection by itself (server.header_timeout_ms,
   10 s by default): all of the first 1,000 must be closed within header_timeout + 5 s.
   Their lifetimes (connect -> close) and what the server sent before closing (a 408 /
   400 RequestTimeout or nothing) are printed.

    scripts/faults/slowloris.py [--conns 1000] [--requests 3000] [--header-timeout-ms 10000]

Standard library only; starts its own server from target/release/bleepstore
(BLEEPSTORE_BIN overrides). Exit 0 on pass, 1 on failure.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import selectors
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Server, latency_run, log, pct, presign, raise_nofile, request  # noqa: E402


def measure(port, target, n, blocks=5):
    """(all latencies, median of the blocks' p99s)"""
    lat, p99s = [], []
    for _ in range(blocks):
        b = latency_run(port, target, max(100, n // blocks))
        lat += b
        p99s.append(pct(b, .99))
    return lat, statistics.median(p99s)


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        st = f.read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


def slowloris(port: int, n: int, ctl, out, stop):
    """Child: hold n trickling connections; report through `out` (a Pipe end)."""
    raise_nofile(n + 1000)
    host = f"127.0.0.1:{port}"
    pattern = (f"GET /slow/obj HTTP/1.1\r\nHost: {host}\r\n" +
               "".join(f"X-Slow-{i}: " + "a" * 40 + "\r\n" for i in range(200))).encode()
    sel = selectors.DefaultSelector()
    conns = {}   # sock -> [generation (0 = original), opened_at, bytes sent, first reply bytes]
    lifetimes = []  # (generation, seconds, bytes sent, reply prefix)
    connect_errors = 0

    def open_one(gen):
        nonlocal connect_errors
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            connect_errors += 1
            return
        s.setblocking(False)
        conns[s] = [gen, time.monotonic(), 0, b""]
        sel.register(s, selectors.EVENT_READ)

    def closed(s, reply=b""):
        gen, t0, sent, first = conns.pop(s)
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()
        lifetimes.append((gen, time.monotonic() - t0, sent, (first + reply)[:40]))

    for _ in range(n):
        open_one(0)
    ctl.send(("ready", len(conns)))
    tick = 0
    next_report = time.monotonic() + 1
    while not stop.is_set():
        # one byte per connection per second, spread over ten 100 ms slices
        t_slice = time.monotonic()
        socks = list(conns)
        for s in socks[tick % 10::10]:
            st = conns.get(s)
            if st is None:
                continue
            try:
                s.send(pattern[st[2] % len(pattern):st[2] % len(pattern) + 1])
                st[2] += 1
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                closed(s)
        tick += 1
        # server closes / replies
        timeout = max(0.0, 0.1 - (time.monotonic() - t_slice))
        for key, _ in sel.select(timeout):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                conns[s][3] += data
                continue
            closed(s)
        while len(conns) < n and not stop.is_set():
            open_one(1)
        if time.monotonic() >= next_report:
            next_report += 1
            out.send(("stat", len(conns), sum(1 for v in conns.values() if v[0] == 0),
                      len(lifetimes), connect_errors))
    out.send(("done", lifetimes, connect_errors, len(conns)))
    for s in list(conns):
        s.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--header-timeout-ms", type=int, default=10000)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    raise_nofile(args.conns + 1000)
    ht = args.header_timeout_ms / 1000
    srv = Server({"server": {"header_timeout_ms": args.header_timeout_ms}})
    srv.start()
    fails = []
    child = None
    stop = mp.Event()
    try:
        assert request(srv.port, "PUT", "/slow")[0] == 200
        assert request(srv.port, "PUT", "/slow/obj", os.urandom(4096))[0] == 200
        target = presign("GET", "/slow/obj", f"127.0.0.1:{srv.port}")
        latency_run(srv.port, target, 300)  # warm-up
        base, base99 = measure(srv.port, target, args.requests)
        rss0 = srv.rss_kib()
        log(f"unloaded: {len(base)} GETs of 4 KiB, p50 {pct(base, .5):.3f} ms, "
            f"p99 {base99:.3f} ms (all: {pct(base, .99):.3f}), max {max(base):.2f} ms; "
            f"server RSS {rss0 // 1024} MiB")

        ctl_r, ctl_w = mp.Pipe(False)
        out_r, out_w = mp.Pipe(False)
        child = mp.get_context("fork").Process(target=slowloris,
                                               args=(srv.port, args.conns, ctl_w, out_w, stop))
        t_start = time.monotonic()
        child.start()
        _, opened = ctl_r.recv()
        log(f"slowloris: {opened}/{args.conns} connections open in "
            f"{time.monotonic() - t_start:.2f}s, trickling 1 byte/s each")
        time.sleep(2.0)  # let the trickle reach its steady state (load shape, not a sync)
        gauge = srv.metric("bleepstore_open_connections")
        c0, t0 = cpu_s(srv.pid), time.monotonic()
        time.sleep(2.0)  # a window to measure the CPU the trickle alone costs the server
        trickle_cpu = 100 * (cpu_s(srv.pid) - c0) / (time.monotonic() - t0)
        loaded, loaded99 = measure(srv.port, target, args.requests)
        rss1 = srv.rss_kib()
        log(f"loaded:   {len(loaded)} GETs of 4 KiB, p50 {pct(loaded, .5):.3f} ms, "
            f"p99 {loaded99:.3f} ms (all: {pct(loaded, .99):.3f}), max {max(loaded):.2f} ms; "
            f"server RSS {rss1 // 1024} MiB, open connections (server gauge) {gauge:.0f}, "
            f"server CPU for the trickle alone {trickle_cpu:.1f}% of a core")

        # wait (polling the child's reports) until every original connection is closed
        deadline = t_start + ht + 5 + 2
        originals_open = args.conns
        last = None
        while time.monotonic() < deadline:
            while out_r.poll(0.2):
                last = out_r.recv()
            if last and last[0] == "stat":
                originals_open = last[2]
                if originals_open == 0:
                    break
        stop.set()
        msg = out_r.recv()
        while msg[0] != "done":
            msg = out_r.recv()
        _, lifetimes, connect_errors, still = msg
        child.join(30)
        firsts = [lt for lt in lifetimes if lt[0] == 0]
        secs = [lt[1] for lt in firsts]
        replies = {}
        for lt in firsts:
            k = lt[3].split(b"\r\n", 1)[0].decode(errors="replace") or "(closed without a reply)"
            replies[k] = replies.get(k, 0) + 1
        log(f"server closed {len(firsts)}/{args.conns} of the first connections "
            f"(header_timeout {ht:.0f}s): lifetime min {min(secs, default=0):.2f}s, "
            f"median {statistics.median(secs) if secs else 0:.2f}s, max {max(secs, default=0):.2f}s; "
            f"bytes trickled per connection ~{statistics.median([lt[2] for lt in firsts]) if firsts else 0:.0f};"
            f" replies {replies}")
        log(f"replacement connections opened meanwhile: {sum(1 for lt in lifetimes if lt[0] == 1)} "
            f"closed + {still} open at the end; connect errors {connect_errors}")
        if len(firsts) < args.conns:
            fails.append(f"only {len(firsts)}/{args.conns} trickling connections were closed "
                         f"by the server within header_timeout + 5 s")
        if secs and max(secs) > ht + 5:
            fails.append(f"a trickling connection lived {max(secs):.1f}s (> header_timeout + 5 s)")
        if connect_errors:
            fails.append(f"{connect_errors} slowloris connects failed")
        t0 = time.monotonic()
        while (srv.metric("bleepstore_open_connections") or 0) > 1 and time.monotonic() - t0 < 30:
            time.sleep(0.1)  # poll until the server has dropped the closed connections
        after, after99 = measure(srv.port, target, args.requests)
        log(f"unloaded again: p50 {pct(after, .5):.3f} ms, p99 {after99:.3f} ms "
            f"(all: {pct(after, .99):.3f}); server RSS {srv.rss_kib() // 1024} MiB")
        ref = max(base99, after99)
        ratio = loaded99 / ref
        log(f"p99 loaded / unloaded = {loaded99:.3f} / {ref:.3f} = {ratio:.2f} (limit 2.00)")
        if ratio > 2.0:
            fails.append(f"loaded p99 {loaded99:.3f} ms > 2 x unloaded {ref:.3f} ms")
        if not srv.alive():
            fails.append("the server died")
    finally:
        stop.set()
        if child is not None and child.is_alive():
            child.kill()
        srv.cleanup(keep=args.keep or bool(fails))
    for f in fails:
        log(f"FAIL: {f}")
    log("PASS" if not fails else f"FAIL (server log {srv.log_path})")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
