"""Authentication and authorization: SigV4 headers, presigned URLs, clock skew,
payload hashes, aws-chunked streaming signatures, anonymous access and ACL grants."""

import calendar
import datetime as dt
import hashlib
import time
import urllib.parse

import botocore.auth
import pytest
try:
    import botocore.crt.auth as crt_auth
except ImportError:  # awscrt not installed: botocore signs in Python
    crt_auth = None
import requests
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from s3helpers import (ALL_USERS_URI, BOB, DEFAULT, REGION, Creds, amz_now,
                       aws_chunked_signed, aws_chunked_unsigned, checksum_b64, det_bytes,
                       key_path, presign_url, s3_error, sha256_hex, sign_headers)


def http_get(url, **kw):
    return requests.get(url, timeout=30, **kw)


def err_code(resp):
    import xml.etree.ElementTree as ET
    try:
        root = ET.fromstring(resp.content)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.split("}")[-1] == "Code":
            return el.text
    return None


# ---- header signatures --------------------------------------------------------------------

def test_wrong_secret_key(client_for):
    c = client_for(Creds(DEFAULT.access_key, "definitely-not-the-secret"))
    with s3_error("SignatureDoesNotMatch", 403):
        c.list_buckets()


def test_unknown_access_key(client_for):
    c = client_for(Creds("AKIDNOSUCHUSER", "whatever"))
    with s3_error("InvalidAccessKeyId", 403):
        c.list_buckets()


def test_signed_header_tampered(raw, s3, bucket):
    path = key_path(bucket, "tampered")
    h = {"Host": raw.netloc, "x-amz-meta-color": "blue", "Content-Length": "4"}
    signed = sign_headers("PUT", path, [], h, sha256_hex(b"data"), DEFAULT).headers
    signed["x-amz-meta-color"] = "red"
    req = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in signed.items())
    with raw.conn() as c:
        c.send(req.encode() + b"\r\ndata")
        r = c.read_response("PUT")
    assert r.status == 403, r
    assert r.error_code == "SignatureDoesNotMatch"
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="tampered")


def test_signed_query_tampered(raw, bucket):
    path = "/" + bucket
    h = sign_headers("GET", path, [("prefix", "a")], {"Host": raw.netloc}, sha256_hex(b""),
                     DEFAULT).headers
    req = f"GET {path}?prefix=b HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
    with raw.conn() as c:
        c.send(req.encode() + b"\r\n")
        r = c.read_response("GET")
    assert r.status == 403, r
    assert r.error_code == "SignatureDoesNotMatch"


def test_credential_scope_wrong_region(raw, bucket):
    r = raw.request("GET", "/" + bucket, region="us-west-2")
    assert r.status == 400, r
    assert r.error_code == "AuthorizationHeaderMalformed", r


def test_malformed_authorization_header(raw, bucket):
    r = raw.request("GET", "/" + bucket, sign=False, headers={
        "x-amz-date": amz_now(), "x-amz-content-sha256": sha256_hex(b""),
        "Authorization": "AWS4-HMAC-SHA256 Credential=bleepstore/garbage, Signature=00"})
    assert r.status == 400, r
    assert r.error_code == "AuthorizationHeaderMalformed", r


def test_clock_skew_past_rejected(s3, monkeypatch):
    real = botocore.auth.get_current_datetime

    def skewed(*a, **kw):
        return real(*a, **kw) - dt.timedelta(minutes=20)

    # botocore signs with awscrt's signer when awscrt is installed: patch both clocks
    monkeypatch.setattr(botocore.auth, "get_current_datetime", skewed)
    if crt_auth is not None and hasattr(crt_auth, "get_current_datetime"):
        monkeypatch.setattr(crt_auth, "get_current_datetime", skewed)
    with s3_error("RequestTimeTooSkewed", 403):
        s3.list_buckets()


def test_clock_skew_future_rejected(raw, bucket):
    r = raw.request("GET", "/" + bucket, amz_date=amz_now(20 * 60))
    assert r.status == 403, r
    assert r.error_code == "RequestTimeTooSkewed", r


def test_clock_skew_within_window_accepted(raw, bucket):
    r = raw.request("GET", "/" + bucket, amz_date=amz_now(-10 * 60))
    assert r.status == 200, r


# ---- payload hashes --------------------------------------------------------------------------

def test_unsigned_payload_put(raw, s3, bucket):
    body = b"unsigned payload body"
    r = raw.request("PUT", key_path(bucket, "unsigned"), body=body,
                    payload_hash="UNSIGNED-PAYLOAD")
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key="unsigned")["Body"].read() == body


def test_content_sha256_mismatch(endpoint, s3, bucket):
    """Signed with botocore's SigV4 signer, but x-amz-content-sha256 names another body.
    (botocore's generic SigV4Auth signs the X-Amz-Content-SHA256 header it is given;
    S3SigV4Auth would recompute it from the body.)"""
    url = f"{endpoint}{key_path(bucket, 'mismatch')}"
    body = b"the real body"
    wrong = hashlib.sha256(b"some other body").hexdigest()
    req = AWSRequest(method="PUT", url=url, data=body, headers={"X-Amz-Content-SHA256": wrong})
    SigV4Auth(Credentials(DEFAULT.access_key, DEFAULT.secret_key), "s3", REGION).add_auth(req)
    assert req.headers["X-Amz-Content-SHA256"] == wrong
    p = req.prepare()
    resp = requests.put(p.url, data=body, headers=dict(p.headers), timeout=30)
    assert resp.status_code == 400, resp.text
    assert err_code(resp) == "XAmzContentSHA256Mismatch"
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="mismatch")


def test_content_sha256_correct_with_botocore_signer(endpoint, s3, bucket):
    url = f"{endpoint}{key_path(bucket, 'matching')}"
    body = b"the real body"
    req = AWSRequest(method="PUT", url=url, data=body,
                     headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    S3SigV4Auth(Credentials(DEFAULT.access_key, DEFAULT.secret_key), "s3", REGION).add_auth(req)
    p = req.prepare()
    resp = requests.put(p.url, data=body, headers=dict(p.headers), timeout=30)
    assert resp.status_code == 200, resp.text
    assert s3.get_object(Bucket=bucket, Key="matching")["Body"].read() == body


# ---- aws-chunked streaming uploads -----------------------------------------------------------

def _send(raw, method, path, headers, body):
    req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with raw.conn() as c:
        c.send(req.encode() + b"\r\n" + body)
        return c.read_response(method)


@pytest.mark.parametrize("size,chunk", [(0, 8192), (1, 8192), (200_000, 65536),
                                        (3 * 65536, 65536)])
def test_streaming_signed_payload(raw, s3, bucket, size, chunk):
    data = det_bytes(f"chunked-{size}", size)
    key = f"chunked-{size}"
    path = key_path(bucket, key)
    sha = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    # the encoded length depends only on the chunk sizes, so sign first with a dummy
    # body to learn it, then build the real body from the real seed signature.
    h = {"Host": raw.netloc, "Content-Encoding": "aws-chunked",
         "x-amz-decoded-content-length": str(size)}
    probe = sign_headers("PUT", path, [], dict(h, **{"Content-Length": "0"}), sha, DEFAULT)
    enc_len = len(aws_chunked_signed(probe, data, chunk))
    h["Content-Length"] = str(enc_len)
    s = sign_headers("PUT", path, [], h, sha, DEFAULT)
    body = aws_chunked_signed(s, data, chunk)
    assert len(body) == enc_len
    r = _send(raw, "PUT", path, s.headers, body)
    assert r.status == 200, r
    assert r.header("ETag") == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == data
    # aws-chunked is a transfer detail, not the object's Content-Encoding
    assert "aws-chunked" not in (got.get("ContentEncoding") or "")


def test_streaming_signed_payload_bad_chunk_signature(raw, s3, bucket):
    data = det_bytes("badchunk", 150_000)
    path = key_path(bucket, "badchunk")
    sha = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    h = {"Host": raw.netloc, "Content-Encoding": "aws-chunked",
         "x-amz-decoded-content-length": str(len(data))}
    probe = sign_headers("PUT", path, [], dict(h, **{"Content-Length": "0"}), sha, DEFAULT)
    h["Content-Length"] = str(len(aws_chunked_signed(probe, data, 65536)))
    s = sign_headers("PUT", path, [], h, sha, DEFAULT)
    body = aws_chunked_signed(s, data, 65536, corrupt_chunk=1)
    r = _send(raw, "PUT", path, s.headers, body)
    assert r.status == 403, r
    assert r.error_code == "SignatureDoesNotMatch", r
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="badchunk")


def test_streaming_unsigned_payload_trailer(raw, s3, bucket):
    data = det_bytes("trailer", 100_000)
    crc = checksum_b64("CRC32", data)
    body = aws_chunked_unsigned(data, 16384, [("x-amz-checksum-crc32", crc)])
    path = key_path(bucket, "trailer")
    h = {"Host": raw.netloc, "Content-Encoding": "aws-chunked",
         "x-amz-decoded-content-length": str(len(data)), "Content-Length": str(len(body)),
         "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm": "CRC32"}
    s = sign_headers("PUT", path, [], h, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", DEFAULT)
    r = _send(raw, "PUT", path, s.headers, body)
    assert r.status == 200, r
    assert r.header("x-amz-checksum-crc32") == crc
    got = s3.get_object(Bucket=bucket, Key="trailer", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got.get("ChecksumCRC32") == crc


def test_streaming_unsigned_payload_trailer_bad_checksum(raw, s3, bucket):
    data = det_bytes("trailer-bad", 50_000)
    wrong = checksum_b64("CRC32", data + b"!")
    body = aws_chunked_unsigned(data, 16384, [("x-amz-checksum-crc32", wrong)])
    path = key_path(bucket, "trailer-bad")
    h = {"Host": raw.netloc, "Content-Encoding": "aws-chunked",
         "x-amz-decoded-content-length": str(len(data)), "Content-Length": str(len(body)),
         "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm": "CRC32"}
    s = sign_headers("PUT", path, [], h, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", DEFAULT)
    r = _send(raw, "PUT", path, s.headers, body)
    assert r.status == 400, r
    assert r.error_code == "BadDigest", r
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="trailer-bad")


def _signed_trailer_request(raw, bucket, key, data, trailer_value, corrupt_trailer_sig=False):
    path = key_path(bucket, key)
    sha = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    trailer = [("x-amz-checksum-crc32c", trailer_value)]
    h = {"Host": raw.netloc, "Content-Encoding": "aws-chunked",
         "x-amz-decoded-content-length": str(len(data)),
         "x-amz-trailer": "x-amz-checksum-crc32c"}
    probe = sign_headers("PUT", path, [], dict(h, **{"Content-Length": "0"}), sha, DEFAULT)
    h["Content-Length"] = str(len(aws_chunked_signed(probe, data, 65536, trailer=trailer)))
    s = sign_headers("PUT", path, [], h, sha, DEFAULT)
    body = aws_chunked_signed(s, data, 65536, trailer=trailer)
    if corrupt_trailer_sig:
        i = body.rindex(b"x-amz-trailer-signature:") + len(b"x-amz-trailer-signature:")
        body = body[:i] + (b"1" if body[i:i + 1] != b"1" else b"2") + body[i + 1:]
    return _send(raw, "PUT", path, s.headers, body)


def test_streaming_signed_payload_trailer(raw, s3, bucket):
    data = det_bytes("signed-trailer", 140_000)
    crc = checksum_b64("CRC32C", data)
    r = _signed_trailer_request(raw, bucket, "signed-trailer", data, crc)
    assert r.status == 200, r
    got = s3.get_object(Bucket=bucket, Key="signed-trailer", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got.get("ChecksumCRC32C") == crc


def test_streaming_signed_payload_trailer_bad_signature(raw, s3, bucket):
    data = det_bytes("signed-trailer-bad", 70_000)
    r = _signed_trailer_request(raw, bucket, "signed-trailer-bad", data,
                                checksum_b64("CRC32C", data), corrupt_trailer_sig=True)
    assert r.status == 403, r
    assert r.error_code == "SignatureDoesNotMatch", r
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="signed-trailer-bad")


# ---- presigned URLs ---------------------------------------------------------------------------
# botocore presigns S3 URLs with SigV2 unless told otherwise; these tests are about SigV4.

@pytest.fixture(scope="module")
def s3v4(client_for):
    return client_for(DEFAULT, signature_version="s3v4")


def test_presigned_get(s3, s3v4, bucket):
    s3.put_object(Bucket=bucket, Key="pre/get me.txt", Body=b"presigned content")
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket,
                                                          "Key": "pre/get me.txt"},
                                    ExpiresIn=300)
    r = http_get(url)
    assert r.status_code == 200, r.text
    assert r.content == b"presigned content"


def test_presigned_put(s3, s3v4, bucket):
    url = s3v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre/put"},
                                    ExpiresIn=300)
    r = requests.put(url, data=b"uploaded via presigned url", timeout=30)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="pre/put")["Body"].read() == \
        b"uploaded via presigned url"


def test_presigned_url_expires(s3, s3v4, bucket):
    s3.put_object(Bucket=bucket, Key="short", Body=b"x")
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "short"},
                                    ExpiresIn=1)
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert q["X-Amz-Expires"] == "1"
    signed_at = calendar.timegm(time.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
    # The thing awaited is wall-clock time itself: wait until it is past the expiry
    # (X-Amz-Date + 1 s, with X-Amz-Date truncated to the second), at most ~2 s.
    until = signed_at + 2.05
    while time.time() < until:
        time.sleep(min(0.05, max(0.0, until - time.time())))
    r = http_get(url)
    assert r.status_code == 403, r.text
    assert err_code(r) == "AccessDenied"


def test_presigned_url_other_method_or_path(s3, s3v4, bucket):
    s3.put_object(Bucket=bucket, Key="victim", Body=b"keep me")
    s3.put_object(Bucket=bucket, Key="other", Body=b"other")
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "victim"},
                                    ExpiresIn=300)
    r = requests.delete(url, timeout=30)
    assert r.status_code == 403, r.text
    assert err_code(r) == "SignatureDoesNotMatch"
    r = requests.put(url, data=b"overwrite", timeout=30)
    assert r.status_code == 403, r.text
    other = url.replace("/victim?", "/other?")
    assert other != url
    r = http_get(other)
    assert r.status_code == 403, r.text
    assert err_code(r) == "SignatureDoesNotMatch"
    assert s3.get_object(Bucket=bucket, Key="victim")["Body"].read() == b"keep me"


def test_presigned_url_tampered_expiry(s3, s3v4, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                    ExpiresIn=60)
    assert "X-Amz-Expires=60" in url
    r = http_get(url.replace("X-Amz-Expires=60", "X-Amz-Expires=3600"))
    assert r.status_code == 403, r.text
    assert err_code(r) == "SignatureDoesNotMatch"


def test_presigned_expires_over_seven_days(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = f"{endpoint}{key_path(bucket, 'k')}"
    creds = Credentials(DEFAULT.access_key, DEFAULT.secret_key)
    for expires, ok in ((604800, True), (604801, False)):
        req = AWSRequest(method="GET", url=url)
        S3SigV4QueryAuth(creds, "s3", REGION, expires=expires).add_auth(req)
        r = http_get(req.url)
        if ok:
            assert r.status_code == 200, r.text
        else:
            assert r.status_code == 400, r.text
            assert err_code(r) == "AuthorizationQueryParametersError"


def test_presigned_dated_in_past_still_valid_until_expiry(endpoint, s3, bucket):
    """Presigned URLs are valid from X-Amz-Date for X-Amz-Expires seconds; the 15 min
    skew window of header auth does not apply to a URL signed 20 minutes ago."""
    s3.put_object(Bucket=bucket, Key="old-url", Body=b"still good")
    url = presign_url(endpoint, "GET", key_path(bucket, "old-url"), DEFAULT, 3600,
                      amz_date=amz_now(-20 * 60))
    r = http_get(url)
    assert r.status_code == 200, r.text
    assert r.content == b"still good"
    # ... but one dated 2 h ago with a 1 h expiry is expired
    url = presign_url(endpoint, "GET", key_path(bucket, "old-url"), DEFAULT, 3600,
                      amz_date=amz_now(-2 * 3600))
    r = http_get(url)
    assert r.status_code == 403, r.text
    assert err_code(r) == "AccessDenied"


def test_presigned_hand_built_matches_server(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a b/ü+%", Body=b"odd key")
    url = presign_url(endpoint, "GET", key_path(bucket, "a b/ü+%"), DEFAULT, 120)
    r = http_get(url)
    assert r.status_code == 200, r.text
    assert r.content == b"odd key"


def test_presigned_wrong_secret(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = presign_url(endpoint, "GET", key_path(bucket, "k"),
                      Creds(DEFAULT.access_key, "wrong"), 120)
    r = http_get(url)
    assert r.status_code == 403
    assert err_code(r) == "SignatureDoesNotMatch"


# ---- anonymous access -------------------------------------------------------------------------

def test_unsigned_request_to_private_bucket(s3, s3_anon, bucket):
    s3.put_object(Bucket=bucket, Key="secret", Body=b"x")
    with s3_error("AccessDenied", 403):
        s3_anon.list_objects_v2(Bucket=bucket)
    with s3_error("AccessDenied", 403):
        s3_anon.get_object(Bucket=bucket, Key="secret")
    with s3_error("AccessDenied", 403):
        s3_anon.put_object(Bucket=bucket, Key="intruder", Body=b"x")
    with s3_error("AccessDenied", 403):
        s3_anon.delete_object(Bucket=bucket, Key="secret")
    assert s3.get_object(Bucket=bucket, Key="secret")["Body"].read() == b"x"


def test_unsigned_list_buckets_denied(s3_anon):
    with s3_error("AccessDenied", 403):
        s3_anon.list_buckets()


def test_public_read_bucket_anonymous_list(s3, s3_anon, bucket_factory):
    name = bucket_factory("public", ACL="public-read")
    s3.put_object(Bucket=name, Key="listed", Body=b"x")
    keys = [o["Key"] for o in s3_anon.list_objects(Bucket=name).get("Contents", [])]
    assert keys == ["listed"]
    keys = [o["Key"] for o in s3_anon.list_objects_v2(Bucket=name).get("Contents", [])]
    assert keys == ["listed"]
    # READ on the bucket does not grant WRITE, nor read of private objects
    with s3_error("AccessDenied", 403):
        s3_anon.put_object(Bucket=name, Key="anon", Body=b"x")
    with s3_error("AccessDenied", 403):
        s3_anon.get_object(Bucket=name, Key="listed")
    with s3_error("AccessDenied", 403):
        s3_anon.delete_object(Bucket=name, Key="listed")


# ---- cross-user ACL grants ---------------------------------------------------------------------

def test_second_user_denied_until_granted(s3, s3_bob, bucket, default_owner_id):
    s3.put_object(Bucket=bucket, Key="doc", Body=b"owner data")
    with s3_error("AccessDenied", 403):
        s3_bob.list_objects_v2(Bucket=bucket)
    with s3_error("AccessDenied", 403):
        s3_bob.get_object(Bucket=bucket, Key="doc")
    with s3_error("AccessDenied", 403):
        s3_bob.delete_object(Bucket=bucket, Key="doc")
    with s3_error("AccessDenied", 403):
        s3_bob.put_object(Bucket=bucket, Key="bob-was-here", Body=b"x")

    owner_full = {"Grantee": {"Type": "CanonicalUser", "ID": default_owner_id},
                  "Permission": "FULL_CONTROL"}
    # READ on the bucket: bob may list, but objects keep their own ACLs
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={
        "Owner": {"ID": default_owner_id},
        "Grants": [owner_full, {"Grantee": {"Type": "CanonicalUser", "ID": BOB.user_id},
                                "Permission": "READ"}]})
    keys = [o["Key"] for o in s3_bob.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["doc"]
    with s3_error("AccessDenied", 403):
        s3_bob.get_object(Bucket=bucket, Key="doc")
    with s3_error("AccessDenied", 403):
        s3_bob.delete_object(Bucket=bucket, Key="doc")

    # READ on the object: bob may read it
    s3.put_object_acl(Bucket=bucket, Key="doc", AccessControlPolicy={
        "Owner": {"ID": default_owner_id},
        "Grants": [owner_full, {"Grantee": {"Type": "CanonicalUser", "ID": BOB.user_id},
                                "Permission": "READ"}]})
    assert s3_bob.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"owner data"

    # WRITE on the bucket: bob may create and delete objects
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={
        "Owner": {"ID": default_owner_id},
        "Grants": [owner_full,
                   {"Grantee": {"Type": "CanonicalUser", "ID": BOB.user_id},
                    "Permission": "READ"},
                   {"Grantee": {"Type": "CanonicalUser", "ID": BOB.user_id},
                    "Permission": "WRITE"}]})
    s3_bob.put_object(Bucket=bucket, Key="bob-was-here", Body=b"hi",
                      ACL="bucket-owner-full-control")
    s3_bob.put_object(Bucket=bucket, Key="bob-private", Body=b"bob only")
    s3_bob.delete_object(Bucket=bucket, Key="doc")
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="doc")
    assert s3.get_object(Bucket=bucket, Key="bob-was-here")["Body"].read() == b"hi"
    # with ACLs, an object belongs to its writer: the bucket owner may not read
    # bob's private object, but may still delete it (WRITE on its own bucket)
    assert s3_bob.get_object(Bucket=bucket, Key="bob-private")["Body"].read() == b"bob only"
    with s3_error("AccessDenied", 403):
        s3.get_object(Bucket=bucket, Key="bob-private")
    s3.delete_object(Bucket=bucket, Key="bob-private")
    with s3_error("NoSuchKey", 404):
        s3_bob.get_object(Bucket=bucket, Key="bob-private")

    # revoking the grant takes effect immediately
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    with s3_error("AccessDenied", 403):
        s3_bob.list_objects_v2(Bucket=bucket)


def test_allusers_read_grant_applies_to_everyone(s3, s3_alice, s3_anon, bucket):
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={
        "Owner": {"ID": s3.list_buckets()["Owner"]["ID"]},
        "Grants": [{"Grantee": {"Type": "Group", "URI": ALL_USERS_URI},
                    "Permission": "READ"}]})
    assert s3_anon.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert s3_alice.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# ---- canonicalization -----------------------------------------------------------------------

def test_signature_with_inner_whitespace_in_header_values(s3, bucket):
    s3.put_object(Bucket=bucket, Key="ws", Body=b"x",
                  Metadata={"spaced": "a   b    c"}, ContentType="text/plain;  charset=utf-8")
    h = s3.head_object(Bucket=bucket, Key="ws")
    assert h["Metadata"]["spaced"] == "a   b    c"


def test_signature_with_odd_query_values(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a b+c=d&e/é~*!'()/x", Body=b"x")
    r = s3.list_objects_v2(Bucket=bucket, Prefix="a b+c=d&e/é~*!'()/", StartAfter="a b+c",
                           MaxKeys=7)
    assert [o["Key"] for o in r["Contents"]] == ["a b+c=d&e/é~*!'()/x"]
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="&e/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a b+c=d&e/"]


def test_header_names_are_case_insensitive(raw, s3, bucket):
    path = key_path(bucket, "cased")
    h = sign_headers("PUT", path, [], {"HOST": raw.netloc, "X-AMZ-META-CaseY": "v",
                                       "CONTENT-TYPE": "text/x-cased", "Content-LENGTH": "3"},
                     sha256_hex(b"abc"), DEFAULT).headers
    h = {(k.upper() if k.lower().startswith("x-amz-") else k): v for k, v in h.items()}
    req = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
    with raw.conn() as c:
        c.send(req.encode() + b"\r\nabc")
        r = c.read_response("PUT")
    assert r.status == 200, r
    head = s3.head_object(Bucket=bucket, Key="cased")
    assert head["Metadata"] == {"casey": "v"}
    assert head["ContentType"] == "text/x-cased"
