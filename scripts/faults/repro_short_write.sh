#!/usr/bin/env bash
# Reproducer: an acknowledged PUT whose data file was only partly written (disk full).
#
# On an 8 MiB tmpfs, 1 MiB PUTs succeed until the disk fills; the last one that "fits"
# is answered 200 although its O_DIRECT write was short (write_at returned fewer bytes
# than submitted when the filesystem ran out of space): the data file is shorter than
# the object's recorded length, and every GET of it then fails its CRC32C check (500).
# Cause: src/storage/local.rs await_write() treats Some(Ok(n)) as success without
# comparing n with the buffer length, so finish() fdatasyncs a short file and the PUT
# commits. Expected: a short write is ENOSPC -> 507 InsufficientStorage, nothing committed.
#
#   scripts/faults/repro_short_write.sh        (root: mounts a tmpfs)
# Exit 1 when an acknowledged object does not read back (the bug), 0 otherwise.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MNT="$(mktemp -d /tmp/bleepstore-shortwrite.XXXXXX)"
mount -t tmpfs -o size=8m tmpfs "$MNT"
trap 'umount "$MNT" 2>/dev/null || umount -l "$MNT"; rmdir "$MNT"' EXIT
PYTHONPATH="$HERE" python3 - "$MNT/data" <<'PYEOF'
import sys
from pathlib import Path
from _common import MiB, Server, request
srv = Server(data_dir=sys.argv[1])
srv.start()
assert request(srv.port, "PUT", "/bkt")[0] == 200
bad = 0
for i in range(20):
    body = bytes([i + 1]) * MiB
    st, _, resp = request(srv.port, "PUT", f"/bkt/o{i}", body)
    if st != 200:
        print(f"PUT o{i}: {st} {resp[:60]!r} (disk full)")
        break
    st2, _, got = request(srv.port, "GET", f"/bkt/o{i}")
    ok = st2 == 200 and got == body
    bad += not ok
    print(f"PUT o{i}: 200; GET: {st2}, {'byte-identical' if ok else 'NOT the acknowledged body'}")
for f in sorted(Path(sys.argv[1], "objects").glob("*/*")):
    if f.stat().st_size != MiB:
        print(f"data file {f.name}: {f.stat().st_size} bytes, the object's record says {MiB}")
srv.cleanup()
sys.exit(1 if bad else 0)
PYEOF
