"""Authentication the way real clients do it beyond botocore's default SigV4 (issue #15,
items 6-8):

- Signature Version 2: `Authorization: AWS key:signature` and presigned query URLs
  (`AWSAccessKeyId`, `Signature`, `Expires`), which boto3's `generate_presigned_url` with a
  default config and the aws CLI's `s3 presign` still produce;
- SigV4 header auth without `x-amz-content-sha256` (generic signers: botocore's
  `SigV4Auth`, `curl --aws-sigv4`), where the signature covers the body's SHA-256;
- the answers to expired, not-yet-valid and out-of-range presigned URLs.
"""

import base64
import calendar
import email.utils
import hashlib
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from s3helpers import (BOB, DEFAULT, REGION, amz_now, key_path, make_client,
                       presign_url, sigv2_headers, sigv2_presign_url, sigv2_signature,
                       sigv2_string_to_sign)


def error_of(resp) -> dict:
    root = ET.fromstring(resp.content)
    return {el.tag.split("}")[-1]: (el.text or "") for el in root.iter()}


def query_of(url: str) -> dict:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


# ---- SigV2 ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3v2(endpoint):
    return make_client(endpoint, DEFAULT, signature_version="s3")


def test_default_presigned_url_is_sigv2_and_works(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="dir/a b+c.txt", Body=b"v2 presigned")
    c = make_client(endpoint, DEFAULT)  # botocore's own choice of signature
    url = c.generate_presigned_url("get_object", Params={"Bucket": bucket,
                                                         "Key": "dir/a b+c.txt"})
    q = query_of(url)
    assert {"AWSAccessKeyId", "Signature", "Expires"} <= set(q), url
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert r.content == b"v2 presigned"


def test_sigv2_presigned_put_with_signed_headers(s3, s3v2, bucket):
    url = s3v2.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "up", "ContentType": "text/plain",
                              "ACL": "public-read"}, ExpiresIn=300)
    q = query_of(url)
    assert "AWSAccessKeyId" in q and q.get("x-amz-acl") == "public-read", url
    r = requests.put(url, data=b"uploaded", timeout=30,
                     headers={"Content-Type": "text/plain", "x-amz-acl": "public-read"})
    assert r.status_code == 200, r.text
    got = s3.get_object(Bucket=bucket, Key="up")
    assert got["Body"].read() == b"uploaded"
    assert got["ContentType"] == "text/plain"
    grants = s3.get_object_acl(Bucket=bucket, Key="up")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("/AllUsers") for g in grants)
    # Another content type than the signed one: a different request.
    r = requests.put(url, data=b"x", timeout=30,
                     headers={"Content-Type": "text/html", "x-amz-acl": "public-read"})
    assert r.status_code == 403, r.text
    assert error_of(r)["Code"] == "SignatureDoesNotMatch"


def test_sigv2_presigned_refuses_added_amz_headers(s3, s3v2, bucket_factory, bucket):
    """Issue #20.1 for SigV2: every x-amz-* header is part of the string to sign, so the
    holder of a URL cannot turn it into a copy (of data the signer may read) or an ACL."""
    src = bucket_factory("v2src")
    s3.put_object(Bucket=src, Key="secret", Body=b"signer's own")
    url = s3v2.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "t"},
                                      ExpiresIn=300)
    for extra in ({"x-amz-copy-source": f"/{src}/secret"}, {"x-amz-acl": "public-read"},
                  {"x-amz-grant-full-control": f'id="{BOB.user_id}"'}):
        r = requests.put(url, data=b"", timeout=30, headers=extra)
        assert r.status_code == 403, (extra, r.text)
        assert error_of(r)["Code"] == "SignatureDoesNotMatch", r.text
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    get = s3v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "t"},
                                      ExpiresIn=300)
    r = requests.get(get, timeout=30, headers={"x-amz-meta-a": "1"})
    assert r.status_code == 403 and error_of(r)["Code"] == "SignatureDoesNotMatch", r.text


def test_sigv2_presigned_expired(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    path = key_path(bucket, "k")
    r = requests.get(sigv2_presign_url(endpoint, "GET", path, DEFAULT,
                                       int(time.time()) + 120), timeout=30)
    assert r.status_code == 200, r.text
    r = requests.get(sigv2_presign_url(endpoint, "GET", path, DEFAULT,
                                       int(time.time()) - 5), timeout=30)
    assert r.status_code == 403, r.text
    err = error_of(r)
    assert (err["Code"], err["Message"]) == ("AccessDenied", "Request has expired")
    r = requests.get(f"{endpoint}{path}?AWSAccessKeyId={DEFAULT.access_key}&Signature=x"
                     "&Expires=tomorrow", timeout=30)
    assert r.status_code == 403 and error_of(r)["Code"] == "AccessDenied", r.text
    r = requests.get(f"{endpoint}{path}?AWSAccessKeyId={DEFAULT.access_key}&Signature=x",
                     timeout=30)
    assert r.status_code == 403 and error_of(r)["Code"] == "AccessDenied", r.text


def test_aws_cli_presign(endpoint, s3, bucket, tmp_path):
    """`aws s3 presign` with no s3 settings at all, as a user runs it."""
    s3.put_object(Bucket=bucket, Key="cli", Body=b"from the cli")
    exe = Path(sys.executable).parent / "aws"
    exe = str(exe) if exe.exists() else (shutil.which("aws") or "aws")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": DEFAULT.access_key,
                "AWS_SECRET_ACCESS_KEY": DEFAULT.secret_key, "AWS_DEFAULT_REGION": REGION,
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true"})
    p = subprocess.run([exe, "s3", "presign", f"s3://{bucket}/cli", "--endpoint-url",
                        endpoint], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    url = p.stdout.strip()
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, (url, r.text)
    assert r.content == b"from the cli"


def test_sigv2_client_operations(s3v2, bucket_factory):
    b = bucket_factory("v2ops", client=s3v2)
    s3v2.put_object(Bucket=b, Key="a/one", Body=b"1", Metadata={"k": "v"})
    s3v2.put_object(Bucket=b, Key="a/two", Body=b"22", ContentType="text/plain")
    assert s3v2.get_object(Bucket=b, Key="a/one")["Body"].read() == b"1"
    assert s3v2.head_object(Bucket=b, Key="a/one")["Metadata"] == {"k": "v"}
    assert s3v2.get_object(Bucket=b, Key="a/two", Range="bytes=1-1")["Body"].read() == b"2"
    listed = s3v2.list_objects_v2(Bucket=b, Prefix="a/")
    assert [o["Key"] for o in listed["Contents"]] == ["a/one", "a/two"]
    assert [o["Key"] for o in s3v2.list_objects(Bucket=b)["Contents"]] == ["a/one", "a/two"]
    s3v2.put_object_acl(Bucket=b, Key="a/one", ACL="public-read")
    assert len(s3v2.get_object_acl(Bucket=b, Key="a/one")["Grants"]) == 2
    up = s3v2.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    p1 = s3v2.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=1,
                          Body=b"a" * (5 * 1024 * 1024))
    p2 = s3v2.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=2, Body=b"tail")
    assert len(s3v2.list_parts(Bucket=b, Key="mp", UploadId=up)["Parts"]) == 2
    s3v2.complete_multipart_upload(
        Bucket=b, Key="mp", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]},
                                   {"PartNumber": 2, "ETag": p2["ETag"]}]})
    assert s3v2.head_object(Bucket=b, Key="mp")["ContentLength"] == 5 * 1024 * 1024 + 4
    s3v2.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "a/two"})
    s3v2.delete_object(Bucket=b, Key="copy")
    out = s3v2.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "a/one"},
                                                            {"Key": "a/two"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["a/one", "a/two"]
    assert [o["Key"] for o in s3v2.list_objects_v2(Bucket=b)["Contents"]] == ["mp"]


def test_sigv2_wrong_secret_and_skew(endpoint, client_for, s3, bucket):
    from s3helpers import Creds, s3_error
    bad = client_for(Creds(DEFAULT.access_key, "not-the-secret"), signature_version="s3")
    with s3_error("SignatureDoesNotMatch", 403):
        bad.list_objects_v2(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    path = key_path(bucket, "k")
    host = urllib.parse.urlsplit(endpoint).netloc
    ok = sigv2_headers("GET", path, {"Host": host}, DEFAULT)
    r = requests.get(f"{endpoint}{path}", headers=ok, timeout=30)
    assert r.status_code == 200, r.text
    old = email.utils.formatdate(time.time() - 20 * 60, usegmt=True)
    r = requests.get(f"{endpoint}{path}", timeout=30,
                     headers=sigv2_headers("GET", path, {"Host": host}, DEFAULT, date=old))
    assert r.status_code == 403 and error_of(r)["Code"] == "RequestTimeTooSkewed", r.text
    # x-amz-date overrides Date (whose line is then empty in the string to sign).
    h = {"Host": host, "x-amz-date": email.utils.formatdate(usegmt=True), "Date": old}
    sts = sigv2_string_to_sign("GET", path, h, "")
    h["Authorization"] = f"AWS {DEFAULT.access_key}:{sigv2_signature(DEFAULT.secret_key, sts)}"
    r = requests.get(f"{endpoint}{path}", headers=h, timeout=30)
    assert r.status_code == 200, r.text


def test_sigv2_virtual_hosted(endpoint, s3, bucket):
    """The bucket of a virtual-hosted request is part of the signed resource."""
    s3.put_object(Bucket=bucket, Key="vh", Body=b"virtual")
    port = urllib.parse.urlsplit(endpoint).port
    host = f"{bucket}.s3.local:{port}"
    h = sigv2_headers("GET", f"/{bucket}/vh", {"Host": host}, DEFAULT)
    r = requests.get(f"http://127.0.0.1:{port}/vh", headers=h, timeout=30)
    assert r.status_code == 200, r.text
    assert r.content == b"virtual"
    h = sigv2_headers("GET", "/vh", {"Host": host}, DEFAULT)
    r = requests.get(f"http://127.0.0.1:{port}/vh", headers=h, timeout=30)
    assert r.status_code == 403 and error_of(r)["Code"] == "SignatureDoesNotMatch", r.text


# ---- SigV4 without x-amz-content-sha256 ---------------------------------------------------------

def generic_sigv4(method: str, url: str, body: bytes = b"", headers: dict | None = None,
                  sign_body: bytes | None = None):
    """A request signed by botocore's generic SigV4Auth (not the S3 flavour): no
    x-amz-content-sha256 header, the body's SHA-256 in the signature. `sign_body` signs
    another body than the one sent (tampering)."""
    creds = Credentials(DEFAULT.access_key, DEFAULT.secret_key)
    req = AWSRequest(method=method, url=url, data=sign_body if sign_body is not None else body,
                     headers=headers or {})
    SigV4Auth(creds, "s3", REGION).add_auth(req)
    sent = {k: v for k, v in req.prepare().headers.items() if k.lower() != "content-length"}
    assert not any(k.lower() == "x-amz-content-sha256" for k in sent), sent
    return requests.request(method, url, data=body, headers=sent, timeout=30)


def test_generic_sigv4_put_get_delete(endpoint, s3, bucket):
    url = f"{endpoint}{key_path(bucket, 'generic')}"
    r = generic_sigv4("PUT", url, b"signed by SigV4Auth")
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="generic")["Body"].read() == b"signed by SigV4Auth"
    r = generic_sigv4("GET", url)
    assert r.status_code == 200 and r.content == b"signed by SigV4Auth", r.text
    r = generic_sigv4("DELETE", url)
    assert r.status_code == 204, r.text
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_generic_sigv4_tampered_body_is_refused_and_not_stored(endpoint, s3, bucket):
    url = f"{endpoint}{key_path(bucket, 'tampered')}"
    r = generic_sigv4("PUT", url, b"evil body!", sign_body=b"good body!")
    assert r.status_code == 403, r.text
    assert error_of(r)["Code"] == "SignatureDoesNotMatch"
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    # A large body (streamed to a data file) is checked at its end just the same.
    big = os.urandom(3 * 1024 * 1024)
    r = generic_sigv4("PUT", url, big, sign_body=big[:-1] + bytes([big[-1] ^ 1]))
    assert r.status_code == 403, r.text
    assert error_of(r)["Code"] == "SignatureDoesNotMatch"
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    r = generic_sigv4("PUT", url, big)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="tampered")["Body"].read() == big


def delete_body(keys) -> bytes:
    objs = "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
    return f"<Delete>{objs}</Delete>".encode()


def test_generic_sigv4_xml_bodies(endpoint, s3, bucket):
    for k in ("d1", "d2", "keep"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    url = f"{endpoint}/{bucket}?delete"
    body = delete_body(["d1", "d2"])
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    # Tampered: the signature covers another list; nothing is deleted.
    evil = delete_body(["d1", "keep"])
    r = generic_sigv4("POST", url, evil, {"Content-MD5": base64.b64encode(
        hashlib.md5(evil).digest()).decode()}, sign_body=body)
    assert r.status_code == 403, r.text
    assert error_of(r)["Code"] == "SignatureDoesNotMatch"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["d1", "d2", "keep"]
    r = generic_sigv4("POST", url, body, {"Content-MD5": md5})
    assert r.status_code == 200, r.text
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["keep"]
    # An ACL document, tampered then genuine.
    acl_url = f"{endpoint}{key_path(bucket, 'keep')}?acl"
    r = generic_sigv4("PUT", acl_url, b"", {"x-amz-acl": "public-read"},
                      sign_body=b"anything")
    assert r.status_code == 403, r.text
    assert len(s3.get_object_acl(Bucket=bucket, Key="keep")["Grants"]) == 1
    r = generic_sigv4("PUT", acl_url, b"", {"x-amz-acl": "public-read"})
    assert r.status_code == 200, r.text
    assert len(s3.get_object_acl(Bucket=bucket, Key="keep")["Grants"]) == 2


def test_generic_sigv4_create_bucket_with_configuration(endpoint, s3, bucket_factory):
    from s3helpers import unique_name
    name = unique_name("gen")
    body = (b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            b"<LocationConstraint>" + REGION.encode() + b"</LocationConstraint>"
            b"</CreateBucketConfiguration>")
    r = generic_sigv4("PUT", f"{endpoint}/{name}", body, sign_body=body + b" ")
    assert r.status_code == 403, r.text
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    r = generic_sigv4("PUT", f"{endpoint}/{name}", body)
    assert r.status_code == 200, r.text
    bucket_factory.track(name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed "
                    "(tests/e2e/install_curl.sh installs it)")
def test_curl_aws_sigv4(endpoint, s3, bucket, tmp_path):
    """curl signs the SHA-256 of the data it was given (`--data-binary`), without an
    x-amz-content-sha256 header. (curl 7.88's `-T` signs the empty payload while it sends a
    body: a body that does not match its signature is refused, as any other.)"""
    src = tmp_path / "upload.bin"
    data = os.urandom(200_000)
    src.write_bytes(data)
    url = f"{endpoint}{key_path(bucket, 'curl/up.bin')}"
    base = ["curl", "-sS", "--aws-sigv4", f"aws:amz:{REGION}:s3", "--user",
            f"{DEFAULT.access_key}:{DEFAULT.secret_key}", "-o", str(tmp_path / "out"),
            "-w", "%{http_code}"]
    p = subprocess.run(base + ["-X", "PUT", "--data-binary", f"@{src}", url],
                       capture_output=True, text=True, timeout=60)
    assert p.stdout == "200", (p.stdout, p.stderr, (tmp_path / "out").read_bytes()[:500])
    assert s3.get_object(Bucket=bucket, Key="curl/up.bin")["Body"].read() == data
    p = subprocess.run(base + [url], capture_output=True, text=True, timeout=60)
    assert p.stdout == "200", p.stderr
    assert (tmp_path / "out").read_bytes() == data
    bad = base[:5] + [f"{DEFAULT.access_key}:wrong"] + base[6:]
    p = subprocess.run(bad + ["-X", "PUT", "--data-binary", f"@{src}",
                              url.replace("up.bin", "bad.bin")],
                       capture_output=True, text=True, timeout=60)
    assert p.stdout == "403", p.stderr
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["curl/up.bin"]


# ---- presigned validity ---------------------------------------------------------------------

@pytest.mark.parametrize("expires,message", [
    ("-1", "X-Amz-Expires must be non-negative"),
    ("604801", "X-Amz-Expires must be less than a week (in seconds); that is, the given "
               "X-Amz-Expires must be less than 604800 seconds"),
    ("soon", "X-Amz-Expires should be a number"),
])
def test_presigned_expires_out_of_range(endpoint, bucket, expires, message):
    url = presign_url(endpoint, "GET", key_path(bucket, "k"), DEFAULT, expires)
    r = requests.get(url, timeout=30)
    assert r.status_code == 400, r.text
    err = error_of(r)
    assert (err["Code"], err["Message"]) == ("AuthorizationQueryParametersError", message)


def test_presigned_zero_lifetime_and_expired(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = presign_url(endpoint, "GET", key_path(bucket, "k"), DEFAULT, 0,
                      amz_date=amz_now(-2))
    r = requests.get(url, timeout=30)
    assert r.status_code == 403, r.text
    err = error_of(r)
    assert (err["Code"], err["Message"]) == ("AccessDenied", "Request has expired")


def test_presigned_not_yet_valid(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    soon = presign_url(endpoint, "GET", key_path(bucket, "k"), DEFAULT, 3600,
                       amz_date=amz_now(5 * 60))
    assert requests.get(soon, timeout=30).status_code == 200  # within the clock skew
    later = presign_url(endpoint, "GET", key_path(bucket, "k"), DEFAULT, 3600,
                        amz_date=amz_now(20 * 60))
    r = requests.get(later, timeout=30)
    assert r.status_code == 403, r.text
    err = error_of(r)
    assert (err["Code"], err["Message"]) == ("AccessDenied", "Request is not valid yet")
