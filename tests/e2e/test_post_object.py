"""POST Object (issue 18, browser uploads): HTML-form uploads with a signed POST policy
(SigV4 and SigV2, boto3's generate_presigned_post included), anonymous form uploads to a
public-write bucket, the success_action_* answers, the object written exactly as a PutObject
would write it, and every refusal: policy conditions, expiry, extra fields, signatures,
content-length-range, malformed forms."""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import json
import urllib.parse

import pytest
import requests

from s3helpers import (ALICE, DEFAULT, REGION, key_path, md5_hex, s3_error, signing_key,
                       xml_text)

BOUNDARY = "----BleepFormBoundary7MA4YWxk"


def iso(offset_s: int) -> str:
    t = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=offset_s)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def form_body(fields, file_data=b"hello", filename="hello.txt", after=(),
              boundary=BOUNDARY, file_ct="text/plain") -> bytes:
    out = b""
    for name, value in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                .encode() + value.encode() + b"\r\n")
    if file_data is not None:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"{filename}\"\r\nContent-Type: {file_ct}\r\n\r\n").encode()
        out += file_data + b"\r\n"
    for name, value in after:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                .encode() + value.encode() + b"\r\n")
    return out + f"--{boundary}--\r\n".encode()


def v4_fields(bucket, conditions, fields, creds=DEFAULT, expires_in=300, secret=None):
    """`fields` plus policy and SigV4 fields; the policy covers `conditions` plus the
    signature fields themselves and the bucket."""
    now = _dt.datetime.now(_dt.timezone.utc)
    date = now.strftime("%Y%m%d")
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    credential = f"{creds.access_key}/{date}/{REGION}/s3/aws4_request"
    policy = {
        "expiration": iso(expires_in),
        "conditions": [{"bucket": bucket}, *conditions,
                       {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
                       {"x-amz-credential": credential}, {"x-amz-date": amz_date}],
    }
    b64 = base64.b64encode(json.dumps(policy).encode()).decode()
    key = signing_key(secret or creds.secret_key, date)
    sig = hmac.new(key, b64.encode(), hashlib.sha256).hexdigest()
    return [*fields, ("x-amz-algorithm", "AWS4-HMAC-SHA256"), ("x-amz-credential", credential),
            ("x-amz-date", amz_date), ("policy", b64), ("x-amz-signature", sig)]


def post(raw, bucket, body, content_type=None):
    ct = content_type or f"multipart/form-data; boundary={BOUNDARY}"
    return raw.request("POST", key_path(bucket), headers={"Content-Type": ct}, body=body,
                       sign=False)


def simple(bucket, key="up/${filename}", extra_conditions=(), extra_fields=(), **kw):
    return v4_fields(bucket, [["starts-with", "$key", "up/"], *extra_conditions],
                     [("key", key), *extra_fields], **kw)


# ---- success ---------------------------------------------------------------------------------------

def test_sigv4_form_upload_writes_the_object_as_put_would(s3, raw, bucket):
    data = b"form bytes \x00\xff" * 100
    fields = v4_fields(bucket, [
        ["starts-with", "$key", "up/"],
        {"acl": "public-read"},
        ["starts-with", "$Content-Type", "text/"],
        ["eq", "$x-amz-meta-color", "blue"],
        ["starts-with", "$Cache-Control", ""],
        ["content-length-range", 1, 10000],
    ], [("key", "up/${filename}"), ("acl", "public-read"), ("Content-Type", "text/plain"),
        ("x-amz-meta-color", "blue"), ("Cache-Control", "max-age=60")])
    r = post(raw, bucket, form_body(fields, data, filename="C:\\dir\\photo.txt"))
    assert r.status == 204, r
    etag = f"\"{md5_hex(data)}\""
    assert r.header("ETag") == etag
    assert r.header("Location").endswith(f"/{bucket}/up%2Fphoto.txt")
    got = s3.get_object(Bucket=bucket, Key="up/photo.txt")
    assert got["Body"].read() == data
    assert got["ETag"] == etag
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"color": "blue"}
    assert got["CacheControl"] == "max-age=60"
    grants = s3.get_object_acl(Bucket=bucket, Key="up/photo.txt")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") and g["Permission"] == "READ"
               for g in grants)


def test_boto3_generate_presigned_post(s3, bucket):
    p = s3.generate_presigned_post(
        Bucket=bucket, Key="boto/${filename}",
        Fields={"Content-Type": "image/png", "success_action_status": "201"},
        Conditions=[["starts-with", "$key", "boto/"], {"Content-Type": "image/png"},
                    {"success_action_status": "201"}, ["content-length-range", 0, 1024]],
        ExpiresIn=300)
    r = requests.post(p["url"], data=p["fields"], files={"file": ("pic.png", b"PNGDATA")},
                      timeout=30)
    assert r.status_code == 201, r.text
    doc = r.content
    import xml.etree.ElementTree as ET
    root = ET.fromstring(doc)
    assert xml_text(root, "Bucket") == bucket
    assert xml_text(root, "Key") == "boto/pic.png"
    assert xml_text(root, "ETag") == f"\"{md5_hex(b'PNGDATA')}\""
    got = s3.get_object(Bucket=bucket, Key="boto/pic.png")
    assert got["Body"].read() == b"PNGDATA" and got["ContentType"] == "image/png"


def test_sigv2_form_upload(s3, raw, bucket):
    policy = {"expiration": iso(300), "conditions": [{"bucket": bucket}, {"key": "v2key"}]}
    b64 = base64.b64encode(json.dumps(policy).encode()).decode()
    sig = base64.b64encode(hmac.new(DEFAULT.secret_key.encode(), b64.encode(),
                                    hashlib.sha1).digest()).decode()
    fields = [("key", "v2key"), ("AWSAccessKeyId", DEFAULT.access_key), ("policy", b64),
              ("signature", sig)]
    r = post(raw, bucket, form_body(fields, b"v2"))
    assert r.status == 204, r
    assert s3.get_object(Bucket=bucket, Key="v2key")["Body"].read() == b"v2"
    fields[-1] = ("signature", base64.b64encode(b"x" * 20).decode())
    r = post(raw, bucket, form_body(fields, b"v2"))
    assert (r.status, r.error_code) == (403, "SignatureDoesNotMatch"), r


def test_success_action_status_and_redirect(s3, raw, bucket):
    for status, want in (("200", 200), ("201", 201), ("204", 204), ("999", 204)):
        fields = simple(bucket, key=f"up/s{status}",
                        extra_conditions=[{"success_action_status": status}],
                        extra_fields=[("success_action_status", status)])
        r = post(raw, bucket, form_body(fields, b"x"))
        assert r.status == want, r
        if want == 201:
            assert xml_text(r.xml(), "Key") == f"up/s{status}"
            assert xml_text(r.xml(), "Location").endswith(f"/{bucket}/up%2Fs{status}")
        else:
            assert r.body == b""
    fields = simple(bucket, key="up/redir",
                    extra_conditions=[["starts-with", "$success_action_redirect", "http://"]],
                    extra_fields=[("success_action_redirect", "http://app.test/done?x=1")])
    r = post(raw, bucket, form_body(fields, b"x"))
    assert r.status == 303, r
    loc = urllib.parse.urlsplit(r.header("Location"))
    q = dict(urllib.parse.parse_qsl(loc.query))
    assert loc.netloc == "app.test" and loc.path == "/done"
    assert q == {"x": "1", "bucket": bucket, "key": "up/redir", "etag": f"\"{md5_hex(b'x')}\""}


def test_fields_after_the_file_are_ignored(s3, raw, bucket):
    fields = simple(bucket, key="up/after")
    r = post(raw, bucket, form_body(fields, b"data", after=[("x-amz-meta-late", "1"),
                                                             ("key", "elsewhere")]))
    assert r.status == 204, r
    got = s3.get_object(Bucket=bucket, Key="up/after")
    assert got["Metadata"] == {} and got["Body"].read() == b"data"


def test_tagging_field(s3, raw, bucket):
    tagging = "<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag></TagSet></Tagging>"
    fields = simple(bucket, key="up/tagged", extra_conditions=[{"tagging": tagging}],
                    extra_fields=[("tagging", tagging)])
    r = post(raw, bucket, form_body(fields, b"t"))
    assert r.status == 204, r
    tags = s3.get_object_tagging(Bucket=bucket, Key="up/tagged")["TagSet"]
    assert tags == [{"Key": "a", "Value": "1"}]


def test_large_file_streams(s3, raw, bucket):
    data = bytes(range(256)) * (3 * 1024 * 16)  # 12 MiB
    fields = simple(bucket, key="up/big")
    r = post(raw, bucket, form_body(fields, data))
    assert r.status == 204, r
    got = s3.get_object(Bucket=bucket, Key="up/big")
    assert got["ContentLength"] == len(data)
    assert got["ETag"] == f"\"{md5_hex(data)}\""


def test_anonymous_form_upload_needs_public_write(s3, raw, bucket_factory):
    private = bucket_factory("post-private")
    r = post(raw, private, form_body([("key", "anon")], b"a"))
    assert (r.status, r.error_code) == (403, "AccessDenied"), r
    public = bucket_factory("post-public", ACL="public-read-write")
    r = post(raw, public, form_body([("key", "anon")], b"a"))
    assert r.status == 204, r
    assert s3.get_object(Bucket=public, Key="anon")["Body"].read() == b"a"


def test_other_users_need_write_permission(s3, raw, bucket):
    fields = simple(bucket, key="up/alice", creds=ALICE)
    r = post(raw, bucket, form_body(fields, b"x"))
    assert (r.status, r.error_code) == (403, "AccessDenied"), r


# ---- refusals ---------------------------------------------------------------------------------------

def test_policy_expired(raw, bucket):
    fields = simple(bucket, key="up/x", expires_in=-10)
    r = post(raw, bucket, form_body(fields))
    assert (r.status, r.error_code) == (403, "AccessDenied"), r
    assert b"Policy expired" in r.body


def test_condition_failed(s3, raw, bucket):
    fields = simple(bucket, key="down/x")
    r = post(raw, bucket, form_body(fields))
    assert (r.status, r.error_code) == (403, "AccessDenied"), r
    assert b"Policy Condition failed" in r.body
    with s3_error(status=404):
        s3.head_object(Bucket=bucket, Key="down/x")


def test_extra_input_fields(raw, bucket):
    fields = simple(bucket, key="up/x", extra_fields=[("x-amz-meta-sneaky", "1")])
    r = post(raw, bucket, form_body(fields))
    assert (r.status, r.error_code) == (403, "AccessDenied"), r
    assert b"Extra input fields: x-amz-meta-sneaky" in r.body
    # x-ignore-* fields need no condition.
    fields = simple(bucket, key="up/x", extra_fields=[("x-ignore-me", "1")])
    assert post(raw, bucket, form_body(fields)).status == 204


def test_signature_mismatch_and_unknown_key(raw, bucket):
    fields = simple(bucket, key="up/x", secret="wrong-secret")
    r = post(raw, bucket, form_body(fields))
    assert (r.status, r.error_code) == (403, "SignatureDoesNotMatch"), r
    fields = [(n, v.replace("bleepstore/", "nobody/") if n == "x-amz-credential" else v)
              for n, v in simple(bucket, key="up/x")]
    r = post(raw, bucket, form_body(fields))
    assert (r.status, r.error_code) == (403, "InvalidAccessKeyId"), r


def test_policy_without_signature_and_signature_without_policy(raw, bucket):
    fields = [(n, v) for n, v in simple(bucket, key="up/x") if n != "x-amz-signature"]
    r = post(raw, bucket, form_body(fields))
    assert (r.status, r.error_code) == (400, "InvalidArgument"), r
    fields = [(n, v) for n, v in simple(bucket, key="up/x") if n != "policy"]
    r = post(raw, bucket, form_body(fields))
    assert (r.status, r.error_code) == (400, "InvalidArgument"), r


def test_invalid_policy_document(raw, bucket):
    bad = base64.b64encode(b"{not json").decode()
    sig = hmac.new(signing_key(DEFAULT.secret_key, _dt.datetime.now(_dt.timezone.utc)
                               .strftime("%Y%m%d")), bad.encode(), hashlib.sha256).hexdigest()
    fields = [(n, bad if n == "policy" else sig if n == "x-amz-signature" else v)
              for n, v in simple(bucket, key="up/x")]
    r = post(raw, bucket, form_body(fields))
    assert (r.status, r.error_code) == (400, "InvalidPolicyDocument"), r


def test_content_length_range(s3, raw, bucket):
    fields = simple(bucket, key="up/sized", extra_conditions=[["content-length-range", 3, 10]])
    r = post(raw, bucket, form_body(fields, b"x" * 11))
    assert (r.status, r.error_code) == (400, "EntityTooLarge"), r
    r = post(raw, bucket, form_body(fields, b"x" * 2))
    assert (r.status, r.error_code) == (400, "EntityTooSmall"), r
    with s3_error(status=404):
        s3.head_object(Bucket=bucket, Key="up/sized")
    # Over the limit by far: refused while streaming, nothing written.
    r = post(raw, bucket, form_body(fields, b"x" * (2 * 1024 * 1024)))
    assert (r.status, r.error_code) == (400, "EntityTooLarge"), r
    with s3_error(status=404):
        s3.head_object(Bucket=bucket, Key="up/sized")
    assert post(raw, bucket, form_body(fields, b"x" * 10)).status == 204


def test_missing_key_and_file(raw, bucket):
    fields = [(n, v) for n, v in simple(bucket) if n != "key"]
    r = post(raw, bucket, form_body(fields))
    assert (r.status, r.error_code) == (400, "InvalidArgument"), r
    r = post(raw, bucket, form_body(simple(bucket, key="up/x"), file_data=None))
    assert (r.status, r.error_code) == (400, "IncorrectNumberOfFilesInPostRequest"), r


def test_not_multipart(raw, bucket):
    r = post(raw, bucket, b"key=x", content_type="application/x-www-form-urlencoded")
    assert (r.status, r.error_code) == (412, "PreconditionFailed"), r


def test_malformed_forms(s3, raw, bucket):
    body = form_body(simple(bucket, key="up/trunc"), b"z" * 1000)
    r = post(raw, bucket, body[:-200])  # the closing delimiter never comes
    assert (r.status, r.error_code) == (400, "MalformedPOSTRequest"), r
    with s3_error(status=404):
        s3.head_object(Bucket=bucket, Key="up/trunc")
    r = post(raw, bucket, b"--" + BOUNDARY.encode() + b"\r\nno colon\r\n\r\nx\r\n--"
             + BOUNDARY.encode() + b"--\r\n")
    assert (r.status, r.error_code) == (400, "MalformedPOSTRequest"), r


def test_fields_before_the_file_are_bounded(raw, bucket):
    fields = simple(bucket, key="up/x", extra_fields=[("x-ignore-pad", "p" * 30000)])
    r = post(raw, bucket, form_body(fields))
    assert (r.status, r.error_code) == (400, "MaxPostPreDataLengthExceeded"), r


def test_missing_bucket(raw):
    r = post(raw, "no-such-bucket-post-e2e", form_body([("key", "k")]))
    assert (r.status, r.error_code) == (404, "NoSuchBucket"), r


@pytest.mark.parametrize("boundary", ["simple", "with space and 'quotes'", "a" * 70])
def test_boundaries(s3, raw, bucket, boundary):
    fields = simple(bucket, key=f"up/b{len(boundary)}")
    body = form_body(fields, b"bnd", boundary=boundary)
    ct = f"multipart/form-data; boundary=\"{boundary}\""
    r = post(raw, bucket, body, content_type=ct)
    assert r.status == 204, r
    assert s3.get_object(Bucket=bucket, Key=f"up/b{len(boundary)}")["Body"].read() == b"bnd"
