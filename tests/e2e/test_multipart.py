"""Multipart uploads: ETags, part rules, errors, abort, listings, part copy,
part-number reads, ranges across parts, checksums and the boto3 transfer manager."""

import base64
import hashlib

import pytest
from boto3.s3.transfer import TransferConfig

from s3helpers import (MiB, checksum_b64, det_bytes, file_sha256, key_path, md5_hex,
                       multipart_etag, s3_error, sha256_hex, stream_sha256, unique_name,
                       write_det_file)

PART = 5 * MiB
BOGUS_UPLOAD = "bm8tc3VjaC11cGxvYWQtaWQtYXQtYWxs"


def upload_parts(s3, bucket, key, parts, **create_kw):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, **create_kw)
    uid = up["UploadId"]
    etags = []
    for i, data in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=i, Body=data)
        assert r["ETag"] == f'"{md5_hex(data)}"'
        etags.append(r["ETag"])
    return uid, etags


def complete(s3, bucket, key, uid, etags, **kw):
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": i, "ETag": e}
                                   for i, e in enumerate(etags, 1)]}, **kw)


@pytest.fixture(scope="module")
def three_parts():
    return [det_bytes("mp1", PART), det_bytes("mp2", PART), det_bytes("mp3", 1024)]


def test_multipart_basic(s3, bucket, three_parts):
    uid, etags = upload_parts(s3, bucket, "mp/obj", three_parts, ContentType="text/x-mp",
                              Metadata={"kind": "multipart"})
    assert uid
    r = complete(s3, bucket, "mp/obj", uid, etags)
    want = multipart_etag(three_parts)
    assert r["ETag"] == want
    assert r["Key"] == "mp/obj"
    assert r["Bucket"] == bucket
    whole = b"".join(three_parts)
    h = s3.head_object(Bucket=bucket, Key="mp/obj")
    assert h["ContentLength"] == len(whole)
    assert h["ETag"] == want
    assert h["ContentType"] == "text/x-mp"
    assert h["Metadata"] == {"kind": "multipart"}
    got = s3.get_object(Bucket=bucket, Key="mp/obj")
    assert stream_sha256(got["Body"]) == (sha256_hex(whole), len(whole))
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [("mp/obj", len(whole), want)]
    # the upload is gone
    with s3_error("NoSuchUpload", 404):
        s3.list_parts(Bucket=bucket, Key="mp/obj", UploadId=uid)
    with s3_error("NoSuchUpload", 404):
        s3.upload_part(Bucket=bucket, Key="mp/obj", UploadId=uid, PartNumber=4, Body=b"x")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_multipart_single_small_part(s3, bucket):
    data = b"only part, below the minimum size, which is fine for the last part"
    uid, etags = upload_parts(s3, bucket, "single", [data])
    r = complete(s3, bucket, "single", uid, etags)
    assert r["ETag"] == multipart_etag([data])
    assert r["ETag"].endswith('-1"')
    assert s3.get_object(Bucket=bucket, Key="single")["Body"].read() == data


def test_multipart_entity_too_small(s3, bucket):
    parts = [det_bytes("small1", 1 * MiB), det_bytes("small2", 1 * MiB)]
    uid, etags = upload_parts(s3, bucket, "small", parts)
    with s3_error("EntityTooSmall", 400):
        complete(s3, bucket, "small", uid, etags)
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="small")
    # a failed completion leaves the upload in place
    assert [p["PartNumber"] for p in
            s3.list_parts(Bucket=bucket, Key="small", UploadId=uid)["Parts"]] == [1, 2]
    # the boundary: exactly part_size_min for every non-last part is enough
    parts = [det_bytes("edge1", PART), det_bytes("edge2", 1)]
    uid2, etags2 = upload_parts(s3, bucket, "edge", parts)
    assert complete(s3, bucket, "edge", uid2, etags2)["ETag"] == multipart_etag(parts)


def test_multipart_invalid_part_order(s3, bucket, three_parts):
    uid, etags = upload_parts(s3, bucket, "order", three_parts)
    for order in ([2, 1, 3], [1, 1, 2, 3]):
        with s3_error("InvalidPartOrder", 400):
            s3.complete_multipart_upload(
                Bucket=bucket, Key="order", UploadId=uid,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n - 1]}
                                           for n in order]})
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="order")


def test_multipart_invalid_part(s3, bucket, three_parts):
    uid, etags = upload_parts(s3, bucket, "invpart", three_parts[:2])
    with s3_error("InvalidPart", 400):
        complete(s3, bucket, "invpart", uid, [etags[0], '"0123456789abcdef0123456789abcdef"'])
    with s3_error("InvalidPart", 400):
        s3.complete_multipart_upload(
            Bucket=bucket, Key="invpart", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etags[0]},
                                       {"PartNumber": 2, "ETag": etags[1]},
                                       {"PartNumber": 3, "ETag": etags[1]}]})
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="invpart")


def test_multipart_complete_without_parts(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="noparts")
    with s3_error("MalformedXML", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="noparts", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": []})


def test_multipart_no_such_upload(s3, bucket):
    with s3_error("NoSuchUpload", 404):
        s3.upload_part(Bucket=bucket, Key="k", UploadId=BOGUS_UPLOAD, PartNumber=1, Body=b"x")
    with s3_error("NoSuchUpload", 404):
        s3.list_parts(Bucket=bucket, Key="k", UploadId=BOGUS_UPLOAD)
    with s3_error("NoSuchUpload", 404):
        complete(s3, bucket, "k", BOGUS_UPLOAD, ['"0123456789abcdef0123456789abcdef"'])
    with s3_error("NoSuchUpload", 404):
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=BOGUS_UPLOAD)
    # an upload id is bound to its key
    up = s3.create_multipart_upload(Bucket=bucket, Key="right-key")
    with s3_error("NoSuchUpload", 404):
        s3.upload_part(Bucket=bucket, Key="wrong-key", UploadId=up["UploadId"], PartNumber=1,
                       Body=b"x")


@pytest.mark.parametrize("part_number", [0, 10001, -1])
def test_multipart_part_number_out_of_range(raw, s3, bucket, part_number):
    up = s3.create_multipart_upload(Bucket=bucket, Key="pn")
    r = raw.request("PUT", key_path(bucket, "pn"),
                    query=[("partNumber", str(part_number)), ("uploadId", up["UploadId"])],
                    body=b"data")
    assert r.status == 400, r
    assert r.error_code == "InvalidArgument", r
    assert s3.list_parts(Bucket=bucket, Key="pn", UploadId=up["UploadId"]).get("Parts", []) == []


def test_multipart_part_number_10000_ok(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="pn10000")
    r = s3.upload_part(Bucket=bucket, Key="pn10000", UploadId=up["UploadId"],
                       PartNumber=10000, Body=b"last")
    assert r["ETag"] == f'"{md5_hex(b"last")}"'
    c = s3.complete_multipart_upload(
        Bucket=bucket, Key="pn10000", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 10000, "ETag": r["ETag"]}]})
    assert c["ETag"] == multipart_etag([b"last"])
    assert s3.get_object(Bucket=bucket, Key="pn10000")["Body"].read() == b"last"


def test_multipart_overwrite_part(s3, bucket):
    a, b, tail = det_bytes("ow-a", PART), det_bytes("ow-b", PART), b"tail"
    up = s3.create_multipart_upload(Bucket=bucket, Key="ow")
    uid = up["UploadId"]
    ea = s3.upload_part(Bucket=bucket, Key="ow", UploadId=uid, PartNumber=1, Body=a)["ETag"]
    eb = s3.upload_part(Bucket=bucket, Key="ow", UploadId=uid, PartNumber=1, Body=b)["ETag"]
    et = s3.upload_part(Bucket=bucket, Key="ow", UploadId=uid, PartNumber=2, Body=tail)["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key="ow", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts] == \
        [(1, eb, PART), (2, et, 4)]
    with s3_error("InvalidPart", 400):
        complete(s3, bucket, "ow", uid, [ea, et])
    r = complete(s3, bucket, "ow", uid, [eb, et])
    assert r["ETag"] == multipart_etag([b, tail])
    got = s3.get_object(Bucket=bucket, Key="ow")["Body"].read()
    assert got == b + tail


def test_multipart_abort(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="aborted")
    uid = up["UploadId"]
    s3.upload_part(Bucket=bucket, Key="aborted", UploadId=uid, PartNumber=1, Body=b"x" * 1000)
    r = s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=uid)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with s3_error("NoSuchUpload", 404):
        s3.list_parts(Bucket=bucket, Key="aborted", UploadId=uid)
    with s3_error("NoSuchUpload", 404):
        s3.upload_part(Bucket=bucket, Key="aborted", UploadId=uid, PartNumber=2, Body=b"x")
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="aborted")


def test_list_multipart_uploads(s3, bucket):
    keys = ["p/a", "p/a", "p/b", "p/c", "q/d", "r"]
    ids = {}
    for k in keys:
        ids.setdefault(k, []).append(s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"])
    r = s3.list_multipart_uploads(Bucket=bucket)
    ups = r["Uploads"]
    assert [u["Key"] for u in ups] == sorted(keys)
    assert sorted(u["UploadId"] for u in ups) == sorted(x for v in ids.values() for x in v)
    for u in ups:
        assert u["Initiated"] is not None
        assert u["Initiator"]["ID"] and u["Owner"]["ID"]
    r = s3.list_multipart_uploads(Bucket=bucket, Prefix="p/")
    assert [u["Key"] for u in r["Uploads"]] == ["p/a", "p/a", "p/b", "p/c"]
    assert r.get("Prefix") == "p/"
    r = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in r.get("Uploads", [])] == ["r"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["p/", "q/"]
    # pagination by (key, upload id) markers
    seen, kw, pages = [], {}, 0
    while True:
        r = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2, **kw)
        pages += 1
        assert len(r.get("Uploads", [])) <= 2
        seen += [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])]
        if not r["IsTruncated"]:
            break
        kw = {"KeyMarker": r["NextKeyMarker"], "UploadIdMarker": r["NextUploadIdMarker"]}
        assert pages < 10
    assert pages == 3
    assert sorted(seen) == sorted((k, u) for k, v in ids.items() for u in v)
    assert len(set(seen)) == len(keys)
    # KeyMarker alone skips every upload of that key
    r = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="p/a")
    assert [u["Key"] for u in r["Uploads"]] == ["p/b", "p/c", "q/d", "r"]


def test_list_parts_pagination(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="lp")
    uid = up["UploadId"]
    datas = {n: det_bytes(f"lp{n}", 1000 + n) for n in range(1, 6)}
    for n, d in datas.items():
        s3.upload_part(Bucket=bucket, Key="lp", UploadId=uid, PartNumber=n, Body=d)
    pages, seen, marker = 0, [], 0
    while True:
        r = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid, MaxParts=2,
                          PartNumberMarker=marker)
        pages += 1
        assert r["UploadId"] == uid
        assert r["MaxParts"] == 2
        for p in r["Parts"]:
            seen.append(p["PartNumber"])
            assert p["Size"] == len(datas[p["PartNumber"]])
            assert p["ETag"] == f'"{md5_hex(datas[p["PartNumber"]])}"'
            assert p["LastModified"] is not None
        if not r["IsTruncated"]:
            break
        marker = r["NextPartNumberMarker"]
        assert marker == seen[-1]
    assert pages == 3
    assert seen == [1, 2, 3, 4, 5]


def test_upload_part_copy_with_range(s3, bucket):
    src = det_bytes("pc-src", 12 * MiB)
    s3.put_object(Bucket=bucket, Key="pc/src", Body=src)
    up = s3.create_multipart_upload(Bucket=bucket, Key="pc/dst")
    uid = up["UploadId"]
    r1 = s3.upload_part_copy(Bucket=bucket, Key="pc/dst", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "pc/src"},
                             CopySourceRange=f"bytes=0-{PART - 1}")
    assert r1["CopyPartResult"]["ETag"] == f'"{md5_hex(src[:PART])}"'
    r2 = s3.upload_part_copy(Bucket=bucket, Key="pc/dst", UploadId=uid, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "pc/src"},
                             CopySourceRange=f"bytes={PART}-{len(src) - 1}")
    assert r2["CopyPartResult"]["ETag"] == f'"{md5_hex(src[PART:])}"'
    # a whole-object part copy (no range)
    small = b"small source object"
    s3.put_object(Bucket=bucket, Key="pc/small", Body=small)
    r3 = s3.upload_part_copy(Bucket=bucket, Key="pc/dst", UploadId=uid, PartNumber=3,
                             CopySource={"Bucket": bucket, "Key": "pc/small"})
    assert r3["CopyPartResult"]["ETag"] == f'"{md5_hex(small)}"'
    etags = [r["CopyPartResult"]["ETag"] for r in (r1, r2, r3)]
    c = complete(s3, bucket, "pc/dst", uid, etags)
    assert c["ETag"] == multipart_etag([src[:PART], src[PART:], small])
    got = s3.get_object(Bucket=bucket, Key="pc/dst")
    assert stream_sha256(got["Body"]) == (sha256_hex(src + small), len(src) + len(small))


def test_upload_part_copy_missing_source(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="pcm")
    with s3_error("NoSuchKey", 404):
        s3.upload_part_copy(Bucket=bucket, Key="pcm", UploadId=up["UploadId"], PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "absent"})


@pytest.fixture
def completed_mpu(s3, bucket, three_parts):
    uid, etags = upload_parts(s3, bucket, "parts", three_parts)
    complete(s3, bucket, "parts", uid, etags)
    return bucket


def test_get_by_part_number(s3, completed_mpu, three_parts):
    bucket = completed_mpu
    total = sum(map(len, three_parts))
    offset = 0
    for n, data in enumerate(three_parts, 1):
        got = s3.get_object(Bucket=bucket, Key="parts", PartNumber=n)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["PartsCount"] == 3
        assert got["ContentLength"] == len(data)
        assert got["ContentRange"] == f"bytes {offset}-{offset + len(data) - 1}/{total}"
        assert got["Body"].read() == data
        head = s3.head_object(Bucket=bucket, Key="parts", PartNumber=n)
        assert head["PartsCount"] == 3
        assert head["ContentLength"] == len(data)
        offset += len(data)
    with s3_error("InvalidPartNumber", 400):
        s3.get_object(Bucket=bucket, Key="parts", PartNumber=4)


def test_head_multipart_reports_parts_count_only_when_asked(raw, completed_mpu):
    r = raw.request("HEAD", key_path(completed_mpu, "parts"), query=[("partNumber", "1")])
    assert r.status == 206, r
    assert r.header("x-amz-mp-parts-count") == "3"


def test_ranged_get_across_part_boundaries(s3, completed_mpu, three_parts):
    whole = b"".join(three_parts)
    for start, end in ((PART - 10, PART + 10), (PART - 1, PART), (2 * PART - 5, len(whole) - 1),
                       (0, len(whole) - 1), (PART - 100, 2 * PART + 100)):
        got = s3.get_object(Bucket=completed_mpu, Key="parts", Range=f"bytes={start}-{end}")
        assert got["ContentRange"] == f"bytes {start}-{end}/{len(whole)}"
        assert got["Body"].read() == whole[start:end + 1], (start, end)
    got = s3.get_object(Bucket=completed_mpu, Key="parts", Range="bytes=-1030")
    assert got["Body"].read() == whole[-1030:]


def test_multipart_composite_sha256_checksum(s3, bucket):
    parts = [det_bytes("ck1", PART), det_bytes("ck2", 3000)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="ck", ChecksumAlgorithm="SHA256")
    uid = up["UploadId"]
    assert up.get("ChecksumAlgorithm") == "SHA256"
    done = []
    for i, d in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="ck", UploadId=uid, PartNumber=i, Body=d,
                           ChecksumAlgorithm="SHA256")
        assert r["ChecksumSHA256"] == checksum_b64("SHA256", d)
        done.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
    c = s3.complete_multipart_upload(Bucket=bucket, Key="ck", UploadId=uid,
                                     MultipartUpload={"Parts": done})
    composite = base64.b64encode(hashlib.sha256(
        b"".join(hashlib.sha256(d).digest() for d in parts)).digest()).decode() + "-2"
    assert c["ChecksumSHA256"] == composite
    h = s3.head_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert h["ChecksumSHA256"] == composite
    assert s3.get_object(Bucket=bucket, Key="ck")["Body"].read() == b"".join(parts)


def test_multipart_part_checksum_mismatch(raw, s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="ckbad")
    r = raw.request("PUT", key_path(bucket, "ckbad"),
                    query=[("partNumber", "1"), ("uploadId", up["UploadId"])], body=b"part",
                    headers={"x-amz-checksum-crc32": checksum_b64("CRC32", b"other")})
    assert r.status == 400, r
    assert r.error_code == "BadDigest"
    assert s3.list_parts(Bucket=bucket, Key="ckbad", UploadId=up["UploadId"]).get("Parts", []) == []


def test_multipart_conditional_complete(s3, bucket):
    s3.put_object(Bucket=bucket, Key="exists", Body=b"already here")
    uid, etags = upload_parts(s3, bucket, "exists", [b"new"])
    with s3_error("PreconditionFailed", 412):
        complete(s3, bucket, "exists", uid, etags, IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="exists")["Body"].read() == b"already here"
    uid, etags = upload_parts(s3, bucket, "fresh", [b"new"])
    complete(s3, bucket, "fresh", uid, etags, IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="fresh")["Body"].read() == b"new"


def test_multipart_overwrites_existing_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="ow2", Body=b"old small object")
    uid, etags = upload_parts(s3, bucket, "ow2", [b"new content"])
    complete(s3, bucket, "ow2", uid, etags)
    assert s3.get_object(Bucket=bucket, Key="ow2")["Body"].read() == b"new content"


def test_create_multipart_missing_bucket(s3):
    with s3_error("NoSuchBucket", 404):
        s3.create_multipart_upload(Bucket=unique_name("nob"), Key="k")


def test_transfer_manager_64mib_round_trip(s3, bucket, workdir):
    size = 64 * MiB
    src = workdir / "up.bin"
    sha = write_det_file(src, "tm64", size)
    cfg = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB,
                         max_concurrency=8, use_threads=True)
    s3.upload_file(str(src), bucket, "tm/64mib.bin", Config=cfg)
    h = s3.head_object(Bucket=bucket, Key="tm/64mib.bin")
    assert h["ContentLength"] == size
    assert h["ETag"].endswith('-8"'), h["ETag"]
    # ETag computed independently from the 8 MiB chunks
    with open(src, "rb") as f:
        chunks_md5 = b"".join(hashlib.md5(f.read(8 * MiB)).digest() for _ in range(8))
    assert h["ETag"] == f'"{hashlib.md5(chunks_md5).hexdigest()}-8"'
    dst = workdir / "down.bin"
    s3.download_file(bucket, "tm/64mib.bin", str(dst), Config=cfg)
    assert dst.stat().st_size == size
    assert file_sha256(dst) == sha


def test_complete_accepts_unquoted_etags(s3, bucket):
    parts = [det_bytes("unq1", PART), b"tail"]
    uid, etags = upload_parts(s3, bucket, "unquoted", parts)
    r = complete(s3, bucket, "unquoted", uid, [e.strip('"') for e in etags])
    assert r["ETag"] == multipart_etag(parts)
