"""The crash harness (tests/crash/harness.py) in short mode: 10 kill -9 cycles under mixed
concurrent load (PUT, multipart, copy, delete, batch delete, bucket create/delete), each
followed by a restart and a full consistency check. It starts its own server from
BLEEPSTORE_BIN (run_e2e.sh exports it; else target/release/bleepstore) on its own port and
data dir, so it does not touch the suite's shared server. With --lifecycle (5 cycles)
lifecycle passes run under the load and the kill, and its self-test must fail.

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


def run_harness(tmp_path: Path, name: str, *extra: str):
    out = tmp_path / f"{name}.json"
    cmd = [sys.executable, str(HARNESS), "--json", str(out), "--bin", str(server_binary()),
           "--workdir", str(tmp_path / name), *extra]
    if os.environ.get("BLEEPSTORE_CRASH_SEED"):
        cmd += ["--seed", os.environ["BLEEPSTORE_CRASH_SEED"]]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=280)
    print(p.stdout[-4000:])
    assert out.exists(), f"no JSON written (exit {p.returncode})\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p, json.loads(out.read_text())


def test_crash_harness_short_mode(tmp_path: Path):
    p, doc = run_harness(tmp_path, "work", "--cycles", "10")
    s = doc["summary"]
    assert s["cycles"] == 10, s
    assert s["lost"] == 0 and s["torn"] == 0, \
        f"lost {s['lost']}, torn {s['torn']}: {doc['violations'][:5]}"
    assert p.returncode == 0, (
        f"harness exited {p.returncode}: {doc['violations'][:5]}\n{p.stderr[-3000:]}")
    assert s["acknowledged_writes_verified"] > 0 and s["acknowledged_deletes_verified"] > 0, s
    assert s["recovery_ms_max"] is not None


def test_crash_harness_lifecycle(tmp_path: Path):
    """Lifecycle passes (a 2 s lifecycle day, a pass every second) run under the load and
    the kill: acknowledged keep/ objects stay, exp/ objects go only once due."""
    p, doc = run_harness(tmp_path, "lc", "--lifecycle", "--cycles", "5")
    s = doc["summary"]
    assert s["cycles"] == 5 and s["lost"] == 0 and s["torn"] == 0, doc["violations"][:5]
    assert p.returncode == 0, f"harness exited {p.returncode}: {doc['violations'][:5]}"
    assert s["lifecycle_acked_writes_verified"] > 0, s


def test_crash_harness_lifecycle_check_can_fail(tmp_path: Path):
    """Self-test: a keep/ object deleted behind the model's back is reported lost."""
    p, doc = run_harness(tmp_path, "lc-inject", "--lifecycle", "--cycles", "2",
                         "--inject", "lifecycle-lost")
    assert p.returncode == 1, doc["summary"]
    assert doc["summary"]["lost"] + doc["summary"]["torn"] > 0, doc["summary"]
    assert any("crash-lifecycle/keep/" in v["msg"] for v in doc["violations"]), doc["violations"]
