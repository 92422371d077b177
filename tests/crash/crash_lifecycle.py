"""Lifecycle in the crash harness (`--lifecycle`): one unversioned bucket with an Expiration
rule (Days 1) on the prefix `exp/`, served with `lifecycle.day_s` = 2, `interval_s` = 1 and
one removal per commit (`batch_max` 1, `batch_pause_ms` 50), so lifecycle passes run during
the load and the kill -9 lands in the middle of some. The
same workers PUT to keys under `exp/` (the rule's) and `keep/` (no rule's).

The model knows every PUT with what it holds (size, ETag, SHA-256 of the body), the global
sequence numbers at which it was sent and answered, and the wall-clock time it was sent
(the server's last-modified time is later). After each restart, per key, the allowed states
are the pre-cycle state unless a PUT of the cycle was acknowledged, plus every PUT
acknowledged or in flight that no acknowledged PUT sent after its answer superseded. Then:

* lost: a `keep/` key absent while a PUT of it stands acknowledged (no rule selects it, so
  nothing may remove it), an `exp/` key absent while no allowed version of it was older
  than the rule (Days x day_s) when it was read (expired early), or an older version back;
* torn: a body, size or ETag no allowed PUT wrote, or (for `keep/`) a listing disagreeing
  with the read.

`exp/` bodies are inline (at most storage.inline_bytes_max), so an expiration that lands
while the harness counts data files changes nothing there; `keep/` bodies are inline or
data files (counted).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time

from botocore.exceptions import ClientError

LC_BUCKET = "crash-lifecycle"
DAY_S = 2                    # lifecycle.day_s of the harness server when lifecycle is on
INTERVAL_S = 1               # lifecycle.interval_s: a pass every second
RULE_DAYS = 1
KEEP_KEYS = [f"keep/{i:02d}" for i in range(6)]
EXP_KEYS = [f"exp/{i:02d}" for i in range(8)]
# Every body is longer than its label, so each is unique; exp/ ones stay inline.
KEEP_SIZES = [64, 900, 20_000, 64 * 1024 + 1, 150_000]
EXP_SIZES = [64, 900, 20_000, 64 * 1024]
# Clock granularity between the harness's send time and the server's millisecond clock.
EPS_S = 0.01


def server_overrides() -> dict:
    # One removal per commit with a pause after each: a pass that expires several keys
    # spans a few hundred ms of commits, so kills land between them.
    return {"lifecycle": {"day_s": DAY_S, "interval_s": INTERVAL_S, "batch_max": 1,
                          "batch_pause_ms": 50}}


class Stopped(Exception):
    """The kill switch is set: stop issuing requests."""


class Put:
    __slots__ = ("key", "size", "etag", "sha", "send", "ack", "sent_wall")

    def __init__(self, key, body: bytes):
        self.key, self.size = key, len(body)
        self.etag = f'"{hashlib.md5(body).hexdigest()}"'
        self.sha = hashlib.sha256(body).hexdigest()
        self.send = self.ack = None
        self.sent_wall = None

    def __repr__(self):
        return (f"PUT {self.key} {self.size}B etag={self.etag} sent {self.send} "
                f"acked {self.ack} at {self.sent_wall:.3f}")


class LifecycleModel:
    def __init__(self, killed, stopped_exc=Stopped):
        self.killed = killed
        self.stopped_exc = stopped_exc
        self.lock = threading.Lock()
        self.seq = 0
        self.labels = itertools.count(1)
        # the verified state of each key at the last check (None: absent)
        self.base: dict[str, Put | None] = {k: None for k in KEEP_KEYS + EXP_KEYS}
        self.puts: dict[str, list[Put]] = {k: [] for k in KEEP_KEYS + EXP_KEYS}
        self.every: dict[str, set[str]] = {k: set() for k in KEEP_KEYS + EXP_KEYS}

    def send(self, p: Put):
        with self.lock:
            if self.killed():
                raise self.stopped_exc()
            p.send, p.sent_wall = self._tick(), time.time()
            self.puts[p.key].append(p)
            self.every[p.key].add(p.sha)

    def acked(self, p: Put):
        with self.lock:
            p.ack = self._tick()

    def _tick(self) -> int:
        self.seq += 1
        return self.seq

    def label(self) -> str:
        return f"lc{next(self.labels)}"  # itertools.count: one step is atomic

    def candidates(self, key) -> list:
        """The states `key` may be in: Put or None (absent), before lifecycle."""
        ps = self.puts[key]
        out = [] if any(p.ack is not None for p in ps) else [self.base[key]]
        for p in ps:
            if p.ack is None or not any(q.ack is not None and q.send > p.ack for q in ps):
                out.append(p)
        return out


def may_vanish(key: str, cands: list, read_wall: float) -> bool:
    """Whether `key` may be absent when read at `read_wall`: an allowed state is absence,
    or (exp/ only) an allowed version was older than the rule then, so a pass may have
    expired it."""
    if None in cands:
        return True
    if not key.startswith("exp/"):
        return False
    due_s = RULE_DAYS * DAY_S - EPS_S
    return any(read_wall - p.sent_wall >= due_s for p in cands)


class LifecycleLoad:
    """The lifecycle bucket's share of a worker's steps: PUTs to exp/ and keep/ keys."""

    def __init__(self, h, model: LifecycleModel):
        self.h, self.m = h, model

    def step(self, w, rng):
        if rng.random() < 0.6:
            key, size = rng.choice(EXP_KEYS), rng.choice(EXP_SIZES)
        else:
            key, size = rng.choice(KEEP_KEYS), rng.choice(KEEP_SIZES)
        body = self.h.bodies.make(self.m.label(), size)
        p = Put(key, body)
        self.m.send(p)
        w.client.put_object(Bucket=LC_BUCKET, Key=key, Body=body)
        self.m.acked(p)
        w.bump("lifecycle-put")


def read(c, key):
    """(size, etag, sha) of the key's object, None when absent, or the error code."""
    try:
        r = c.get_object(Bucket=LC_BUCKET, Key=key)
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "?")
        return None if code == "NoSuchKey" else code
    body = r["Body"].read()
    return len(body), r["ETag"], hashlib.sha256(body).hexdigest()


def listing(c) -> dict:
    out = {}
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=LC_BUCKET):
        for o in page.get("Contents", []):
            out[o["Key"]] = (o["Size"], o["ETag"])
    return out


def check_key(h, m: LifecycleModel, key: str, got, read_wall: float, listed):
    """Judges one key's read against the model; answers its verified state (or False)."""
    cands = m.candidates(key)
    if isinstance(got, str):
        h.violate("errors", f"GET {LC_BUCKET}/{key} after restart answered {got}")
        return False
    if got is None:
        if not may_vanish(key, cands, read_wall):
            h.violate("lost", f"{LC_BUCKET}/{key} is absent; allowed {cands} "
                      f"(read {read_wall:.3f}, rule due after {RULE_DAYS * DAY_S}s)")
            return False
        if None not in cands:
            h.totals["lifecycle_expired_seen"] += 1
        return None
    match = next((p for p in cands if p is not None and (p.size, p.etag, p.sha) == got), None)
    if match is None:
        kind = "lost" if got[2] in m.every[key] else "torn"
        h.violate(kind, f"{LC_BUCKET}/{key} holds {got}; allowed {cands}")
        return False
    if key.startswith("keep/") and listed.get(key) != got[:2]:
        h.violate("torn", f"{LC_BUCKET}/{key}: listing says {listed.get(key)}, GET {got[:2]}")
    return match


def verify(h, m: LifecycleModel, c, inline_max: int) -> int:
    """Checks the lifecycle bucket after a restart and rolls the model on to the verified
    state. Returns the data files its objects reference."""
    listed = listing(c)
    # What each exp/ key could be when the listing was taken: a pass may expire it between
    # the listing and its read, after which the model's state for it is the read's.
    allowed_listed = {key: m.candidates(key) + [m.base[key]] for key in EXP_KEYS}
    for key in KEEP_KEYS + EXP_KEYS:
        got = read(c, key)
        state = check_key(h, m, key, got, time.time(), listed)
        if state is False:
            continue
        acked = [p for p in m.puts[key] if p.ack is not None]
        h.totals["acked_writes_verified"] += len(acked)
        h.totals["lifecycle_acked_verified"] += len(acked)
        inflight = [p for p in m.puts[key] if p.ack is None]
        h.totals["indeterminate"] += len(inflight)
        h.totals["indeterminate_applied"] += sum(p is state for p in inflight)
        h.totals["indeterminate_not_applied"] += sum(p is not state for p in inflight)
        m.base[key] = state
    # exp/ keys listed must be allowed versions too (the listing raced the reads: no exact
    # agreement, but never a state nobody wrote)
    for key, (size, etag) in listed.items():
        if key.startswith("exp/") and not any(
                p is not None and (p.size, p.etag) == (size, etag)
                for p in allowed_listed.get(key, []) + m.candidates(key) + [m.base[key]]):
            h.violate("torn", f"{LC_BUCKET}/{key} listed as {(size, etag)}, which no allowed "
                      "PUT wrote")
    with m.lock:
        for key in m.puts:
            m.puts[key] = []
    return sum(1 for k in KEEP_KEYS if m.base[k] is not None and m.base[k].size > inline_max)


def inject_lost(h, m: LifecycleModel, c):
    """Self-test: delete a keep/ key behind the model's back (or, if none is known to be
    present yet, overwrite one with bytes nobody announced)."""
    present = [k for k in KEEP_KEYS if None not in m.candidates(k)]
    if present:
        c.delete_object(Bucket=LC_BUCKET, Key=present[0])
    else:
        c.put_object(Bucket=LC_BUCKET, Key=KEEP_KEYS[0], Body=b"unannounced" * 9)


def setup(c):
    c.create_bucket(Bucket=LC_BUCKET)
    c.put_bucket_lifecycle_configuration(Bucket=LC_BUCKET, LifecycleConfiguration={"Rules": [
        {"ID": "exp", "Status": "Enabled", "Filter": {"Prefix": "exp/"},
         "Expiration": {"Days": RULE_DAYS}}]})
