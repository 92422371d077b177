#!/usr/bin/env python3
"""Memory soak (issue #21): does the server's RSS level off once its caches are full?

    python3 scripts/soak.py [--minutes 30] [--conns 64] [--size 256KiB] [--bin target/release/bleepstore]

1. Starts a fresh server (its own port, temp data dir, default configuration: the caches
   take their default share of the machine's memory).
2. Runs `bleepstore-bench mixed` against it for --minutes: GET 45 %, HEAD 30 %, PUT of new
   keys 13 %, DELETE 12 % over a live key set that grows by ~1 % of the operations (the
   disk must hold it: the script checks the free space first and shortens the growth
   with --put/--delete if asked).
3. Every --every seconds reads /metrics (`bleepstore_memory_bytes{part=...}`, the object
   count) and prints one row: RSS, the malloc figures, the object cache and its capacity,
   the bounds for I/O and connection buffers.
4. Verdict, printed and in the exit status (0 = flat, 1 = not, 2 = the run failed):
   * the object cache must fill (>= 90 % of its capacity) during the run;
   * from the moment it is full, RSS less what the metadata caches may hold by then
     (`meta_cache_max`: they fill as the database grows, up to their capacity) may not grow
     by more than --growth-max (default 5 %) to the end of the run;
   * RSS stays below the budget: caches (object + metadata capacity) + connection and I/O
     buffer bounds at their peak + the idle RSS measured at start.

--json FILE keeps every sample. The table of one run goes into STATUS.md and tuning/.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def size_bytes(text: str) -> int:
    m = re.fullmatch(r"(\d+)\s*(KiB|MiB|GiB|)", text)
    if not m:
        raise SystemExit(f"--size {text!r}: use e.g. 256KiB")
    return int(m.group(1)) * {"": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m.group(2)]


def scrape(port: int) -> dict:
    """The memory parts and object count from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r'bleepstore_memory_bytes\{part="(\w+)"\} (\S+)', line)
        if m:
            out[m.group(1)] = float(m.group(2))
        elif line.startswith("bleepstore_objects_total "):
            out["objects"] = float(line.split()[1])
        elif line.startswith("bleepstore_io_streams "):
            out["io_streams"] = float(line.split()[1])
    if "rss" not in out:
        raise RuntimeError("/metrics has no bleepstore_memory_bytes: an older server?")
    return out


def wait_ready(port: int, proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("server not ready in 30 s")


def mib(v: float) -> str:
    return f"{v / MIB:,.0f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "target/release/bleepstore"))
    ap.add_argument("--bench-bin", default=str(ROOT / "target/release/bleepstore-bench"))
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--size", default="256KiB")
    ap.add_argument("--objects", type=int, default=1000, help="live keys at the start")
    ap.add_argument("--put", type=int, default=13, help="PUT share of the mix, percent")
    ap.add_argument("--delete", type=int, default=12, help="DELETE share of the mix, percent")
    ap.add_argument("--every", type=float, default=15.0, help="seconds between samples")
    ap.add_argument("--growth-max", type=float, default=0.05)
    ap.add_argument("--config", help="a config file for the server (default: none)")
    ap.add_argument("--data-dir", help="data dir (default: a temp dir, removed at the end)")
    ap.add_argument("--json", help="write every sample here")
    args = ap.parse_args()

    obj = size_bytes(args.size)
    get_share = 45
    stat_share = 100 - get_share - args.put - args.delete
    if stat_share < 0 or args.put < args.delete:
        raise SystemExit("--put must be at least --delete, and GET 45 % + PUT + DELETE at most 100 %")
    tmp = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="bleepstore-soak."))
    tmp.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(tmp).free
    port = free_port()
    cmd = [args.bin, "--bind", f"127.0.0.1:{port}", "--data-dir", str(tmp / "data")]
    if args.config:
        cmd += ["--config", args.config]
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    samples = []
    bench = None
    idle = None
    try:
        wait_ready(port, proc)
        time.sleep(1.0)
        idle = scrape(port)
        print(f"server pid {proc.pid} on 127.0.0.1:{port}, data in {tmp}; disk free {free / 2**30:.1f} GiB")
        print(f"idle: rss {mib(idle['rss'])} MiB; object cache capacity {mib(idle['object_cache_capacity'])} MiB, "
              f"metadata cache capacity {mib(idle['meta_cache_capacity'])} MiB, machine {mib(idle['machine'])} MiB")
        duration_s = int(args.minutes * 60)
        bench_cmd = [args.bench_bin, "mixed", "--host", f"127.0.0.1:{port}", "--concurrent", str(args.conns),
                     "--obj.size", args.size, "--objects", str(args.objects), "--duration", f"{duration_s}s",
                     "--get-distrib", str(get_share), "--stat-distrib", str(stat_share),
                     "--put-distrib", str(args.put), "--delete-distrib", str(args.delete),
                     "--no-cleanup", "--json", "--timeout", "60s"]
        bench_out = open(tmp / "bench.json", "w")
        bench_err = open(tmp / "bench.stderr", "w")
        bench = subprocess.Popen(bench_cmd, stdout=bench_out, stderr=bench_err)
        t0 = time.monotonic()
        cols = ["min", "objects", "rss", "heap_in_use", "heap_free", "object_cache", "record_cache", "meta_cache_max",
                "io_buffers_max", "connection_buffers_max", "outside_malloc"]
        print("| " + " | ".join(c if c in ("min", "objects") else c + " MiB" for c in cols) + " |")
        print("|" + "|".join(["---:"] * len(cols)) + "|")
        while bench.poll() is None:
            time.sleep(args.every)
            if proc.poll() is not None:
                print(f"server exited with {proc.returncode} during the soak", file=sys.stderr)
                return 2
            s = scrape(port)
            s["t_s"] = time.monotonic() - t0
            # Resident but not malloc's: code, stacks, io_uring rings.
            s["outside_malloc"] = s["rss"] - s["heap_in_use"] - s["heap_free"]
            samples.append(s)
            row = [f"{s['t_s'] / 60:.1f}", f"{s.get('objects', 0):,.0f}"]
            row += [mib(s.get(c, 0)) for c in cols[2:]]
            print("| " + " | ".join(row) + " |", flush=True)
        if bench.returncode != 0:
            print(f"bleepstore-bench exited with {bench.returncode}: "
                  f"{(tmp / 'bench.stderr').read_text()[-2000:]}", file=sys.stderr)
            return 2
        report = json.loads((tmp / "bench.json").read_text().strip().splitlines()[-1])
        total = report["total"]
        print(f"load: {total['ops']:,} operations, {total['ops_per_s']:,.0f}/s, {total['errors']} errors")
        if not samples:
            print("no sample taken (run longer than --every)", file=sys.stderr)
            return 2

        # ---- verdict
        cap = samples[-1]["object_cache_capacity"]
        full_at = next((i for i, s in enumerate(samples) if s["object_cache"] >= 0.9 * cap), None)
        peak_bufs = max(s["io_buffers_max"] + s["connection_buffers_max"] for s in samples)
        records = samples[-1].get("record_cache_capacity", 0)
        budget = cap + records + samples[-1]["meta_cache_capacity"] + peak_bufs + idle["rss"]
        peak_rss = max(s["rss"] for s in samples)
        ok = True
        print("")
        if full_at is None:
            print(f"object cache never filled (last {mib(samples[-1]['object_cache'])} of {mib(cap)} MiB): "
                  "run longer or with a smaller cache.size")
            ok = False
        else:
            net = lambda s: s["rss"] - s.get("meta_cache_max", 0)  # noqa: E731
            base = net(samples[full_at])
            rest = samples[full_at:]
            grew = (max(net(s) for s in rest) - base) / base
            print(f"object cache full at {samples[full_at]['t_s'] / 60:.1f} min, RSS then "
                  f"{mib(samples[full_at]['rss'])} MiB; RSS less the metadata caches' bound grew "
                  f"{grew * 100:+.1f} % to its peak after that (limit {args.growth_max * 100:.0f} %); "
                  f"RSS at the end {mib(samples[-1]['rss'])} MiB")
            ok &= grew <= args.growth_max
        print(f"peak RSS {mib(peak_rss)} MiB; budget {mib(budget)} MiB = object cache {mib(cap)} + record "
              f"cache {mib(records)} + metadata "
              f"cache {mib(samples[-1]['meta_cache_capacity'])} + buffers at their peak {mib(peak_bufs)} + "
              f"idle {mib(idle['rss'])}")
        ok &= peak_rss <= budget
        print("VERDICT:", "flat and within budget" if ok else "NOT flat or over budget")
        return 0 if ok and total["errors"] == 0 else 1
    finally:
        if bench and bench.poll() is None:
            bench.kill()
        proc.kill()
        proc.wait()
        if args.json:
            Path(args.json).write_text(json.dumps({"idle": idle, "samples": samples}, indent=1) + "\n")
        if not args.data_dir:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
