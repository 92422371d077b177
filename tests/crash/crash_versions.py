"""Versions in the crash harness: one versioning-enabled bucket whose keys get PUTs (new
versions), DELETEs without a version id (delete markers) and permanent deletes of single
versions or markers (DELETE ?versionId), raced by the same workers and killed by the same
kill -9 as the rest of the load.

The model knows every version id the server acknowledged, with what it holds (marker, or
size + MD5 + SHA-256 of the body) and the global sequence numbers at which it was sent and
answered. After each restart, ListObjectVersions (paged) and GET ?versionId must show:

* lost: an acknowledged version or marker missing, unless a permanent delete of it was in
  flight at the kill;
* resurrected: a version whose permanent delete was acknowledged (in any earlier cycle)
  listed again;
* torn: a listed entry that differs from what was acknowledged for its id (marker or not,
  size, ETag, body bytes), an entry no acknowledged or in-flight request explains, versions
  of a key out of order (B sent after A was acknowledged must list newer than A), IsLatest
  on anything but a key's newest entry, or a GET without version id that disagrees with the
  newest entry (a marker: 404 with x-amz-delete-marker; a version: its ETag).

In-flight requests resolve by what the listing shows: an unknown entry is matched to an
in-flight PUT (same key, same ETag) or DELETE (same key, a marker) and adopted; in-flight
ones that did not land are dropped. Sequence numbers never restart, so ordering is checked
across cycles too.
"""

from __future__ import annotations

import hashlib
import threading

from botocore.exceptions import ClientError

VERSION_BUCKET = "crash-versions"
VERSION_KEYS = [f"v/{i:02d}" for i in range(8)]
# Inline (≤ 64 KiB) and data-file sizes, small enough that a cycle writes many versions.
VERSION_SIZES = [0, 1, 900, 20_000, 64 * 1024, 64 * 1024 + 1, 150_000]


class Stopped(Exception):
    """The kill switch is set: stop issuing requests (the harness's Stop)."""


class Entry:
    """A version or a delete marker of the versioned bucket."""
    __slots__ = ("key", "vid", "marker", "size", "etag", "sha", "send", "ack", "cycle")

    def __init__(self, key, marker, size=0, md5=None, sha=None):
        self.key, self.marker, self.size, self.sha = key, marker, size, sha
        self.etag = None if marker else f'"{md5}"'
        self.vid = None
        self.send = self.ack = None
        self.cycle = None

    def __repr__(self):
        what = "marker" if self.marker else f"{self.size}B etag={self.etag}"
        return f"{self.key}@{self.vid}({what}, sent {self.send}, acked {self.ack})"


class Purge:
    __slots__ = ("entry", "send", "ack")

    def __init__(self, entry, send):
        self.entry, self.send, self.ack = entry, send, None


class VersionModel:
    def __init__(self, killed):
        self.killed = killed          # () -> bool: the harness model's kill switch
        self.lock = threading.Lock()
        self.seq = 0
        self.cycle = 0
        self.known: dict[str, Entry] = {}     # vid -> acknowledged (or adopted) entry
        self.pending: list[Entry] = []        # sent this cycle, no answer yet
        self.purging: dict[str, Purge] = {}   # vid -> permanent delete sent this cycle
        self.purged: set[str] = set()         # vids whose permanent delete was acknowledged
        self.labels = 0

    def _begin(self):
        if self.killed():
            raise Stopped()
        self.seq += 1
        return self.seq

    def send(self, e: Entry):
        with self.lock:
            e.send = self._begin()
            e.cycle = self.cycle
            self.pending.append(e)

    def acked(self, e: Entry, vid: str):
        with self.lock:
            self.seq += 1
            e.ack, e.vid = self.seq, vid
            self.pending.remove(e)
            self.known[vid] = e

    def send_purge(self, rng):
        with self.lock:
            free = [e for v, e in self.known.items() if v not in self.purging]
            if not free:
                return None
            e = rng.choice(sorted(free, key=lambda x: x.send))
            p = Purge(e, self._begin())
            self.purging[e.vid] = p
            return p

    def purge_acked(self, p: Purge):
        with self.lock:
            self.seq += 1
            p.ack = self.seq

    def label(self) -> str:
        with self.lock:
            self.labels += 1
            return f"ver{self.labels}"


class VersionLoad:
    """The versioned-bucket share of a worker's steps."""

    def __init__(self, h, model: VersionModel):
        self.h, self.m = h, model

    def step(self, w, rng):
        r = rng.random()
        if r < 0.55:
            return self.put(w, rng)
        if r < 0.75:
            return self.delete(w, rng)
        return self.purge(w, rng)

    def put(self, w, rng):
        key = rng.choice(VERSION_KEYS)
        body = self.h.bodies.make(self.m.label(), rng.choice(VERSION_SIZES))
        e = Entry(key, False, len(body), hashlib.md5(body).hexdigest(),
                  hashlib.sha256(body).hexdigest())
        self.m.send(e)
        r = w.client.put_object(Bucket=VERSION_BUCKET, Key=key, Body=body)
        vid = r.get("VersionId")
        if not vid or vid == "null":
            self.h.violate("errors", f"PUT {key} in a versioning bucket answered version id {vid!r}")
            return
        self.m.acked(e, vid)
        w.bump("version-put")

    def delete(self, w, rng):
        key = rng.choice(VERSION_KEYS)
        e = Entry(key, True)
        self.m.send(e)
        r = w.client.delete_object(Bucket=VERSION_BUCKET, Key=key)
        vid = r.get("VersionId")
        if not r.get("DeleteMarker") or not vid:
            self.h.violate("errors", f"DELETE {key} in a versioning bucket: no delete marker "
                           f"({r.get('DeleteMarker')!r}, version id {vid!r})")
            return
        self.m.acked(e, vid)
        w.bump("version-marker")

    def purge(self, w, rng):
        p = self.m.send_purge(rng)
        if p is None:
            return self.put(w, rng)
        w.client.delete_object(Bucket=VERSION_BUCKET, Key=p.entry.key, VersionId=p.entry.vid)
        self.m.purge_acked(p)
        w.bump("version-purge")


def list_versions(c):
    """Every version and marker: [(key, vid, marker, size, etag, latest)]. (botocore splits
    a page into Versions and DeleteMarkers, losing their interleaving: `key_order` keeps it.)"""
    out = []
    pages = c.get_paginator("list_object_versions").paginate(Bucket=VERSION_BUCKET)
    for page in pages:
        out += [(v["Key"], v["VersionId"], False, v["Size"], v["ETag"], v["IsLatest"])
                for v in page.get("Versions", [])]
        out += [(d["Key"], d["VersionId"], True, 0, None, d["IsLatest"])
                for d in page.get("DeleteMarkers", [])]
    return out


def key_order(c, key):
    """The vids of one key newest first, as the server orders them (markers included).
    ListObjectVersions with a prefix and max-keys 1 pages one entry at a time, so the
    interleaving of versions and markers that botocore's split hides is kept."""
    order, km, vm = [], None, None
    while True:
        kw = dict(Bucket=VERSION_BUCKET, Prefix=key, MaxKeys=1)
        if km is not None:
            kw.update(KeyMarker=km, VersionIdMarker=vm)
        page = c.list_object_versions(**kw)
        rows = [(v["Key"], v["VersionId"], v["IsLatest"]) for v in page.get("Versions", [])]
        rows += [(d["Key"], d["VersionId"], d["IsLatest"]) for d in page.get("DeleteMarkers", [])]
        order.extend(r for r in rows if r[0] == key)
        if not page.get("IsTruncated"):
            return order
        km, vm = page.get("NextKeyMarker"), page.get("NextVersionIdMarker")


def read_version(c, key, vid):
    try:
        r = c.get_object(Bucket=VERSION_BUCKET, Key=key, VersionId=vid)
    except ClientError as e:
        return e.response.get("Error", {}).get("Code", "?")
    return r["ETag"], hashlib.sha256(r["Body"].read()).hexdigest()


def verify(h, m: VersionModel, c, inline_max: int) -> int:
    """Checks the versioned bucket after a restart (see the module doc) and rolls the model
    on to the verified state. Returns the data files its versions reference."""
    rows = list_versions(c)
    found = {r[1]: r for r in rows}
    if len(found) != len(rows):
        h.violate("torn", f"ListObjectVersions lists a version id twice ({len(rows)} rows)")
    with m.lock:
        pending, purging = list(m.pending), dict(m.purging)
        m.pending, m.purging = [], {}
        m.cycle += 1
    # permanent deletes: acknowledged ones never come back; in-flight ones may have landed
    for vid, p in purging.items():
        if p.ack is not None:
            m.purged.add(vid)
            m.known.pop(vid, None)
            h.totals["acked_deletes_verified"] += vid not in found
        elif vid not in found:
            m.known.pop(vid, None)
    for vid in m.purged & set(found):
        h.violate("lost", f"version {found[vid][:2]} came back after its permanent delete "
                  "was acknowledged (resurrected)")
    # acknowledged versions and markers
    for vid, e in list(m.known.items()):
        row = found.get(vid)
        if row is None:
            h.violate("lost", f"acknowledged {'marker' if e.marker else 'version'} {e!r} "
                      "is not listed")
            m.known.pop(vid)
            continue
        if row[0] != e.key or row[2] != e.marker or (not e.marker and (row[3], row[4]) != (e.size, e.etag)):
            h.violate("torn", f"{e!r} is listed as {row}")
        elif e.cycle == m.cycle - 1 and e.ack is not None:
            h.totals["acked_writes_verified" if not e.marker else "acked_deletes_verified"] += 1
    # entries the model did not know: in-flight requests that landed
    for vid, row in found.items():
        if vid in m.known or vid in m.purged:
            continue
        match = next((e for e in pending if e.vid is None and e.key == row[0]
                      and e.marker == row[2] and (e.marker or (e.size, e.etag) == (row[3], row[4]))),
                     None)
        if match is None:
            h.violate("torn", f"listed entry {row} matches no acknowledged or in-flight request")
            continue
        match.vid = vid
        m.known[vid] = match
        h.totals["indeterminate_applied"] += 1
    h.totals["indeterminate"] += len(pending) + sum(p.ack is None for p in purging.values())
    h.totals["indeterminate_not_applied"] += sum(e.vid is None for e in pending)
    # bodies of this cycle's versions, order and IsLatest per key, the unversioned GET
    for vid, e in m.known.items():
        if e.marker or e.cycle != m.cycle - 1:
            continue
        got = read_version(c, e.key, vid)
        if got != (e.etag, e.sha):
            h.violate("torn", f"GET {e!r} ?versionId answered {got}")
    for key in VERSION_KEYS:
        order = key_order(c, key)
        vids = [r[1] for r in order]
        latest = [r[2] for r in order]
        if latest and latest != [True] + [False] * (len(latest) - 1):
            h.violate("torn", f"{key}: IsLatest {latest} for versions {vids}")
        pos = {v: i for i, v in enumerate(vids)}
        ents = [m.known[v] for v in vids if v in m.known]
        for a in ents:
            for b in ents:
                if a.ack is not None and b.send is not None and a.ack < b.send \
                        and pos[b.vid] > pos[a.vid]:
                    h.violate("torn", f"{key}: {b!r} was sent after {a!r} was acknowledged "
                              "but lists as older")
        try:
            r = c.head_object(Bucket=VERSION_BUCKET, Key=key)
            head = ("version", r.get("VersionId"), r["ETag"])
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code")
            marker = err.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get(
                "x-amz-delete-marker")
            head = ("marker" if marker == "true" else f"absent {code}", None, None)
        if not vids:
            want = ("absent 404", None, None)
        elif found[vids[0]][2]:
            want = ("marker", None, None)
        else:
            want = ("version", vids[0], found[vids[0]][4])
        if head != want:
            h.violate("torn", f"HEAD {key} answered {head}, its newest entry says {want}")
    return sum(1 for r in found.values() if not r[2] and r[3] > inline_max)


def setup(c):
    c.create_bucket(Bucket=VERSION_BUCKET)
    c.put_bucket_versioning(Bucket=VERSION_BUCKET,
                            VersioningConfiguration={"Status": "Enabled"})
