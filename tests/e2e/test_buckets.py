"""Bucket operations: naming, create/head/list/delete, location, ACLs, error shape."""

import random
import string
import urllib.parse
import uuid

import pytest

from s3helpers import (ALICE, ALL_USERS_URI, AUTH_USERS_URI, BOB, S3_NS, XSI_NS,
                       empty_and_delete, http_status, key_path, s3_error, unique_name,
                       xml_children, xml_find, xml_findall, xml_text)
from botocore.exceptions import ClientError


def rand_alnum(n):
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def _valid_names():
    h = uuid.uuid4().hex[:10]
    return [
        rand_alnum(3),
        "a" + rand_alnum(61) + "z",
        f"my.bucket.{h}",
        f"my-bucket-{h}",
        f"1starts-with-digit-{h}",
        f"a.b-c.d-{h}",
        f"{h}-9",
    ]


@pytest.mark.parametrize("idx", range(len(_valid_names())))
def test_create_valid_bucket_names(s3, bucket_factory, idx):
    name = _valid_names()[idx]
    resp = s3.create_bucket(Bucket=name)
    bucket_factory.track(name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["Location"] == f"/{name}"
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]


INVALID_NAMES = [
    "ab",                      # too short
    "a" * 64,                  # too long
    "UpperCase-bucket",        # uppercase
    "under_score-bucket",      # underscore
    "192.168.5.4",             # IP-address shaped
    "my..bucket",              # adjacent periods
    "-leading-hyphen",
    "trailing-hyphen-",
    ".leading-dot",
    "trailing-dot.",
    "has space",
    "bücket-unicode",
]


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_create_invalid_bucket_name(raw, name):
    r = raw.request("PUT", "/" + urllib.parse.quote(name))
    assert r.status == 400, r
    assert r.error_code == "InvalidBucketName", r
    # and nothing was created
    h = raw.request("HEAD", "/" + urllib.parse.quote(name))
    assert h.status in (400, 404), h


@pytest.mark.parametrize("name", ["xn--reserved-prefix", "sthree-reserved", "name-s3alias",
                                  "name--ol-s3"])
def test_create_bucket_reserved_prefix_suffix(raw, name):
    """AWS's naming rules reserve the xn--/sthree- prefixes and -s3alias/--ol-s3 suffixes."""
    r = raw.request("PUT", "/" + name)
    assert r.status == 400, r
    assert r.error_code == "InvalidBucketName", r


def test_create_twice_by_owner(s3, bucket):
    # us-east-1 (the suite's region): AWS's legacy 200; other regions answer 409
    # BucketAlreadyOwnedByYou (test_compat_buckets.py).
    assert s3.create_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    # still there, still ours
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_create_existing_by_other_user(s3, s3_alice, bucket):
    with s3_error("BucketAlreadyExists", 409):
        s3_alice.create_bucket(Bucket=bucket)
    assert bucket not in [b["Name"] for b in s3_alice.list_buckets()["Buckets"]]
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_location_default_region(s3, bucket):
    loc = s3.get_bucket_location(Bucket=bucket)
    # us-east-1 is reported as an empty LocationConstraint
    assert loc.get("LocationConstraint") in (None, "")


def test_location_constraint_other_region_rejected(s3, bucket_factory):
    name = unique_name("loc")
    try:
        with s3_error(("IllegalLocationConstraintException", "InvalidLocationConstraint"), 400):
            s3.create_bucket(Bucket=name,
                             CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    finally:
        bucket_factory.track(name)
    with s3_error(None, 404):
        s3.head_bucket(Bucket=name)


def test_create_bucket_malformed_configuration(raw, bucket_factory):
    name = unique_name("badcfg")
    bucket_factory.track(name)
    r = raw.request("PUT", "/" + name, body=b"<CreateBucketConfiguration><Locat")
    assert r.status == 400, r
    assert r.error_code == "MalformedXML", r


def test_create_bucket_without_body_raw(raw, s3, bucket_factory):
    """Plain `PUT /bucket` with no CreateBucketConfiguration (the us-east-1 form)."""
    name = unique_name("nobody")
    bucket_factory.track(name)
    r = raw.request("PUT", "/" + name)
    assert r.status == 200, r
    assert r.header("Location") == f"/{name}"
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_head_bucket(s3, raw, bucket):
    assert s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    missing = unique_name("missing")
    with s3_error("404", 404):
        s3.head_bucket(Bucket=missing)
    # On the wire: 404, no body; the connection stays usable for the next request.
    with raw.conn() as c:
        c.send(raw.build("HEAD", "/" + missing))
        r = c.read_response("HEAD")
        assert r.status == 404
        c.send(raw.build("HEAD", "/" + bucket))
        r2 = c.read_response("HEAD")
        assert r2.status == 200, r2
        assert r2.body == b""


def test_head_bucket_of_other_user_is_forbidden(s3_bob, bucket):
    with s3_error("403", 403):
        s3_bob.head_bucket(Bucket=bucket)


def test_list_buckets_sorted_and_scoped_to_caller(s3, s3_alice, s3_bob, bucket_factory):
    a2 = bucket_factory("zz-alice", client=s3_alice)
    a1 = bucket_factory("aa-alice", client=s3_alice)
    b1 = bucket_factory("bob", client=s3_bob)
    d1 = bucket_factory("default")

    la = s3_alice.list_buckets()
    names = [b["Name"] for b in la["Buckets"]]
    assert names == sorted(names)
    assert a1 in names and a2 in names
    assert b1 not in names and d1 not in names
    assert la["Owner"]["ID"] == ALICE.user_id
    assert la["Owner"].get("DisplayName") == ALICE.display_name
    for b in la["Buckets"]:
        assert b["CreationDate"] is not None

    lb = s3_bob.list_buckets()
    bnames = [b["Name"] for b in lb["Buckets"]]
    assert b1 in bnames and a1 not in bnames and a2 not in bnames and d1 not in bnames
    assert lb["Owner"]["ID"] == BOB.user_id

    ld = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert d1 in ld and a1 not in ld and b1 not in ld


def test_list_buckets_raw_xml(raw, bucket):
    r = raw.request("GET", "/")
    assert r.status == 200, r
    assert "xml" in (r.header("Content-Type") or "")
    root = r.xml()
    assert root.tag == f"{{{S3_NS}}}ListAllMyBucketsResult"
    names = [xml_text(b, "Name") for b in xml_findall(root, "Bucket")]
    assert bucket in names
    assert xml_text(root, "ID")


def test_delete_bucket(s3, bucket_factory):
    name = bucket_factory("del")
    resp = s3.delete_bucket(Bucket=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error("404", 404):
        s3.head_bucket(Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with s3_error("NoSuchBucket", 404):
        s3.delete_bucket(Bucket=name)
    # the name can be created again
    s3.create_bucket(Bucket=name)
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_delete_missing_bucket(s3):
    with s3_error("NoSuchBucket", 404) as e:
        s3.delete_bucket(Bucket=unique_name("never"))
    assert e.response["Error"].get("BucketName", "").startswith("never-")


def test_delete_nonempty_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep/me", Body=b"data")
    with s3_error("BucketNotEmpty", 409):
        s3.delete_bucket(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="keep/me")["Body"].read() == b"data"
    s3.delete_object(Bucket=bucket, Key="keep/me")
    assert s3.delete_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_bucket_with_pending_multipart_upload(s3, bucket):
    # As AWS: only objects make a bucket non-empty; pending uploads go with it.
    up = s3.create_multipart_upload(Bucket=bucket, Key="pending")
    assert s3.delete_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error("NoSuchBucket", 404):
        s3.abort_multipart_upload(Bucket=bucket, Key="pending", UploadId=up["UploadId"])


def test_delete_bucket_by_other_user(s3, s3_alice, bucket):
    with s3_error("AccessDenied", 403):
        s3_alice.delete_bucket(Bucket=bucket)
    assert s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200


# ---- ACLs -------------------------------------------------------------------------------

def grants_set(acl):
    out = set()
    for g in acl["Grants"]:
        ge = g["Grantee"]
        who = ge.get("ID") or ge.get("URI") or ge.get("EmailAddress")
        out.add((ge["Type"], who, g["Permission"]))
    return out


def test_bucket_acl_default_private(s3, bucket, default_owner_id):
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert acl["Owner"]["ID"] == default_owner_id
    assert grants_set(acl) == {("CanonicalUser", default_owner_id, "FULL_CONTROL")}


def test_bucket_acl_canned_on_create(s3, bucket_factory, default_owner_id):
    name = bucket_factory("pubread", ACL="public-read")
    g = grants_set(s3.get_bucket_acl(Bucket=name))
    assert ("CanonicalUser", default_owner_id, "FULL_CONTROL") in g
    assert ("Group", ALL_USERS_URI, "READ") in g
    assert len(g) == 2


def test_bucket_acl_canned_via_put_bucket_acl(s3, bucket, default_owner_id):
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    g = grants_set(s3.get_bucket_acl(Bucket=bucket))
    assert g == {("CanonicalUser", default_owner_id, "FULL_CONTROL"),
                 ("Group", ALL_USERS_URI, "READ")}
    s3.put_bucket_acl(Bucket=bucket, ACL="authenticated-read")
    g = grants_set(s3.get_bucket_acl(Bucket=bucket))
    assert g == {("CanonicalUser", default_owner_id, "FULL_CONTROL"),
                 ("Group", AUTH_USERS_URI, "READ")}
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    g = grants_set(s3.get_bucket_acl(Bucket=bucket))
    assert g == {("CanonicalUser", default_owner_id, "FULL_CONTROL")}


def test_bucket_acl_x_amz_acl_header_raw(raw, s3, bucket, default_owner_id):
    r = raw.request("PUT", "/" + bucket, query=[("acl", None)],
                    headers={"x-amz-acl": "public-read-write"})
    assert r.status == 200, r
    g = grants_set(s3.get_bucket_acl(Bucket=bucket))
    assert g == {("CanonicalUser", default_owner_id, "FULL_CONTROL"),
                 ("Group", ALL_USERS_URI, "READ"), ("Group", ALL_USERS_URI, "WRITE")}


def test_bucket_acl_access_control_policy(s3, s3_alice, bucket, default_owner_id):
    s3.put_object(Bucket=bucket, Key="obj", Body=b"x")
    with s3_error("AccessDenied", 403):
        s3_alice.list_objects_v2(Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={
        "Owner": {"ID": default_owner_id},
        "Grants": [
            {"Grantee": {"Type": "CanonicalUser", "ID": default_owner_id},
             "Permission": "FULL_CONTROL"},
            {"Grantee": {"Type": "CanonicalUser", "ID": ALICE.user_id}, "Permission": "READ"},
            {"Grantee": {"Type": "Group", "URI": ALL_USERS_URI}, "Permission": "READ_ACP"},
        ],
    })
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert acl["Owner"]["ID"] == default_owner_id
    assert grants_set(acl) == {
        ("CanonicalUser", default_owner_id, "FULL_CONTROL"),
        ("CanonicalUser", ALICE.user_id, "READ"),
        ("Group", ALL_USERS_URI, "READ_ACP"),
    }
    # the grant takes effect
    keys = [o["Key"] for o in s3_alice.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["obj"]


def test_bucket_acl_xml_raw(raw, s3, bucket, default_owner_id):
    body = (
        f'<AccessControlPolicy xmlns="{S3_NS}">'
        f"<Owner><ID>{default_owner_id}</ID></Owner><AccessControlList>"
        f'<Grant><Grantee xmlns:xsi="{XSI_NS}" xsi:type="CanonicalUser">'
        f"<ID>{default_owner_id}</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>"
        f'<Grant><Grantee xmlns:xsi="{XSI_NS}" xsi:type="Group">'
        f"<URI>{ALL_USERS_URI}</URI></Grantee><Permission>READ</Permission></Grant>"
        "</AccessControlList></AccessControlPolicy>"
    ).encode()
    r = raw.request("PUT", "/" + bucket, query=[("acl", None)], body=body)
    assert r.status == 200, r
    r = raw.request("GET", "/" + bucket, query=[("acl", None)])
    assert r.status == 200, r
    root = r.xml()
    assert root.tag == f"{{{S3_NS}}}AccessControlPolicy"
    assert xml_text(xml_find(root, "Owner"), "ID") == default_owner_id
    grants = xml_findall(root, "Grant")
    seen = set()
    for g in grants:
        grantee = xml_children(g, "Grantee")[0]
        typ = grantee.get(f"{{{XSI_NS}}}type")
        who = xml_text(grantee, "ID") or xml_text(grantee, "URI")
        seen.add((typ, who, xml_text(g, "Permission")))
    assert seen == {("CanonicalUser", default_owner_id, "FULL_CONTROL"),
                    ("Group", ALL_USERS_URI, "READ")}


def test_bucket_acl_malformed(raw, bucket):
    r = raw.request("PUT", "/" + bucket, query=[("acl", None)],
                    body=b"<AccessControlPolicy><Owner><ID>x</ID></Own")
    assert r.status == 400, r
    assert r.error_code in ("MalformedACLError", "MalformedXML"), r


def test_bucket_acl_only_owner_may_change(s3, s3_bob, bucket):
    with s3_error("AccessDenied", 403):
        s3_bob.put_bucket_acl(Bucket=bucket, ACL="public-read")
    with s3_error("AccessDenied", 403):
        s3_bob.get_bucket_acl(Bucket=bucket)


# ---- error shape --------------------------------------------------------------------------

def test_error_body_shape(raw):
    name = unique_name("nobucket")
    r = raw.request("GET", "/" + name, query=[("list-type", "2")])
    assert r.status == 404
    assert "xml" in (r.header("Content-Type") or "")
    root = r.xml()
    assert root.tag == "Error"
    assert xml_text(root, "Code") == "NoSuchBucket"
    assert xml_text(root, "Message")
    rid = r.header("x-amz-request-id")
    assert rid
    assert xml_text(root, "RequestId") == rid
    assert xml_text(root, "BucketName") == name


def test_error_body_on_object_and_access_errors(raw, s3, bucket):
    r = raw.request("GET", key_path(bucket, "no/such key"))
    assert r.status == 404
    root = r.xml()
    assert xml_text(root, "Code") == "NoSuchKey"
    assert xml_text(root, "Key") == "no/such key"
    assert xml_text(root, "RequestId") == r.header("x-amz-request-id")
    # unsigned → AccessDenied, same shape
    r = raw.request("GET", key_path(bucket, "x"), sign=False)
    assert r.status == 403
    root = r.xml()
    assert xml_text(root, "Code") == "AccessDenied"
    assert xml_text(root, "Message")
    assert xml_text(root, "RequestId") == r.header("x-amz-request-id")


def test_bucket_operations_on_missing_bucket(s3):
    name = unique_name("gone")
    for call in (lambda: s3.list_objects_v2(Bucket=name),
                 lambda: s3.list_objects(Bucket=name),
                 lambda: s3.get_bucket_acl(Bucket=name),
                 lambda: s3.get_bucket_location(Bucket=name),
                 lambda: s3.put_object(Bucket=name, Key="k", Body=b"x"),
                 lambda: s3.get_object(Bucket=name, Key="k"),
                 lambda: s3.list_multipart_uploads(Bucket=name)):
        try:
            call()
        except ClientError as e:
            assert e.response["Error"]["Code"] == "NoSuchBucket", e.response
            assert http_status(e) == 404
        else:
            raise AssertionError("expected NoSuchBucket")


def test_cleanup_helper_tolerates_missing(s3):
    # the bucket fixture's teardown must never raise
    empty_and_delete(s3, unique_name("never-existed"))
