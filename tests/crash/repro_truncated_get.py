#!/usr/bin/env python3
"""Reproducer: a GET (or CopyObject) of a multipart object that is overwritten or deleted
while it streams is cut mid-body.

The server answers 200 with the full Content-Length, sends the first part(s), then finds
the next part's data file gone (the overwrite's commit scheduled it for removal) and
drops the connection: the client gets fewer bytes than Content-Length. The server logs
`body stream failed mid-response error=data file vanished (object replaced)`.
(src/storage/local.rs: FileStream pins only the first segment's file; later segments are
opened lazily in advance_segment(), after the object may have been replaced.)

S3 semantics: a GET that started returns the complete version it started on (or an error
before the status line), never a truncated 200.

    .venv/bin/python tests/crash/repro_truncated_get.py [--seconds 20]

Exit 1 when a truncated body (or a 5xx copy other than a retryable 503 SlowDown) was
seen, 0 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "e2e"))
for _n in list(os.environ):
    if _n.startswith("AWS_"):
        del os.environ[_n]
os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

import tempfile  # noqa: E402

from botocore.exceptions import ClientError  # noqa: E402

from s3helpers import DEFAULT, ServerInstance, make_client  # noqa: E402

PART = 64 * 1024
NPARTS = 8


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    wd = Path(tempfile.mkdtemp(prefix="bleepstore-repro-"))
    srv = ServerInstance(wd, config_overrides={"multipart": {"part_size_min": PART}},
                         log_args=("--log-level", "warn"))
    srv.start()
    c = make_client(srv.endpoint, DEFAULT, max_pool_connections=8)
    c.create_bucket(Bucket="repro")
    stop = threading.Event()
    stats = {"writes": 0, "gets": 0, "truncated": 0, "copies": 0, "copy_5xx": 0,
             "copy_slowdown": 0}
    shas = set()
    lock = threading.Lock()

    def writer():
        w = make_client(srv.endpoint, DEFAULT)
        gen = 0
        while not stop.is_set():
            gen += 1
            parts = [hashlib.sha256(f"{gen}/{n}".encode()).digest() * (PART // 32)
                     for n in range(NPARTS)]
            with lock:
                shas.add(hashlib.sha256(b"".join(parts)).hexdigest())
            uid = w.create_multipart_upload(Bucket="repro", Key="obj")["UploadId"]
            etags = [w.upload_part(Bucket="repro", Key="obj", UploadId=uid, PartNumber=i + 1,
                                   Body=p)["ETag"] for i, p in enumerate(parts)]
            w.complete_multipart_upload(
                Bucket="repro", Key="obj", UploadId=uid,
                MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e}
                                           for i, e in enumerate(etags)]})
            stats["writes"] += 1

    def reader():
        r = make_client(srv.endpoint, DEFAULT)
        while not stop.is_set():
            try:
                resp = r.get_object(Bucket="repro", Key="obj")
            except ClientError:
                continue
            want = resp["ContentLength"]
            got = 0
            try:
                for chunk in resp["Body"].iter_chunks(16 * 1024):
                    got += len(chunk)
                    time.sleep(0.0005)  # a client that reads at a modest pace
            except Exception as e:  # noqa: BLE001
                stats["truncated"] += 1
                if stats["truncated"] <= 3:
                    print(f"GET 200 Content-Length {want}: body cut after {got} bytes "
                          f"({type(e).__name__})", flush=True)
            stats["gets"] += 1

    def copier():
        r = make_client(srv.endpoint, DEFAULT)
        while not stop.is_set():
            try:
                r.copy_object(Bucket="repro", Key="copy", CopySource={"Bucket": "repro", "Key": "obj"})
                stats["copies"] += 1
            except ClientError as e:
                code = e.response["ResponseMetadata"]["HTTPStatusCode"]
                if code == 503 and e.response["Error"]["Code"] == "SlowDown":
                    stats["copy_slowdown"] += 1  # retryable, nothing written: acceptable
                elif code >= 500:
                    stats["copy_5xx"] += 1
                    if stats["copy_5xx"] <= 3:
                        print(f"CopyObject of the multipart object: {code} "
                              f"{e.response['Error']}", flush=True)

    c.put_object(Bucket="repro", Key="obj", Body=b"seed")
    threads = [threading.Thread(target=f, daemon=True) for f in (writer, reader, reader, copier)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline and not (stats["truncated"] >= 3 and stats["copy_5xx"] >= 1):
        time.sleep(0.2)  # report progress at the end; this loop only bounds the run
    stop.set()
    for t in threads:
        t.join(60)
    srv.stop()
    log = srv.log_path.read_text(errors="replace")
    vanished = log.count("data file vanished")
    print(f"writes {stats['writes']}, GETs {stats['gets']}, truncated GET bodies "
          f"{stats['truncated']}, copies {stats['copies']}, copy 5xx {stats['copy_5xx']} "
          f"(+ {stats['copy_slowdown']} x 503 SlowDown, retryable); "
          f"server log 'data file vanished': {vanished}")
    bad = stats["truncated"] or stats["copy_5xx"]
    if not bad:
        import shutil
        shutil.rmtree(wd, ignore_errors=True)
    else:
        print(f"server log: {srv.log_path}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
