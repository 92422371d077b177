#!/usr/bin/env python3
"""Stalled log reader: the server's stdout and stderr go to pipes nobody reads.

The 64 KiB pipe fills within a few hundred access lines; a server that writes its log
from the request path then blocks in write(2) and stops answering (issue #20.4). Here:

1. Start the server (log level info, access log on) with stdout/stderr on unread pipes.
2. PUT one 4 KiB object under a long key (long access lines fill the log queue sooner).
3. --clients keep-alive connections GET it for --seconds (60 s), each request with a
   5 s socket timeout; every 5 s print requests answered / failed and the server's
   bleepstore_log_lines_dropped_total.
   Pass if every request was answered 200 with the right body and the dropped-line
   counter rose above 0 (the server dropped log lines instead of waiting for the reader).

    scripts/faults/stalled_log_reader.py [--seconds 60] [--clients 4]

Standard library only; starts its own server from target/release/bleepstore
(BLEEPSTORE_BIN overrides). Exit 0 on pass, 1 on failure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Conn, Server, log, probe, request  # noqa: E402


class PipedServer(Server):
    """Server whose stdout and stderr are pipes this process never reads."""

    def start(self, timeout: float = 60.0) -> float:
        cmd = [str(self.binary), "--bind", f"127.0.0.1:{self.port}", "--data-dir",
               str(self.data_dir), "--config", str(self.config_path)]
        env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
        env["NO_COLOR"] = "1"
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, stdin=subprocess.DEVNULL, cwd=self.workdir)
        while probe(self.port, "/readyz") != 200:
            if self.proc.poll() is not None or time.monotonic() - t0 > timeout:
                self.stop()
                sys.exit("server did not become ready")
            time.sleep(0.01)  # poll interval
        return time.monotonic() - t0


def dropped_lines(srv: Server) -> float:
    """The server's dropped-line counter; -1 if /metrics did not answer (a stalled server)."""
    try:
        return srv.metric("bleepstore_log_lines_dropped_total") or 0
    except OSError:
        return -1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args()

    srv = PipedServer({"server": {"log_level": "info"}})  # access log: on by default
    ok = False
    try:
        srv.start()
        log(f"server pid {srv.pid} on port {srv.port}, stdout/stderr on unread pipes")
        body = os.urandom(4096)
        path = "/stalled/" + "k" * 900
        try:
            for p, b in (("/stalled", b""), (path, body)):
                st, _, _ = request(srv.port, "PUT", p, b, timeout=10)
                assert st == 200, f"PUT answered {st}"
        except Exception as e:  # the old server stalls here already
            log(f"set-up request failed: {e!r}\nFAIL")
            return 1

        answered = [0] * args.clients
        failed = [0] * args.clients
        errors: list[str] = []
        stop = time.monotonic() + args.seconds

        def client(i: int):
            conn = None
            while time.monotonic() < stop:
                try:
                    conn = conn or Conn(srv.port, timeout=5.0)
                    st, _, got = conn.request("GET", path)
                    if st == 200 and got == body:
                        answered[i] += 1
                        continue
                    failed[i] += 1
                    errors.append(f"status {st}, {len(got)} bytes")
                except Exception as e:  # a timeout or a reset is a failed request
                    failed[i] += 1
                    errors.append(repr(e))
                    if conn:
                        conn.close()
                    conn = None
            if conn:
                conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        dropped_seen = []
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=5.0 / len(threads))
            dropped = dropped_lines(srv)
            dropped_seen.append(dropped)
            log(f"t={time.monotonic() - t0:5.1f}s answered={sum(answered)} "
                f"failed={sum(failed)} log_lines_dropped={dropped:.0f} "
                f"rss={srv.rss_kib() // 1024} MiB")
        elapsed = time.monotonic() - t0
        final = dropped_lines(srv)
        rising = final > 0 and dropped_seen[0] < final
        log(f"result: {sum(answered)} GETs answered ({sum(answered) / elapsed:.0f}/s), "
            f"{sum(failed)} failed, {final:.0f} log lines dropped "
            f"(first sample {dropped_seen[0]:.0f}, rising: {rising})")
        for e in errors[:5]:
            log(f"  error: {e}")
        ok = sum(failed) == 0 and sum(answered) > 0 and final > 0
        log("PASS" if ok else "FAIL")
    finally:
        srv.cleanup(keep=not ok)
        if not ok:
            log(f"work dir kept: {srv.workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
