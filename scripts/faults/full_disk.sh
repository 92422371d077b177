#!/usr/bin/env bash
# Full disk: the data dir on a small filesystem (64 MiB tmpfs; a loop-mounted ext4 image
# if tmpfs cannot be mounted or the server cannot write to it), filled with PUTs until
# writes fail. Checks:
#   * every failed write is an S3 error 507 InsufficientStorage (or 503 SlowDown) with an
#     XML <Error> body, never a 500, a hang or a dropped connection;
#   * objects stored before keep reading back byte-identical (sha256), also after a
#     kill -9 and restart on the full disk;
#   * after deleting some objects, writes succeed again (space is freed in the background:
#     polled with a deadline).
# Needs root (mount). Prints figures; exits non-zero on failure.
#
#   scripts/faults/full_disk.sh            [SIZE_MB (64)]
# Environment: BLEEPSTORE_BIN (default target/release/bleepstore), PYTHON (python3),
# FULL_DISK_FS=tmpfs|ext4 to force one.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SIZE_MB="${1:-64}"
PY="${PYTHON:-python3}"
[[ $(id -u) == 0 ]] || { echo "full_disk.sh: needs root (mount)" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bleepstore-fulldisk.XXXXXX")"
MNT="$WORK/mnt"
IMG=""
LOOP=""
mkdir -p "$MNT"
cleanup() {
    local rc=$?
    # the python part kills its server; make sure nothing holds the mount
    umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
    [[ -n "$LOOP" ]] && losetup -d "$LOOP" 2>/dev/null || true
    if ((rc == 0)); then rm -rf "$WORK"; else echo "full_disk.sh: kept $WORK" >&2; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount_tmpfs() { mount -t tmpfs -o "size=${SIZE_MB}m,mode=0700" tmpfs "$MNT"; }
mount_ext4() {
    IMG="$WORK/disk.img"
    truncate -s "${SIZE_MB}M" "$IMG"
    mkfs.ext4 -q -F -m 0 "$IMG"
    LOOP="$(losetup --find --show "$IMG")"
    mount "$LOOP" "$MNT"
}

run_check() {  # $1 = fs label
    PYTHONPATH="$HERE" "$PY" - "$MNT/data" "$1" "$WORK" <<'PYEOF'
import hashlib, os, sys, time
from pathlib import Path
from _common import Server, Conn, log, MiB, request

data_dir, fs, work = sys.argv[1], sys.argv[2], sys.argv[3]
srv = Server(workdir=Path(work) / f"srv-{fs}", data_dir=data_dir)
srv.start()
fail = []
B = "full"
st, _, body = request(srv.port, "PUT", f"/{B}")
assert st == 200, (st, body)
OK_FULL = ((507, "InsufficientStorage"), (503, "SlowDown"))
stored = {}   # key -> sha256 of what was acknowledged
counter = [0]


def body_for(i, size):
    seed = hashlib.sha256(f"obj{i}".encode()).digest()
    return (seed * (size // 32 + 1))[:size]


def classify(st, body):
    """(status, S3 error code, body is an XML <Error>)"""
    if st is None:
        return None, body.decode(errors="replace")[:80], False
    txt = body.decode(errors="replace")
    xml_ok = txt.lstrip().startswith("<?xml") and "<Error>" in txt and "<Code>" in txt
    code = txt.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in txt else None
    return st, code, xml_ok


def put(key, data):
    try:
        c = Conn(srv.port, 60)
        try:
            return c.request("PUT", f"/{B}/{key}", data)
        finally:
            c.close()
    except OSError as e:
        return None, {}, repr(e).encode()


def fill(label, size, phase):
    """PUTs of `size` until 3 consecutive failures; returns the failures' classes."""
    fails = {}
    consecutive = n_ok = 0
    while consecutive < 3:
        counter[0] += 1
        key = f"{label}/{counter[0]:06d}"
        data = body_for(counter[0], size)
        st, _, body = put(key, data)
        if st == 200:
            stored[key] = hashlib.sha256(data).hexdigest()
            consecutive = 0
            n_ok += 1
        else:
            consecutive += 1
            k = classify(st, body)
            fails[k] = fails.get(k, 0) + 1
        if n_ok > 100000:
            fail.append(f"{phase}: {label} writes never failed")
            break
    sv = os.statvfs(data_dir)
    log(f"[{fs}] {phase}: {n_ok} x {label} stored, then failures "
        f"{ {f'{s} {c} xml={x}': n for (s, c, x), n in fails.items()} }; "
        f"free {sv.f_bavail * sv.f_frsize // 1024} KiB")
    bad = {k: n for k, n in fails.items() if (k[0], k[1]) not in OK_FULL or not k[2]}
    if bad:
        fail.append(f"{phase}: {label} writes on the full disk failed with {bad} "
                    f"(want 507 InsufficientStorage / 503 SlowDown with an XML body)")


def verify_reads(when):
    ok, bad = 0, []
    c = Conn(srv.port, 60)
    try:
        for key, sha in stored.items():
            st, _, body = c.request("GET", f"/{B}/{key}")
            if st == 200 and hashlib.sha256(body).hexdigest() == sha:
                ok += 1
            else:
                bad.append((key, st, len(body)))
    finally:
        c.close()
    log(f"[{fs}] {when}: {ok}/{len(stored)} acknowledged objects read back byte-identical"
        + (f"; NOT: {bad[:3]}" if bad else ""))
    if bad:
        fail.append(f"{when}: {len(bad)} acknowledged objects do not read back: {bad[:3]}")


def delete_some(when, prefix):
    victims = [k for k in stored if k.startswith(prefix)][::4][:16]
    deleted, errs = 0, {}
    for k in victims:
        st, _, body = request(srv.port, "DELETE", f"/{B}/{k}")
        if st == 204:
            deleted += 1
            stored.pop(k)
        else:
            c = classify(st, body)[:2]
            errs[c] = errs.get(c, 0) + 1
    log(f"[{fs}] {when}: deleted {deleted}/{len(victims)} objects"
        + (f"; failed deletes: {errs}" if errs else ""))
    if errs:
        fail.append(f"{when}: deletes failed {errs}")
    return deleted


def write_again(when, want, size=MiB):
    t0 = time.monotonic()
    ok_after, tries, first_ok, errs = 0, 0, None, {}
    while ok_after < want and time.monotonic() - t0 < 20:
        tries += 1
        counter[0] += 1
        data = body_for(counter[0], size)
        key = f"after/{counter[0]:06d}"
        st, _, body = put(key, data)
        if st == 200:
            ok_after += 1
            stored[key] = hashlib.sha256(data).hexdigest()
            first_ok = first_ok if first_ok is not None else time.monotonic() - t0
            continue
        k = classify(st, body)[:2]
        errs[k] = errs.get(k, 0) + 1
        if k not in OK_FULL:
            break
        time.sleep(0.05)  # space is freed by a background unlink: poll
    log(f"[{fs}] {when}: {ok_after}/{want} writes of {size} B succeeded in {tries} attempts"
        f" (first success after {'-' if first_ok is None else round(first_ok * 1000)} ms)"
        + (f"; failures: {errs}" if errs else ""))
    if ok_after < want:
        fail.append(f"{when}: only {ok_after}/{want} writes succeeded, failures {errs}")


# Phase A: data files fill the disk (1 MiB, then 256 KiB objects).
t0 = time.monotonic()
fill("1MiB", MiB, "A")
fill("256KiB", 256 * 1024, "A")
log(f"[{fs}] A: disk full after {time.monotonic() - t0:.1f}s, {len(stored)} objects")
verify_reads("A: reads on the full disk")
st, _, body = request(srv.port, "GET", f"/{B}", query=[("list-type", "2")])
log(f"[{fs}] A: ListObjectsV2 on the full disk: HTTP {st}, {body.count(b'<Key>')} keys")
if st != 200:
    fail.append(f"A: ListObjectsV2 on the full disk answered {st}")
d = delete_some("A: deletes on the full disk", "1MiB")
write_again("A: writes after the deletes", max(1, d // 2))
verify_reads("A: reads after the deletes")

# Phase B: fill again, then small inline objects until the metadata store itself is full.
fill("1MiB", MiB, "B")
fill("1KiB-inline", 1024, "B")
verify_reads("B: reads with metadata full")
d = delete_some("B: deletes with metadata full", "1MiB")
if d:
    write_again("B: writes after the deletes", max(1, d // 2))
    write_again("B: inline writes after the deletes", 4, 1024)

# kill -9 and restart: recovery on the full disk
srv.stop()
t = srv.start()
log(f"[{fs}] kill -9 + restart: ready in {t * 1000:.0f} ms")
verify_reads("reads after restart")
if not d:
    d = delete_some("deletes after the restart", "1MiB")
    if d:
        write_again("writes after the restart", max(1, d // 2))
    verify_reads("reads at the end")

log_text = srv.log_path.read_text(errors="replace")
for needle in ("fails its CRC32C", "Previous I/O error occurred", "metadata commit failed",
               "panicked at"):
    if needle in log_text:
        log(f"[{fs}] server log: {log_text.count(needle)} x '{needle}'")
if "panicked at" in log_text:
    fail.append("the server panicked (see " + str(srv.log_path) + ")")
alive = srv.alive()
srv.stop()
if not alive:
    fail.append("the server died")
for f in fail:
    log(f"[{fs}] FAIL: {f}")
log(f"[{fs}] {'PASS' if not fail else 'FAIL'} (server log: {srv.log_path})")
sys.exit(1 if fail else 0)
PYEOF
}

fs="${FULL_DISK_FS:-tmpfs}"
if [[ "$fs" == tmpfs ]] && ! mount_tmpfs; then
    echo "full_disk.sh: tmpfs mount failed; using a loop-mounted ext4 image" >&2
    fs=ext4
fi
if [[ "$fs" == tmpfs ]]; then
    # The server writes data files with O_DIRECT; older kernels' tmpfs refuses that.
    mkdir -p "$MNT/probe"
    if ! "$PY" -c 'import os,sys; fd=os.open(sys.argv[1], os.O_CREAT|os.O_WRONLY|os.O_DIRECT, 0o600); os.close(fd)' "$MNT/probe/f" 2>/dev/null; then
        echo "full_disk.sh: tmpfs does not support O_DIRECT here; using a loop-mounted ext4 image" >&2
        umount "$MNT"; fs=ext4
    else
        rm -rf "$MNT/probe"
    fi
fi
[[ "$fs" == ext4 ]] && mount_ext4
echo "full_disk.sh: ${SIZE_MB} MiB $fs at $MNT"
run_check "$fs"
