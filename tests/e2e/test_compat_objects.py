"""Object and multipart compatibility (issue #15, items 14-18): conditional writes with
If-Match, GetObjectAttributes, checksum errors / types / full-object multipart CRCs,
partNumber past the last part, non-ASCII user metadata and Content-Encoding lists."""

import base64
import concurrent.futures as cf
import zlib

import pytest
from boto3.s3.transfer import TransferConfig

from s3helpers import (MiB, Raw, aws_chunked_signed, checksum_b64, crc32c, crc64nvme,
                       det_bytes, key_path, md5_b64, md5_hex, multipart_etag, s3_error, sign_headers,
                       xml_children, xml_find, xml_text)


def hdrs(resp) -> dict:
    return resp["ResponseMetadata"]["HTTPHeaders"]


def mpu(s3, bucket, key, parts, **create):
    """Creates an upload and uploads `parts`; returns (upload id, [{PartNumber, ETag, ...}])."""
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    algo = create.get("ChecksumAlgorithm")
    done = []
    for n, data in enumerate(parts, 1):
        kw = {}
        if algo:
            kw[f"Checksum{algo}"] = checksum_b64(algo, data)
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=data, **kw)
        p = {"PartNumber": n, "ETag": r["ETag"]}
        if algo:
            p[f"Checksum{algo}"] = r[f"Checksum{algo}"]
        done.append(p)
    return uid, done


def complete(s3, bucket, key, uid, parts, **kw):
    return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                        MultipartUpload={"Parts": parts}, **kw)


FIVE_MIB_PARTS = [det_bytes("p1", 5 * MiB), det_bytes("p2", 5 * MiB), b"tail"]


# ---- #15.14 conditional writes --------------------------------------------------------------

def test_put_if_match_on_missing_key_is_no_such_key(s3, bucket):
    with s3_error("NoSuchKey", 404):
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x",
                      IfMatch='"0123456789abcdef0123456789abcdef"')
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="absent")


def test_put_if_match_racing_writers_one_wins(s3, bucket):
    """Writers that all saw the same ETag race: the comparison is part of the commit, so
    exactly one replaces the object and every other one gets 412."""
    etag = s3.put_object(Bucket=bucket, Key="race", Body=b"v0")["ETag"]
    bodies = [f"writer-{i}".encode() * 1000 for i in range(12)]

    def put(body):
        try:
            s3.put_object(Bucket=bucket, Key="race", Body=body, IfMatch=etag)
            return body
        except Exception as e:  # noqa: BLE001 - the status is what is checked
            assert e.response["Error"]["Code"] == "PreconditionFailed", e
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 412
            return None

    with cf.ThreadPoolExecutor(len(bodies)) as ex:
        won = [b for b in ex.map(put, bodies) if b is not None]
    assert len(won) == 1, len(won)
    assert s3.get_object(Bucket=bucket, Key="race")["Body"].read() == won[0]


def test_complete_multipart_if_match(s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="mp", Body=b"old")["ETag"]
    uid, parts = mpu(s3, bucket, "mp", [b"new body"])
    with s3_error("PreconditionFailed", 412):
        complete(s3, bucket, "mp", uid, parts, IfMatch='"0123456789abcdef0123456789abcdef"')
    # nothing changed and the upload is still there to retry
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"old"
    r = complete(s3, bucket, "mp", uid, parts, IfMatch=first)
    assert r["ETag"] == multipart_etag([b"new body"])
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"new body"
    # If-Match on a key that does not exist: 404 NoSuchKey, nothing created
    uid2, parts2 = mpu(s3, bucket, "mp-absent", [b"x"])
    with s3_error("NoSuchKey", 404):
        complete(s3, bucket, "mp-absent", uid2, parts2, IfMatch=first)
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="mp-absent")
    s3.abort_multipart_upload(Bucket=bucket, Key="mp-absent", UploadId=uid2)


# ---- #15.15 GetObjectAttributes ------------------------------------------------------------

ALL_ATTRS = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


def test_get_object_attributes_single_part(s3, bucket):
    data = det_bytes("attrs", 3000)
    s3.put_object(Bucket=bucket, Key="a", Body=data, ChecksumAlgorithm="CRC32C")
    r = s3.get_object_attributes(Bucket=bucket, Key="a", ObjectAttributes=ALL_ATTRS)
    assert r["ETag"] == md5_hex(data)  # no quotes in this document
    assert r["ObjectSize"] == len(data)
    assert r["StorageClass"] == "STANDARD"
    assert r["Checksum"]["ChecksumCRC32C"] == checksum_b64("CRC32C", data)
    assert r["Checksum"]["ChecksumType"] == "FULL_OBJECT"
    assert "ObjectParts" not in r
    head = s3.head_object(Bucket=bucket, Key="a")
    assert r["LastModified"] == head["LastModified"]
    only = s3.get_object_attributes(Bucket=bucket, Key="a", ObjectAttributes=["ObjectSize"])
    assert only["ObjectSize"] == len(data)
    assert "ETag" not in only and "Checksum" not in only
    # versionId: only the null version exists
    v = s3.get_object_attributes(Bucket=bucket, Key="a", VersionId="null",
                                 ObjectAttributes=["ETag"])
    assert v["ETag"] == md5_hex(data)
    with s3_error("InvalidArgument", 400):
        s3.get_object_attributes(Bucket=bucket, Key="a", VersionId="3HL4kqtJlcpXroDTDmJ",
                                 ObjectAttributes=["ETag"])
    with s3_error("NoSuchKey", 404):
        s3.get_object_attributes(Bucket=bucket, Key="nope", ObjectAttributes=["ETag"])


def test_get_object_attributes_bad_requests(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    r = raw.request("GET", key_path(bucket, "a"), [("attributes", "")])
    assert r.status == 400 and r.error_code == "InvalidArgument", r
    r = raw.request("GET", key_path(bucket, "a"), [("attributes", "")],
                    headers={"x-amz-object-attributes": "ETag,Colour"})
    assert r.status == 400 and r.error_code == "InvalidArgument", r
    r = raw.request("GET", key_path(bucket, "a"), [("attributes", "")],
                    headers={"x-amz-object-attributes": "ETag", "x-amz-max-parts": "many"})
    assert r.status == 400 and r.error_code == "InvalidArgument", r


def test_get_object_attributes_parts_paging(s3, bucket):
    uid, parts = mpu(s3, bucket, "big", FIVE_MIB_PARTS, ChecksumAlgorithm="SHA256")
    complete(s3, bucket, "big", uid, parts)
    r = s3.get_object_attributes(Bucket=bucket, Key="big", ObjectAttributes=ALL_ATTRS)
    assert r["ETag"] == multipart_etag(FIVE_MIB_PARTS).strip('"')
    assert r["ObjectSize"] == sum(map(len, FIVE_MIB_PARTS))
    assert r["Checksum"]["ChecksumType"] == "COMPOSITE"
    assert r["Checksum"]["ChecksumSHA256"].endswith("-3")
    op = r["ObjectParts"]
    assert op["TotalPartsCount"] == 3
    assert op["IsTruncated"] is False
    assert [(p["PartNumber"], p["Size"]) for p in op["Parts"]] == [
        (1, 5 * MiB), (2, 5 * MiB), (3, 4)]
    page = s3.get_object_attributes(Bucket=bucket, Key="big", ObjectAttributes=["ObjectParts"],
                                    MaxParts=1)["ObjectParts"]
    assert page["IsTruncated"] is True
    assert page["MaxParts"] == 1
    assert page["NextPartNumberMarker"] == 1
    assert [p["PartNumber"] for p in page["Parts"]] == [1]
    page = s3.get_object_attributes(Bucket=bucket, Key="big", ObjectAttributes=["ObjectParts"],
                                    MaxParts=5, PartNumberMarker=1)["ObjectParts"]
    assert page["IsTruncated"] is False
    assert page["PartNumberMarker"] == 1
    assert [p["PartNumber"] for p in page["Parts"]] == [2, 3]


# ---- #15.16 checksums ----------------------------------------------------------------------

def test_mismatching_checksum_is_bad_digest(raw, s3, bucket):
    wrong = checksum_b64("CRC32", b"something else")
    r = raw.request("PUT", key_path(bucket, "c"), body=b"payload",
                    headers={"x-amz-checksum-crc32": wrong})
    assert r.status == 400 and r.error_code == "BadDigest", r
    assert "CRC32 you specified did not match the calculated checksum" in r.body.decode()
    r = raw.request("PUT", key_path(bucket, "c"), body=b"payload",
                    headers={"Content-MD5": "not-an-md5"})
    assert r.status == 400 and r.error_code == "InvalidDigest", r
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="c")


def test_put_and_get_report_checksum_type(raw, s3, bucket):
    data = b"typed checksum"
    put = s3.put_object(Bucket=bucket, Key="t", Body=data, ChecksumAlgorithm="CRC32")
    assert put["ChecksumCRC32"] == checksum_b64("CRC32", data)
    assert put["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="t", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == checksum_b64("CRC32", data)
    assert head["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="t", ChecksumMode="ENABLED")
    assert got["ChecksumType"] == "FULL_OBJECT"
    assert got["Body"].read() == data


def test_composite_multipart_checksum_type(s3, bucket):
    uid, parts = mpu(s3, bucket, "comp", FIVE_MIB_PARTS, ChecksumAlgorithm="CRC32")
    # a part listed with a checksum that is not the part's: InvalidPart, upload kept
    bad = [dict(p) for p in parts]
    bad[1]["ChecksumCRC32"] = checksum_b64("CRC32", b"another part")
    with s3_error("InvalidPart", 400):
        complete(s3, bucket, "comp", uid, bad)
    r = complete(s3, bucket, "comp", uid, parts)
    assert r["ChecksumType"] == "COMPOSITE"
    assert r["ChecksumCRC32"].endswith("-3")
    head = s3.head_object(Bucket=bucket, Key="comp", ChecksumMode="ENABLED")
    assert head["ChecksumType"] == "COMPOSITE"
    assert head["ChecksumCRC32"] == r["ChecksumCRC32"]


FULL_OBJECT_CRCS = {
    "CRC32": lambda d: base64.b64encode((zlib.crc32(d) & 0xFFFFFFFF).to_bytes(4, "big")),
    "CRC32C": lambda d: base64.b64encode(crc32c(d).to_bytes(4, "big")),
    "CRC64NVME": lambda d: base64.b64encode(crc64nvme(d).to_bytes(8, "big")),
}


@pytest.mark.parametrize("algo", sorted(FULL_OBJECT_CRCS))
def test_full_object_multipart_checksum(s3, bucket, algo):
    whole = b"".join(FIVE_MIB_PARTS)
    want = FULL_OBJECT_CRCS[algo](whole).decode()
    key = f"full-{algo}"
    created = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=algo,
                                         ChecksumType="FULL_OBJECT")
    assert created["ChecksumAlgorithm"] == algo
    assert created["ChecksumType"] == "FULL_OBJECT"
    uid = created["UploadId"]
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)
    assert (listed["ChecksumAlgorithm"], listed["ChecksumType"]) == (algo, "FULL_OBJECT")
    up = [u for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"] if u["UploadId"] == uid]
    assert (up[0]["ChecksumAlgorithm"], up[0]["ChecksumType"]) == (algo, "FULL_OBJECT")
    parts = []
    for n, data in enumerate(FIVE_MIB_PARTS, 1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=data,
                           **{f"Checksum{algo}": checksum_b64(algo, data)})
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    # a wrong whole-object value is refused and the upload stays
    wrong = FULL_OBJECT_CRCS[algo](b"not the object").decode()
    with s3_error("BadDigest", 400):
        complete(s3, bucket, key, uid, parts, **{f"Checksum{algo}": wrong},
                 ChecksumType="FULL_OBJECT")
    r = complete(s3, bucket, key, uid, parts, **{f"Checksum{algo}": want},
                 ChecksumType="FULL_OBJECT")
    assert r[f"Checksum{algo}"] == want
    assert r["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head[f"Checksum{algo}"] == want
    assert head["ChecksumType"] == "FULL_OBJECT"
    attrs = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["Checksum"])
    assert attrs["Checksum"] == {f"Checksum{algo}": want, "ChecksumType": "FULL_OBJECT"}
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == whole


def test_full_object_without_client_value(s3, bucket):
    """CRC64NVME uploads are FULL_OBJECT by default; the server computes the value even when
    Complete carries none."""
    uid, parts = mpu(s3, bucket, "nv", FIVE_MIB_PARTS, ChecksumAlgorithm="CRC64NVME")
    r = complete(s3, bucket, "nv", uid, parts)
    assert r["ChecksumType"] == "FULL_OBJECT"
    assert r["ChecksumCRC64NVME"] == FULL_OBJECT_CRCS["CRC64NVME"](b"".join(FIVE_MIB_PARTS)).decode()


def test_checksum_type_combinations(raw, bucket):
    for algo, ctype in (("CRC64NVME", "COMPOSITE"), ("SHA256", "FULL_OBJECT"),
                        ("SHA1", "FULL_OBJECT"), (None, "FULL_OBJECT")):
        h = {"x-amz-checksum-type": ctype}
        if algo:
            h["x-amz-checksum-algorithm"] = algo
        r = raw.request("POST", key_path(bucket, "combo"), [("uploads", "")], headers=h)
        assert r.status == 400 and r.error_code == "InvalidRequest", (algo, ctype, r)
    r = raw.request("POST", key_path(bucket, "combo"), [("uploads", "")],
                    headers={"x-amz-checksum-algorithm": "CRC32",
                             "x-amz-checksum-type": "DIAGONAL"})
    assert r.status == 400, r


@pytest.mark.parametrize("full_object", [False, True])
def test_boto3_upload_file_multipart_checksums(s3, bucket, tmp_path, full_object):
    """upload_file as a user runs it: a multipart upload with CRC32 checksums, and with a
    full-object CRC32 given (s3transfer then asks for ChecksumType FULL_OBJECT)."""
    data = det_bytes("upload-file", 12 * MiB + 17)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    cfg = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    want = FULL_OBJECT_CRCS["CRC32"](data).decode()
    extra = {"ChecksumAlgorithm": "CRC32"}
    if full_object:
        extra = {"ChecksumCRC32": want}
    s3.upload_file(str(path), bucket, "uf", ExtraArgs=extra, Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="uf", ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(data)
    if full_object:
        assert head["ChecksumType"] == "FULL_OBJECT"
        assert head["ChecksumCRC32"] == want
    else:
        assert head["ChecksumType"] in ("COMPOSITE", "FULL_OBJECT")
        if head["ChecksumType"] == "FULL_OBJECT":
            assert head["ChecksumCRC32"] == want
        else:
            assert head["ChecksumCRC32"].endswith("-3")
    out = tmp_path / "back.bin"
    s3.download_file(bucket, "uf", str(out))
    assert out.read_bytes() == data


# ---- #15.17 partNumber past the last part -------------------------------------------------------

def test_part_number_past_the_last_part(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="single", Body=b"just one part")
    got = s3.get_object(Bucket=bucket, Key="single", PartNumber=1)
    assert got["Body"].read() == b"just one part"
    for method in ("GET", "HEAD"):
        r = raw.request(method, key_path(bucket, "single"), [("partNumber", "2")])
        assert r.status == 400, r
        if method == "GET":
            assert r.error_code == "InvalidPartNumber", r
    uid, parts = mpu(s3, bucket, "multi", FIVE_MIB_PARTS)
    complete(s3, bucket, "multi", uid, parts)
    with s3_error("InvalidPartNumber", 400):
        s3.get_object(Bucket=bucket, Key="multi", PartNumber=4)
    r = raw.request("HEAD", key_path(bucket, "multi"), [("partNumber", "4")])
    assert r.status == 400, r


# ---- #15.18 metadata bytes and Content-Encoding ------------------------------------------------

def test_utf8_user_metadata_round_trips_byte_identical(raw, s3, bucket):
    value = "café ☕ 東京"
    meta = {"x-amz-meta-name": value}
    r = raw.request("PUT", key_path(bucket, "meta"), body=b"m", headers=meta)
    assert r.status == 200, r
    # the same through CreateMultipartUpload and CopyObject (REPLACE)
    r = raw.request("POST", key_path(bucket, "meta-mp"), [("uploads", "")], headers=meta)
    assert r.status == 200, r
    uid = xml_text(r.xml(), "UploadId")
    part = s3.upload_part(Bucket=bucket, Key="meta-mp", UploadId=uid, PartNumber=1, Body=b"p")
    complete(s3, bucket, "meta-mp", uid, [{"PartNumber": 1, "ETag": part["ETag"]}])
    r = raw.request("PUT", key_path(bucket, "meta-copy"),
                    headers={**meta, "x-amz-copy-source": f"/{bucket}/meta",
                             "x-amz-metadata-directive": "REPLACE"})
    assert r.status == 200, r
    for key in ("meta", "meta-mp", "meta-copy"):
        for method in ("GET", "HEAD"):
            r = raw.request(method, key_path(bucket, key))
            assert r.status == 200, r
            # the raw reader decodes header bytes as latin-1: back to bytes, compare
            assert r.header("x-amz-meta-name").encode("latin-1") == value.encode("utf-8"), r


def test_content_encoding_keeps_all_but_aws_chunked(raw, s3, bucket):
    data = det_bytes("ce", 3000)
    cases = [("aws-chunked, gzip", "gzip"), ("aws-chunked", None),
             ("gzip,aws-chunked", "gzip")]
    for i, (sent, stored) in enumerate(cases):
        path = key_path(bucket, f"ce{i}")
        h = {"Host": raw.netloc, "Content-Encoding": sent,
             "x-amz-decoded-content-length": str(len(data))}
        s = sign_headers("PUT", path, [], h, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", raw.creds)
        body = aws_chunked_signed(s, data, 1024)
        hh = dict(s.headers)
        hh["Content-Length"] = str(len(body))
        r = raw.request("PUT", path, headers=hh, body=body, sign=False)
        assert r.status == 200, (sent, r)
        head = s3.head_object(Bucket=bucket, Key=f"ce{i}")
        assert head.get("ContentEncoding") == stored, (sent, head)
    # without aws-chunked, a list is stored verbatim
    s3.put_object(Bucket=bucket, Key="ce-list", Body=b"x", ContentEncoding="gzip, br")
    assert s3.head_object(Bucket=bucket, Key="ce-list")["ContentEncoding"] == "gzip, br"


def test_configuration_documents_are_checked_against_their_digests(raw, s3, bucket):
    """A configuration PUT (tagging, ACL, versioning, ...) is held whole and parsed, and its
    Content-MD5 / x-amz-checksum-* are checked like an object's: a mismatch is BadDigest
    and nothing is applied."""
    s3.put_object(Bucket=bucket, Key="t", Body=b"x")
    doc = (b'<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>')
    r = raw.request("PUT", key_path(bucket, "t"), query=[("tagging", "")], body=doc,
                    headers={"Content-MD5": md5_b64(b"another document")})
    assert r.status == 400 and r.error_code == "BadDigest", r
    r = raw.request("PUT", key_path(bucket, "t"), query=[("tagging", "")], body=doc,
                    headers={"x-amz-checksum-crc32": checksum_b64("CRC32", b"other")})
    assert r.status == 400 and r.error_code == "BadDigest", r
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    r = raw.request("PUT", key_path(bucket, "t"), query=[("tagging", "")], body=doc,
                    headers={"Content-MD5": md5_b64(doc)})
    assert r.status == 200, r
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "k", "Value": "v"}]
