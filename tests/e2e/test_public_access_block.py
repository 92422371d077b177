"""Public access block (issue 18): Put/Get/DeletePublicAccessBlock and what each of the
four settings refuses or ignores."""

from __future__ import annotations

import json

from s3helpers import key_path, s3_error

ALL_OFF = dict(BlockPublicAcls=False, IgnorePublicAcls=False, BlockPublicPolicy=False,
               RestrictPublicBuckets=False)


def pab(**on) -> dict:
    cfg = dict(ALL_OFF)
    cfg.update(on)
    return cfg


def public_read(bucket) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]})


def test_put_get_delete(s3, bucket):
    with s3_error("NoSuchPublicAccessBlockConfiguration", 404):
        s3.get_public_access_block(Bucket=bucket)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=pab(
        BlockPublicAcls=True, RestrictPublicBuckets=True))
    got = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got == pab(BlockPublicAcls=True, RestrictPublicBuckets=True)
    assert s3.delete_public_access_block(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error("NoSuchPublicAccessBlockConfiguration", 404):
        s3.get_public_access_block(Bucket=bucket)


def test_malformed_and_not_owner(s3, s3_alice, bucket, raw):
    body = b"<PublicAccessBlockConfiguration><BlockPublicAcls>maybe</BlockPublicAcls></PublicAccessBlockConfiguration>"
    r = raw.request("PUT", key_path(bucket), query=[("publicAccessBlock", "")], body=body)
    assert r.status == 400 and r.error_code == "MalformedXML"
    with s3_error("AccessDenied", 403):
        s3_alice.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=pab())
    with s3_error("AccessDenied", 403):
        s3_alice.get_public_access_block(Bucket=bucket)


def test_block_public_acls(s3, bucket):
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=pab(BlockPublicAcls=True))
    with s3_error("AccessDenied", 403):
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")
    with s3_error("AccessDenied", 403):
        s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    with s3_error("AccessDenied", 403):
        s3.create_multipart_upload(Bucket=bucket, Key="m", ACL="authenticated-read")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private")
    with s3_error("AccessDenied", 403):
        s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    with s3_error("AccessDenied", 403):
        s3.copy_object(Bucket=bucket, Key="k2", CopySource={"Bucket": bucket, "Key": "k"},
                       ACL="public-read-write")
    s3.put_object(Bucket=bucket, Key="k3", Body=b"x")


def test_ignore_public_acls(s3, bucket, raw):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")
    assert raw.request("GET", key_path(bucket, "k"), sign=False).status == 200
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=pab(IgnorePublicAcls=True))
    assert raw.request("GET", key_path(bucket, "k"), sign=False).status == 403
    s3.delete_public_access_block(Bucket=bucket)
    assert raw.request("GET", key_path(bucket, "k"), sign=False).status == 200


def test_block_public_policy(s3, bucket):
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=pab(BlockPublicPolicy=True))
    with s3_error("AccessDenied", 403):
        s3.put_bucket_policy(Bucket=bucket, Policy=public_read(bucket))
    # A non-public policy is accepted.
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "alice-id"}, "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}))


def test_restrict_public_buckets(s3, s3_alice, bucket, raw):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_bucket_policy(Bucket=bucket, Policy=public_read(bucket))
    assert raw.request("GET", key_path(bucket, "k"), sign=False).status == 200
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=pab(RestrictPublicBuckets=True))
    assert raw.request("GET", key_path(bucket, "k"), sign=False).status == 403
    # Authenticated users of this server still get what the policy grants.
    assert s3_alice.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    s3.delete_public_access_block(Bucket=bucket)
    assert raw.request("GET", key_path(bucket, "k"), sign=False).status == 200
