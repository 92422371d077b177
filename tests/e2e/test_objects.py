"""Object operations: CRUD, metadata, digests and checksums, ranges, conditionals,
response overrides, keys as data, copy, multi-object delete, listing, ACLs, size."""

import datetime as dt
import hashlib
import unicodedata
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from s3helpers import (ALL_USERS_URI, BOB, MiB, checksum_b64, det_bytes, empty_and_delete,
                       key_path, md5_b64, md5_hex, put_many, s3_error, stream_sha256,
                       unique_name, write_det_file, xml_findall, xml_text)

UTC = dt.timezone.utc


def etag_of(data: bytes) -> str:
    return f'"{md5_hex(data)}"'


def hdrs(resp) -> dict:
    return resp["ResponseMetadata"]["HTTPHeaders"]


# ---- basic CRUD ---------------------------------------------------------------------------

def test_put_get_head_delete(s3, bucket):
    data = det_bytes("crud", 12345)
    put = s3.put_object(Bucket=bucket, Key="obj", Body=data)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert put["ETag"] == etag_of(data)

    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert got["ETag"] == etag_of(data)
    assert isinstance(got["LastModified"], dt.datetime)
    assert abs((got["LastModified"] - dt.datetime.now(UTC)).total_seconds()) < 300

    head = s3.head_object(Bucket=bucket, Key="obj")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == etag_of(data)
    assert head["LastModified"] == got["LastModified"]

    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [("obj", len(data), etag_of(data))]
    # the same instant in both formats (HTTP dates carry whole seconds)
    assert listed[0]["LastModified"].replace(microsecond=0) == head["LastModified"]

    d = s3.delete_object(Bucket=bucket, Key="obj")
    assert d["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error("NoSuchKey", 404) as e:
        s3.get_object(Bucket=bucket, Key="obj")
    assert e.response["Error"].get("Key") == "obj"
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="obj")
    # deleting an absent key is not an error
    assert s3.delete_object(Bucket=bucket, Key="obj")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_object(Bucket=bucket, Key="never-existed")[
        "ResponseMetadata"]["HTTPStatusCode"] == 204


def test_overwrite_and_empty_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version, longer")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"
    s3.put_object(Bucket=bucket, Key="k", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    assert got["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def test_inline_size_boundaries(s3, bucket):
    """Sizes around typical inline/page thresholds all round-trip byte-exact."""
    for n in (1, 4095, 4096, 4097, 65535, 65536, 65537, 1 * MiB + 1):
        data = det_bytes(f"size{n}", n)
        s3.put_object(Bucket=bucket, Key=f"s{n}", Body=data)
    for n in (1, 4095, 4096, 4097, 65535, 65536, 65537, 1 * MiB + 1):
        got = s3.get_object(Bucket=bucket, Key=f"s{n}")["Body"].read()
        assert got == det_bytes(f"size{n}", n), n


def test_get_missing_bucket_and_key(s3, bucket):
    with s3_error("NoSuchBucket", 404):
        s3.get_object(Bucket=unique_name("nob"), Key="k")
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="dir/")


# ---- metadata -----------------------------------------------------------------------------

def test_user_and_system_metadata_round_trip(s3, bucket):
    expires = dt.datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)
    s3.put_object(Bucket=bucket, Key="meta", Body=b"{}",
                  Metadata={"color": "blue", "Mixed-Case": "Value With Spaces", "n": "1"},
                  ContentType="application/json; charset=utf-8",
                  ContentEncoding="identity", ContentDisposition='attachment; filename="a.json"',
                  ContentLanguage="en-GB", CacheControl="max-age=3600, public",
                  Expires=expires)
    for resp in (s3.head_object(Bucket=bucket, Key="meta"),
                 s3.get_object(Bucket=bucket, Key="meta")):
        assert resp["Metadata"] == {"color": "blue", "mixed-case": "Value With Spaces", "n": "1"}
        assert resp["ContentType"] == "application/json; charset=utf-8"
        assert resp["ContentEncoding"] == "identity"
        assert resp["ContentDisposition"] == 'attachment; filename="a.json"'
        assert resp["ContentLanguage"] == "en-GB"
        assert resp["CacheControl"] == "max-age=3600, public"
        assert hdrs(resp)["expires"] == "Tue, 04 Mar 2031 05:06:07 GMT"


def test_default_content_type(raw, s3, bucket):
    r = raw.request("PUT", key_path(bucket, "untyped"), body=b"abc")
    assert r.status == 200, r
    assert s3.head_object(Bucket=bucket, Key="untyped")["ContentType"] == "binary/octet-stream"
    r = raw.request("GET", key_path(bucket, "untyped"))
    assert r.header("Content-Type") == "binary/octet-stream"


def test_metadata_too_large(s3, bucket):
    s3.put_object(Bucket=bucket, Key="ok", Body=b"x", Metadata={"k": "v" * 1900})
    assert s3.head_object(Bucket=bucket, Key="ok")["Metadata"]["k"] == "v" * 1900
    with s3_error("MetadataTooLarge", 400):
        s3.put_object(Bucket=bucket, Key="big", Body=b"x", Metadata={"big": "x" * 2100})
    with s3_error("MetadataTooLarge", 400):
        s3.put_object(Bucket=bucket, Key="big", Body=b"x",
                      Metadata={f"m{i}": "y" * 100 for i in range(25)})
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="big")


def test_invalid_storage_class(s3, bucket):
    s3.put_object(Bucket=bucket, Key="std", Body=b"x", StorageClass="STANDARD")
    with s3_error("InvalidStorageClass", 400):
        s3.put_object(Bucket=bucket, Key="bad", Body=b"x", StorageClass="NOT_A_CLASS")


# ---- Content-MD5 and checksums -----------------------------------------------------------

def test_content_md5_good(s3, bucket):
    data = b"checked by md5"
    r = s3.put_object(Bucket=bucket, Key="md5", Body=data, ContentMD5=md5_b64(data))
    assert r["ETag"] == etag_of(data)


def test_content_md5_mismatch(s3, bucket):
    with s3_error("BadDigest", 400):
        s3.put_object(Bucket=bucket, Key="md5bad", Body=b"data", ContentMD5=md5_b64(b"other"))
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="md5bad")


@pytest.mark.parametrize("value", ["not-base64!!", "AAAA", md5_b64(b"x")[:-4]])
def test_content_md5_invalid(raw, s3, bucket, value):
    r = raw.request("PUT", key_path(bucket, "md5invalid"), body=b"data",
                    headers={"Content-MD5": value})
    assert r.status == 400, r
    assert r.error_code == "InvalidDigest", r
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="md5invalid")


ALGS = ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"]


@pytest.mark.parametrize("alg", ALGS)
def test_checksum_algorithms(s3, bucket, alg):
    data = det_bytes(f"ck-{alg}", 300_000)
    want = checksum_b64(alg, data)
    put = s3.put_object(Bucket=bucket, Key=alg, Body=data, ChecksumAlgorithm=alg)
    assert put.get(f"Checksum{alg}") == want
    got = s3.get_object(Bucket=bucket, Key=alg, ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got.get(f"Checksum{alg}") == want
    head = s3.head_object(Bucket=bucket, Key=alg, ChecksumMode="ENABLED")
    assert head.get(f"Checksum{alg}") == want


@pytest.mark.parametrize("alg", ["CRC32", "SHA256", "CRC32C"])
def test_checksum_header_mismatch(raw, s3, bucket, alg):
    data = b"payload with a wrong checksum"
    r = raw.request("PUT", key_path(bucket, "badck"), body=data,
                    headers={f"x-amz-checksum-{alg.lower()}": checksum_b64(alg, data + b"?")})
    assert r.status == 400, r
    assert r.error_code == "BadDigest", r
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="badck")


def test_checksum_header_malformed(raw, bucket):
    r = raw.request("PUT", key_path(bucket, "malck"), body=b"data",
                    headers={"x-amz-checksum-sha256": "tooshort"})
    assert r.status == 400, r


def test_checksum_not_returned_without_checksum_mode(raw, s3, bucket):
    data = b"checksum mode off"
    s3.put_object(Bucket=bucket, Key="ckmode", Body=data, ChecksumAlgorithm="SHA256")
    r = raw.request("GET", key_path(bucket, "ckmode"))
    assert r.status == 200
    assert r.header("x-amz-checksum-sha256") is None
    r = raw.request("GET", key_path(bucket, "ckmode"), headers={"x-amz-checksum-mode": "ENABLED"})
    assert r.header("x-amz-checksum-sha256") == checksum_b64("SHA256", data)


# ---- ranges ---------------------------------------------------------------------------------

RANGE_DATA = det_bytes("range", 1000)


@pytest.mark.parametrize("rng,start,end", [
    ("bytes=0-99", 0, 99),
    ("bytes=100-100", 100, 100),
    ("bytes=900-", 900, 999),
    ("bytes=-100", 900, 999),
    ("bytes=990-2000", 990, 999),
    ("bytes=-5000", 0, 999),
    ("bytes=0-", 0, 999),
])
def test_range_get(s3, bucket, rng, start, end):
    s3.put_object(Bucket=bucket, Key="r", Body=RANGE_DATA)
    got = s3.get_object(Bucket=bucket, Key="r", Range=rng)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes {start}-{end}/1000"
    assert got["ContentLength"] == end - start + 1
    assert got["Body"].read() == RANGE_DATA[start:end + 1]
    assert got["ETag"] == etag_of(RANGE_DATA)
    head = s3.head_object(Bucket=bucket, Key="r", Range=rng)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert head["ContentLength"] == end - start + 1
    assert head["ContentRange"] == f"bytes {start}-{end}/1000"


@pytest.mark.parametrize("rng", ["bytes=1000-1100", "bytes=5000-"])
def test_range_unsatisfiable(raw, s3, bucket, rng):
    s3.put_object(Bucket=bucket, Key="r", Body=RANGE_DATA)
    with s3_error("InvalidRange", 416):
        s3.get_object(Bucket=bucket, Key="r", Range=rng)
    r = raw.request("GET", key_path(bucket, "r"), headers={"Range": rng})
    assert r.status == 416
    assert r.error_code == "InvalidRange"


def test_range_ignored_when_malformed(s3, bucket):
    s3.put_object(Bucket=bucket, Key="r", Body=RANGE_DATA)
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=abc")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Body"].read() == RANGE_DATA


# ---- conditionals -----------------------------------------------------------------------------

@pytest.fixture
def cond_obj(s3, bucket):
    s3.put_object(Bucket=bucket, Key="cond", Body=b"conditional body")
    h = s3.head_object(Bucket=bucket, Key="cond")
    return bucket, h["ETag"], h["LastModified"]


SEC = dt.timedelta(seconds=1)
DAY = dt.timedelta(days=1)


@pytest.mark.parametrize("op", ["get", "head"])
def test_conditionals(s3, cond_obj, op):
    bucket, etag, lm = cond_obj
    call = s3.get_object if op == "get" else s3.head_object

    def ok(**kw):
        r = call(Bucket=bucket, Key="cond", **kw)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200, kw
        if op == "get":
            assert r["Body"].read() == b"conditional body"

    def fails(status, **kw):
        with s3_error(None, status) as e:
            call(Bucket=bucket, Key="cond", **kw)
        return e

    ok(IfMatch=etag)
    e = fails(412, IfMatch='"0123456789abcdef0123456789abcdef"')
    if op == "get":
        assert e.code == "PreconditionFailed"
    ok(IfNoneMatch='"0123456789abcdef0123456789abcdef"')
    e = fails(304, IfNoneMatch=etag)
    assert hdrs(e.response).get("etag") == etag
    ok(IfModifiedSince=lm - SEC)
    fails(304, IfModifiedSince=lm)
    ok(IfUnmodifiedSince=lm)
    ok(IfUnmodifiedSince=lm + DAY)
    fails(412, IfUnmodifiedSince=lm - DAY)
    # S3 precedence: If-Match true wins over If-Unmodified-Since false → 200
    ok(IfMatch=etag, IfUnmodifiedSince=lm - DAY)
    # If-Match false fails even if If-Unmodified-Since holds
    fails(412, IfMatch='"ffffffffffffffffffffffffffffffff"', IfUnmodifiedSince=lm + DAY)
    # If-None-Match false + If-Modified-Since true → 304
    fails(304, IfNoneMatch=etag, IfModifiedSince=lm - DAY)
    # If-None-Match true: If-Modified-Since is not evaluated (RFC 7232 §3.3) → 200
    ok(IfNoneMatch='"0123456789abcdef0123456789abcdef"', IfModifiedSince=lm + DAY)


def test_conditional_304_has_no_body(raw, cond_obj):
    bucket, etag, lm = cond_obj
    with raw.conn() as c:
        c.send(raw.build("GET", key_path(bucket, "cond"), headers={"If-None-Match": etag}))
        r = c.read_response("GET")
        assert r.status == 304
        assert r.header("ETag") == etag
        c.send(raw.build("GET", key_path(bucket, "cond")))
        r2 = c.read_response("GET")
        assert r2.status == 200 and r2.body == b"conditional body"


def test_conditional_put_if_none_match(s3, bucket):
    r = s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    with s3_error("PreconditionFailed", 412):
        s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"


def test_conditional_put_if_match(s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="cas", Body=b"v1")["ETag"]
    with s3_error("PreconditionFailed", 412):
        s3.put_object(Bucket=bucket, Key="cas", Body=b"v2",
                      IfMatch='"0123456789abcdef0123456789abcdef"')
    assert s3.get_object(Bucket=bucket, Key="cas")["Body"].read() == b"v1"
    second = s3.put_object(Bucket=bucket, Key="cas", Body=b"v2", IfMatch=first)["ETag"]
    assert second == etag_of(b"v2")
    with s3_error("PreconditionFailed", 412):
        s3.put_object(Bucket=bucket, Key="cas", Body=b"v3", IfMatch=first)
    assert s3.get_object(Bucket=bucket, Key="cas")["Body"].read() == b"v2"
    # If-Match on a key that does not exist fails and creates nothing (AWS answers
    # 404 NoSuchKey; 412 is what RFC 9110 would give, so either is accepted)
    with s3_error(("NoSuchKey", "PreconditionFailed")) as e:
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=first)
    assert e.status in (404, 412)
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="absent")


# ---- response overrides ------------------------------------------------------------------------

def test_response_header_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="ovr", Body=b"x", ContentType="text/plain")
    exp = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    got = s3.get_object(Bucket=bucket, Key="ovr", ResponseContentType="application/x-custom",
                        ResponseContentLanguage="fr", ResponseExpires=exp,
                        ResponseCacheControl="no-cache",
                        ResponseContentDisposition='attachment; filename="x.bin"',
                        ResponseContentEncoding="gzip")
    assert got["ContentType"] == "application/x-custom"
    assert got["ContentLanguage"] == "fr"
    assert got["CacheControl"] == "no-cache"
    assert got["ContentDisposition"] == 'attachment; filename="x.bin"'
    assert got["ContentEncoding"] == "gzip"
    assert hdrs(got)["expires"] == "Wed, 02 Jan 2030 03:04:05 GMT"
    # the stored object is unchanged
    assert s3.head_object(Bucket=bucket, Key="ovr")["ContentType"] == "text/plain"


def test_response_overrides_rejected_for_anonymous(s3, s3_anon, bucket):
    s3.put_object(Bucket=bucket, Key="pub", Body=b"x", ACL="public-read")
    assert s3_anon.get_object(Bucket=bucket, Key="pub")["Body"].read() == b"x"
    with s3_error("InvalidRequest", 400):
        s3_anon.get_object(Bucket=bucket, Key="pub", ResponseContentType="text/html")


# ---- keys as data -----------------------------------------------------------------------------

ODD_KEYS = [
    "../../etc/passwd",
    "a//b",
    "/leading",
    "trailing/",
    "with space",
    "plus+sign",
    "percent%20literal%",
    "question?mark#hash",
    "specials !$&'()*+,;=:@~",
    "xml<&>'\"chars",
    "tab\there",
    "ünïcødé/日本語/🙂",
    "./dot/./segments/..",
    "k" * 1024,
    "é" * 512,  # 1024 bytes of UTF-8
]


@pytest.mark.parametrize("key", ODD_KEYS, ids=lambda k: repr(k)[:40])
def test_keys_as_data(s3, bucket_factory, key):
    src = bucket_factory("keys")
    dst = bucket_factory("keys-dst")
    data = ("value for " + key).encode()
    s3.put_object(Bucket=src, Key=key, Body=data)
    assert s3.get_object(Bucket=src, Key=key)["Body"].read() == data
    assert s3.head_object(Bucket=src, Key=key)["ContentLength"] == len(data)
    for lister in (s3.list_objects_v2, s3.list_objects):
        listed = [o["Key"] for o in lister(Bucket=src, Prefix=key).get("Contents", [])]
        assert listed == [key]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=src)["Contents"]] == [key]
    s3.copy_object(Bucket=dst, Key=key, CopySource={"Bucket": src, "Key": key})
    assert s3.get_object(Bucket=dst, Key=key)["Body"].read() == data
    s3.delete_object(Bucket=src, Key=key)
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=src, Key=key)
    r = s3.delete_objects(Bucket=dst, Delete={"Objects": [{"Key": key}]})
    assert [d["Key"] for d in r.get("Deleted", [])] == [key]
    assert s3.list_objects_v2(Bucket=dst)["KeyCount"] == 0


def test_keys_are_not_normalized(s3, bucket):
    nfc = unicodedata.normalize("NFC", "café")
    nfd = unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    s3.put_object(Bucket=bucket, Key=nfc, Body=b"nfc")
    s3.put_object(Bucket=bucket, Key=nfd, Body=b"nfd")
    s3.put_object(Bucket=bucket, Key="a/b", Body=b"single")
    assert s3.get_object(Bucket=bucket, Key=nfc)["Body"].read() == b"nfc"
    assert s3.get_object(Bucket=bucket, Key=nfd)["Body"].read() == b"nfd"
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="a//b")
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="a/./b")
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == \
        sorted(["a/b", nfc, nfd])


def test_key_too_long(s3, bucket):
    with s3_error("KeyTooLongError", 400):
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    with s3_error("KeyTooLongError", 400):
        s3.put_object(Bucket=bucket, Key="é" * 512 + "a", Body=b"x")  # 1025 bytes
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# ---- copy ---------------------------------------------------------------------------------------

def test_copy_object_same_and_other_bucket(s3, bucket_factory):
    a = bucket_factory("copy-a")
    b = bucket_factory("copy-b")
    data = det_bytes("copy", 70_000)
    s3.put_object(Bucket=a, Key="src", Body=data, ContentType="text/x-src",
                  Metadata={"origin": "a"}, CacheControl="no-store")
    r = s3.copy_object(Bucket=a, Key="dst", CopySource={"Bucket": a, "Key": "src"})
    assert r["CopyObjectResult"]["ETag"] == etag_of(data)
    assert r["CopyObjectResult"]["LastModified"] is not None
    r2 = s3.copy_object(Bucket=b, Key="dst", CopySource=f"{a}/src")
    assert r2["CopyObjectResult"]["ETag"] == etag_of(data)
    for bk in (a, b):
        got = s3.get_object(Bucket=bk, Key="dst")
        assert got["Body"].read() == data
        assert got["ContentType"] == "text/x-src"
        assert got["Metadata"] == {"origin": "a"}
        assert got["CacheControl"] == "no-store"
    # the source is untouched
    assert s3.get_object(Bucket=a, Key="src")["Body"].read() == data


def test_copy_metadata_directive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"d", ContentType="text/a",
                  Metadata={"old": "1"})
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="COPY", Metadata={"ignored": "yes"})
    h = s3.head_object(Bucket=bucket, Key="copy")
    assert h["Metadata"] == {"old": "1"}
    assert h["ContentType"] == "text/a"
    s3.copy_object(Bucket=bucket, Key="repl", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"new": "2"}, ContentType="text/b")
    h = s3.head_object(Bucket=bucket, Key="repl")
    assert h["Metadata"] == {"new": "2"}
    assert h["ContentType"] == "text/b"
    assert s3.get_object(Bucket=bucket, Key="repl")["Body"].read() == b"d"


def test_copy_onto_itself(s3, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=b"same", Metadata={"v": "1"})
    with s3_error("InvalidRequest", 400):
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"})
    s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                   MetadataDirective="REPLACE", Metadata={"v": "2"})
    h = s3.head_object(Bucket=bucket, Key="self")
    assert h["Metadata"] == {"v": "2"}
    assert s3.get_object(Bucket=bucket, Key="self")["Body"].read() == b"same"


def test_copy_source_conditions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"conditional copy")
    h = s3.head_object(Bucket=bucket, Key="src")
    etag, lm = h["ETag"], h["LastModified"]
    src = {"Bucket": bucket, "Key": "src"}
    other = '"0123456789abcdef0123456789abcdef"'
    for kw in ({"CopySourceIfMatch": other},
               {"CopySourceIfNoneMatch": etag},
               {"CopySourceIfUnmodifiedSince": lm - DAY},
               {"CopySourceIfModifiedSince": lm}):
        with s3_error("PreconditionFailed", 412):
            s3.copy_object(Bucket=bucket, Key="dst", CopySource=src, **kw)
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="dst")
    for kw in ({"CopySourceIfMatch": etag},
               {"CopySourceIfNoneMatch": other},
               {"CopySourceIfUnmodifiedSince": lm + DAY},
               {"CopySourceIfModifiedSince": lm - DAY},
               # if-match true + if-unmodified-since false → copies
               {"CopySourceIfMatch": etag, "CopySourceIfUnmodifiedSince": lm - DAY}):
        r = s3.copy_object(Bucket=bucket, Key="dst", CopySource=src, **kw)
        assert r["CopyObjectResult"]["ETag"] == etag


def test_copy_source_url_encoded(raw, s3, bucket):
    key = "src dir/a+b%c é?#.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"special source")
    s3.copy_object(Bucket=bucket, Key="via-boto", CopySource={"Bucket": bucket, "Key": key})
    assert s3.get_object(Bucket=bucket, Key="via-boto")["Body"].read() == b"special source"
    enc = urllib.parse.quote(f"{bucket}/{key}", safe="/")
    for i, source in enumerate([enc, "/" + enc]):
        r = raw.request("PUT", key_path(bucket, f"via-raw-{i}"),
                        headers={"x-amz-copy-source": source})
        assert r.status == 200, r
        assert xml_text(r.xml(), "ETag") == etag_of(b"special source")
        assert s3.get_object(Bucket=bucket, Key=f"via-raw-{i}")["Body"].read() == \
            b"special source"


def test_copy_missing_source(s3, bucket):
    with s3_error("NoSuchKey", 404):
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "nope"})
    with s3_error("NoSuchBucket", 404):
        s3.copy_object(Bucket=bucket, Key="dst",
                       CopySource={"Bucket": unique_name("nob"), "Key": "nope"})


def test_copy_requires_read_on_source(s3, s3_bob, bucket, bucket_factory):
    s3.put_object(Bucket=bucket, Key="private", Body=b"secret")
    bobs = bucket_factory("bobs", client=s3_bob)
    with s3_error("AccessDenied", 403):
        s3_bob.copy_object(Bucket=bobs, Key="stolen",
                           CopySource={"Bucket": bucket, "Key": "private"})
    with s3_error("404", 404):
        s3_bob.head_object(Bucket=bobs, Key="stolen")


# ---- DeleteObjects ------------------------------------------------------------------------------

def test_delete_objects_quiet_and_verbose(s3, bucket):
    put_many(s3, bucket, ["q1", "q2", "q3", "v1", "v2", "v3"])
    r = s3.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": "q1"}, {"Key": "q2"}, {"Key": "q3"}, {"Key": "q-missing"}],
        "Quiet": True})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r.get("Deleted", []) == []
    assert r.get("Errors", []) == []
    r = s3.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": "v1"}, {"Key": "v2"}, {"Key": "v3"}, {"Key": "v-missing"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["v-missing", "v1", "v2", "v3"]
    assert r.get("Errors", []) == []
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_1000(s3, bucket):
    keys = [f"many/{i:04d}" for i in range(1000)]
    put_many(s3, bucket, keys)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1000
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in r["Deleted"]) == keys
    assert r.get("Errors", []) == []
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_over_1000(s3, bucket):
    s3.put_object(Bucket=bucket, Key="survivor", Body=b"x")
    with s3_error("MalformedXML", 400):
        s3.delete_objects(Bucket=bucket, Delete={
            "Objects": [{"Key": "survivor"}] + [{"Key": f"k{i}"} for i in range(1000)]})
    assert s3.get_object(Bucket=bucket, Key="survivor")["Body"].read() == b"x"


def test_delete_objects_malformed(raw, bucket):
    body = b"<Delete><Object><Key>a</Key></Object"
    r = raw.request("POST", "/" + bucket, query=[("delete", None)], body=body,
                    headers={"Content-MD5": md5_b64(body)})
    assert r.status == 400, r
    assert r.error_code == "MalformedXML"


def test_delete_objects_raw_response(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a&b", Body=b"x")
    body = (b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            b"<Object><Key>a&amp;b</Key></Object><Object><Key>zzz</Key></Object></Delete>")
    r = raw.request("POST", "/" + bucket, query=[("delete", None)], body=body,
                    headers={"Content-MD5": md5_b64(body)})
    assert r.status == 200, r
    root = r.xml()
    assert root.tag.endswith("DeleteResult")
    assert sorted(xml_text(d, "Key") for d in xml_findall(root, "Deleted")) == ["a&b", "zzz"]


def test_delete_objects_without_permission(s3, s3_bob, bucket):
    s3.put_object(Bucket=bucket, Key="mine", Body=b"x")
    try:
        r = s3_bob.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "mine"}]})
    except ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied"
    else:
        assert r.get("Deleted", []) == []
        assert [(x["Key"], x["Code"]) for x in r["Errors"]] == [("mine", "AccessDenied")]
    assert s3.get_object(Bucket=bucket, Key="mine")["Body"].read() == b"x"


# ---- listing ---------------------------------------------------------------------------------------

LIST_KEYS = ["a/1", "a/2", "a/b/3", "a/b/4", "b/5", "c", "d/e/f/6", "x::w", "x::y::z", "y"]


@pytest.fixture(scope="module")
def list_bucket(s3):
    name = unique_name("list")
    s3.create_bucket(Bucket=name)
    put_many(s3, name, LIST_KEYS)
    yield name
    empty_and_delete(s3, name)


def contents(r):
    return [o["Key"] for o in r.get("Contents", [])]


def prefixes(r):
    return [p["Prefix"] for p in r.get("CommonPrefixes", [])]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("prefix,delim,keys,cps", [
    ("", "", LIST_KEYS, []),
    ("a/", "", ["a/1", "a/2", "a/b/3", "a/b/4"], []),
    ("", "/", ["c", "x::w", "x::y::z", "y"], ["a/", "b/", "d/"]),
    ("a/", "/", ["a/1", "a/2"], ["a/b/"]),
    ("d/", "/", [], ["d/e/"]),
    ("", "::", ["a/1", "a/2", "a/b/3", "a/b/4", "b/5", "c", "d/e/f/6", "y"], ["x::"]),
    ("x::", "::", ["x::w"], ["x::y::"]),
    ("nomatch", "/", [], []),
    ("a/b/3", "/", ["a/b/3"], []),
])
def test_list_prefix_delimiter(s3, list_bucket, version, prefix, delim, keys, cps):
    kw = {"Bucket": list_bucket, "Prefix": prefix}
    if delim:
        kw["Delimiter"] = delim
    r = s3.list_objects_v2(**kw) if version == 2 else s3.list_objects(**kw)
    assert contents(r) == keys
    assert prefixes(r) == cps
    assert r["IsTruncated"] is False
    if version == 2:
        assert r["KeyCount"] == len(keys) + len(cps)
    # (boto3 asks ListObjects V1 for encoding-type=url and decodes Delimiter, but
    # not Prefix, which S3 then returns URL-encoded)
    if prefix:
        assert urllib.parse.unquote_plus(r["Prefix"]) == prefix
    if delim:
        assert r["Delimiter"] == delim


@pytest.mark.parametrize("version", [1, 2])
def test_list_max_keys_counts_common_prefixes(s3, list_bucket, version):
    seen_keys, seen_cps, pages = [], [], 0
    token = marker = None
    while True:
        kw = {"Bucket": list_bucket, "Delimiter": "/", "MaxKeys": 2}
        if version == 2:
            if token:
                kw["ContinuationToken"] = token
            r = s3.list_objects_v2(**kw)
            assert r["KeyCount"] == len(contents(r)) + len(prefixes(r)) <= 2
        else:
            if marker:
                kw["Marker"] = marker
            r = s3.list_objects(**kw)
        pages += 1
        seen_keys += contents(r)
        seen_cps += prefixes(r)
        assert len(contents(r)) + len(prefixes(r)) <= 2
        if not r["IsTruncated"]:
            break
        if version == 2:
            token = r["NextContinuationToken"]
        else:
            # with a delimiter, V1 returns NextMarker when truncated
            marker = r["NextMarker"]
        assert pages < 20
    assert seen_keys == ["c", "x::w", "x::y::z", "y"]
    assert seen_cps == ["a/", "b/", "d/"]
    assert pages == 4


def test_list_v2_start_after_and_fetch_owner(s3, list_bucket, default_owner_id):
    r = s3.list_objects_v2(Bucket=list_bucket, StartAfter="b/5")
    assert contents(r) == ["c", "d/e/f/6", "x::w", "x::y::z", "y"]
    assert r["StartAfter"] == "b/5"
    assert all("Owner" not in o for o in r["Contents"])
    r = s3.list_objects_v2(Bucket=list_bucket, FetchOwner=True, MaxKeys=3)
    assert [o["Owner"]["ID"] for o in r["Contents"]] == [default_owner_id] * 3
    for o in r["Contents"]:
        assert o["StorageClass"] == "STANDARD"
        assert o["ETag"] == etag_of(b"x")
        assert o["Size"] == 1


def test_list_v2_invalid_continuation_token(s3, list_bucket):
    with s3_error("InvalidArgument", 400):
        s3.list_objects_v2(Bucket=list_bucket, ContinuationToken="definitely-not-a-token")


def test_list_v1_has_owner(s3, list_bucket, default_owner_id):
    r = s3.list_objects(Bucket=list_bucket, MaxKeys=2)
    assert r["IsTruncated"] is True
    assert [o["Owner"]["ID"] for o in r["Contents"]] == [default_owner_id] * 2


def test_list_encoding_type_url(raw, s3, bucket):
    keys = ["plain", "a b+c/é", "x&y<z", "tab\tkey"]
    put_many(s3, bucket, keys)
    for q in ([("list-type", "2"), ("encoding-type", "url")], [("encoding-type", "url")]):
        r = raw.request("GET", "/" + bucket, query=q + [("delimiter", "/")])
        assert r.status == 200, r
        root = r.xml()
        assert xml_text(root, "EncodingType") == "url"
        got = [xml_text(c, "Key") for c in xml_findall(root, "Contents")]
        cps = [xml_text(p, "Prefix") for p in xml_findall(root, "CommonPrefixes")]
        for k in got + cps:
            assert " " not in k and "\t" not in k and "é" not in k and "<" not in k, k
        assert sorted(urllib.parse.unquote_plus(k) for k in got) == \
            sorted(["plain", "x&y<z", "tab\tkey"])
        assert [urllib.parse.unquote_plus(p) for p in cps] == ["a b+c/"]
        assert urllib.parse.unquote_plus(xml_text(root, "Delimiter")) == "/"
    # boto3 decodes for us (it asks for encoding-type=url by default on ListObjects)
    assert sorted(contents(s3.list_objects(Bucket=bucket))) == sorted(keys)
    # for V2, boto3 leaves keys encoded when the caller asked for encoding-type=url
    got = contents(s3.list_objects_v2(Bucket=bucket, EncodingType="url"))
    assert sorted(urllib.parse.unquote_plus(k) for k in got) == sorted(keys)


@pytest.fixture(scope="module")
def big_bucket(s3):
    name = unique_name("page")
    s3.create_bucket(Bucket=name)
    keys = [f"k{i:05d}" for i in range(2500)]
    put_many(s3, name, keys, workers=24)
    yield name, keys
    empty_and_delete(s3, name)


def test_list_v2_pagination_2500(s3, big_bucket):
    name, keys = big_bucket
    got, sizes, token = [], [], None
    while True:
        kw = {"Bucket": name}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        sizes.append(r["KeyCount"])
        got += contents(r)
        if not r["IsTruncated"]:
            assert "NextContinuationToken" not in r
            break
        token = r["NextContinuationToken"]
        if "ContinuationToken" in kw:
            assert r.get("ContinuationToken") == kw["ContinuationToken"]
    assert sizes == [1000, 1000, 500]
    assert got == keys


def test_list_v2_pagination_small_pages_with_start_after(s3, big_bucket):
    name, keys = big_bucket
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=name, StartAfter="k01000", PaginationConfig={"PageSize": 333})
    got, n = [], 0
    for p in pages:
        n += 1
        assert p["KeyCount"] <= 333
        got += contents(p)
    assert got == keys[1001:]
    assert n == 5  # 1499 keys / 333


def test_list_v1_pagination_marker(s3, big_bucket):
    name, keys = big_bucket
    got, marker, pages = [], "", 0
    while True:
        r = s3.list_objects(Bucket=name, Marker=marker, MaxKeys=700)
        pages += 1
        got += contents(r)
        if not r["IsTruncated"]:
            break
        # without a delimiter, the next marker is the last key returned
        marker = r.get("NextMarker") or r["Contents"][-1]["Key"]
    assert got == keys
    assert pages == 4
    r = s3.list_objects(Bucket=name, Marker="k02497")
    assert contents(r) == ["k02498", "k02499"]
    assert r.get("Marker") == "k02497"


def test_list_object_versions_unversioned(s3, bucket):
    s3.put_object(Bucket=bucket, Key="v1", Body=b"a")
    s3.put_object(Bucket=bucket, Key="v2", Body=b"bb")
    s3.put_object(Bucket=bucket, Key="v2", Body=b"ccc")
    r = s3.list_object_versions(Bucket=bucket)
    vs = r["Versions"]
    assert [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in vs] == \
        [("v1", "null", True, 1), ("v2", "null", True, 3)]
    assert r.get("DeleteMarkers", []) == []
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


# ---- object ACLs -----------------------------------------------------------------------------------

def test_object_acl_public_read(s3, s3_anon, bucket, default_owner_id):
    s3.put_object(Bucket=bucket, Key="public", Body=b"everyone", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="private", Body=b"nobody")
    assert s3_anon.get_object(Bucket=bucket, Key="public")["Body"].read() == b"everyone"
    with s3_error("AccessDenied", 403):
        s3_anon.get_object(Bucket=bucket, Key="private")
    acl = s3.get_object_acl(Bucket=bucket, Key="public")
    grants = {(g["Grantee"]["Type"], g["Grantee"].get("ID") or g["Grantee"].get("URI"),
               g["Permission"]) for g in acl["Grants"]}
    assert grants == {("CanonicalUser", default_owner_id, "FULL_CONTROL"),
                      ("Group", ALL_USERS_URI, "READ")}
    acl = s3.get_object_acl(Bucket=bucket, Key="private")
    assert [(g["Grantee"].get("ID"), g["Permission"]) for g in acl["Grants"]] == \
        [(default_owner_id, "FULL_CONTROL")]
    # flip them
    s3.put_object_acl(Bucket=bucket, Key="public", ACL="private")
    s3.put_object_acl(Bucket=bucket, Key="private", ACL="public-read")
    with s3_error("AccessDenied", 403):
        s3_anon.get_object(Bucket=bucket, Key="public")
    assert s3_anon.get_object(Bucket=bucket, Key="private")["Body"].read() == b"nobody"
    # ACLs survive an overwrite only if re-specified: a plain PUT resets to private
    s3.put_object(Bucket=bucket, Key="private", Body=b"nobody again")
    with s3_error("AccessDenied", 403):
        s3_anon.get_object(Bucket=bucket, Key="private")


def test_object_acl_requires_permission(s3, s3_bob, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with s3_error("AccessDenied", 403):
        s3_bob.get_object_acl(Bucket=bucket, Key="k")
    with s3_error("AccessDenied", 403):
        s3_bob.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy={
        "Owner": {"ID": s3.list_buckets()["Owner"]["ID"]},
        "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": BOB.user_id},
                    "Permission": "READ_ACP"}]})
    acl = s3_bob.get_object_acl(Bucket=bucket, Key="k")
    assert (BOB.user_id, "READ_ACP") in [(g["Grantee"].get("ID"), g["Permission"])
                                         for g in acl["Grants"]]
    assert (BOB.user_id, "READ") not in [(g["Grantee"].get("ID"), g["Permission"])
                                         for g in acl["Grants"]]
    with s3_error("AccessDenied", 403):
        s3_bob.get_object(Bucket=bucket, Key="k")


# ---- a big object -----------------------------------------------------------------------------------

def test_100mib_object_round_trip(s3, bucket, workdir):
    size = 100 * MiB
    path = workdir / "big.bin"
    sha = write_det_file(path, "big100", size)
    md5 = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(4 * MiB), b""):
            md5.update(block)
    with open(path, "rb") as f:
        put = s3.put_object(Bucket=bucket, Key="big", Body=f)
    assert put["ETag"] == f'"{md5.hexdigest()}"'
    assert s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == size
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["ContentLength"] == size
    got_sha, n = stream_sha256(got["Body"])
    assert n == size
    assert got_sha == sha
    # a range deep inside the object
    r = s3.get_object(Bucket=bucket, Key="big", Range="bytes=73400320-73400831")
    with open(path, "rb") as f:
        f.seek(73400320)
        assert r["Body"].read() == f.read(512)


# ---- listing limits --------------------------------------------------------------------------------

def test_list_max_keys_capped_at_1000(s3, big_bucket):
    name, keys = big_bucket
    r = s3.list_objects_v2(Bucket=name, MaxKeys=5000)
    assert r["KeyCount"] == 1000
    assert r["IsTruncated"] is True
    assert contents(r) == keys[:1000]
