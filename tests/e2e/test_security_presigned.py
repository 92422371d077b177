"""Presigned URLs cannot be widened by their holder (issue #20, item 1).

A presigned URL binds the method, the resource, the expiry and the headers listed in
X-Amz-SignedHeaders. Every `x-amz-*` header sent with it must be one of those: otherwise
the holder of a URL signed for a plain PUT could add `x-amz-copy-source` (and read data
the signer can read), `x-amz-acl` or `x-amz-grant-*` (and take control of the object).
AWS answers 403 AccessDenied, "There were headers present in the request which were not
signed", with a HeadersNotSigned element naming them. The same holds for SigV2 presigned
URLs, where every x-amz-* header is part of the string to sign.
"""

import xml.etree.ElementTree as ET

import pytest
import requests

from s3helpers import ALICE, BOB, make_client


def error_of(resp) -> dict:
    root = ET.fromstring(resp.content)
    return {el.tag.split("}")[-1]: (el.text or "") for el in root.iter()}


@pytest.fixture(scope="module")
def alice_v4(endpoint):
    return make_client(endpoint, ALICE, signature_version="s3v4")


@pytest.fixture(scope="module")
def bob_v4(endpoint):
    return make_client(endpoint, BOB, signature_version="s3v4")


@pytest.fixture
def alice_secret(bucket_factory, s3_alice):
    """Alice's bucket holding `secret`, which bob may read (so that a copy made with bob's
    authority would succeed: the only thing standing in its way is the signature rule)."""
    b = bucket_factory("alice", client=s3_alice)
    s3_alice.put_object(Bucket=b, Key="secret", Body=b"alice's secret")
    s3_alice.put_object_acl(Bucket=b, Key="secret", GrantRead=f'id="{BOB.user_id}"',
                            GrantFullControl=f'id="{ALICE.user_id}"')
    return b


@pytest.fixture
def bob_bucket(bucket_factory, s3_bob):
    return bucket_factory("bob", client=s3_bob)


def assert_not_signed(resp, *names):
    assert resp.status_code == 403, resp.text
    err = error_of(resp)
    assert err["Code"] == "AccessDenied", resp.text
    assert err["Message"] == "There were headers present in the request which were not signed"
    listed = [n.strip() for n in err.get("HeadersNotSigned", "").split(",")]
    for n in names:
        assert n in listed, resp.text


def keys_of(client, bucket):
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_presigned_put_cannot_become_a_copy(s3_bob, bob_v4, alice_secret, bob_bucket):
    # The copy itself is allowed to bob: the attack needs nothing more than the URL.
    s3_bob.copy_object(Bucket=bob_bucket, Key="legit-copy",
                       CopySource={"Bucket": alice_secret, "Key": "secret"})
    url = bob_v4.generate_presigned_url(
        "put_object", Params={"Bucket": bob_bucket, "Key": "upload"}, ExpiresIn=300)
    assert "X-Amz-SignedHeaders=host&" in url or url.endswith("X-Amz-SignedHeaders=host")
    r = requests.put(url, data=b"", timeout=30, headers={
        "x-amz-copy-source": f"/{alice_secret}/secret",
        "x-amz-acl": "public-read",
    })
    assert_not_signed(r, "x-amz-copy-source", "x-amz-acl")
    assert "upload" not in keys_of(s3_bob, bob_bucket)
    # The URL itself still works for what it was signed for.
    r = requests.put(url, data=b"plain upload", timeout=30)
    assert r.status_code == 200, r.text
    assert s3_bob.get_object(Bucket=bob_bucket, Key="upload")["Body"].read() == b"plain upload"


def test_presigned_put_cannot_grant_itself_control(s3_alice, alice_v4, bucket_factory):
    b = bucket_factory("grant", client=s3_alice)
    url = alice_v4.generate_presigned_url(
        "put_object", Params={"Bucket": b, "Key": "doc"}, ExpiresIn=300)
    r = requests.put(url, data=b"data", timeout=30, headers={
        "x-amz-grant-full-control": f'id="{BOB.user_id}"'})
    assert_not_signed(r, "x-amz-grant-full-control")
    assert "doc" not in keys_of(s3_alice, b)


def test_presigned_upload_part_cannot_become_upload_part_copy(s3_bob, bob_v4, alice_secret,
                                                                bob_bucket):
    up = s3_bob.create_multipart_upload(Bucket=bob_bucket, Key="mp")["UploadId"]
    url = bob_v4.generate_presigned_url(
        "upload_part", Params={"Bucket": bob_bucket, "Key": "mp", "UploadId": up,
                               "PartNumber": 1}, ExpiresIn=300)
    r = requests.put(url, data=b"", timeout=30, headers={
        "x-amz-copy-source": f"/{alice_secret}/secret"})
    assert_not_signed(r, "x-amz-copy-source")
    assert s3_bob.list_parts(Bucket=bob_bucket, Key="mp", UploadId=up).get("Parts", []) == []
    r = requests.put(url, data=b"part one", timeout=30)
    assert r.status_code == 200, r.text
    parts = s3_bob.list_parts(Bucket=bob_bucket, Key="mp", UploadId=up)["Parts"]
    assert [p["Size"] for p in parts] == [len(b"part one")]


def test_presigned_get_with_unsigned_amz_header(s3_alice, alice_v4, bucket_factory):
    b = bucket_factory("get", client=s3_alice)
    s3_alice.put_object(Bucket=b, Key="k", Body=b"v")
    url = alice_v4.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"},
                                          ExpiresIn=300)
    r = requests.get(url, timeout=30, headers={"x-amz-meta-anything": "1"})
    assert_not_signed(r, "x-amz-meta-anything")


def test_signed_amz_headers_keep_working(s3_alice, alice_v4, bucket_factory):
    """botocore signs the x-amz-* headers a presigned operation carries (here the canned
    ACL); the client that sends them as signed is served and the ACL applies."""
    b = bucket_factory("signed", client=s3_alice)
    url = alice_v4.generate_presigned_url(
        "put_object", Params={"Bucket": b, "Key": "pub", "ACL": "public-read"},
        ExpiresIn=300)
    assert "x-amz-acl" in requests.utils.unquote(url)
    r = requests.put(url, data=b"public", timeout=30, headers={"x-amz-acl": "public-read"})
    assert r.status_code == 200, r.text
    grants = s3_alice.get_object_acl(Bucket=b, Key="pub")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("/AllUsers") and g["Permission"] == "READ"
               for g in grants)
    # A different value than the signed one is a different request.
    r = requests.put(url, data=b"public", timeout=30,
                     headers={"x-amz-acl": "public-read-write"})
    assert r.status_code == 403, r.text
    assert error_of(r)["Code"] == "SignatureDoesNotMatch"


def test_content_sha256_header_is_tolerated(s3_alice, alice_v4, bucket_factory):
    """Some clients send x-amz-content-sha256 along with a presigned URL; a presigned
    request takes its payload hash from the query, so the header changes nothing and is
    accepted unsigned (as S3 does)."""
    b = bucket_factory("sha", client=s3_alice)
    url = alice_v4.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "k"},
                                          ExpiresIn=300)
    r = requests.put(url, data=b"body", timeout=30,
                     headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    assert r.status_code == 200, r.text
    assert s3_alice.get_object(Bucket=b, Key="k")["Body"].read() == b"body"

