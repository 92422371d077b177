"""S3 Object Lock (issue 17): buckets created with Object Lock, Put/GetObjectLockConfiguration,
Put/GetObjectRetention, Put/GetObjectLegalHold, the lock headers of PutObject, CopyObject and
CreateMultipartUpload, the headers GET/HEAD answer with, the refusal to delete a locked
version (DeleteObject, DeleteObjects), the GOVERNANCE bypass, and every refusal AWS gives."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from s3helpers import key_path, md5_b64, s3_error, unique_name


def later(**kw) -> datetime:
    return datetime.now(timezone.utc) + timedelta(**kw)


def headers_of(resp) -> dict:
    return resp["ResponseMetadata"]["HTTPHeaders"]


def cleanup_lock_bucket(s3, name):
    """Lifts legal holds and deletes every version with the GOVERNANCE bypass (versions
    under COMPLIANCE stay until they expire: the tests keep those short)."""
    try:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=name)
        for page in pages:
            for v in page.get("Versions", []):
                try:
                    s3.put_object_legal_hold(Bucket=name, Key=v["Key"], VersionId=v["VersionId"],
                                             LegalHold={"Status": "OFF"})
                except Exception:
                    pass
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                try:
                    s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"],
                                     BypassGovernanceRetention=True)
                except Exception:
                    pass
        s3.delete_bucket(Bucket=name)
    except Exception:
        pass


@pytest.fixture
def lock_bucket(s3):
    name = unique_name("lock")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    yield name
    cleanup_lock_bucket(s3, name)


def retention_of(s3, bucket, key, **kw):
    return s3.get_object_retention(Bucket=bucket, Key=key, **kw)["Retention"]


# ---- buckets and configurations ---------------------------------------------------------------

def test_lock_bucket_is_versioned_and_cannot_be_suspended(s3, lock_bucket):
    assert s3.get_bucket_versioning(Bucket=lock_bucket)["Status"] == "Enabled"
    cfg = s3.get_object_lock_configuration(Bucket=lock_bucket)["ObjectLockConfiguration"]
    assert cfg == {"ObjectLockEnabled": "Enabled"}
    with s3_error("InvalidBucketState", 409):
        s3.put_bucket_versioning(Bucket=lock_bucket,
                                 VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=lock_bucket)["Status"] == "Enabled"
    # Enabled again is fine.
    s3.put_bucket_versioning(Bucket=lock_bucket, VersioningConfiguration={"Status": "Enabled"})


def test_lock_configuration_default_rule_put_get(s3, lock_bucket):
    rule = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}}
    s3.put_object_lock_configuration(
        Bucket=lock_bucket,
        ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule})
    cfg = s3.get_object_lock_configuration(Bucket=lock_bucket)["ObjectLockConfiguration"]
    assert cfg == {"ObjectLockEnabled": "Enabled", "Rule": rule}
    rule = {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 1}}
    s3.put_object_lock_configuration(
        Bucket=lock_bucket,
        ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule})
    cfg = s3.get_object_lock_configuration(Bucket=lock_bucket)["ObjectLockConfiguration"]
    assert cfg["Rule"] == rule
    # Without a rule: the default retention goes.
    s3.put_object_lock_configuration(Bucket=lock_bucket,
                                     ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    cfg = s3.get_object_lock_configuration(Bucket=lock_bucket)["ObjectLockConfiguration"]
    assert cfg == {"ObjectLockEnabled": "Enabled"}


def test_lock_configuration_refusals(s3, lock_bucket):
    put = lambda rule: s3.put_object_lock_configuration(  # noqa: E731
        Bucket=lock_bucket,
        ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule})
    with s3_error("InvalidRequest", 400):
        put({"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}})
    with s3_error("InvalidArgument", 400):
        put({"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}})
    with s3_error("InvalidArgument", 400):
        put({"DefaultRetention": {"Mode": "COMPLIANCE", "Years": -1}})
    with s3_error("MalformedXML", 400):
        put({"DefaultRetention": {"Mode": "GOVERNANCE"}})
    # Nothing was stored by the refusals.
    cfg = s3.get_object_lock_configuration(Bucket=lock_bucket)["ObjectLockConfiguration"]
    assert "Rule" not in cfg


def test_lock_configuration_raw_refusals(raw, s3, lock_bucket):
    path = "/" + lock_bucket
    for body in (b"<ObjectLockConfiguration><ObjectLockEnabled>Disabled</ObjectLockEnabled></ObjectLockConfiguration>",
                 b"<ObjectLockConfiguration/>",
                 b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>SOFT</Mode><Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>",
                 b"<Wrong/>", b"not xml"):
        r = raw.request("PUT", path, query=[("object-lock", "")], body=body,
                        headers={"Content-MD5": md5_b64(body)})
        assert (r.status, r.error_code) == (400, "MalformedXML"), (body, r)
    # Content-MD5 or a checksum is required, as AWS.
    body = b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>"
    r = raw.request("PUT", path, query=[("object-lock", "")], body=body)
    assert (r.status, r.error_code) == (400, "InvalidRequest"), r
    r = raw.request("PUT", path, query=[("object-lock", "")], body=body,
                    headers={"Content-MD5": md5_b64(body)})
    assert r.status == 200, r


def test_lock_configuration_on_existing_buckets(s3, bucket):
    with s3_error("ObjectLockConfigurationNotFoundError", 404):
        s3.get_object_lock_configuration(Bucket=bucket)
    enable = {"ObjectLockEnabled": "Enabled"}
    # Unversioned: refused.
    with s3_error("InvalidBucketState", 409):
        s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=enable)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    with s3_error("InvalidBucketState", 409):
        s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=enable)
    # Versioning Enabled: Object Lock can be turned on, and then versioning stays on.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=enable)
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"] == enable
    with s3_error("InvalidBucketState", 409):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})


def test_lock_configuration_belongs_to_the_owner(s3_bob, lock_bucket):
    with s3_error("AccessDenied", 403):
        s3_bob.get_object_lock_configuration(Bucket=lock_bucket)
    with s3_error("AccessDenied", 403):
        s3_bob.put_object_lock_configuration(
            Bucket=lock_bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})


# ---- buckets without Object Lock ---------------------------------------------------------------

def test_bucket_without_lock_refuses_lock_requests(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    until = later(days=1)
    with s3_error("InvalidRequest", 400):
        s3.put_object_retention(Bucket=bucket, Key="k",
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})
    with s3_error("InvalidRequest", 400):
        s3.get_object_retention(Bucket=bucket, Key="k")
    with s3_error("InvalidRequest", 400):
        s3.put_object_legal_hold(Bucket=bucket, Key="k", LegalHold={"Status": "ON"})
    with s3_error("InvalidRequest", 400):
        s3.get_object_legal_hold(Bucket=bucket, Key="k")
    with s3_error("InvalidRequest", 400):
        s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=until)
    with s3_error("InvalidRequest", 400):
        s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ObjectLockLegalHoldStatus="ON")
    with s3_error("InvalidRequest", 400):
        s3.create_multipart_upload(Bucket=bucket, Key="m", ObjectLockLegalHoldStatus="ON")
    with s3_error("InvalidRequest", 400):
        s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "k"},
                       ObjectLockLegalHoldStatus="ON")
    # Nothing was written by the refusals; the object has no lock headers.
    with s3_error(status=404):
        s3.head_object(Bucket=bucket, Key="k2")
    h = s3.head_object(Bucket=bucket, Key="k")
    assert "ObjectLockMode" not in h and "ObjectLockLegalHoldStatus" not in h


# ---- retention ---------------------------------------------------------------------------------

def test_retention_put_get_and_headers(s3, lock_bucket):
    v1 = s3.put_object(Bucket=lock_bucket, Key="k", Body=b"one")["VersionId"]
    with s3_error("NoSuchObjectLockConfiguration", 404):
        retention_of(s3, lock_bucket, "k")
    until = later(days=1).replace(microsecond=0)
    s3.put_object_retention(Bucket=lock_bucket, Key="k",
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})
    r = retention_of(s3, lock_bucket, "k")
    assert r["Mode"] == "GOVERNANCE" and r["RetainUntilDate"] == until
    assert retention_of(s3, lock_bucket, "k", VersionId=v1)["RetainUntilDate"] == until
    h = s3.head_object(Bucket=lock_bucket, Key="k")
    assert h["ObjectLockMode"] == "GOVERNANCE"
    assert h["ObjectLockRetainUntilDate"] == until
    assert h["ObjectLockLegalHoldStatus"] == "OFF"
    g = s3.get_object(Bucket=lock_bucket, Key="k")
    assert g["ObjectLockMode"] == "GOVERNANCE" and g["Body"].read() == b"one"
    # A newer version has its own (no) retention; the old one keeps its own.
    s3.put_object(Bucket=lock_bucket, Key="k", Body=b"two")
    with s3_error("NoSuchObjectLockConfiguration", 404):
        retention_of(s3, lock_bucket, "k")
    assert retention_of(s3, lock_bucket, "k", VersionId=v1)["Mode"] == "GOVERNANCE"
    # Retention of a noncurrent version can be set by version id.
    later_until = later(days=2).replace(microsecond=0)
    s3.put_object_retention(Bucket=lock_bucket, Key="k", VersionId=v1,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later_until})
    assert retention_of(s3, lock_bucket, "k", VersionId=v1)["RetainUntilDate"] == later_until


def test_retention_refusals(s3, s3_bob, lock_bucket):
    s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x")
    with s3_error("InvalidArgument", 400):
        s3.put_object_retention(Bucket=lock_bucket, Key="k",
                                Retention={"Mode": "GOVERNANCE",
                                           "RetainUntilDate": later(days=-1)})
    with s3_error("NoSuchKey", 404):
        s3.put_object_retention(Bucket=lock_bucket, Key="missing",
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(days=1)})
    with s3_error("NoSuchVersion", 404):
        s3.put_object_retention(Bucket=lock_bucket, Key="k", VersionId="0000000000000001",
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(days=1)})
    with s3_error("AccessDenied", 403):
        s3_bob.put_object_retention(Bucket=lock_bucket, Key="k",
                                    Retention={"Mode": "GOVERNANCE",
                                               "RetainUntilDate": later(days=1)})
    with s3_error("AccessDenied", 403):
        s3_bob.get_object_retention(Bucket=lock_bucket, Key="k")
    # A delete marker cannot hold a retention.
    s3.delete_object(Bucket=lock_bucket, Key="k")
    with s3_error("MethodNotAllowed", 405):
        s3.put_object_retention(Bucket=lock_bucket, Key="k",
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(days=1)})


def test_retention_raw_refusals(raw, s3, lock_bucket):
    s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x")
    path = key_path(lock_bucket, "k")
    for body in (b"<Retention><Mode>GOVERNANCE</Mode></Retention>",
                 b"<Retention><Mode>SOFT</Mode><RetainUntilDate>2999-01-01T00:00:00Z</RetainUntilDate></Retention>",
                 b"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>someday</RetainUntilDate></Retention>",
                 b"<LegalHold/>"):
        r = raw.request("PUT", path, query=[("retention", "")], body=body,
                        headers={"Content-MD5": md5_b64(body)})
        assert (r.status, r.error_code) == (400, "MalformedXML"), (body, r)
    body = b"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2999-01-01T00:00:00Z</RetainUntilDate></Retention>"
    r = raw.request("PUT", path, query=[("retention", "")], body=body)
    assert (r.status, r.error_code) == (400, "InvalidRequest"), r
    with s3_error("NoSuchObjectLockConfiguration", 404):
        retention_of(s3, lock_bucket, "k")


def test_compliance_cannot_be_shortened_and_protects_until_it_expires(s3, lock_bucket):
    v = s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x")["VersionId"]
    until = later(seconds=4)
    s3.put_object_retention(Bucket=lock_bucket, Key="k",
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until})
    for shorter in ({"Mode": "COMPLIANCE", "RetainUntilDate": until - timedelta(seconds=2)},
                    {"Mode": "GOVERNANCE", "RetainUntilDate": later(days=1)}):
        with s3_error("AccessDenied", 403):
            s3.put_object_retention(Bucket=lock_bucket, Key="k", Retention=shorter,
                                    BypassGovernanceRetention=True)
    with s3_error("AccessDenied", 403):
        s3.put_object_retention(Bucket=lock_bucket, Key="k", Retention={},
                                BypassGovernanceRetention=True)
    with s3_error("AccessDenied", 403):
        s3.delete_object(Bucket=lock_bucket, Key="k", VersionId=v, BypassGovernanceRetention=True)
    assert s3.head_object(Bucket=lock_bucket, Key="k", VersionId=v)["ObjectLockMode"] == "COMPLIANCE"
    # Extending is allowed.
    extended = until + timedelta(seconds=1)
    s3.put_object_retention(Bucket=lock_bucket, Key="k",
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": extended})
    assert retention_of(s3, lock_bucket, "k")["RetainUntilDate"] == extended.replace(
        microsecond=extended.microsecond // 1000 * 1000)
    # Once the date passes, the version can be deleted (poll until then, with a deadline).
    deadline = time.monotonic() + 30
    while True:
        try:
            s3.delete_object(Bucket=lock_bucket, Key="k", VersionId=v)
            break
        except Exception as e:  # still retained
            assert "AccessDenied" in str(e), e
            assert time.monotonic() < deadline, "retention never expired"
            time.sleep(0.25)
    assert s3.list_object_versions(Bucket=lock_bucket).get("Versions", []) == []


def test_governance_shortening_needs_the_bypass(s3, lock_bucket):
    v = s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x")["VersionId"]
    until = later(days=2).replace(microsecond=0)
    s3.put_object_retention(Bucket=lock_bucket, Key="k",
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})
    shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": later(days=1).replace(microsecond=0)}
    with s3_error("AccessDenied", 403):
        s3.put_object_retention(Bucket=lock_bucket, Key="k", Retention=shorter)
    with s3_error("AccessDenied", 403):
        s3.put_object_retention(Bucket=lock_bucket, Key="k", Retention={})
    assert retention_of(s3, lock_bucket, "k")["RetainUntilDate"] == until
    s3.put_object_retention(Bucket=lock_bucket, Key="k", Retention=shorter,
                            BypassGovernanceRetention=True)
    assert retention_of(s3, lock_bucket, "k")["RetainUntilDate"] == shorter["RetainUntilDate"]
    # Removing it with the bypass (an empty Retention).
    s3.put_object_retention(Bucket=lock_bucket, Key="k", Retention={},
                            BypassGovernanceRetention=True)
    with s3_error("NoSuchObjectLockConfiguration", 404):
        retention_of(s3, lock_bucket, "k")
    s3.delete_object(Bucket=lock_bucket, Key="k", VersionId=v)


# ---- deletes -----------------------------------------------------------------------------------

def test_governance_delete_refused_then_bypassed_by_owner(s3, lock_bucket):
    v = s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=later(days=1))["VersionId"]
    with s3_error("AccessDenied", 403):
        s3.delete_object(Bucket=lock_bucket, Key="k", VersionId=v)
    assert s3.get_object(Bucket=lock_bucket, Key="k")["Body"].read() == b"x"
    # A delete without a version id only adds a delete marker.
    d = s3.delete_object(Bucket=lock_bucket, Key="k")
    assert d["DeleteMarker"] is True
    assert s3.get_object(Bucket=lock_bucket, Key="k", VersionId=v)["Body"].read() == b"x"
    r = s3.delete_object(Bucket=lock_bucket, Key="k", VersionId=v, BypassGovernanceRetention=True)
    assert r["VersionId"] == v
    with s3_error("NoSuchVersion", 404):
        s3.get_object(Bucket=lock_bucket, Key="k", VersionId=v)


def test_bypass_needs_full_control(s3, s3_bob, lock_bucket):
    bob = s3_bob.list_buckets()["Owner"]["ID"]
    owner = s3.list_buckets()["Owner"]["ID"]
    v = s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=later(days=1))["VersionId"]
    s3.put_bucket_acl(Bucket=lock_bucket, GrantWrite=f"id={bob}", GrantFullControl=f"id={owner}")
    with s3_error("AccessDenied", 403):
        s3_bob.delete_object(Bucket=lock_bucket, Key="k", VersionId=v,
                             BypassGovernanceRetention=True)
    s3.put_bucket_acl(Bucket=lock_bucket, GrantFullControl=f"id={owner},id={bob}")
    s3_bob.delete_object(Bucket=lock_bucket, Key="k", VersionId=v, BypassGovernanceRetention=True)
    assert s3.list_object_versions(Bucket=lock_bucket).get("Versions", []) == []


def test_legal_hold_blocks_delete_until_off(s3, lock_bucket):
    v = s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x")["VersionId"]
    # A version on which no legal hold was ever set has none to show: 404, as AWS.
    with s3_error("NoSuchObjectLockConfiguration", 404):
        s3.get_object_legal_hold(Bucket=lock_bucket, Key="k")
    with s3_error("NoSuchObjectLockConfiguration", 404):
        s3.get_object_legal_hold(Bucket=lock_bucket, Key="k", VersionId=v)
    s3.put_object_legal_hold(Bucket=lock_bucket, Key="k", LegalHold={"Status": "ON"})
    assert s3.get_object_legal_hold(Bucket=lock_bucket, Key="k",
                                    VersionId=v)["LegalHold"]["Status"] == "ON"
    assert s3.head_object(Bucket=lock_bucket, Key="k")["ObjectLockLegalHoldStatus"] == "ON"
    # Never bypassed.
    with s3_error("AccessDenied", 403):
        s3.delete_object(Bucket=lock_bucket, Key="k", VersionId=v, BypassGovernanceRetention=True)
    s3.put_object_legal_hold(Bucket=lock_bucket, Key="k", VersionId=v,
                             LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket=lock_bucket, Key="k")["LegalHold"]["Status"] == "OFF"
    s3.delete_object(Bucket=lock_bucket, Key="k", VersionId=v)
    assert s3.list_object_versions(Bucket=lock_bucket).get("Versions", []) == []


def test_legal_hold_refusals(raw, s3, s3_bob, lock_bucket):
    s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x")
    path = key_path(lock_bucket, "k")
    for body in (b"<LegalHold><Status>on</Status></LegalHold>", b"<LegalHold/>",
                 b"<Retention/>"):
        r = raw.request("PUT", path, query=[("legal-hold", "")], body=body,
                        headers={"Content-MD5": md5_b64(body)})
        assert (r.status, r.error_code) == (400, "MalformedXML"), (body, r)
    body = b"<LegalHold><Status>ON</Status></LegalHold>"
    r = raw.request("PUT", path, query=[("legal-hold", "")], body=body)
    assert (r.status, r.error_code) == (400, "InvalidRequest"), r
    with s3_error("AccessDenied", 403):
        s3_bob.put_object_legal_hold(Bucket=lock_bucket, Key="k", LegalHold={"Status": "ON"})
    with s3_error("NoSuchKey", 404):
        s3.put_object_legal_hold(Bucket=lock_bucket, Key="nope", LegalHold={"Status": "ON"})
    # Nothing refused was set.
    with s3_error("NoSuchObjectLockConfiguration", 404):
        s3.get_object_legal_hold(Bucket=lock_bucket, Key="k")


def test_legal_hold_set_off_and_by_header(s3, lock_bucket):
    # Set OFF (never ON) answers OFF; the header on PutObject sets it as the request does.
    s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x")
    s3.put_object_legal_hold(Bucket=lock_bucket, Key="k", LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket=lock_bucket, Key="k")["LegalHold"]["Status"] == "OFF"
    s3.put_object(Bucket=lock_bucket, Key="on", Body=b"x", ObjectLockLegalHoldStatus="ON")
    assert s3.get_object_legal_hold(Bucket=lock_bucket, Key="on")["LegalHold"]["Status"] == "ON"
    s3.put_object(Bucket=lock_bucket, Key="off", Body=b"x", ObjectLockLegalHoldStatus="OFF")
    assert s3.get_object_legal_hold(Bucket=lock_bucket, Key="off")["LegalHold"]["Status"] == "OFF"
    s3.delete_object(Bucket=lock_bucket, Key="off",
                     VersionId=s3.head_object(Bucket=lock_bucket, Key="off")["VersionId"])


def test_delete_objects_reports_locked_versions(s3, lock_bucket):
    held = s3.put_object(Bucket=lock_bucket, Key="held", Body=b"h",
                         ObjectLockLegalHoldStatus="ON")["VersionId"]
    gov = s3.put_object(Bucket=lock_bucket, Key="gov", Body=b"g", ObjectLockMode="GOVERNANCE",
                        ObjectLockRetainUntilDate=later(days=1))["VersionId"]
    free = s3.put_object(Bucket=lock_bucket, Key="free", Body=b"f")["VersionId"]
    objs = [{"Key": "held", "VersionId": held}, {"Key": "gov", "VersionId": gov},
            {"Key": "free", "VersionId": free}]
    r = s3.delete_objects(Bucket=lock_bucket, Delete={"Objects": objs})
    assert sorted(e["Key"] for e in r["Errors"]) == ["gov", "held"]
    assert all(e["Code"] == "AccessDenied" for e in r["Errors"])
    assert [d["Key"] for d in r["Deleted"]] == ["free"]
    # With the bypass, GOVERNANCE goes; the legal hold still holds.
    r = s3.delete_objects(Bucket=lock_bucket, Delete={"Objects": objs[:2]},
                          BypassGovernanceRetention=True)
    assert [e["Key"] for e in r["Errors"]] == ["held"]
    assert [d["Key"] for d in r["Deleted"]] == ["gov"]
    left = [v["Key"] for v in s3.list_object_versions(Bucket=lock_bucket).get("Versions", [])]
    assert left == ["held"]


# ---- lock headers on writes, default retention -------------------------------------------------

def test_lock_headers_on_put(s3, lock_bucket):
    until = later(days=1).replace(microsecond=0)
    s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x", ObjectLockMode="COMPLIANCE",
                  ObjectLockRetainUntilDate=until, ObjectLockLegalHoldStatus="ON")
    h = s3.head_object(Bucket=lock_bucket, Key="k")
    assert (h["ObjectLockMode"], h["ObjectLockRetainUntilDate"],
            h["ObjectLockLegalHoldStatus"]) == ("COMPLIANCE", until, "ON")
    # Lift the hold; the COMPLIANCE retention is left (the object stays, in a temp server).
    s3.put_object_legal_hold(Bucket=lock_bucket, Key="k", LegalHold={"Status": "OFF"})


def test_lock_header_refusals(s3, lock_bucket):
    with s3_error("InvalidArgument", 400):
        s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE")
    with s3_error("InvalidArgument", 400):
        s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x",
                      ObjectLockRetainUntilDate=later(days=1))
    with s3_error("InvalidArgument", 400):
        s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=later(days=-1))
    with s3_error("InvalidArgument", 400):
        s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x", ObjectLockMode="SOFT",
                      ObjectLockRetainUntilDate=later(days=1))
    with s3_error("InvalidArgument", 400):
        s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x", ObjectLockLegalHoldStatus="MAYBE")
    assert s3.list_object_versions(Bucket=lock_bucket).get("Versions", []) == []


def test_default_retention_applies_to_new_versions(s3, lock_bucket):
    s3.put_object_lock_configuration(
        Bucket=lock_bucket,
        ObjectLockConfiguration={"ObjectLockEnabled": "Enabled",
                                 "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    before = datetime.now(timezone.utc)
    v = s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x")["VersionId"]
    after = datetime.now(timezone.utc)
    r = retention_of(s3, lock_bucket, "k")
    assert r["Mode"] == "GOVERNANCE"
    slack = timedelta(seconds=2)
    assert before + timedelta(days=1) - slack <= r["RetainUntilDate"] <= after + timedelta(days=1) + slack
    with s3_error("AccessDenied", 403):
        s3.delete_object(Bucket=lock_bucket, Key="k", VersionId=v)
    # An explicit retention wins over the default.
    until = later(days=3).replace(microsecond=0)
    s3.put_object(Bucket=lock_bucket, Key="e", Body=b"x", ObjectLockMode="GOVERNANCE",
                  ObjectLockRetainUntilDate=until)
    assert retention_of(s3, lock_bucket, "e")["RetainUntilDate"] == until
    # Multipart uploads and copies get it too.
    up = s3.create_multipart_upload(Bucket=lock_bucket, Key="m")
    p = s3.upload_part(Bucket=lock_bucket, Key="m", UploadId=up["UploadId"], PartNumber=1,
                       Body=b"part")
    s3.complete_multipart_upload(Bucket=lock_bucket, Key="m", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
    assert retention_of(s3, lock_bucket, "m")["Mode"] == "GOVERNANCE"
    s3.copy_object(Bucket=lock_bucket, Key="c", CopySource={"Bucket": lock_bucket, "Key": "k"})
    assert retention_of(s3, lock_bucket, "c")["Mode"] == "GOVERNANCE"


def test_lock_headers_on_copy_and_multipart(s3, lock_bucket):
    s3.put_object(Bucket=lock_bucket, Key="src", Body=b"source", ObjectLockLegalHoldStatus="ON")
    until = later(days=1).replace(microsecond=0)
    s3.copy_object(Bucket=lock_bucket, Key="c", CopySource={"Bucket": lock_bucket, "Key": "src"},
                   ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    h = s3.head_object(Bucket=lock_bucket, Key="c")
    # The copy gets the request's lock, not the source's legal hold.
    assert (h["ObjectLockMode"], h["ObjectLockRetainUntilDate"],
            h["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", until, "OFF")
    up = s3.create_multipart_upload(Bucket=lock_bucket, Key="m", ObjectLockLegalHoldStatus="ON",
                                    ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    p = s3.upload_part(Bucket=lock_bucket, Key="m", UploadId=up["UploadId"], PartNumber=1,
                       Body=b"part")
    done = s3.complete_multipart_upload(
        Bucket=lock_bucket, Key="m", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
    h = s3.head_object(Bucket=lock_bucket, Key="m")
    assert (h["ObjectLockMode"], h["ObjectLockRetainUntilDate"],
            h["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", until, "ON")
    with s3_error("AccessDenied", 403):
        s3.delete_object(Bucket=lock_bucket, Key="m", VersionId=done["VersionId"],
                         BypassGovernanceRetention=True)


def test_lock_headers_only_for_the_owner(s3, s3_bob, lock_bucket):
    s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x", ACL="public-read",
                  ObjectLockLegalHoldStatus="ON")
    h = s3_bob.head_object(Bucket=lock_bucket, Key="k")
    assert "ObjectLockLegalHoldStatus" not in h
    assert s3.head_object(Bucket=lock_bucket, Key="k")["ObjectLockLegalHoldStatus"] == "ON"


def test_parts_of_a_retained_upload_need_an_integrity_header(raw, s3, lock_bucket):
    # Content-MD5 or a checksum on every part, as on PutObject, when the object will be
    # retained: by its own retention from CreateMultipartUpload, or by the bucket's default.
    until = later(days=1).replace(microsecond=0)
    up = s3.create_multipart_upload(Bucket=lock_bucket, Key="m", ObjectLockMode="GOVERNANCE",
                                    ObjectLockRetainUntilDate=until)["UploadId"]
    path = key_path(lock_bucket, "m")
    query = [("partNumber", "1"), ("uploadId", up)]
    r = raw.request("PUT", path, query=query, body=b"part")
    assert (r.status, r.error_code) == (400, "InvalidRequest"), r
    assert s3.list_parts(Bucket=lock_bucket, Key="m", UploadId=up).get("Parts", []) == []
    r = raw.request("PUT", path, query=query, body=b"part", headers={"Content-MD5": md5_b64(b"part")})
    assert r.status == 200, r
    # A legal hold alone retains nothing: parts need no header.
    held = s3.create_multipart_upload(Bucket=lock_bucket, Key="h",
                                      ObjectLockLegalHoldStatus="ON")["UploadId"]
    r = raw.request("PUT", key_path(lock_bucket, "h"),
                    query=[("partNumber", "1"), ("uploadId", held)], body=b"part")
    assert r.status == 200, r
    # The bucket's default retention counts too, for uploads created before it was set.
    s3.put_object_lock_configuration(
        Bucket=lock_bucket,
        ObjectLockConfiguration={"ObjectLockEnabled": "Enabled",
                                 "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    r = raw.request("PUT", key_path(lock_bucket, "h"),
                    query=[("partNumber", "2"), ("uploadId", held)], body=b"part")
    assert (r.status, r.error_code) == (400, "InvalidRequest"), r
    for u, k in ((up, "m"), (held, "h")):
        s3.abort_multipart_upload(Bucket=lock_bucket, Key=k, UploadId=u)
