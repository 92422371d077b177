"""The crash harness (tests/crash/harness.py) in short mode: 10 kill -9 cycles under mixed
concurrent load (PUT, multipart, copy, delete, batch delete, bucket create/delete), each
followed by a restart and a full consistency check. It starts its own server from
BLEEPSTORE_BIN (run_e2e.sh exports it; else target/release/bleepstore) on its own port and
data dir, so it does not touch the suite's shared server.

BLEEPSTORE_CRASH_SEED fixes the seed (default: fresh each run, printed and in the JSON).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from s3helpers import REPO_ROOT, server_binary

HARNESS = REPO_ROOT / "tests" / "crash" / "harness.py"


def test_crash_harness_short_mode(tmp_path: Path):
    out = tmp_path / "crash.json"
    cmd = [sys.executable, str(HARNESS), "--cycles", "10", "--json", str(out),
           "--bin", str(server_binary()), "--workdir", str(tmp_path / "work")]
    if os.environ.get("BLEEPSTORE_CRASH_SEED"):
        cmd += ["--seed", os.environ["BLEEPSTORE_CRASH_SEED"]]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=280)
    print(p.stdout[-4000:])
    assert out.exists(), f"no JSON written (exit {p.returncode})\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    doc = json.loads(out.read_text())
    s = doc["summary"]
    assert s["cycles"] == 10, s
    assert s["lost"] == 0 and s["torn"] == 0, \
        f"lost {s['lost']}, torn {s['torn']}: {doc['violations'][:5]}"
    assert p.returncode == 0, (
        f"harness exited {p.returncode}: {doc['violations'][:5]}\n{p.stderr[-3000:]}")
    assert s["acknowledged_writes_verified"] > 0 and s["acknowledged_deletes_verified"] > 0, s
    assert s["recovery_ms_max"] is not None
