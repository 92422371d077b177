"""Bucket policies (issue 18): Put/Get/DeleteBucketPolicy, GetBucketPolicyStatus, the
policy's decision on every request (anonymous reads allowed by a policy, explicit Deny
beating ACL grants, conditions), MalformedPolicy refusals and the owner lockout rule."""

from __future__ import annotations

import json

import pytest

from s3helpers import key_path, s3_error


def doc(*statements, version="2012-10-17") -> str:
    return json.dumps({"Version": version, "Statement": list(statements)})


def stmt(effect, action, resource, principal="*", **extra) -> dict:
    s = {"Effect": effect, "Principal": principal, "Action": action, "Resource": resource}
    s.update(extra)
    return s


def public_read(bucket) -> str:
    return doc(stmt("Allow", "s3:GetObject", f"arn:aws:s3:::{bucket}/*", principal={"AWS": "*"}))


def anon_get(raw, bucket, key):
    return raw.request("GET", key_path(bucket, key), sign=False)


def test_put_get_delete_policy(s3, bucket):
    with s3_error("NoSuchBucketPolicy", 404):
        s3.get_bucket_policy(Bucket=bucket)
    with s3_error("NoSuchBucketPolicy", 404):
        s3.get_bucket_policy_status(Bucket=bucket)
    text = public_read(bucket)
    r = s3.put_bucket_policy(Bucket=bucket, Policy=text)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == text
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    r = s3.delete_bucket_policy(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error("NoSuchBucketPolicy", 404):
        s3.get_bucket_policy(Bucket=bucket)
    # Deleting again is still 204.
    assert s3.delete_bucket_policy(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_policy_status_not_public_with_ip_condition(s3, bucket):
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(stmt(
        "Allow", "s3:GetObject", f"arn:aws:s3:::{bucket}/*",
        Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False


def test_anonymous_read_allowed_by_policy(s3, bucket, raw):
    s3.put_object(Bucket=bucket, Key="pub/a.txt", Body=b"hello")
    assert anon_get(raw, bucket, "pub/a.txt").status == 403
    s3.put_bucket_policy(Bucket=bucket, Policy=public_read(bucket))
    r = anon_get(raw, bucket, "pub/a.txt")
    assert r.status == 200 and r.body == b"hello"
    # The policy grants GetObject only: no listing, no writes, and a missing key is
    # AccessDenied (no s3:ListBucket), not NoSuchKey.
    assert raw.request("GET", key_path(bucket), sign=False).status == 403
    assert raw.request("PUT", key_path(bucket, "x"), body=b"x", sign=False).status == 403
    missing = anon_get(raw, bucket, "nope")
    assert missing.status == 403 and missing.error_code == "AccessDenied"
    s3.delete_bucket_policy(Bucket=bucket)
    assert anon_get(raw, bucket, "pub/a.txt").status == 403


def test_policy_grants_other_user(s3, s3_alice, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    with s3_error("AccessDenied", 403):
        s3_alice.get_object(Bucket=bucket, Key="k")
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(
        stmt("Allow", ["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::{bucket}/*",
             principal={"AWS": "arn:aws:iam::123456789012:user/alice"}),
        stmt("Allow", "s3:ListBucket", f"arn:aws:s3:::{bucket}", principal={"AWS": ["alice-id"]})))
    assert s3_alice.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    s3_alice.put_object(Bucket=bucket, Key="from-alice", Body=b"a")
    keys = [o["Key"] for o in s3_alice.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["from-alice", "k"]
    with s3_error("AccessDenied", 403):
        s3_alice.delete_object(Bucket=bucket, Key="k")
    # Policy configuration stays the owner's.
    with s3_error("AccessDenied", 403):
        s3_alice.get_bucket_policy(Bucket=bucket)


def test_explicit_deny_beats_acl_allow(s3, s3_alice, bucket):
    s3.put_object(Bucket=bucket, Key="secret/k", Body=b"s", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="open/k", Body=b"o", ACL="public-read")
    assert s3_alice.get_object(Bucket=bucket, Key="secret/k")["Body"].read() == b"s"
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(
        stmt("Deny", "s3:GetObject", f"arn:aws:s3:::{bucket}/secret/*")))
    with s3_error("AccessDenied", 403):
        s3_alice.get_object(Bucket=bucket, Key="secret/k")
    # Even the owner is denied.
    with s3_error("AccessDenied", 403):
        s3.get_object(Bucket=bucket, Key="secret/k")
    assert s3_alice.get_object(Bucket=bucket, Key="open/k")["Body"].read() == b"o"
    assert s3.get_object(Bucket=bucket, Key="open/k")["Body"].read() == b"o"


def test_owner_lockout_rule(s3, bucket):
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(stmt("Deny", "s3:*", [
        f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"])))
    with s3_error("AccessDenied", 403):
        s3.list_objects_v2(Bucket=bucket)
    with s3_error("AccessDenied", 403):
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    # The owner can still read, replace and delete the policy.
    assert "Deny" in s3.get_bucket_policy(Bucket=bucket)["Policy"]
    s3.delete_bucket_policy(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def test_condition_source_ip(s3, bucket, raw):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(stmt(
        "Allow", "s3:GetObject", f"arn:aws:s3:::{bucket}/*",
        Condition={"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}})))
    assert anon_get(raw, bucket, "k").status == 403
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(stmt(
        "Allow", "s3:GetObject", f"arn:aws:s3:::{bucket}/*",
        Condition={"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}})))
    assert anon_get(raw, bucket, "k").status == 200
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(stmt(
        "Allow", "s3:GetObject", f"arn:aws:s3:::{bucket}/*",
        Condition={"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}})))
    assert anon_get(raw, bucket, "k").status == 403


def test_condition_secure_transport_false(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(stmt(
        "Deny", "s3:*", f"arn:aws:s3:::{bucket}/*",
        Condition={"Bool": {"aws:SecureTransport": "false"}})))
    # Plain HTTP: the deny applies, to the owner too.
    with s3_error("AccessDenied", 403):
        s3.get_object(Bucket=bucket, Key="k")
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(stmt(
        "Deny", "s3:*", f"arn:aws:s3:::{bucket}/*",
        Condition={"Bool": {"aws:SecureTransport": "true"}})))
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_condition_prefix(s3, s3_alice, bucket):
    s3.put_object(Bucket=bucket, Key="home/alice/a", Body=b"1")
    s3.put_object(Bucket=bucket, Key="other/b", Body=b"2")
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(stmt(
        "Allow", "s3:ListBucket", f"arn:aws:s3:::{bucket}", principal={"AWS": "alice"},
        Condition={"StringLike": {"s3:prefix": "home/${aws:username}/*"}})))
    r = s3_alice.list_objects_v2(Bucket=bucket, Prefix="home/alice/")
    assert [o["Key"] for o in r["Contents"]] == ["home/alice/a"]
    with s3_error("AccessDenied", 403):
        s3_alice.list_objects_v2(Bucket=bucket, Prefix="other/")
    with s3_error("AccessDenied", 403):
        s3_alice.list_objects_v2(Bucket=bucket)


def test_condition_existing_object_tag(s3, s3_alice, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"t", Tagging="class=public")
    s3.put_object(Bucket=bucket, Key="u", Body=b"u", Tagging="class=private")
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(stmt(
        "Allow", "s3:GetObject", f"arn:aws:s3:::{bucket}/*", principal={"AWS": "alice"},
        Condition={"StringEquals": {"s3:ExistingObjectTag/class": "public"}})))
    assert s3_alice.get_object(Bucket=bucket, Key="t")["Body"].read() == b"t"
    with s3_error("AccessDenied", 403):
        s3_alice.get_object(Bucket=bucket, Key="u")


@pytest.mark.parametrize("policy, message", [
    ("not json", None),
    ('{"Version":"2012-10-17","Statement":[]}', None),
    ('{"Version":"2012-10-17"}', None),
    ('{"Version":"1999-01-01","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/*"}}', None),
    ('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:Fly","Resource":"arn:aws:s3:::BUCKET/*"}}', "Policy has invalid action"),
    ('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::another-bucket/*"}}', "Policy has invalid resource"),
    ('{"Version":"2012-10-17","Statement":{"Effect":"Perhaps","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/*"}}', None),
    ('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/*"}}', None),
    ('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/*","Condition":{"IpAddress":{"aws:SourceIp":"300.1.1.1/8"}}}}', None),
    ('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/*","Condition":{"StringSortOf":{"s3:prefix":"a"}}}}', None),
])
def test_malformed_policies(s3, bucket, policy, message):
    with s3_error("MalformedPolicy", 400) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy=policy.replace("BUCKET", bucket))
    if message:
        assert e.exc.response["Error"]["Message"] == message
    with s3_error("NoSuchBucketPolicy", 404):
        s3.get_bucket_policy(Bucket=bucket)


def test_policy_too_large(s3, bucket):
    big = doc(stmt("Allow", "s3:GetObject", f"arn:aws:s3:::{bucket}/*", Sid="x" * (21 * 1024)))
    with s3_error("MalformedPolicy", 400):
        s3.put_bucket_policy(Bucket=bucket, Policy=big)


def test_policy_needs_owner(s3, s3_alice, s3_anon, bucket):
    with s3_error("AccessDenied", 403):
        s3_alice.put_bucket_policy(Bucket=bucket, Policy=public_read(bucket))
    with s3_error("AccessDenied", 403):
        s3_anon.delete_bucket_policy(Bucket=bucket)
    with s3_error("NoSuchBucket", 404):
        s3.put_bucket_policy(Bucket=bucket + "-missing", Policy=public_read(bucket + "-missing"))


def test_delete_objects_decided_per_key(s3, s3_alice, bucket):
    for k in ("keep/a", "tmp/b"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(
        stmt("Allow", "s3:DeleteObject", f"arn:aws:s3:::{bucket}/tmp/*", principal={"AWS": "alice"}),
        stmt("Deny", "s3:DeleteObject", f"arn:aws:s3:::{bucket}/keep/*")))
    r = s3_alice.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "keep/a"}, {"Key": "tmp/b"}]})
    assert [d["Key"] for d in r.get("Deleted", [])] == ["tmp/b"]
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [("keep/a", "AccessDenied")]
    # The owner is denied keep/* too.
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "keep/a"}]})
    assert [e["Code"] for e in r["Errors"]] == ["AccessDenied"]
    s3.delete_bucket_policy(Bucket=bucket)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["keep/a"]


def test_bucket_owner_operations_follow_the_policy(s3, s3_alice, bucket):
    """DeleteBucket and GetBucketLocation go through the policy too: an explicit Deny stops
    even the owner, an Allow opens GetBucketLocation to another user."""
    with s3_error("AccessDenied", 403):
        s3_alice.get_bucket_location(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(
        stmt("Deny", "s3:DeleteBucket", f"arn:aws:s3:::{bucket}"),
        stmt("Allow", "s3:GetBucketLocation", f"arn:aws:s3:::{bucket}",
             principal={"AWS": ["alice-id"]})))
    with s3_error("AccessDenied", 403):
        s3.delete_bucket(Bucket=bucket)
    assert s3_alice.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None
    s3.delete_bucket_policy(Bucket=bucket)
    with s3_error("AccessDenied", 403):
        s3_alice.get_bucket_location(Bucket=bucket)


def test_acl_headers_also_need_put_object_acl(s3, s3_alice, bucket):
    """A write that sets an ACL is both s3:PutObject and s3:PutObjectAcl (as AWS asks)."""
    alice = {"AWS": "alice-id"}
    objects = f"arn:aws:s3:::{bucket}/*"
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(stmt("Allow", "s3:PutObject", objects, principal=alice)))
    s3_alice.put_object(Bucket=bucket, Key="plain", Body=b"p")
    for key, call in (
        ("acl", lambda k: s3_alice.put_object(Bucket=bucket, Key=k, Body=b"a", ACL="public-read")),
        ("mpu", lambda k: s3_alice.create_multipart_upload(Bucket=bucket, Key=k, ACL="public-read")),
        ("copy", lambda k: s3_alice.copy_object(Bucket=bucket, Key=k, ACL="private",
                                                CopySource={"Bucket": bucket, "Key": "plain"})),
    ):
        with s3_error("AccessDenied", 403):
            call(key)
        with s3_error("NoSuchKey", 404):
            s3.get_object(Bucket=bucket, Key=key)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(
        stmt("Allow", ["s3:PutObject", "s3:PutObjectAcl"], objects, principal=alice)))
    s3_alice.put_object(Bucket=bucket, Key="acl", Body=b"a", ACL="public-read")
    # An explicit Deny of s3:PutObjectAcl stops ACL-setting writes, even the owner's, and
    # leaves plain writes alone.
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(
        stmt("Deny", "s3:PutObjectAcl", objects)))
    with s3_error("AccessDenied", 403):
        s3.put_object(Bucket=bucket, Key="owner-acl", Body=b"o", ACL="private")
    s3.put_object(Bucket=bucket, Key="owner-plain", Body=b"o")
