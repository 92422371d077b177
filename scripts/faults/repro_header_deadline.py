#!/usr/bin/env python3
"""Reproducer: a keep-alive connection that idled longer than server.header_timeout_ms
(but well within server.idle_timeout_ms) gets 400 RequestTimeout for its next request
if that request's head arrives in more than one TCP segment.

Cause: src/http/conn.rs read_head() computes `header_deadline = now + header_timeout`
when it starts waiting for a request, i.e. before the idle period, instead of at the
head's first byte. After the idle wait, the first segment arrives, the head is not
complete yet, the deadline is already in the past -> RequestTimeout. Heads larger than
one segment (MSS ~1460 B on real networks: long presigned URLs, many x-amz-meta-*
headers) sent on pooled SDK connections idle > 10 s (the default) are hit.

    scripts/faults/repro_header_deadline.py
Exit 1 when reproduced.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Conn, Server, presign, request  # noqa: E402

srv = Server({"server": {"header_timeout_ms": 2000, "idle_timeout_ms": 60000}})
srv.start()
request(srv.port, "PUT", "/bkt")
request(srv.port, "PUT", "/bkt/o", b"x" * 100)
target = presign("GET", "/bkt/o", f"127.0.0.1:{srv.port}")
results = {}
for idle in (0.5, 3.0):
    for split in (False, True):
        c = Conn(srv.port)
        first = c.raw(target)[0]
        time.sleep(idle)  # the keep-alive connection idles (that is the scenario)
        head = f"GET {target} HTTP/1.1\r\nHost: {c.host}\r\n\r\n".encode()
        if split:
            c.sock.sendall(head[:16])
            time.sleep(0.02)
            c.sock.sendall(head[16:])
        else:
            c.sock.sendall(head)
        st = c.read_response()[0]
        c.close()
        results[(idle, split)] = st
        print(f"header_timeout 2 s, idle {idle} s, head in {'2 segments' if split else '1 segment'}:"
              f" first request {first}, second request {st}")
srv.cleanup()
sys.exit(1 if results[(3.0, True)] != 200 else 0)
