"""Bucket, listing and ACL compatibility (issue 15 items 9-13, 19, 20; issue 20 items 5, 9):
DeleteBucket with pending uploads, re-creating an owned bucket, ListBuckets pages, the
expected-bucket-owner headers, unset bucket configurations, control characters in listings
(checked with a real XML 1.0 parser), the existence oracle across users, and ACL grants."""

from __future__ import annotations

import os
import re
import time
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import pytest

from s3helpers import (ALICE, BACKEND, BOB, DEFAULT, client_config, key_path, s3_error, unique_name,
                       xml_findall, xml_text)


def grants_of(acl) -> set:
    return {(g["Grantee"]["Type"], g["Grantee"].get("ID") or g["Grantee"].get("URI"),
             g["Permission"]) for g in acl["Grants"]}


# ---- DeleteBucket with in-progress multipart uploads (#15.9) ---------------------------------

def data_files() -> set:
    root = Path(os.environ.get("BLEEPSTORE_DATA_DIR", ""))
    return {p for p in root.rglob("*") if p.is_file() and "meta" not in p.parts}


def test_delete_bucket_drops_pending_uploads(s3, bucket_factory):
    name = bucket_factory("mpdel")
    before = data_files() if BACKEND == "local" else set()
    ups = [s3.create_multipart_upload(Bucket=name, Key=k)["UploadId"] for k in ("a", "b/c")]
    s3.upload_part(Bucket=name, Key="a", UploadId=ups[0], PartNumber=1, Body=b"p" * 65536)
    s3.upload_part(Bucket=name, Key="a", UploadId=ups[0], PartNumber=2, Body=b"q" * 65536)
    part_files = (data_files() - before) if BACKEND == "local" else set()
    assert s3.delete_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error("404", 404):
        s3.head_bucket(Bucket=name)
    # The uploads went with the bucket: a bucket of the same name starts without them.
    s3.create_bucket(Bucket=name)
    assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
    with s3_error("NoSuchUpload", 404):
        s3.list_parts(Bucket=name, Key="a", UploadId=ups[0])
    if BACKEND == "local":
        assert len(part_files) >= 2, part_files
        deadline = time.monotonic() + 30
        while any(p.exists() for p in part_files) and time.monotonic() < deadline:
            time.sleep(0.05)  # poll: files are freed after the commit
        assert not any(p.exists() for p in part_files), "part files of dropped uploads remain"


def test_delete_bucket_with_objects_keeps_everything(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="pending")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="pending", UploadId=up, PartNumber=1, Body=b"x" * 1024)
    s3.put_object(Bucket=bucket, Key="obj", Body=b"data")
    with s3_error("BucketNotEmpty", 409):
        s3.delete_bucket(Bucket=bucket)
    # Nothing was dropped by the refused delete.
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [up]
    assert len(s3.list_parts(Bucket=bucket, Key="pending", UploadId=up)["Parts"]) == 1
    s3.delete_object(Bucket=bucket, Key="obj")
    assert s3.delete_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


# ---- CreateBucket of an existing bucket (#15.10) ----------------------------------------------

def test_create_owned_bucket_again_in_us_east_1(s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"kept")
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    r = s3.create_bucket(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"kept"
    # AWS's legacy behaviour resets the ACL to the one this request asked for (private).
    owner = s3.list_buckets()["Owner"]["ID"]
    assert grants_of(s3.get_bucket_acl(Bucket=bucket)) == {("CanonicalUser", owner,
                                                              "FULL_CONTROL")}


def test_create_bucket_owned_by_someone_else(s3_alice, bucket):
    with s3_error("BucketAlreadyExists", 409):
        s3_alice.create_bucket(Bucket=bucket)


def test_create_owned_bucket_again_elsewhere_is_409(server_factory):
    region = "eu-west-1"
    inst = server_factory(config_overrides={"server": {"region": region}}).start()

    def client(creds):
        return boto3.session.Session().client(
            "s3", endpoint_url=inst.endpoint, region_name=region,
            aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key,
            config=client_config())

    c, alice = client(DEFAULT), client(ALICE)
    name = unique_name("euw")
    cfg = {"LocationConstraint": region}
    c.create_bucket(Bucket=name, CreateBucketConfiguration=cfg)
    c.put_object(Bucket=name, Key="k", Body=b"v")
    with s3_error("BucketAlreadyOwnedByYou", 409):
        c.create_bucket(Bucket=name, CreateBucketConfiguration=cfg)
    with s3_error("BucketAlreadyExists", 409):
        alice.create_bucket(Bucket=name, CreateBucketConfiguration=cfg)
    assert c.get_object(Bucket=name, Key="k")["Body"].read() == b"v"


# ---- ListBuckets pages (#15.11) ---------------------------------------------------------------

def test_list_buckets_pages(s3_alice, bucket_factory):
    stem = unique_name("lbp")
    names = sorted(bucket_factory(stem, client=s3_alice) for _ in range(5))
    seen, token, pages = [], None, 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = s3_alice.list_buckets(MaxBuckets=2, Prefix=stem, **kw)
        pages += 1
        assert r["Prefix"] == stem
        got = [b["Name"] for b in r["Buckets"]]
        assert len(got) <= 2
        assert all(b["BucketRegion"] == "us-east-1" for b in r["Buckets"])
        seen += got
        token = r.get("ContinuationToken")
        if not token:
            break
        assert pages < 10
    assert seen == names and pages == 3
    # Without max-buckets: everything, no token.
    r = s3_alice.list_buckets(Prefix=stem)
    assert [b["Name"] for b in r["Buckets"]] == names and "ContinuationToken" not in r
    assert [b["Name"] for b in s3_alice.list_buckets(Prefix=stem, BucketRegion="us-east-1")[
        "Buckets"]] == names
    assert s3_alice.list_buckets(Prefix=stem, BucketRegion="eu-west-1")["Buckets"] == []


@pytest.mark.parametrize("query", [[("max-buckets", "0")], [("max-buckets", "10001")],
                                   [("max-buckets", "two")],
                                   [("continuation-token", "!!not-a-token!!")]])
def test_list_buckets_bad_arguments(raw, query):
    r = raw.request("GET", "/", query=query)
    assert r.status == 400, r
    assert r.error_code == "InvalidArgument", r


# ---- x-amz-expected-bucket-owner (#15.12) -----------------------------------------------------

def test_expected_bucket_owner(s3, bucket_factory, default_owner_id):
    src = bucket_factory("ebo")
    dst = bucket_factory("ebo")
    s3.put_object(Bucket=src, Key="k", Body=b"v" * 10)
    ok, bad = default_owner_id, ALICE.user_id
    with s3_error("AccessDenied", 403):
        s3.put_object(Bucket=dst, Key="new", Body=b"x", ExpectedBucketOwner=bad)
    assert s3.list_objects_v2(Bucket=dst).get("KeyCount") == 0
    with s3_error("AccessDenied", 403):
        s3.list_objects_v2(Bucket=src, ExpectedBucketOwner=bad)
    with s3_error("AccessDenied", 403):
        s3.get_object(Bucket=src, Key="k", ExpectedBucketOwner=bad)
    with s3_error("403", 403):
        s3.head_bucket(Bucket=src, ExpectedBucketOwner=bad)
    with s3_error("AccessDenied", 403):
        s3.get_bucket_acl(Bucket=src, ExpectedBucketOwner=bad)
    s3.put_object(Bucket=dst, Key="new", Body=b"x", ExpectedBucketOwner=ok)
    assert s3.get_object(Bucket=src, Key="k", ExpectedBucketOwner=ok)["Body"].read() == b"v" * 10
    # The copy source's owner.
    source = {"Bucket": src, "Key": "k"}
    with s3_error("AccessDenied", 403):
        s3.copy_object(Bucket=dst, Key="c", CopySource=source, ExpectedSourceBucketOwner=bad)
    with s3_error("AccessDenied", 403):
        s3.copy_object(Bucket=dst, Key="c", CopySource=source, ExpectedBucketOwner=bad,
                       ExpectedSourceBucketOwner=ok)
    s3.copy_object(Bucket=dst, Key="c", CopySource=source, ExpectedBucketOwner=ok,
                   ExpectedSourceBucketOwner=ok)
    up = s3.create_multipart_upload(Bucket=dst, Key="m")["UploadId"]
    with s3_error("AccessDenied", 403):
        s3.upload_part_copy(Bucket=dst, Key="m", UploadId=up, PartNumber=1, CopySource=source,
                            ExpectedSourceBucketOwner=bad)
    s3.upload_part_copy(Bucket=dst, Key="m", UploadId=up, PartNumber=1, CopySource=source,
                        ExpectedSourceBucketOwner=ok)
    s3.abort_multipart_upload(Bucket=dst, Key="m", UploadId=up)


# ---- bucket configurations never set (#15.13) -------------------------------------------------

UNSET_404 = [
    ("get_bucket_tagging", "NoSuchTagSet"),
    ("get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration"),
    ("get_bucket_policy", "NoSuchBucketPolicy"),
    ("get_bucket_policy_status", "NoSuchBucketPolicy"),
    ("get_bucket_cors", "NoSuchCORSConfiguration"),
    ("get_bucket_encryption", "ServerSideEncryptionConfigurationNotFoundError"),
    ("get_bucket_website", "NoSuchWebsiteConfiguration"),
    ("get_bucket_replication", "ReplicationConfigurationNotFoundError"),
    ("get_object_lock_configuration", "ObjectLockConfigurationNotFoundError"),
    ("get_bucket_ownership_controls", "OwnershipControlsNotFoundError"),
    ("get_public_access_block", "NoSuchPublicAccessBlockConfiguration"),
]


@pytest.mark.parametrize("method,code", UNSET_404)
def test_unset_bucket_configuration_is_not_found(s3, s3_alice, bucket, method, code):
    with s3_error(code, 404):
        getattr(s3, method)(Bucket=bucket)
    with s3_error("NoSuchBucket", 404):
        getattr(s3, method)(Bucket=unique_name("nosuch"))
    with s3_error("AccessDenied", 403):
        getattr(s3_alice, method)(Bucket=bucket)


def test_unset_bucket_configuration_documents(s3, bucket):
    r = s3.get_bucket_logging(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200 and "LoggingEnabled" not in r
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"
    r = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert not any(k.endswith("Configurations") for k in r)
    r = s3.get_bucket_accelerate_configuration(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200 and "Status" not in r


def test_unset_bucket_configuration_delete_and_put(s3, bucket):
    for method in ("delete_bucket_tagging", "delete_bucket_policy", "delete_bucket_cors",
                   "delete_bucket_lifecycle", "delete_bucket_encryption",
                   "delete_bucket_website", "delete_bucket_replication",
                   "delete_bucket_ownership_controls", "delete_public_access_block"):
        r = getattr(s3, method)(Bucket=bucket)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 204, method
    with s3_error("NoSuchCORSConfiguration", 404):
        s3.get_bucket_cors(Bucket=bucket)
    # A configuration not built here is refused, never stored.
    with s3_error("NotImplemented", 501):
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})


# ---- control characters in listings (#15.19, #20.9) --------------------------------------------

ALLOWED_CTL = ["tab\there", "lf\nhere", "cr\rhere", "crlf\r\nhere", "plain & <x>"]
FORBIDDEN = ["nul\x00here", "soh\x01here", "vt\x0bhere", "us\x1fhere", "nonchar\ufffehere"]


def listed_keys(raw, bucket, query, tag="Key"):
    r = raw.request("GET", "/" + bucket, query=query)
    assert r.status == 200, r
    root = ET.fromstring(r.body)  # a real XML 1.0 parser (expat)
    url = xml_text(root, "EncodingType") == "url"
    keys = [el.text or "" for el in xml_findall(root, tag)]
    return [urllib.parse.unquote(k) for k in keys] if url else keys


LISTINGS = [
    [("list-type", "2")],
    [],
    [("versions", "")],
]


@pytest.mark.parametrize("query", LISTINGS, ids=["v2", "v1", "versions"])
def test_listing_returns_control_characters_as_stored(s3, raw, bucket, query):
    for k in ALLOWED_CTL:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    assert listed_keys(raw, bucket, query) == sorted(ALLOWED_CTL)
    assert listed_keys(raw, bucket, query + [("encoding-type", "url")]) == sorted(ALLOWED_CTL)
    # A prefix with a control character, rolled up by a delimiter.
    s3.put_object(Bucket=bucket, Key="dir\t1/x", Body=b"x")
    got = listed_keys(raw, bucket, query + [("delimiter", "/"), ("prefix", "dir\t")], "Prefix")
    assert got == ["dir\t", "dir\t1/"]


@pytest.mark.parametrize("query", LISTINGS, ids=["v2", "v1", "versions"])
def test_listing_never_sends_invalid_xml(s3, raw, bucket, query):
    for k in FORBIDDEN + ["ok"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    # Without encoding-type=url these keys cannot be carried by XML 1.0: a parseable 400.
    r = raw.request("GET", "/" + bucket, query=query)
    assert r.status == 400, r
    root = ET.fromstring(r.body)
    assert xml_text(root, "Code") == "InvalidArgument"
    assert "encoding-type" in xml_text(root, "Message")
    # With it, every key comes back exactly.
    assert listed_keys(raw, bucket, query + [("encoding-type", "url")]) == sorted(
        FORBIDDEN + ["ok"])
    # A page without the key is fine without encoding-type.
    assert listed_keys(raw, bucket, query + [("prefix", "ok")]) == ["ok"]


def test_boto3_lists_forbidden_characters(s3, bucket):
    keys = sorted(FORBIDDEN + ALLOWED_CTL)
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    # boto3 asks for encoding-type=url and decodes.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == keys
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == keys
    assert [v["Key"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]] == keys


def test_upload_listings_with_control_characters(s3, raw, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="up\tload")["UploadId"]
    assert listed_keys(raw, bucket, [("uploads", "")]) == ["up\tload"]
    # Raw: InitiateMultipartUploadResult echoes the key (not a listing, so not refused).
    r = raw.request("POST", f"/{bucket}/up%01load", query=[("uploads", "")])
    assert r.status == 200, r
    bad = re.search(rb"<UploadId>([^<]+)</UploadId>", r.body).group(1).decode()
    r = raw.request("GET", "/" + bucket, query=[("uploads", "")])
    assert r.status == 400 and ET.fromstring(r.body) is not None, r
    assert listed_keys(raw, bucket, [("uploads", ""), ("encoding-type", "url")]) == [
        "up\x01load", "up\tload"]
    r = raw.request("GET", f"/{bucket}/up%09load", query=[("uploadId", up)])
    assert r.status == 200, r
    assert xml_text(ET.fromstring(r.body), "Key") == "up\tload"
    r = raw.request("GET", f"/{bucket}/up%01load", query=[("uploadId", bad)])
    assert r.status == 400 and ET.fromstring(r.body) is not None, r
    for key, uid in (("up\tload", up), ("up\x01load", bad)):
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=uid)


# ---- existence oracle across users (#20.5) -----------------------------------------------------

def test_no_existence_oracle_for_strangers(s3, s3_bob, bucket_factory):
    private = bucket_factory("oracle")
    own = bucket_factory("oracle", client=s3_bob)
    s3.put_object(Bucket=private, Key="exists", Body=b"secret")
    up = s3_bob.create_multipart_upload(Bucket=own, Key="m")["UploadId"]
    for key in ("exists", "missing"):
        with s3_error("AccessDenied", 403):
            s3_bob.put_object_acl(Bucket=private, Key=key, ACL="public-read")
        with s3_error("AccessDenied", 403):
            s3_bob.copy_object(Bucket=own, Key="c", CopySource={"Bucket": private, "Key": key})
        with s3_error("AccessDenied", 403):
            s3_bob.upload_part_copy(Bucket=own, Key="m", UploadId=up, PartNumber=1,
                                    CopySource={"Bucket": private, "Key": key})
    # A caller who may list the bucket learns nothing new from NoSuchKey.
    s3.put_bucket_acl(Bucket=private, ACL="authenticated-read")
    with s3_error("NoSuchKey", 404):
        s3_bob.put_object_acl(Bucket=private, Key="missing", ACL="public-read")
    with s3_error("NoSuchKey", 404):
        s3_bob.copy_object(Bucket=own, Key="c", CopySource={"Bucket": private, "Key": "missing"})
    with s3_error("NoSuchKey", 404):
        s3_bob.upload_part_copy(Bucket=own, Key="m", UploadId=up, PartNumber=1,
                                CopySource={"Bucket": private, "Key": "missing"})
    s3_bob.abort_multipart_upload(Bucket=own, Key="m", UploadId=up)


# ---- ACL grants (#15.20) -----------------------------------------------------------------------

def test_grants_carry_display_names(s3, bucket):
    s3.put_bucket_acl(Bucket=bucket, GrantRead=f'id="{ALICE.user_id}"',
                      GrantFullControl=f'id="{s3.list_buckets()["Owner"]["ID"]}"')
    acl = s3.get_bucket_acl(Bucket=bucket)
    names = {g["Grantee"].get("ID"): g["Grantee"].get("DisplayName") for g in acl["Grants"]}
    assert names[ALICE.user_id] == ALICE.display_name
    assert names[acl["Owner"]["ID"]] == acl["Owner"]["DisplayName"]


def test_grants_to_unknown_users_are_refused(s3, bucket, default_owner_id):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with s3_error("InvalidArgument", 400):
        s3.put_bucket_acl(Bucket=bucket, GrantRead='id="no-such-user-id"')
    with s3_error("UnresolvableGrantByEmailAddress", 400):
        s3.put_bucket_acl(Bucket=bucket, GrantRead='emailAddress="nobody@example.com"')
    with s3_error("InvalidArgument", 400):
        s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy={
            "Owner": {"ID": default_owner_id},
            "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": "no-such-user-id"},
                        "Permission": "READ"}]})
    with s3_error("UnresolvableGrantByEmailAddress", 400):
        s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy={
            "Owner": {"ID": default_owner_id},
            "Grants": [{"Grantee": {"Type": "AmazonCustomerByEmail",
                                    "EmailAddress": "nobody@example.com"},
                        "Permission": "READ"}]})
    with s3_error("InvalidArgument", 400):
        s3.put_object(Bucket=bucket, Key="k2", Body=b"x", GrantRead='id="no-such-user-id"')
    # Nothing was changed or created by the refused requests.
    assert grants_of(s3.get_bucket_acl(Bucket=bucket)) == {
        ("CanonicalUser", default_owner_id, "FULL_CONTROL")}
    assert grants_of(s3.get_object_acl(Bucket=bucket, Key="k")) == {
        ("CanonicalUser", default_owner_id, "FULL_CONTROL")}
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="k2")


def test_empty_acl_revokes_the_owner_too(s3, bucket, default_owner_id):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy={
        "Owner": {"ID": default_owner_id}, "Grants": []})
    with s3_error("AccessDenied", 403):
        s3.get_object(Bucket=bucket, Key="k")
    # The owner keeps READ_ACP and WRITE_ACP, so the ACL can be read and repaired.
    assert s3.get_object_acl(Bucket=bucket, Key="k")["Grants"] == []
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"

    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={
        "Owner": {"ID": default_owner_id}, "Grants": []})
    with s3_error("AccessDenied", 403):
        s3.list_objects_v2(Bucket=bucket)
    with s3_error("AccessDenied", 403):
        s3.put_object(Bucket=bucket, Key="k3", Body=b"x")
    assert s3.get_bucket_acl(Bucket=bucket)["Grants"] == []
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def test_bucket_owner_canned_acls_on_objects(s3_alice, s3_bob, bucket_factory):
    name = bucket_factory("bown", client=s3_alice)
    s3_alice.put_bucket_acl(Bucket=name, GrantWrite=f'id="{BOB.user_id}"',
                            GrantFullControl=f'id="{ALICE.user_id}"')
    s3_bob.put_object(Bucket=name, Key="read", Body=b"r", ACL="bucket-owner-read")
    s3_bob.put_object(Bucket=name, Key="full", Body=b"f", ACL="bucket-owner-full-control")
    s3_bob.put_object(Bucket=name, Key="later", Body=b"l")
    assert s3_alice.get_object(Bucket=name, Key="read")["Body"].read() == b"r"
    with s3_error("AccessDenied", 403):
        s3_alice.get_object_acl(Bucket=name, Key="read")
    assert (("CanonicalUser", ALICE.user_id, "FULL_CONTROL")
            in grants_of(s3_alice.get_object_acl(Bucket=name, Key="full")))
    with s3_error("AccessDenied", 403):
        s3_alice.get_object(Bucket=name, Key="later")
    s3_bob.put_object_acl(Bucket=name, Key="later", ACL="bucket-owner-read")
    assert s3_alice.get_object(Bucket=name, Key="later")["Body"].read() == b"l"
    acl = s3_bob.get_object_acl(Bucket=name, Key="later")
    assert grants_of(acl) == {("CanonicalUser", BOB.user_id, "FULL_CONTROL"),
                              ("CanonicalUser", ALICE.user_id, "READ")}
    for k in ("read", "full", "later"):
        s3_bob.delete_object(Bucket=name, Key=k)


def test_keys_xml_cannot_carry_still_give_parseable_answers(s3, raw, bucket):
    """Responses that echo a key outside a listing (multipart results, error bodies) stay
    XML 1.0: a character XML cannot carry comes back as U+FFFD there, so clients parse them
    (AWS sends `&#x1;`, which botocore cannot read). The key itself is stored exactly."""
    key = "up\x01load"
    created = s3.create_multipart_upload(Bucket=bucket, Key=key)
    assert created["Key"] == "up\ufffdload"
    uid = created["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"abc")
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert done["Key"] == "up\ufffdload"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"abc"
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == [key]
    missing = raw.request("GET", key_path(bucket, "no\x02such"))
    assert missing.status == 404
    doc = ET.fromstring(missing.body)  # raises on invalid XML 1.0
    assert doc.findtext("Code") == "NoSuchKey"
