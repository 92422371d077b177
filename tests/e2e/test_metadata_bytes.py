"""User metadata values that are not UTF-8 (issue #15, item 18): obs-text bytes (latin-1 from
python's http.client, raw bytes from the Go SDK or curl) are stored as received and come back
byte-identical on GET and HEAD, through CopyObject and multipart uploads.

Two signers meet here: botocore hashes the `str` as UTF-8 while http.client sends it latin-1
encoded; byte-string clients sign the bytes they send. Both are accepted. The raw reader
decodes header bytes as latin-1, so `.encode("latin-1")` gives back the wire bytes.

boto3 itself cannot send such metadata (botocore's `validate_ascii_metadata` refuses any
non-ASCII value before sending), but it reads what others stored: its http.client decodes
the value as latin-1."""

import hashlib
import hmac
import http.client
import urllib.parse
import xml.etree.ElementTree as ET

from botocore.auth import HmacV1Auth, S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from s3helpers import (REGION, amz_now, canonical_query, key_path, signing_key, wire_query,
                       xml_text)

LATIN1 = "café à\xa0la crème"  # U+00A0 inside: python's signers treat it as whitespace
LATIN1_BYTES = LATIN1.encode("latin-1")


def botocore_send(raw, auth_cls, method, path, query=(), headers=None, body=b""):
    """Signs with a botocore signer over the `str` headers and sends them with http.client,
    which writes `str` header values latin-1 encoded: exactly what a python user gets."""
    creds = Credentials(raw.creds.access_key, raw.creds.secret_key)
    url = raw.endpoint + path + ("?" + wire_query(list(query)) if query else "")
    req = AWSRequest(method=method, url=url, data=body,
                     headers={"Host": raw.netloc, **(headers or {})})
    if auth_cls is HmacV1Auth:
        auth_cls(creds).add_auth(req)
    else:
        auth_cls(creds, "s3", REGION).add_auth(req)
    conn = http.client.HTTPConnection(raw.host, raw.port, timeout=30)
    try:
        target = urllib.parse.urlsplit(url)
        conn.putrequest(method, target.path + ("?" + target.query if target.query else ""),
                        skip_host=True, skip_accept_encoding=True)
        for k, v in req.headers.items():
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def bytes_request(raw, method, path, query=(), headers=(), body=b"", sign_as=None):
    """A SigV4 request whose header values are bytes, signed over those bytes (as the Go SDK
    and curl --aws-sigv4 do), or over `sign_as` (name -> bytes) to forge a mismatch."""
    query = list(query)
    amz_date = amz_now()
    date = amz_date[:8]
    payload = "UNSIGNED-PAYLOAD"
    h = [("Host", raw.netloc.encode()), *headers, ("x-amz-date", amz_date.encode()),
         ("x-amz-content-sha256", payload.encode())]
    if body:
        h.append(("Content-Length", str(len(body)).encode()))
    values = {}
    for k, v in h:
        v = (sign_as or {}).get(k.lower(), v)
        values.setdefault(k.lower(), []).append(b" ".join(v.split()))
    names = sorted(values)
    canon = b"".join(n.encode() + b":" + b",".join(values[n]) + b"\n" for n in names)
    creq = b"\n".join([method.encode(), path.encode(), canonical_query(query).encode(), canon,
                       ";".join(names).encode(), payload.encode()])
    scope = f"{date}/{REGION}/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq).hexdigest()])
    sig = hmac.new(signing_key(raw.creds.secret_key, date), sts.encode(),
                   hashlib.sha256).hexdigest()
    h.append(("Authorization", (f"AWS4-HMAC-SHA256 Credential={raw.creds.access_key}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={sig}").encode()))
    target = path + ("?" + wire_query(query) if query else "")
    head = f"{method} {target} HTTP/1.1\r\n".encode()
    head += b"".join(k.encode() + b": " + v + b"\r\n" for k, v in h)
    with raw.conn() as c:
        c.send(head + b"\r\n" + body)
        return c.read_response(method)


def meta_bytes(raw, bucket, key, name="name"):
    """The value of x-amz-meta-<name> as GET and HEAD return it, as wire bytes (both agree)."""
    got = []
    for method in ("GET", "HEAD"):
        r = raw.request(method, key_path(bucket, key))
        assert r.status == 200, r
        v = r.header(f"x-amz-meta-{name}")
        got.append(None if v is None else v.encode("latin-1"))
    assert got[0] == got[1], got
    return got[0]


def test_latin1_from_python_signers_round_trips(raw, s3, bucket):
    # SigV4Auth signs no x-amz-content-sha256: the body's hash is checked as it streams in
    st, body = botocore_send(raw, SigV4Auth, "PUT", key_path(bucket, "v4"),
                             headers={"x-amz-meta-name": LATIN1}, body=b"data")
    assert st == 200, body
    st, body = botocore_send(raw, S3SigV4Auth, "PUT", key_path(bucket, "s3v4"),
                             headers={"x-amz-meta-name": LATIN1}, body=b"data")
    assert st == 200, body
    st, body = botocore_send(raw, HmacV1Auth, "PUT", key_path(bucket, "v2"),
                             headers={"x-amz-meta-name": LATIN1}, body=b"data")
    assert st == 200, body
    for key in ("v4", "s3v4", "v2"):
        assert meta_bytes(raw, bucket, key) == LATIN1_BYTES, key
        # boto3 reads the latin-1 bytes back as the str that was sent
        assert s3.head_object(Bucket=bucket, Key=key)["Metadata"] == {"name": LATIN1}, key


def test_raw_bytes_signed_as_sent_round_trip(raw, bucket):
    values = {"latin": b"caf\xe9", "utf8": "東京 ☕".encode(), "mixed": b"\xff\xfe x \xc3"}
    headers = [(f"x-amz-meta-{n}", v) for n, v in values.items()]
    r = bytes_request(raw, "PUT", key_path(bucket, "raw"), headers=headers, body=b"x")
    assert r.status == 200, r
    for name, value in values.items():
        assert meta_bytes(raw, bucket, "raw", name) == value, name


def test_copy_keeps_or_replaces_the_bytes(raw, s3, bucket):
    r = bytes_request(raw, "PUT", key_path(bucket, "src"),
                      headers=[("x-amz-meta-name", b"caf\xe9")], body=b"x")
    assert r.status == 200, r
    s3.copy_object(Bucket=bucket, Key="kept", CopySource={"Bucket": bucket, "Key": "src"})
    assert meta_bytes(raw, bucket, "kept") == b"caf\xe9"
    r = bytes_request(raw, "PUT", key_path(bucket, "replaced"),
                      headers=[("x-amz-copy-source", f"/{bucket}/src".encode()),
                               ("x-amz-metadata-directive", b"REPLACE"),
                               ("x-amz-meta-other", b"na\xefve")])
    assert r.status == 200, r
    assert meta_bytes(raw, bucket, "replaced") is None
    assert meta_bytes(raw, bucket, "replaced", "other") == b"na\xefve"


def test_multipart_keeps_the_bytes(raw, s3, bucket):
    st, body = botocore_send(raw, S3SigV4Auth, "POST", key_path(bucket, "mp"),
                             query=[("uploads", "")], headers={"x-amz-meta-name": LATIN1})
    assert st == 200, body
    uid = xml_text(ET.fromstring(body), "UploadId")
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=b"p")
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert meta_bytes(raw, bucket, "mp") == LATIN1_BYTES


def test_bad_metadata_is_refused_and_leaves_nothing(raw, s3, bucket):
    path = key_path(bucket, "bad")
    # signed over other bytes than were sent
    r = bytes_request(raw, "PUT", path, headers=[("x-amz-meta-name", b"caf\xe9")], body=b"x",
                      sign_as={"x-amz-meta-name": b"caf\xe8"})
    assert (r.status, r.error_code) == (403, "SignatureDoesNotMatch"), r
    # a control character is not a field value
    r = bytes_request(raw, "PUT", path, headers=[("x-amz-meta-name", b"a\x01b")], body=b"x")
    assert r.status == 400, r
    # bytes count toward the 2 KiB limit
    r = bytes_request(raw, "PUT", path, headers=[("x-amz-meta-n", b"\xe9" * 2048)], body=b"x")
    assert (r.status, r.error_code) == (400, "MetadataTooLarge"), r
    # only user metadata may carry obs-text
    r = bytes_request(raw, "PUT", path, headers=[("Content-Type", b"text/caf\xe9")], body=b"x")
    assert r.status == 400, r
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
